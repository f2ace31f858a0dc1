"""Applications through the service: signed submission, evidence, rules, review, effects."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tsunagu.core.audit.models import AuditRecord
from tsunagu.core.clock import tokyo_today
from tsunagu.core.db import transaction
from tsunagu.core.errors import ConflictError, NotFoundError, PermissionDenied, ValidationError
from tsunagu.core.outbox.models import OutboxEvent
from tsunagu.identity import delegation
from tsunagu.identity.roles import Actor
from tsunagu.procedure import service
from tsunagu.procedure.models import Application
from tsunagu.registry import service as registry

from .conftest import World, tennyu_form


def _file(
    world: World, actor: Actor, procedure: str, form: dict[str, Any], **kwargs: Any
) -> Application:
    with transaction(world.factory) as session:
        draft = service.create(session, actor, procedure, form, **kwargs)
        signature = world.sign(str(actor.person_id), service.document(draft))
        return service.submit(session, actor, draft.id, signature, store=world.store).application


def _audit_actions(world: World, application_id: str) -> list[str]:
    with transaction(world.factory) as session:
        return list(
            session.execute(
                select(AuditRecord.action)
                .where(AuditRecord.object_id == application_id)
                .order_by(AuditRecord.seq)
            ).scalars()
        )


def test_tennyu_is_decided_automatically_and_updates_the_register(world: World) -> None:
    app = _file(world, world.person(world.hanako), "tennyu", tennyu_form())
    assert app.status == "approved" and app.automatic and app.decided_by == service.SYSTEM
    assert app.owner_id == world.osaka
    with transaction(world.factory) as session:
        [evidence] = service.evidence_of(session, app.id)
        assert (evidence.evidence_type, evidence.outcome) == ("juminhyo", "provided")
        assert evidence.owner_id == world.chiyoda  # fetched from the former municipality
        [now] = registry.as_of(session, "juki", world.hanako)
    assert now.keeper_id == world.osaka
    assert now.data["status"] == "住民"
    assert now.data["address"]["municipality"] == "大阪市"
    assert now.data["address"]["town"] == "梅田" and "building" not in now.data["address"]
    assert now.data["moved_in"]["reason"] == "転入" and "moved_out" not in now.data
    assert _audit_actions(world, app.id) == [
        "procedure.drafted",
        "procedure.submitted",
        "procedure.approved",
    ]


def test_late_tennyu_goes_to_a_person_returned_corrected_and_approved(world: World) -> None:
    hanako = world.person(world.hanako)
    late = (tokyo_today() - timedelta(days=1)).isoformat()
    wrong = tennyu_form(household={"head_name": "山田 花子", "relationship": "同居人"})
    wrong["moved_in_on"] = (tokyo_today() - timedelta(days=20)).isoformat()
    app = _file(world, hanako, "tennyu", wrong)
    assert app.status == "submitted" and app.due_on is not None
    reviewer = world.official(world.osaka_reviewer)
    with transaction(world.factory) as session:
        with pytest.raises(NotFoundError):  # another municipality's reviewer sees nothing
            service.assign(session, world.official(world.chiyoda_reviewer), app.id)
        service.assign(session, reviewer, app.id)
        with pytest.raises(PermissionDenied):  # only the assigned reviewer decides
            service.decide(session, world.official(world.osaka_reviewer2), app.id, True, "ok")
        service.comment(session, reviewer, app.id, "転出日を確認中", internal=True)
        returned = service.return_for_correction(
            session, reviewer, app.id, "引っ越した日と続柄を確認してください。"
        )
        assert returned.status == "returned" and returned.due_on is None
    with transaction(world.factory) as session:
        assert [c.body for c in service.comments(session, hanako, app.id)] == [
            "引っ越した日と続柄を確認してください。"
        ]
        assert len(service.comments(session, reviewer, app.id)) == 2
        with pytest.raises(PermissionDenied):
            service.comment(session, hanako, app.id, "memo", internal=True)
        corrected = tennyu_form()
        corrected["moved_in_on"] = late
        service.update(session, hanako, app.id, corrected)
        draft = service.get(session, hanako, app.id)
        resubmitted = service.submit(
            session, hanako, app.id, world.sign(world.hanako, service.document(draft)),
            store=world.store,
        ).application  # fmt: skip
        assert resubmitted.status == "approved"  # the corrected form satisfies the rules


def test_rejected_and_withdrawn(world: World) -> None:
    form = tennyu_form()
    form["moved_in_on"] = (tokyo_today() - timedelta(days=30)).isoformat()
    hanako = world.person(world.hanako)
    app = _file(world, hanako, "tennyu", form)
    reviewer = world.official(world.osaka_reviewer)
    with transaction(world.factory) as session:
        service.assign(session, reviewer, app.id, world.osaka_reviewer2)
        with pytest.raises(ValidationError):  # counter staff are not reviewers
            service.assign(session, reviewer, app.id, world.osaka_counter)
        other = world.official(world.osaka_reviewer2)
        rejected = service.decide(session, other, app.id, False, "届出期間を過ぎています。")
        assert rejected.status == "rejected" and not rejected.automatic
        with pytest.raises(ConflictError):
            service.withdraw(session, hanako, app.id)
        [record] = registry.as_of(session, "juki", world.hanako)
        assert record.data["status"] == "転出"  # nothing changed
    second = _file(world, hanako, "tennyu", form)
    with transaction(world.factory) as session:
        with pytest.raises(NotFoundError):  # only the applicant withdraws
            service.withdraw(session, world.person(world.taro), second.id)
        assert service.withdraw(session, hanako, second.id).status == "withdrawn"
    assert _audit_actions(world, second.id)[-1] == "procedure.withdrawn"


def test_signature_must_be_the_applicants_over_this_document(world: World) -> None:
    hanako = world.person(world.hanako)
    with transaction(world.factory) as session:
        draft = service.create(session, hanako, "tennyu", tennyu_form())
        document = service.document(draft)
        by_taro = world.sign(world.taro, document)
        with pytest.raises(PermissionDenied) as raised:
            service.submit(session, hanako, draft.id, by_taro, store=world.store)
        assert raised.value.code == "wrong_signer"
        tampered = {**document, "form": {**document["form"], "moved_in_on": "2000-01-01"}}
        with pytest.raises(ValidationError):
            service.submit(
                session, hanako, draft.id, world.sign(world.hanako, tampered), store=world.store
            )
        with pytest.raises(ValidationError):
            service.submit(session, hanako, draft.id, b"not cms", store=world.store)
        assert service.get(session, hanako, draft.id).status == "draft"


def test_form_errors_are_listed_by_field(world: World) -> None:
    hanako = world.person(world.hanako)
    bad = tennyu_form(new_address={"municipality_code": "271005", "town": ""})
    with transaction(world.factory) as session:
        draft = service.create(session, hanako, "tennyu", bad)
        with pytest.raises(service.FormInvalid) as raised:
            service.submit(
                session, hanako, draft.id, world.sign(world.hanako, service.document(draft)),
                store=world.store,
            )  # fmt: skip
    paths = {e.path for e in raised.value.errors}
    assert {"new_address.municipality_code", "new_address.town", "new_address.block"} <= paths
    assert raised.value.as_dict()["errors"]


def test_lower_assurance_is_refused(world: World) -> None:
    with transaction(world.factory) as session, pytest.raises(PermissionDenied) as raised:
        service.create(session, world.person(world.hanako, ial=2), "tennyu", tennyu_form())
    assert raised.value.code == "assurance_too_low"


@pytest.mark.parametrize("state", ["valid", "expired", "revoked"])
def test_proxy_needs_a_valid_power_of_attorney(world: World, state: str) -> None:
    days = -1 if state == "expired" else 30
    poa = world.power_of_attorney(world.hanako, world.stranger, ["tennyu"], days=days)
    proxy = world.person(world.stranger)
    principal = service.Party("person", world.hanako)
    if state == "expired":
        with transaction(world.factory) as session, pytest.raises(PermissionDenied) as raised:
            service.create(session, proxy, "tennyu", tennyu_form(), on_behalf_of=principal)
        assert raised.value.code == "no_power_of_attorney"
        return
    with transaction(world.factory) as session:
        draft = service.create(session, proxy, "tennyu", tennyu_form(), on_behalf_of=principal)
        assert (draft.role, draft.subject_id, draft.delegation_id) == ("proxy", world.hanako, poa)
        draft_id, document = draft.id, service.document(draft)
    if state == "revoked":
        with transaction(world.factory) as session:
            delegation.revoke(session, world.person(world.hanako), poa)
    with transaction(world.factory) as session:
        signature = world.sign(world.stranger, document)
        if state == "revoked":
            with pytest.raises(PermissionDenied):
                service.submit(session, proxy, draft_id, signature, store=world.store)
            return
        app = service.submit(session, proxy, draft_id, signature, store=world.store).application
        assert app.status == "approved"
        # the subject sees the application filed for them
        assert [a.id for a in service.mine(session, world.person(world.hanako))] == [app.id]


def test_power_of_attorney_for_another_procedure_does_not_count(world: World) -> None:
    world.power_of_attorney(world.hanako, world.stranger, ["juminhyo_kofu"])
    with transaction(world.factory) as session, pytest.raises(PermissionDenied):
        service.create(
            session, world.person(world.stranger), "tennyu", tennyu_form(),
            on_behalf_of=service.Party("person", world.hanako),
        )  # fmt: skip


def test_death_notification_by_household_member_notifies_through_the_register(
    world: World,
) -> None:
    form = {
        "death_date": (tokyo_today() - timedelta(days=1)).isoformat(),
        "death_place": "東京都千代田区",
        "informant": "同居の親族",
        "certificate": {"doctor": "医師 一郎", "institution": "千代田病院"},
    }
    jiro = service.Party("person", world.jiro)
    with transaction(world.factory) as session, pytest.raises(PermissionDenied):
        service.create(session, world.person(world.stranger), "shibou", form, on_behalf_of=jiro)
    app = _file(world, world.person(world.taro), "shibou", form, on_behalf_of=jiro)
    assert (app.role, app.status, app.owner_id) == ("household", "submitted", world.chiyoda)
    reviewer = world.official(world.chiyoda_reviewer)
    with transaction(world.factory) as session:
        assert [a.id for a in service.queue(session, reviewer)] == [app.id]
        assert service.queue(session, world.official(world.osaka_reviewer)) == []
        service.assign(session, reviewer, app.id)
        service.decide(session, reviewer, app.id, True, "死亡診断書を確認しました。")
        [record] = registry.as_of(session, "juki", world.jiro, valid_on=tokyo_today())
        assert record.data["status"] == "死亡"
        assert record.data["moved_out"] == {"date": form["death_date"], "reason": "死亡"}
        events = [
            json.loads(e.payload)
            for e in session.execute(
                select(OutboxEvent).where(OutboxEvent.topic == registry.CHANGED_TOPIC)
            ).scalars()
        ]
    assert any(e["subject_id"] == world.jiro and "died" in e["events"] for e in events)


def test_only_parties_and_owner_reviewers_read_an_application(world: World) -> None:
    app = _file(world, world.person(world.hanako), "tennyu", tennyu_form())
    with transaction(world.factory) as session:
        assert service.get(session, world.official(world.osaka_reviewer), app.id).id == app.id
        for outsider in (
            world.person(world.taro),
            world.official(world.chiyoda_reviewer),
            world.official(world.osaka_counter),
        ):
            with pytest.raises(NotFoundError):
                service.get(session, outsider, app.id)
        with pytest.raises(PermissionDenied):
            service.queue(session, world.official(world.osaka_counter))
