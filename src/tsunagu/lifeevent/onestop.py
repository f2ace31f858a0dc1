"""One-stop life events: one form, one signature, every agency's application.

A resident starts a bundle (引越し …) with a few choices; the registers say
who lives in the household, who is insured where, which children receive
the allowance and which cars are registered to whom, so the parts that
apply are chosen by the bundle's rules and every part's form is filled from
those facts plus the few values the resident typed once. Each part becomes
an ordinary draft application of the owning organization; one signature
over all of them (a :class:`~tsunagu.procedure.service.SignedBatch`) submits
them together. Each part is submitted in its own savepoint: a refused part
is recorded with its reason and the others go on, which is how a bundle
fails — partly, visibly, never silently.

Reading the household's records to prefill is recorded in the audit trail
(which registers, about whom), never their contents.
"""

from __future__ import annotations

import json
import statistics
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tsunagu.core.audit import service as audit
from tsunagu.core.clock import tokyo_today, utcnow
from tsunagu.core.errors import NotFoundError, PermissionDenied, TsunaguError, ValidationError
from tsunagu.exchange import sealing
from tsunagu.identity import delegation, municipalities
from tsunagu.identity import service as identity
from tsunagu.identity.roles import Actor, ActorKind
from tsunagu.lifeevent import notices
from tsunagu.lifeevent.bundles import SIBLING, Bundle, Deadline, Field, Part, get_bundle
from tsunagu.lifeevent.models import BundleFiling, BundlePart, EmployerPart
from tsunagu.procedure import rules
from tsunagu.procedure import service as procedures
from tsunagu.procedure.models import Application
from tsunagu.registry import service as registry
from tsunagu.registry.validation import FieldError, RecordValidator
from tsunagu.trust import protocol
from tsunagu.trust import service as trust
from tsunagu.trust.pki import CertKind

DOCUMENT_TYPE = "tsunagu.lifeevent.bundle/1"
ADULT_AGE = 18
# Registers read to prefill, per person: what the bundle rules may refer to.
PERSON_REGISTERS = ("kokuho", "jidou_teate", "kaigo", "koukin_kouza")
ACCOUNT_FIELDS = ("bank_code", "branch_code", "type", "number")


