"""The digital card seen from the person and the counter: issuance, status, loss, life events.

Bridges persons (this module) and the PKI (``trust``): the counter official
checks the person in person, the platform certifies the 基本4情報 held in the
resident record, and the JPKI rules decide which certificates an event ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select
from sqlalchemy.orm import Session

from tsunagu.core.config import Settings
from tsunagu.core.errors import NotFoundError, PermissionDenied, ValidationError
from tsunagu.identity import service as parties
from tsunagu.identity import sessions
from tsunagu.identity.models import Organization, Person
from tsunagu.identity.roles import Actor, Permission, require, require_assurance, require_person
from tsunagu.identity.schemas import PersonRecord
from tsunagu.trust import service as trust
from tsunagu.trust.pki import PersonAttributes

SEX_LABELS = {"male": "男", "female": "女"}
DOCUMENTS = ("driver_license", "passport", "residence_card", "mynumber_card", "other_photo_id")


def person_attributes(session: Session, person_id: str) -> PersonAttributes:
    """The 基本4情報 (and 旧氏) as the resident record holds them today."""
    person = parties.get_person(session, person_id)
    if person.address is None:
        raise ValidationError(
            "no_address",
            "住所が登録されていないため発行できません。",
            "The person has no registered address, so no card can be issued.",
        )
    return PersonAttributes(
        name=f"{person.family_name}\u3000{person.given_name}",
        birth_date=person.birth_date,
        sex=SEX_LABELS[person.sex.value],
        address=person.address.text(),
        former_surname=person.former_family_name,
    )


def _counter_municipality(session: Session, actor: Actor) -> str:
    organization = (
        session.get(Organization, actor.organization_id) if actor.organization_id else None
    )
    if organization is None or organization.lgcode is None:
        raise PermissionDenied(
            "not_a_municipality",
            "市区町村の窓口職員のみ発行できます。",
            "Only counter staff of a municipality can issue cards.",
        )
    return organization.lgcode


def issue_at_counter(
    session: Session,
    actor: Actor,
    *,
    person_id: str,
    document: str,
    scope: trust.Scope = trust.Scope.BOTH,
) -> trust.IssuedCode:
    """Record the in-person check and hand out a one-time enrollment code (30 minutes).

    Like JPKI, the card is issued by the municipality of residence: counter
    staff of another municipality are refused.
    """
    require(actor, Permission.CARD_ISSUE)
    require_assurance(actor, ial=2, aal=2)
    if document not in DOCUMENTS:
        raise ValidationError(
            "unknown_document",
            "本人確認書類の種類が不正です。",
            f"Unknown identity document; one of {', '.join(DOCUMENTS)}.",
        )
    municipality = _counter_municipality(session, actor)
    attributes = person_attributes(session, person_id)
    record = parties.get_person(session, person_id)
    if record.address is None or record.address.municipality_code != municipality:
        raise PermissionDenied(
            "not_resident_here",
            "住所地の市区町村でのみ発行できます。",
            "A card is issued only by the person's municipality of residence.",
        )
    return trust.create_enrollment(
        session,
        subject_ref=person_id,
        person=attributes,
        municipality_code=municipality,
        identity_check={"method": "in_person", "document": document, "official": actor.official_id},
        actor=actor.label,
        scope=scope,
    )


@dataclass(frozen=True)
class CardCertificate:
    serial: str
    kind: str
    status: str
    reason: str | None
    not_before: datetime
    not_after: datetime
    revoked_at: datetime | None


def certificates(session: Session, person_id: str) -> list[CardCertificate]:
    rows = trust.certificates_of(session, person_id)
    result = []
    for row in rows:
        status = trust.certificate_status(session, serial=row.serial)
        result.append(
            CardCertificate(
                serial=row.serial,
                kind=row.kind,
                status=status.status,
                reason=status.reason,
                not_before=status.not_before,
                not_after=status.not_after,
                revoked_at=status.revoked_at,
            )
        )
    return result


def my_certificates(session: Session, actor: Actor) -> list[CardCertificate]:
    """The caller's own certificates (a person sees only theirs)."""
    person_id = require_person(actor).person_id
    assert person_id is not None
    return certificates(session, person_id)


def report_loss(session: Session, actor: Actor) -> list[str]:
    """The holder reports the device lost: both certificates end now, sessions too."""
    person_id = require_person(actor).person_id
    assert person_id is not None
    revoked = trust.apply_card_event(
        session, subject_ref=person_id, event=trust.Reason.LOSS, actor=actor.label
    )
    sessions.end_for_person(session, person_id)
    return revoked


