"""The demo world: real places, realistic people, deterministic and idempotent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from faker.providers.person.ja_JP import Provider as JapaneseNames
from sqlalchemy import Engine, func, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from tsunagu.core import ids
from tsunagu.core.audit import service as audit
from tsunagu.core.audit.models import AuditRecord
from tsunagu.core.config import Settings
from tsunagu.core.db import transaction
from tsunagu.core.outbox.service import Dispatcher
from tsunagu.demo import seed
from tsunagu.exchange import notifications, sealing
from tsunagu.exchange import service as exchange
from tsunagu.identity import municipalities as master
from tsunagu.identity import service
from tsunagu.identity.mynumber import MyNumberVault
from tsunagu.identity.schemas import OfficialRole, OrganizationKind, Relationship
from tsunagu.registry import service as registry
from tsunagu.registry.models import RegistryRecord

RESIDENTS = 200


def row_counts(engine: Engine, session: Session) -> dict[str, int]:
    return {
        table: session.execute(text(f'SELECT COUNT(*) FROM "{table}"')).scalar_one()
        for table in inspect(engine).get_table_names()
        if table.startswith(("identity_", "audit_"))
    }


def seeded(factory: sessionmaker[Session], settings: Settings, **kwargs: int) -> dict[str, object]:
    with transaction(factory) as session:
        return seed.seed_world(session, settings=settings, **kwargs)


def wipe_identity(engine: Engine) -> None:
    with engine.begin() as connection:
        for table in (
            "registry_records",  # kept by the organizations removed below
            "exchange_subscriptions",  # 日本年金機構's, and its designation
            "exchange_designations",
            "identity_official_roles",
            "identity_officials",
            "identity_persons",
            "identity_households",
            "identity_units",
            "identity_organizations",
        ):
            if table == "identity_organizations":
                connection.execute(text(f'UPDATE "{table}" SET parent_id = NULL'))
            connection.execute(text(f'DELETE FROM "{table}"'))


def test_the_world_has_what_was_asked_for(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    summary = seeded(session_factory, settings, seed=2019, residents=RESIDENTS)
    assert summary["residents"] == RESIDENTS and summary["corporations"] == 20
    assert summary["officials"] == 18  # five per municipality, three in the ministry
    with transaction(session_factory) as session:
        kinds = Counter(o.kind for o in service.list_organizations(session, limit=500))
        assert kinds == {
            OrganizationKind.MUNICIPALITY: 3,
            OrganizationKind.PREFECTURE: 3,
            OrganizationKind.MINISTRY: 3,  # デジタル庁; 法務省 and 国土交通省 keep registers
            # 全国健康保険協会 keeps employee health insurance; 日本年金機構 is told of deaths
            OrganizationKind.OTHER_AGENCY: 2,
            OrganizationKind.CORPORATION: 20,
        }
        municipalities = service.list_organizations(session, kind=OrganizationKind.MUNICIPALITY)
        assert {m.name_ja for m in municipalities} == {"渋谷区", "前橋市", "神山町"}
        assert {master.get_municipality(str(m.lgcode)).prefecture.name for m in municipalities} == {
            "東京都",
            "群馬県",
            "徳島県",
        }
        corporations = service.list_organizations(session, kind=OrganizationKind.CORPORATION)
        assert len({c.corporate_number for c in corporations}) == 20
        for corporation in corporations:
            assert ids.is_valid_corporate(str(corporation.corporate_number)) and corporation.demo
            assert corporation.name_en and corporation.name_kana
            assert corporation.address is not None and corporation.address.postal_code
            assert corporation.address.municipality_code in {str(m.lgcode) for m in municipalities}
        ministries = service.list_organizations(session, kind=OrganizationKind.MINISTRY)
        ministry = next(m for m in ministries if m.name_ja == "デジタル庁")
        assert ministry.demo
        assert ids.is_valid_corporate(str(ministry.corporate_number))
        officials = service.list_officials(session)
        assert Counter(o.organization_id for o in officials)[ministry.id] == 3
        assert all(o.person_id and o.login_name and o.unit_id and o.demo for o in officials)
        assert service.find_official_by_login(session, "131130.counter_staff") is not None
        assert {r for o in officials for r in o.roles} == set(OfficialRole)


def test_persons_are_realistic(session_factory: sessionmaker[Session], settings: Settings) -> None:
    seeded(session_factory, settings, seed=2019, residents=RESIDENTS)
    last_names = {(kanji, kana) for kanji, kana, _ in JapaneseNames.last_name_pairs}
    first_names = {(kanji, kana) for kanji, kana, _ in JapaneseNames.first_name_pairs}
    vault = MyNumberVault.from_settings(settings)
    with transaction(session_factory) as session:
        persons = service.list_persons(session, limit=1000)
        assert len(persons) == RESIDENTS
        for person in persons:
            assert (person.family_name, person.family_name_kana) in last_names
            assert (person.given_name, person.given_name_kana) in first_names
            assert person.address is not None and person.address.municipality_code
            municipality = master.get_municipality(person.address.municipality_code)
            assert person.address.prefecture == municipality.prefecture.name
            assert person.address.postal_code in master.postal_codes(municipality.code)
            assert person.address.town in {t.name for t in master.towns(municipality.code)}
            assert person.address.block and person.has_mynumber and person.demo
            assert (
                seed.REFERENCE_DATE.year - 100 <= person.birth_date.year <= seed.REFERENCE_DATE.year
            )
        households = Counter(p.household_id for p in persons)
        heads = [p for p in persons if p.relationship is Relationship.HEAD]
        assert len(heads) == len(households)  # exactly one head each
        sizes = Counter(households.values())
        assert sizes[1] > 0 and max(sizes) >= 4  # single-person and larger families both occur
        assert any(p.birth_date.year >= seed.REFERENCE_DATE.year - 12 for p in persons)  # children
        assert any(p.birth_date.year <= seed.REFERENCE_DATE.year - 75 for p in persons)  # elderly
        by_id = {p.id: p for p in persons}
        for child in (p for p in persons if p.relationship is Relationship.CHILD):
            head = next(h for h in heads if h.household_id == child.household_id)
            assert child.birth_date > head.birth_date
            assert child.family_name == head.family_name
        record = service.get_household(session, heads[0].household_id or "")
        assert all(by_id[m].address == heads[0].address for m in record.member_ids)
        assert sum(1 for p in persons if p.former_family_name) >= 1  # 旧氏 registered
        assert all(
            ids.is_valid_mynumber(
                service.reveal_mynumber(session, vault, p.id, actor="t", purpose="test") or ""
            )
            for p in persons[:5]
        )


def test_seeding_twice_changes_nothing(
    engine: Engine, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    first = seeded(session_factory, settings, seed=2019, residents=RESIDENTS)
    with transaction(session_factory) as session:
        counts = row_counts(engine, session)
        digest = service.content_digest(session)
    second = seeded(session_factory, settings, seed=2019, residents=RESIDENTS)
    assert second["created"] == 0 and first["created"] > RESIDENTS
    assert second["digest"] == first["digest"] == digest
    with transaction(session_factory) as session:
        assert row_counts(engine, session) == counts  # audit trail included: nothing was written
        assert audit.verify_chain(session) is None


def test_the_same_seed_gives_the_same_world(
    engine: Engine, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    first = seeded(session_factory, settings, seed=7, residents=60)
    wipe_identity(engine)
    again = seeded(session_factory, settings, seed=7, residents=60)
    assert again["digest"] == first["digest"] and again["created"] == first["created"]
    wipe_identity(engine)
    other = seeded(session_factory, settings, seed=8, residents=60)
    assert other["digest"] != first["digest"]


def test_more_residents_extend_the_world(
    engine: Engine, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    seeded(session_factory, settings, seed=5, residents=37)
    grown = seeded(session_factory, settings, seed=5, residents=90)
    wipe_identity(engine)
    direct = seeded(session_factory, settings, seed=5, residents=90)
    assert grown["digest"] == direct["digest"]


def test_audit_records_name_no_resident(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    seeded(session_factory, settings, seed=2019, residents=30)
    with transaction(session_factory) as session:
        persons = service.list_persons(session)
        audit_data = "\n".join(session.execute(select(AuditRecord.data)).scalars())
        assert (
            session.execute(
                select(func.count()).where(AuditRecord.action == "identity.person.created")
            ).scalar_one()
            == 30
        )
    for person in persons:
        assert person.given_name_kana not in audit_data
        assert person.birth_date.isoformat() not in audit_data


def test_plan_is_a_pure_function_of_the_seed() -> None:
    organizations = {code: f"org-{code}" for code, _ in seed.MUNICIPALITIES}
    organizations[seed.MINISTRY_SLUG] = "org-ministry"
    first = seed.plan_world(11, 25, organizations)
    second = seed.plan_world(11, 25, organizations)
    assert first == second
    assert len(first.persons) == 25 and len({i for i, _ in first.persons}) == 25


def test_negative_residents_are_refused(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    with pytest.raises(ValueError), transaction(session_factory) as session:
        seed.seed_world(session, residents=-1, settings=settings)


def test_cli_seeds_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    env = {**os.environ, "TSUNAGU_DATABASE_URL": url, "TSUNAGU_VAR_DIR": str(tmp_path)}

    def tsunagu(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tsunagu", *args],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=120,
        )

    assert tsunagu("db", "upgrade").returncode == 0
    first = tsunagu("demo", "seed", "--residents", "15", "--seed", "3")
    assert first.returncode == 0, first.stderr
    assert "residents: 15" in first.stdout
    second = tsunagu("demo", "seed", "--residents", "15", "--seed", "3")
    assert "created: 0" in second.stdout
    digest = [line for line in first.stdout.splitlines() if line.startswith("digest:")]
    assert digest and digest[0] in second.stdout


def test_a_death_recorded_in_the_demo_reaches_the_pension_office_and_health_insurer(
    session_factory: sessionmaker[Session], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The outbox handlers seal with the process's store; here that is the test's var dir.
    monkeypatch.setattr(sealing, "default_store", lambda: sealing.store_for(settings))
    seeded(session_factory, settings, seed=2019, residents=30)
    with transaction(session_factory) as session:
        office = service.party_id("corporate", str(seed.PENSION_OFFICE.corporate_number))
        assert "pension_service" in exchange.functions_of(session, office)
        (subscription,) = notifications.subscriptions_of(session, office)
        assert (subscription.basis_id, subscription.event_id) == seed.DEATH_NOTICES
        insurer = service.find_organization(
            session, corporate_number=str(seed.HEALTH_INSURER.corporate_number)
        )
        assert insurer is not None
        assert "health_insurer" in exchange.functions_of(session, insurer.id)
        (subscription,) = notifications.subscriptions_of(session, insurer.id)
        assert (subscription.basis_id, subscription.event_id) == seed.HEALTH_INSURER_DEATH_NOTICES
        subject, keeper = next(
            (row.subject_id, row.keeper_id)
            for row in session.execute(
                select(RegistryRecord)
                .where(RegistryRecord.registry_id == "juki", RegistryRecord.valid_to.is_(None))
                .order_by(RegistryRecord.subject_id)
            ).scalars()
            if json.loads(row.data)["status"] == "住民"
        )
        registry.change(
            session, "juki", subject,
            {"status": "死亡", "moved_out": {"date": "2025-03-01", "reason": "死亡"}},
            actor="keeper", valid_from=date(2025, 3, 1),
        )  # fmt: skip
    dispatcher = Dispatcher(session_factory, backoff_base=0.0, max_attempts=3)
    for _ in range(50):
        if not dispatcher.run_once().claimed:
            break
    with session_factory() as session:
        (item,) = notifications.inbox(session, office)
        assert item.publisher_id == keeper and item.events == ["died"]
        assert item.message["data"]["status"] == "死亡"
        (told,) = notifications.inbox(session, insurer.id)  # and 協会けんぽ, likewise
        assert (told.publisher_id, told.subject_id) == (keeper, subject)
        assert told.message["basis_id"] == "juki-kenpo-shibo"