class AnswersInvalid(ValidationError):
    """The typed values do not satisfy the bundle's fields; ``errors`` lists every field."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__(
            "invalid_answers",
            f"入力内容に誤りが {len(errors)} 件あります。",
            f"The form has {len(errors)} error(s).",
        )

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "errors": [e.as_dict() for e in self.errors]}


def _not_found() -> NotFoundError:
    return NotFoundError(
        "bundle_not_found", "ライフイベントの申請が見つかりません。", "No such life-event filing."
    )


# --- what the registers say about the household ------------------------------------------------


def _age(birth: str, today: date) -> int:
    born = date.fromisoformat(birth)
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _current(session: Session, registry_id: str, subject_id: str) -> dict[str, Any] | None:
    versions = registry.as_of(session, registry_id, subject_id)
    return versions[0].data if versions else None


def _person(session: Session, person_id: str, today: date) -> dict[str, Any] | None:
    juki = registry.as_of(session, "juki", person_id)
    if not juki or juki[0].data["status"] != "住民":
        return None
    data = juki[0].data
    facts: dict[str, Any] = {
        "id": person_id,
        "name": f"{data['name']['family']} {data['name']['given']}",
        "family_name": data["name"]["family"],
        "given_name": data["name"]["given"],
        "birth_date": data["birth_date"],
        "age": _age(data["birth_date"], today),
        "relationship": data["household"]["relationship"],
        "sex": data["sex"],
        "household": (juki[0].keeper_id, data["household"]["household_id"]),
        "address": data["address"],
        "head_name": data["household"]["head_name"],
    }
    for registry_id in PERSON_REGISTERS:
        facts[registry_id] = _current(session, registry_id, person_id)
    account = facts.pop("koukin_kouza")
    facts["account"] = {k: account[k] for k in ACCOUNT_FIELDS} if account else None
    facts["vehicles"] = [
        {"id": v.subject_id, "keeper_id": v.keeper_id, "owner_id": person_id, **v.data}
        for v in registry.as_of_party(session, "jidosha", person_id)
    ]
    return facts


def household(session: Session, person_id: str) -> list[dict[str, Any]]:
    """The person first, then everyone recorded in the same household of the resident register."""
    today = tokyo_today()
    me = _person(session, person_id, today)
    if me is None:
        raise NotFoundError(
            "not_a_resident",
            "住民基本台帳に住民として記録されていないため、この手続はまとめて行えません。",
            "You are not recorded as a resident, so this life event cannot be filed here.",
        )
    record = identity.get_person(session, person_id)
    others = (
        identity.get_household(session, record.household_id).member_ids
        if record.household_id
        else []
    )
    members = [me]
    for other_id in others:
        if other_id == person_id:
            continue
        facts = _person(session, other_id, today)
        if facts is not None and facts["household"] == me["household"]:
            members.append(facts)
    return members


def member_summary(member: dict[str, Any]) -> dict[str, Any]:
    """What the form shows of a member as already known: no register contents beyond that."""
    return {
        "id": member["id"],
        "name": member["name"],
        "relationship": member["relationship"],
        "birth_date": member["birth_date"],
        "national_health_insurance": bool(member["kokuho"]),
        "child_allowance": bool(member["jidou_teate"]),
        "benefit_account": member["account"] is not None,
        "vehicles": [v["registration_number"] for v in member["vehicles"]],
    }


# --- the head of household after a death ------------------------------------------------------

HEAD = "世帯主"


def _choosable(bundle: Bundle, household_facts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return household_facts if bundle.members.applicant == "choice" else household_facts[1:]


def head_candidates(bundle: Bundle, household_facts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Whom the form offers as the new head: asked only where the head may be the member the
    bundle is about and more than one member old enough would remain (one becomes head
    without being asked)."""
    rule = bundle.head_change
    if rule is None or not any(
        m["relationship"] == HEAD for m in _choosable(bundle, household_facts)
    ):
        return []
    remaining = [
        m for m in household_facts if m["relationship"] != HEAD and m["age"] >= rule.min_age
    ]
    return remaining if len(remaining) > 1 else []


def _new_relationship(bundle: Bundle, head: dict[str, Any], member: dict[str, Any]) -> str:
    """A remaining member's 続柄 to the new head (see :class:`~.bundles.HeadChange`)."""
    assert bundle.head_change is not None
    rule, former = bundle.head_change, member["relationship"]
    found = rule.relationships.get(head["relationship"], {}).get(former)
    if found == SIBLING:
        older, male = member["birth_date"] < head["birth_date"], member["sex"] == "男"
        return ("兄" if male else "姉") if older else ("弟" if male else "妹")
    if found is not None:
        return found
    return former if former in rule.kept else rule.otherwise


def household_change(
    bundle: Bundle,
    household_facts: list[dict[str, Any]],
    members: list[dict[str, Any]],
    new_head: str | None,
) -> dict[str, Any] | None:
    """The new head and everyone's new 続柄 when the head is among ``members`` (the dead), for
    the register to record with the approval; ``None`` when the head lives on (a choice made
    anyway is ignored) or nobody old enough remains (the municipality decides then)."""
    rule = bundle.head_change
    gone = {m["id"] for m in members}
    if rule is None or not any(m["relationship"] == HEAD for m in members):
        return None
    remaining = [m for m in household_facts if m["id"] not in gone]
    eligible = [m for m in remaining if m["age"] >= rule.min_age]
    if new_head:
        head = next((m for m in remaining if m["id"] == new_head), None)
        if head is None:
            raise ValidationError(
                "new_head_not_in_household",
                "新しい世帯主には、この世帯に残る方を選んでください。",
                "Choose as the new head someone who remains in this household.",
            )
        if head["age"] < rule.min_age:
            raise ValidationError(
                "new_head_too_young",
                f"新しい世帯主には{rule.min_age}歳以上の方を選んでください。",
                f"Choose as the new head someone aged {rule.min_age} or over.",
            )
    elif len(eligible) > 1:
        raise ValidationError(
            "choose_new_head",
            f"「{rule.label.ja}」を選んでください（{rule.min_age}歳以上の方が複数残ります）。",
            f"Choose the {rule.label.en.lower()} (several members aged {rule.min_age} or over "
            "remain).",
        )
    elif eligible:
        head = eligible[0]
    else:
        return None
    return {
        "head_name": head["name"],
        "members": [
            {
                "id": m["id"],
                "name": m["name"],
                "relationship": HEAD if m is head else _new_relationship(bundle, head, m),
            }
            for m in remaining
        ],
    }