def record_event(
    session: Session, actor: Actor, *, person_id: str, event: trust.Reason
) -> list[str]:
    """An official records death, moving abroad, loss or a change of name/address.

    Loss, death and moving abroad end both certificates; a change of the
    certified attributes ends the signing certificate only (reissue it with
    ``issue_at_counter(scope=SIGNING)``).
    """
    require(actor, Permission.CARD_REVOKE)
    parties.get_person(session, person_id)
    if event not in trust.CARD_EVENT_REVOKES:
        raise ValidationError("unknown_event", "未対応の事由です。", f"Unknown event {event}.")
    revoked = trust.apply_card_event(session, subject_ref=person_id, event=event, actor=actor.label)
    if event is not trust.Reason.ATTRIBUTE_CHANGE:
        sessions.end_for_person(session, person_id)
    return revoked


def require_counter_view(actor: Actor) -> Actor:
    """Who may look up another person's certificates: card issuers and revokers."""
    if not (actor.can(Permission.CARD_ISSUE) or actor.can(Permission.CARD_REVOKE)):
        require(actor, Permission.CARD_ISSUE)
    return actor


def counter_person(session: Session, actor: Actor, person_id: str) -> PersonRecord:
    """A resident as the counter sees them: only card staff of the person's municipality.

    A resident of another municipality is reported as not found, so the counter
    cannot probe who lives elsewhere.
    """
    require_counter_view(actor)
    municipality = _counter_municipality(session, actor)
    person = session.get(Person, person_id) if len(person_id) <= 36 else None
    if person is None or person.address_municipality_code != municipality:
        raise NotFoundError(
            "person_not_found",
            "この市区町村の住民に該当する人が見つかりません。",
            "No resident of this municipality has that id.",
        )
    return parties.get_person(session, person_id)


MAX_MATCHES = 20


def counter_search(
    session: Session, actor: Actor, *, kana: str, birth_date: date | None = None
) -> list[PersonRecord]:
    """Residents of the official's municipality whose name in kana starts with ``kana``.

    The counter finds the person in front of them by reading and birth date
    (as on the identity document), never by 個人番号.
    """
    require_counter_view(actor)
    municipality = _counter_municipality(session, actor)
    reading = parties.normalize_kana(kana).replace(" ", "").replace("\u3000", "")
    if not reading:
        return []
    query = select(Person.id).where(
        Person.address_municipality_code == municipality,
        (Person.family_name_kana + Person.given_name_kana).startswith(reading, autoescape=True),
    )
    if birth_date is not None:
        query = query.where(Person.birth_date == birth_date)
    ids = session.execute(
        query.order_by(Person.family_name_kana, Person.given_name_kana, Person.id).limit(
            MAX_MATCHES
        )
    ).scalars()
    return [parties.get_person(session, person_id) for person_id in ids]


DEMO_PIN = "123456"
DEMO_WALLETS = 5


def enroll_demo_wallets(session: Session, settings: Settings, count: int = DEMO_WALLETS) -> str:
    """Give the first ``count`` demo residents an enrolled Python wallet (PIN 123456).

    Files go to ``<var>/demo/wallets/resident-<n>.wallet``; existing ones are kept,
    so seeding twice changes nothing. The enrollment runs the real counter flow
    (code, challenge, CSRs, issuance) through the service layer.
    """
    trust.init_pki(session, settings, actor="demo")
    folder = settings.var_dir / "demo" / "wallets"
    people = (
        session.execute(
            select(Person.id)
            .where(Person.demo.is_(True), Person.address_municipality_code.is_not(None))
            .order_by(Person.birth_date, Person.id)
            .limit(count)
        )
        .scalars()
        .all()
    )
    for number, person_id in enumerate(people, start=1):
        path = folder / f"resident-{number}.wallet"
        if not path.exists():
            enroll_demo_wallet(session, settings, person_id, path)
    return f"{len(people)} in {folder} (PIN {DEMO_PIN})"


def enroll_demo_wallet(session: Session, settings: Settings, person_id: str, path: Path) -> None:
    """Enroll one demo resident's Python wallet at ``path`` (PIN 123456) by the counter flow."""
    from tsunagu.trust.wallet import Wallet

    record = parties.get_person(session, person_id)
    municipality = record.address.municipality_code if record.address else None
    code = trust.create_enrollment(
        session,
        subject_ref=person_id,
        person=person_attributes(session, person_id),
        municipality_code=str(municipality),
        identity_check={"method": "in_person", "document": "demo"},
        actor="demo",
    ).code
    nonce = trust.enrollment_challenge(session, settings, code).nonce
    wallet = Wallet.create(path, DEMO_PIN)
    unlocked = wallet.unlock(DEMO_PIN)
    rows = trust.complete_enrollment(
        session,
        settings,
        code=code,
        nonce=nonce,
        signing_csr=unlocked.csr("signing", nonce),
        authentication_csr=unlocked.csr("authentication", nonce),
    )
    store = trust.trust_store(session)
    wallet.store(
        {row.kind: _pem(row.der) for row in rows},
        [_pem(store.ders[trust.AuthorityRole.SIGNING])],
        trust.root_certificate_pem(session).decode(),
        settings.base_url,
    )


def _pem(der: bytes) -> str:
    return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM).decode()
