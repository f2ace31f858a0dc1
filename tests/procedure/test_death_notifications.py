"""死亡届 end to end: the approval removes the resident record, and the outbox worker tells the
pension service (日本年金機構) under its legal basis, sealed by the municipality and verified on
receipt — nobody at the pension service asks, and the family files nothing more."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from tsunagu.core.clock import tokyo_today
from tsunagu.core.db import transaction
from tsunagu.exchange import notifications, sealing
from tsunagu.exchange.models import AccessLogEntry, InboxMessage
from tsunagu.procedure import decisions
from tsunagu.registry import service as registry

from .agencies import PENSION_SERVICE, told_of_deaths
from .conftest import Login, World


def test_an_approved_death_notification_reaches_the_pension_service(
    world: World, login: Login
) -> None:
    pension = told_of_deaths(world, PENSION_SERVICE)
    died_on = (tokyo_today() - timedelta(days=1)).isoformat()
    form = {
        "death_date": died_on,
        "death_place": "東京都千代田区",
        "informant": "同居の親族",
        "certificate": {"doctor": "医師 一郎", "institution": "千代田病院"},
    }
    taro = login(person=world.taro)  # files for jiro, of the same household
    created, submitted = world.file_for_member(taro, world.taro, world.jiro, "shibou", form)
    assert submitted["status"] == "submitted"  # an official checks the 死亡診断書
    assert submitted["attachments_requested"] == 0
    path = f"/api/applications/{created['id']}"
    reviewer = login(official=world.chiyoda_reviewer)
    assert reviewer.post(f"{path}/assign", json={}).status_code == 200
    decided = reviewer.post(
        f"{path}/decision", json={"approved": True, "reason": "死亡診断書を確認しました。"}
    )
    assert decided.json()["status"] == "approved"
    with transaction(world.factory) as session:
        [record] = registry.as_of(session, "juki", world.jiro, valid_on=tokyo_today())
        assert record.data["status"] == "死亡"
        assert notifications.inbox(session, pension) == []  # nothing before the worker runs

    world.drain()  # the real dispatcher: notice, fan-out (seal), delivery (verify)

    with transaction(world.factory) as session:
        [item] = notifications.inbox(session, pension)
        row = session.get(InboxMessage, item.id)
        assert row is not None
        # the envelope as filed: the municipality's seal over exactly this message
        verified = sealing.verify(session, json.loads(row.payload))
        [entry] = session.execute(
            select(AccessLogEntry).where(AccessLogEntry.requester_id == pension)
        ).scalars()
        notice = decisions.of_application(session, created["id"])
    assert verified.payload == item.message
    assert verified.organization_id == world.chiyoda == item.publisher_id
    assert row.signer_serial == verified.serial
    assert item.registry_id == "juki" and item.events == ["died"]
    assert item.subject_id == world.jiro
    message = item.message
    assert message["basis_id"] == "juki-nenkin-shibo"
    assert "住民基本台帳法 第30条の9" in message["basis"]["ja"]
    assert message["data"]["status"] == "死亡"
    assert message["data"]["moved_out"] == {"date": died_on, "reason": "死亡"}
    # only the fields the basis names travel (no resident code, no address)
    assert set(message["data"]) <= {"name", "birth_date", "sex", "moved_out", "status"}
    # the receiver checked the municipality's seal; the pension service requested nothing
    assert (entry.kind, entry.outcome, entry.requester_verified) == (
        "notification", "delivered", True,
    )  # fmt: skip
    assert entry.owner_id == world.chiyoda and entry.party_id == world.jiro
    assert notice.outcome == "approved"