# --- planning the parts -------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedPart:
    part: Part
    subject_id: str
    on_behalf_of: str | None
    organization_id: str | None
    form: dict[str, Any]
    prefilled: int


def _strip(value: Any) -> Any:
    """Drop empty values so optional fields the resident left blank are simply absent."""
    if isinstance(value, dict):
        cleaned = {k: _strip(v) for k, v in value.items()}
        return {k: v for k, v in cleaned.items() if v not in (None, "", {})}
    return value


def _leaf_sources(template: Any) -> list[str]:
    """Every leaf of a form template: its (first) ``$path``, or ``=`` for a literal."""
    if isinstance(template, dict):
        return [leaf for item in template.values() for leaf in _leaf_sources(item)]
    if isinstance(template, list):
        return [template[0]]
    return [template if isinstance(template, str) and template.startswith("$") else "="]


def _fill(template: Any, context: dict[str, Any]) -> Any:
    """A part's form from its template; a list of paths takes the first that holds a value."""
    if isinstance(template, list):
        found = (procedures.fill(path, context) for path in template)
        return next((value for value in found if value not in (None, "")), None)
    if isinstance(template, dict):
        return {key: _fill(item, context) for key, item in template.items()}
    return procedures.fill(template, context)


def _address_text(answers: dict[str, Any], current: dict[str, Any]) -> str:
    new = answers.get("new_address") or {}
    code = new.get("municipality_code") or current.get("municipality_code")
    found = municipalities.find_municipality(str(code)) if code else None
    place = f"{found.prefecture.name}{found.name}" if found else ""
    parts = [place, new.get("town", ""), new.get("block", ""), new.get("building") or ""]
    return " ".join(p for p in parts if p).strip()


def _items(
    part: Part, applicant: dict[str, Any], members: list[dict[str, Any]]
) -> list[tuple[str, dict[str, Any]]]:
    """(context name, item) pairs a part is filed for (``members``: those it is about)."""
    if part.each == "member":
        return [("member", m) for m in members]
    if part.each == "child":
        return [("child", m) for m in members if m["age"] < ADULT_AGE and m["relationship"] == "子"]
    if part.each == "vehicle":
        return [("vehicle", v) for m in members for v in m["vehicles"]]
    return [("applicant", applicant)]


def _subject(name: str, item: dict[str, Any], applicant: str) -> str:
    if name == "member":
        return str(item["id"])
    if name == "vehicle":
        return str(item["owner_id"])
    return applicant


def plan(
    bundle: Bundle,
    answers: dict[str, Any],
    applicant: dict[str, Any],
    members: list[dict[str, Any]],
    *,
    filer: str,
    derived: dict[str, Any] | None = None,
) -> list[PlannedPart]:
    """The parts that apply, in filing order, each with its filled form.

    ``applicant`` is whose household it is; ``filer`` who files (the same person, or a
    proxy); a part about anyone but the filer is filed on that person's behalf. ``derived``:
    more facts worked out from the household (the new head after a death).
    """
    base = {
        "answers": answers,
        "applicant": applicant,
        "head": {"name": applicant["head_name"]},
        "derived": {
            "new_address_text": _address_text(answers, applicant["address"]),
            **(derived or {}),
        },
    }
    planned = []
    for part in bundle.parts:
        for name, item in _items(part, applicant, members):
            context = {**base, name: item}
            if rules.evaluate(part.when, context) is not True:
                continue
            subject = _subject(name, item, applicant["id"])
            organization = (
                str(procedures.fill(part.organization, context)) if part.organization else None
            )
            sources = _leaf_sources(part.form)
            prefilled = sum(1 for source in sources if not source.startswith("$answers"))
            form = _strip(_fill(part.form, context))
            planned.append(
                PlannedPart(
                    part=part,
                    subject_id=subject,
                    on_behalf_of=subject if subject != filer else None,
                    organization_id=organization,
                    form=form,
                    prefilled=prefilled,
                )
            )
    return planned


