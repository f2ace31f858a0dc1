"""Change notifications: subscription rules, sealed delivery, exactly once in effect."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.exchange.conftest import HANAKO, World
from tsunagu.core.db import transaction
from tsunagu.core.errors import ConflictError, NotFoundError, PermissionDenied, ValidationError
from tsunagu.core.outbox.service import Dispatcher, counts_by_status
from tsunagu.exchange import notifications
from tsunagu.exchange import service as exchange
from tsunagu.exchange.models import AccessLogEntry, InboxMessage
from tsunagu.registry import service as registry

DEATH = {"status": "死亡", "moved_out": {"date": "2025-03-01", "reason": "死亡"}}


def _drain(factory: sessionmaker[Session]) -> None:
    dispatcher = Dispatcher(factory, backoff_base=0.0, max_attempts=5)
    for _ in range(20):
        if dispatcher.run_once().claimed == 0:
            return
    raise AssertionError("outbox did not drain")


def _die(factory: sessionmaker[Session], world: World) -> None:
    with transaction(factory) as session:
        registry.change(session, "juki", HANAKO, DEATH, actor="keeper", valid_from=date(2025, 3, 1))


def _subscribe_pension(factory: sessionmaker[Session], world: World) -> str:
    with transaction(factory) as session:
        return notifications.subscribe(
            session, subscriber_id=world.pension, basis_id="juki-nenkin-shibo",
            event_id="died", actor="pension-admin",
        ).id  # fmt: skip


def test_pension_office_is_told_of_a_death_sealed_by_the_municipality(
    session_factory: sessionmaker[Session], world: World
) -> None:
    _subscribe_pension(session_factory, world)
    _die(session_factory, world)
    _drain(session_factory)
    with session_factory() as session:
        (item,) = notifications.inbox(session, world.pension)
        assert item.publisher_id == world.chiyoda and item.events == ["died"]
        assert item.message["data"] == {
            "name": {"family": "山田", "given": "花子"},
            "birth_date": "1980-01-02",
            "sex": "女",
            "moved_out": {"date": "2025-03-01", "reason": "死亡"},
            "status": "死亡",
        }
        (entry,) = session.execute(select(AccessLogEntry)).scalars().all()
        assert (entry.kind, entry.outcome, entry.party_id) == ("notification", "delivered", HANAKO)
        assert entry.requester_id == world.pension and entry.owner_id == world.chiyoda
        assert entry.requester_verified


def test_a_handler_crashing_mid_delivery_still_delivers_each_event_once(
    session_factory: sessionmaker[Session], world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    _subscribe_pension(session_factory, world)
    real_write = notifications.write_log
    crashes = {"left": 1}

    def flaky_write(session: Session, facts: exchange.LogFacts) -> AccessLogEntry:
        entry = real_write(session, facts)
        session.flush()  # the inbox row and the log row are written …
        if crashes["left"]:
            crashes["left"] -= 1
            raise RuntimeError("worker crashed mid-delivery")  # … and then the worker dies
        return entry

    monkeypatch.setattr(notifications, "write_log", flaky_write)
    _die(session_factory, world)
    _drain(session_factory)
    assert crashes["left"] == 0
    with session_factory() as session:
        assert session.execute(select(func.count()).select_from(InboxMessage)).scalar() == 1
        assert session.execute(select(func.count()).select_from(AccessLogEntry)).scalar() == 1
        assert counts_by_status(session).get("dead", 0) == 0


def test_a_forged_notification_is_rejected_and_logged(
    session_factory: sessionmaker[Session], world: World
) -> None:
    subscription = _subscribe_pension(session_factory, world)
    with transaction(session_factory) as session:
        message = {
            "type": notifications.NOTIFICATION_TYPE,
            "notification_id": "00000000-0000-0000-0000-00000000beef",
            "subscription_id": subscription,
            "subscriber_id": world.pension,
            "publisher_id": world.chiyoda,  # claims Chiyoda …
            "party_id": HANAKO,
            "registry_id": "juki",
            "events": ["died"],
            "basis_id": "juki-nenkin-shibo",
        }
        forged = world.store.seal(session, world.osaka, message)  # … sealed by Osaka
        notifications.outbox.publish(session, notifications.NOTIFY_TOPIC, {"envelope": forged})
    _drain(session_factory)
    with session_factory() as session:
        assert notifications.inbox(session, world.pension) == []
        (entry,) = session.execute(select(AccessLogEntry)).scalars().all()
        assert (entry.outcome, entry.reason) == ("rejected", "seal_mismatch")


def test_only_organizations_with_a_basis_may_subscribe(session: Session, world: World) -> None:
    with pytest.raises(PermissionDenied):
        notifications.subscribe(
            session, subscriber_id=world.company, basis_id="juki-nenkin-shibo",
            event_id="died", actor="x",
        )  # fmt: skip
    with pytest.raises(ValidationError):
        notifications.subscribe(
            session, subscriber_id=world.pension, basis_id="juki-nenkin-shibo",
            event_id="moved_out", actor="x",
        )  # fmt: skip
    with pytest.raises(NotFoundError):
        notifications.subscribe(
            session, subscriber_id=world.pension, basis_id="nope", event_id="died", actor="x"
        )
    first = notifications.subscribe(
        session, subscriber_id=world.pension, basis_id="juki-nenkin-shibo", event_id="died",
        actor="x",
    )  # fmt: skip
    with pytest.raises(ConflictError):
        notifications.subscribe(
            session, subscriber_id=world.pension, basis_id="juki-nenkin-shibo",
            event_id="died", actor="x",
        )  # fmt: skip
    with pytest.raises(NotFoundError):
        notifications.end_subscription(session, first.id, subscriber_id=world.osaka, actor="x")
    ended = notifications.end_subscription(
        session, first.id, subscriber_id=world.pension, actor="x"
    )
    assert ended.ended_at is not None


def test_ended_subscription_receives_nothing(
    session_factory: sessionmaker[Session], world: World
) -> None:
    subscription = _subscribe_pension(session_factory, world)
    with transaction(session_factory) as session:
        notifications.end_subscription(
            session, subscription, subscriber_id=world.pension, actor="x"
        )
    _die(session_factory, world)
    _drain(session_factory)
    with session_factory() as session:
        assert notifications.inbox(session, world.pension) == []
        assert session.execute(select(func.count()).select_from(AccessLogEntry)).scalar() == 0