# --- the combined form --------------------------------------------------------------------------


def asked_fields(bundle: Bundle, answers: dict[str, Any]) -> list[Field]:
    """The fields this resident is asked, given their choices."""
    return [f for f in bundle.fields if rules.evaluate(f.when, {"answers": answers}) is True]


def _nested(values: dict[str, Any]) -> dict[str, Any]:
    """``{"new_address.town": "x"}`` → ``{"new_address": {"town": "x"}}``; blanks dropped."""
    nested: dict[str, Any] = {}
    for path, value in values.items():
        if value in (None, ""):
            continue
        node = nested
        *parents, leaf = path.split(".")
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return nested


def _schema(fields: list[Field]) -> dict[str, Any]:
    """A JSON Schema of the typed values, flat by field id, to report errors per field."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": [f.id for f in fields if f.required],
        "properties": {f.id: f.schema for f in fields},
    }


def check_answers(
    bundle: Bundle, choices: dict[str, str], values: dict[str, Any]
) -> dict[str, Any]:
    """The typed values of the fields asked, checked (every error at once).

    Choices must be among the options; values of fields these choices do not
    ask (a municipality code for a move within the town) are dropped.
    """
    errors: list[FieldError] = []
    for question in bundle.questions:
        chosen = choices.get(question.id)
        if chosen not in {o.value for o in question.options}:
            errors.append(
                FieldError(question.id, "enum", "選択肢から選んでください。", "Choose an option.")
            )
    if errors:
        raise AnswersInvalid(errors)
    fields = asked_fields(bundle, dict(choices))
    typed = {f.id: values[f.id] for f in fields if values.get(f.id) not in (None, "")}
    errors = RecordValidator(_schema(fields)).errors(typed)
    if errors:
        raise AnswersInvalid(errors)
    return typed


# --- filing -------------------------------------------------------------------------------------


def _require_person(actor: Actor) -> str:
    if actor.kind is not ActorKind.PERSON or actor.person_id is None:
        raise PermissionDenied(
            "person_required", "本人としてのログインが必要です。", "You need to log in as a person."
        )
    return actor.person_id


def _members_chosen(
    bundle: Bundle, household_facts: list[dict[str, Any]], member_ids: list[str] | None
) -> list[dict[str, Any]]:
    """Whom the parts are about, as the bundle's ``members`` rule says (see ``Members``)."""
    rule = bundle.members
    applicant = household_facts[0]
    choosable = _choosable(bundle, household_facts)
    if member_ids is None:  # by default everyone who may be chosen (none when none may)
        chosen = choosable if rule.applicant != "never" and rule.most != 0 else []
    else:
        if set(member_ids) - {m["id"] for m in choosable}:
            raise ValidationError(
                "not_in_household",
                "同じ世帯に記録されていない人が含まれています。",
                "Someone chosen is not recorded in your household.",
            )
        chosen = [m for m in choosable if m["id"] in member_ids]
    if len(chosen) < rule.least or (rule.most is not None and len(chosen) > rule.most):
        raise ValidationError(
            "choose_members",
            f"「{rule.label.ja}」を選び直してください。",
            f"Choose again: {rule.label.en}.",
        )
    return [applicant, *chosen] if rule.applicant == "always" else chosen


def _authorized(session: Session, agent_id: str, bundle: Bundle, principal_id: str) -> str:
    """The principal, once a valid power of attorney covers every procedure of the bundle."""
    for procedure_id in sorted({p.procedure_id for p in bundle.parts}):
        found = delegation.check(
            session, agent_kind="person", agent_id=agent_id, principal_kind="person",
            principal_id=principal_id, procedure=procedure_id,
        )  # fmt: skip
        if found is None:
            raise PermissionDenied(
                "no_power_of_attorney",
                "この手続について有効な委任状がありません（期限切れ・取消しを含む）。",
                "You hold no valid power of attorney for this procedure "
                "(it may have expired or been revoked).",
            )
    return principal_id


def prepare(
    session: Session,
    actor: Actor,
    bundle_id: str,
    *,
    choices: dict[str, str],
    values: dict[str, Any],
    member_ids: list[str] | None = None,
    notify: list[str] | None = None,
    principal_id: str | None = None,
    new_head: str | None = None,
) -> BundleFiling:
    """Check the answers, plan the parts and create each one's draft; returns what to sign.

    With ``principal_id`` the actor files for another person's household under that
    person's power of attorney (a care manager for the person needing care). ``new_head``:
    the member chosen to head the household when its head died (see :func:`household_change`).
    """
    person_id = _require_person(actor)
    bundle = get_bundle(bundle_id)
    typed = check_answers(bundle, choices, values)
    about = person_id
    if principal_id not in (None, person_id):
        about = _authorized(session, person_id, bundle, str(principal_id))
    if notify and (bundle.event is None or about != person_id):
        raise ValidationError(
            "no_notices_for_event",
            "この申請では事業者への通知はできません（本人が行う引越しなどに限ります）。",
            "Companies cannot be told through this filing (only of one's own life event).",
        )
    household_facts = household(session, about)
    members = _members_chosen(bundle, household_facts, member_ids)
    answers = {**choices, **_nested(typed)}
    change = household_change(bundle, household_facts, members, new_head)
    planned = plan(
        bundle, answers, household_facts[0], members, filer=person_id,
        derived={"household_change": change},
    )  # fmt: skip
    if not planned:
        raise ValidationError(
            "nothing_to_file",
            "この内容で必要な手続はありません。",
            "No procedure is needed for these answers.",
        )
    filing = BundleFiling(
        id=str(uuid.uuid4()),
        bundle_id=bundle.id,
        applicant=actor.label,
        person_id=person_id,
        status="prepared",
        answers=protocol.canonical_json(answers).decode("utf-8"),
        members=json.dumps([m["id"] for m in members]),
        notify=json.dumps(sorted(set(notify or []))),
        fields_typed=len(typed),
        fields_prefilled=sum(p.prefilled for p in planned),
        choices=len(choices),
        created_at=utcnow(),
    )
    session.add(filing)
    session.flush()
    applications = [
        _draft(session, actor, filing, index, item) for index, item in enumerate(planned)
    ]
    consents = {
        app.id: list(item.part.consent)
        for app, item in zip(applications, planned, strict=True)
        if item.part.consent
    }
    filing.document = protocol.canonical_json(
        document(filing, applications, json.loads(filing.notify), consents)
    ).decode("utf-8")
    audit.record(
        session,
        actor=actor.label,
        action="lifeevent.prepared",
        object_type="lifeevent_bundle",
        object_id=filing.id,
        data={
            "bundle": bundle.id,
            "parts": [p.part.procedure_id for p in planned],
            "prefilled_from": ["juki", "jidosha", *PERSON_REGISTERS],
            "persons": [m["id"] for m in members],
        },
    )
    return filing


def _draft(
    session: Session, actor: Actor, filing: BundleFiling, index: int, item: PlannedPart
) -> Application:
    on_behalf_of = procedures.Party("person", item.on_behalf_of) if item.on_behalf_of else None
    app = procedures.create(
        session,
        actor,
        item.part.procedure_id,
        item.form,
        on_behalf_of=on_behalf_of,
        organization_id=item.organization_id,
    )
    session.add(
        BundlePart(
            filing_id=filing.id,
            position=index,
            procedure_id=item.part.procedure_id,
            subject_id=item.subject_id,
            application_id=app.id,
            outcome="drafted",
        )
    )
    return app


def document(
    filing: BundleFiling,
    applications: list[Application],
    notify: list[str],
    consents: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """What the resident signs once: every part's application document, whom to tell and,
    per application, the evidence they consent to have fetched (the 就労証明書)."""
    signed = {
        "type": DOCUMENT_TYPE,
        "bundle_id": filing.id,
        "life_event": filing.bundle_id,
        "applications": [procedures.document(app) for app in applications],
        "notify": notify,
    }
    return {**signed, "consents": consents} if consents else signed


def get_filing(session: Session, actor: Actor, filing_id: str) -> BundleFiling:
    """The actor's own filing; anyone else's is "not found"."""
    filing = session.get(BundleFiling, filing_id)
    if filing is None or filing.applicant != actor.label:
        raise _not_found()
    return filing


def parts_of(session: Session, filing_id: str) -> list[BundlePart]:
    return list(
        session.execute(
            select(BundlePart)
            .where(BundlePart.filing_id == filing_id)
            .order_by(BundlePart.position)
        ).scalars()
    )


def record_outcome(part: BundlePart | EmployerPart, error: TsunaguError | None) -> None:
    """Whether a part went in, and if not why (in both languages, for the tracker)."""
    if error is None:
        part.outcome = "submitted"
        return
    part.outcome = "refused"
    part.error_code, part.error_ja, part.error_en = error.code, error.message_ja, error.message_en


def _check_signer(session: Session, actor: Actor, cms_der: bytes, signed: str) -> None:
    """The one signature is the applicant's own, over exactly the prepared document.

    Checked once before any part, so a wrong or revoked signature refuses the
    whole filing instead of every part one by one.
    """
    verified = trust.verify_signature(
        session, cms_der, signed.encode("utf-8"), kinds=(CertKind.SIGNING,)
    )
    if verified.signer.subject_ref != actor.person_id:
        raise PermissionDenied(
            "wrong_signer",
            "申請者本人の電子署名ではありません。",
            "The filing is not signed by the applicant.",
        )


def submit(
    session: Session,
    actor: Actor,
    filing_id: str,
    cms_der: bytes,
    *,
    store: sealing.SealStore,
) -> BundleFiling:
    """Submit every part under the one signature; a refused part does not stop the others."""
    filing = get_filing(session, actor, filing_id)
    if filing.status != "prepared" or filing.document is None:
        raise ValidationError(
            "bundle_not_prepared",
            "この申請はすでに提出済みか、準備ができていません。",
            "This filing was already submitted or is not prepared.",
        )
    _check_signer(session, actor, cms_der, filing.document)
    batch = procedures.SignedBatch(filing.id, json.loads(filing.document))
    event = get_bundle(filing.bundle_id).event
    if event is not None:
        for subscriber_id in json.loads(filing.notify):
            notices.give_consent(session, actor, subscriber_id=subscriber_id, event=event)
    parts = parts_of(session, filing.id)
    outcomes = procedures.submit_each(
        session, actor, [p.application_id for p in parts], cms_der, store=store, batch=batch
    )
    for part in parts:
        record_outcome(part, outcomes[part.application_id])
    filing.status = "submitted"
    filing.signature = cms_der
    filing.submitted_at = utcnow()
    audit.record(
        session,
        actor=actor.label,
        action="lifeevent.submitted",
        object_type="lifeevent_bundle",
        object_id=filing.id,
        data={"bundle": filing.bundle_id, "notify": json.loads(filing.notify)},
    )
    return filing


# --- the tracker --------------------------------------------------------------------------------

FINAL = ("approved", "rejected", "withdrawn")


@dataclass(frozen=True)
class PartStatus:
    procedure_id: str
    subject_id: str
    application_id: str
    outcome: str
    status: str
    error_code: str | None
    error_ja: str | None
    error_en: str | None


@dataclass(frozen=True)
class Tracker:
    """Every part of one filing as it stands now, and the filing's figures."""

    filing: BundleFiling
    parts: list[PartStatus]
    notices: list[notices.DeliveryOut]
    unnecessary: int
    completed_at: datetime | None
    deadlines: list[tuple[Deadline, date]]

    @property
    def all_completed(self) -> bool:
        return all(p.status == "approved" for p in self.parts)

    @property
    def pending(self) -> list[PartStatus]:
        return [p for p in self.parts if p.status not in FINAL]


def _states(session: Session, application_ids: list[str]) -> dict[str, tuple[str, datetime | None]]:
    rows = session.execute(
        select(Application.id, Application.status, Application.decided_at).where(
            Application.id.in_(application_ids)
        )
    )
    return {row.id: (row.status, row.decided_at) for row in rows}


def _latest(moments: list[datetime | None]) -> datetime | None:
    """When the last part was decided, once every part is."""
    known = [m for m in moments if m is not None]
    return max(known) if known and len(known) == len(moments) else None


def tracker(session: Session, actor: Actor, filing_id: str) -> Tracker:
    """The one page of a life event: each part's live state, the notices, the figures."""
    filing = get_filing(session, actor, filing_id)
    parts = parts_of(session, filing.id)
    states = _states(session, [p.application_id for p in parts])
    found = [
        PartStatus(
            p.procedure_id, p.subject_id, p.application_id, p.outcome,
            states[p.application_id][0], p.error_code, p.error_ja, p.error_en,
        )
        for p in parts
    ]  # fmt: skip
    since = filing.submitted_at
    sent = (
        [
            d
            for d in notices.deliveries_of_person(session, filing.person_id)
            if d.created_at >= since
        ]
        if since is not None
        else []
    )
    decided = [states[p.application_id][1] for p in parts]
    bundle = get_bundle(filing.bundle_id)
    return Tracker(
        filing,
        found,
        sent,
        len(bundle.unnecessary),
        completed_at=_latest(decided),
        deadlines=deadlines(bundle, json.loads(filing.answers)),
    )


def deadlines(bundle: Bundle, answers: dict[str, Any]) -> list[tuple[Deadline, date]]:
    """What is left to do and by when, counted from the answers (e.g. the date of death)."""
    found = []
    for item in bundle.checklist:
        start = rules.lookup(answers, item.start)
        if start:
            found.append((item, rules.add_months(date.fromisoformat(str(start)), item.months)))
    return sorted(found, key=lambda pair: pair[1])


def filings(session: Session, actor: Actor) -> list[BundleFiling]:
    """The actor's life-event filings, newest first."""
    return list(
        session.execute(
            select(BundleFiling)
            .where(BundleFiling.applicant == actor.label)
            .order_by(BundleFiling.created_at.desc())
        ).scalars()
    )


@dataclass(frozen=True)
class Figures:
    """One bundle's figures for the plan office (aggregates only, no person)."""

    bundle_id: str
    procedures_covered: int
    procedures_unnecessary: int
    filings_submitted: int
    applications: int
    fields_typed_mean: float | None
    fields_prefilled_mean: float | None
    completed: int
    days_to_completion_median: float | None


def figures(session: Session, bundle_id: str) -> Figures:
    """How a bundle is used: typed versus prefilled fields, completions and their time."""
    bundle = get_bundle(bundle_id)
    filings = list(
        session.execute(
            select(BundleFiling).where(
                BundleFiling.bundle_id == bundle.id, BundleFiling.submitted_at.is_not(None)
            )
        ).scalars()
    )
    parts = list(
        session.execute(
            select(BundlePart.filing_id, Application.status, Application.decided_at)
            .join(Application, Application.id == BundlePart.application_id)
            .where(BundlePart.filing_id.in_([f.id for f in filings]))
        )
    )
    by_filing: dict[str, list[tuple[str, datetime | None]]] = {}
    for row in parts:
        by_filing.setdefault(row.filing_id, []).append((row.status, row.decided_at))
    durations = []
    for filing in filings:
        states = by_filing.get(filing.id, [])
        done = _latest([d for _s, d in states]) if states else None
        submitted = filing.submitted_at
        if done and submitted and all(s == "approved" for s, _d in states):
            durations.append((done - submitted).total_seconds() / 86400)
    count = len(filings)
    return Figures(
        bundle_id=bundle.id,
        procedures_covered=len({p.procedure_id for p in bundle.parts}),
        procedures_unnecessary=len(bundle.unnecessary),
        filings_submitted=count,
        applications=len(parts),
        fields_typed_mean=round(sum(f.fields_typed for f in filings) / count, 2) if count else None,
        fields_prefilled_mean=(
            round(sum(f.fields_prefilled for f in filings) / count, 2) if count else None
        ),
        completed=len(durations),
        days_to_completion_median=round(statistics.median(durations), 3) if durations else None,
    )
