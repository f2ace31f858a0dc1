"""The registry engine: bitemporal records, one write operation, "as of" reads.

Every change — an ordinary change of address, a correction of a wrongly
recorded birth date, the end of an enrolment — is the same operation,
:func:`assert_fact`: "for the valid-time interval [from, to) the record is
``data``" (or, with ``data=None``, "there is no record"). Current versions
overlapping the interval are superseded (never updated in place, never
deleted) and the parts of them outside the interval are re-inserted, so both
the register's past and every past state of *knowledge* about it stay
answerable: :func:`as_of` (valid on D, as known at K).

Each write is audited (field names and a digest, never values), and a
``registry.changed`` outbox event names the domain events it fired (a death,
a move out) so that subscribed agencies are told without anyone applying.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Date,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tsunagu.core.audit import service as audit
from tsunagu.core.clock import tokyo_today, utcnow
from tsunagu.core.db import DriverQuery, UTCDateTime, transaction_memo, update_on_driver
from tsunagu.core.errors import (
    ConflictError,
    NotFoundError,
    PermissionDenied,
    ValidationError,
)
from tsunagu.core.outbox import service as outbox
from tsunagu.identity import service as identity
from tsunagu.registry.definitions import RegistryDefinition, get_registry, lookup
from tsunagu.registry.models import RECORDS, RegistryRecord

CHANGED_TOPIC = "registry.changed"
REASONS = ("change", "correction", "retraction", "initial")
BULK_BATCH = 2000


@dataclass(frozen=True)
class Version:
    """One bitemporal version of a record, as other modules see it."""

    id: int
    registry_id: str
    subject_id: str
    record_key: str
    party_id: str | None
    keeper_id: str
    valid_from: date
    valid_to: date | None
    recorded_at: datetime
    superseded_at: datetime | None
    data: dict[str, Any]
    recorded_by: str
    reason: str
    note: str | None


@dataclass(frozen=True)
class Change:
    """What one write did: versions superseded and inserted, domain events fired."""

    change_id: str
    registry_id: str
    subject_id: str
    record_key: str
    superseded: tuple[int, ...]
    inserted: tuple[int, ...]
    events: tuple[str, ...]
    changed_fields: tuple[str, ...]


def _version(row: Any) -> Version:
    """A record as read: an ORM object, or a row with the table's columns."""
    return Version(
        id=row.id,
        registry_id=row.registry_id,
        subject_id=row.subject_id,
        record_key=row.record_key,
        party_id=row.party_id,
        keeper_id=row.keeper_id,
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        recorded_at=row.recorded_at,
        superseded_at=row.superseded_at,
        data=json.loads(row.data),
        recorded_by=row.recorded_by,
        reason=row.reason,
        note=row.note,
    )


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _leaves(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        found: dict[str, Any] = {}
        for key, value in data.items():
            found.update(_leaves(value, f"{prefix}.{key}" if prefix else str(key)))
        return found
    return {prefix: data}


def changed_fields(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[str]:
    """Dotted paths whose value differs (lists compare as a whole)."""
    old, new = _leaves(before or {}), _leaves(after or {})
    return sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))


def _overlapping(
    registry_id: str | BindParameter[str],
    subject_id: str | BindParameter[str],
    record_key: str | BindParameter[str],
    start: date | BindParameter[date],
    end: date | BindParameter[date] | None,
) -> ColumnElement[bool]:
    c = RECORDS.c
    conditions = [
        c.registry_id == registry_id,
        c.subject_id == subject_id,
        c.record_key == record_key,
        c.superseded_at.is_(None),
        or_(c.valid_to.is_(None), c.valid_to > start),
    ]
    if end is not None:
        conditions.append(c.valid_from < end)
    return and_(*conditions)


def check_keeper(session: Session, definition: RegistryDefinition, keeper_id: str) -> None:
    """Only an organization of the registry's owner kind may keep its records."""
    organization = identity.get_organization(session, keeper_id)
    if organization.kind.value != definition.owner_kind:
        raise PermissionDenied(
            "wrong_keeper_kind",
            f"「{definition.name.ja}」を管理できるのは{definition.owner_kind}の組織だけです。",
            f"Only a {definition.owner_kind} organization keeps the {definition.name.en}.",
        )


def _check_interval(start: date, end: date | None) -> None:
    if end is not None and end <= start:
        raise ValidationError(
            "empty_interval",
            "有効期間の終了日は開始日より後にしてください。",
            "valid_to must be after valid_from.",
        )


def assert_fact(
    session: Session,
    registry_id: str,
    subject_id: str,
    data: dict[str, Any] | None,
    *,
    keeper_id: str,
    actor: str,
    valid_from: date,
    valid_to: date | None = None,
    record_key: str | None = None,
    reason: str = "change",
    note: str | None = None,
    at: datetime | None = None,
) -> Change:
    """Make the register say ``data`` for [valid_from, valid_to) from now on.

    ``data=None`` retracts the record for the interval. History is kept: the
    overlapping versions are superseded, and their parts outside the interval
    re-inserted unchanged.
    """
    return _assert(
        session, get_registry(registry_id), subject_id, data, keeper_id=keeper_id, actor=actor,
        valid_from=valid_from, valid_to=valid_to, record_key=record_key, reason=reason,
        note=note, at=at, read=None,
    )  # fmt: skip


def _changed_meanwhile() -> ConflictError:
    return ConflictError(
        "record_changed_concurrently",
        "この記録は同時に別の処理で変更されました。最新の内容を確かめて、もう一度お試しください。",
        "This record was changed by another request at the same time; "
        "check the latest version and try again.",
    )


def _is_start_clash(exc: IntegrityError) -> bool:
    """Two current versions of one record starting the same day (a concurrent write won):
    PostgreSQL names the index, SQLite its columns."""
    message = str(exc.orig)
    return "uq_registry_records_current_start" in message or (
        "registry_records.valid_from" in message
    )


def _current_rows(
    session: Session,
    registry_id: str,
    subject_id: str,
    record_key: str,
    start: date,
    end: date | None,
) -> list[Any]:
    """The current versions overlapping [start, end), locked until commit on PostgreSQL.

    A read on the session's connection (on its driver: see ``DriverQuery``): no ORM
    object is built, and the session's pending changes are not flushed for it — the
    registry writes its table with Core statements only (:func:`_write`), so nothing
    pending can be about these rows.
    """
    query = _current_query(end is not None, session.get_bind().dialect.name == "postgresql")
    parameters = {
        "registry": registry_id, "subject": subject_id, "key": record_key, "start": start,
        "end": end,
    }  # fmt: skip
    return list(query.rows(session.connection(), parameters))


@lru_cache(maxsize=4)
def _current_query(bounded: bool, lock: bool) -> DriverQuery:
    """The statement of :func:`_current_rows`, built once (every register write runs one)."""
    query = select(RECORDS).where(
        _overlapping(
            bindparam("registry"),
            bindparam("subject"),
            bindparam("key"),
            bindparam("start", type_=Date),
            bindparam("end", type_=Date) if bounded else None,
        )
    )
    if lock:
        query = query.with_for_update()
    return DriverQuery(query.order_by(RECORDS.c.valid_from))


def _assert(
    session: Session,
    definition: RegistryDefinition,
    subject_id: str,
    data: dict[str, Any] | None,
    *,
    keeper_id: str,
    actor: str,
    valid_from: date,
    valid_to: date | None,
    record_key: str | None,
    reason: str,
    note: str | None,
    at: datetime | None,
    read: tuple[str, list[Any]] | None,
    unless_current: bool = False,
) -> Change:
    """:func:`assert_fact`'s work. ``read``: a record key and its current versions from
    ``valid_from`` on, already read and locked by the caller (:func:`change`), so they are
    not read again; used only when ``data`` has that key. ``unless_current``: ``read`` found
    nothing current; refuse as a concurrent change if a version valid on ``valid_from`` is
    there by now (the guarded INSERT of :func:`_write`, a new snapshot)."""
    registry_id = definition.id
    if reason not in REASONS:
        raise ValidationError(
            "unknown_reason", "変更理由が不正です。", f"reason must be one of {REASONS}."
        )
    _check_interval(valid_from, valid_to)
    if data is not None:
        definition.validator.validate(registry_id, data)
        record_key = definition.record_key(data)
    elif record_key is None:
        record_key = ""
    check_keeper(session, definition, keeper_id)
    now = at or utcnow()
    if read is not None and read[0] == record_key:
        overlapping = [r for r in read[1] if valid_to is None or r.valid_from < valid_to]
    else:
        overlapping = _current_rows(
            session, registry_id, subject_id, record_key, valid_from, valid_to
        )
    if data is None and not overlapping:
        raise NotFoundError(
            "no_record",
            "取り消す記録がありません。",
            "There is no record in that interval to retract.",
        )
    before_row = next(
        (
            r
            for r in overlapping
            if r.valid_from <= valid_from and (r.valid_to is None or r.valid_to > valid_from)
        ),
        None,
    )
    before = json.loads(before_row.data) if before_row else None
    rows = _replacement_rows(
        overlapping, definition, subject_id, record_key, data, keeper_id, actor, reason, note,
        valid_from, valid_to, now,
    )  # fmt: skip
    superseded = [r.id for r in overlapping]
    # read nothing current, and the record is the key read (see _changed_key): one new version
    assert not unless_current or (not superseded and len(rows) == 1)
    try:
        inserted = _write(session, superseded, rows, now, guarded=unless_current)
    except IntegrityError as exc:
        if not _is_start_clash(exc):
            raise
        raise _changed_meanwhile() from exc
    return _announce(
        session, definition, subject_id, record_key, keeper_id, actor, reason, valid_from,
        valid_to, before, data, superseded, inserted, now,
    )  # fmt: skip


def _write(
    session: Session,
    superseded: list[int],
    rows: list[dict[str, Any]],
    now: datetime,
    *,
    guarded: bool = False,
) -> list[int]:
    """Supersede the old versions, then insert the new ones (in this order: the unique index
    allows one current version per start day); returns the new ids in the order of ``rows``.
    ``guarded`` (one row, nothing superseded): inserted only if no version is valid on its
    first day by then, else a concurrent change (:func:`change`).

    Core statements on the session's connection, like :func:`_current_rows`: the session's
    pending changes are not flushed for them (the keeper they cite is in the database:
    :func:`check_keeper` read it), and no ORM object of a version is kept anywhere, so none
    goes stale.
    """
    connection = session.connection()
    _forget_reads(session)
    if len(superseded) == 1:  # the usual change: one version replaced
        update_on_driver(connection, RECORDS, {"superseded_at": now}, {"id": superseded[0]})
    elif superseded:
        connection.execute(_SUPERSEDE, {"ids": superseded, "now": now})
    if not rows:
        return []
    if len(rows) == 1:  # the usual change: a new version and nothing left of the old one
        inserted = (_INSERT_UNLESS_CURRENT if guarded else _INSERT_ONE).rows(connection, rows[0])
        if not inserted:
            raise _changed_meanwhile()
        return [inserted[0].id]
    return list(connection.execute(_INSERT_RETURNING_ID, rows).scalars())


# The statements of :func:`_write`, built once (every register write runs them).
_SUPERSEDE = (
    update(RECORDS)
    .where(RECORDS.c.id.in_(bindparam("ids", expanding=True)))
    .values(superseded_at=bindparam("now"))
)
_INSERT_RETURNING_ID = insert(RECORDS).returning(RECORDS.c.id, sort_by_parameter_order=True)
_VALUES = {c.name: bindparam(c.name, type_=c.type) for c in RECORDS.c if c.name != "id"}
_INSERT_ONE = DriverQuery(insert(RECORDS).values(_VALUES).returning(RECORDS.c.id))
_VALID_ON_ITS_START = exists().where(
    _overlapping(
        _VALUES["registry_id"], _VALUES["subject_id"], _VALUES["record_key"],
        _VALUES["valid_from"], None,
    ),
    RECORDS.c.valid_from <= _VALUES["valid_from"],
)  # fmt: skip
_INSERT_UNLESS_CURRENT = DriverQuery(
    insert(RECORDS)
    .from_select(list(_VALUES), select(*_VALUES.values()).where(~_VALID_ON_ITS_START))
    .returning(RECORDS.c.id)
)


def _replacement_rows(
    overlapping: Sequence[Any],
    definition: RegistryDefinition,
    subject_id: str,
    record_key: str,
    data: dict[str, Any] | None,
    keeper_id: str,
    actor: str,
    reason: str,
    note: str | None,
    start: date,
    end: date | None,
    now: datetime,
) -> list[dict[str, Any]]:
    """The remainders of superseded versions outside [start, end), plus the new version."""
    rows: list[dict[str, Any]] = []

    def row(
        payload: dict[str, Any], keeper: str, lo: date, hi: date | None, why: str, text: str | None
    ) -> dict[str, Any]:
        return {
            "registry_id": definition.id,
            "subject_id": subject_id,
            "record_key": record_key,
            "party_id": definition.party_of(subject_id, payload),
            "group_key": definition.group_of(payload),
            "keeper_id": keeper,
            "valid_from": lo,
            "valid_to": hi,
            "recorded_at": now,
            "superseded_at": None,
            "data": _dump(payload),
            "recorded_by": actor,
            "reason": why,
            "note": text,
        }

    for old in overlapping:
        payload = json.loads(old.data)
        if old.valid_from < start:
            rows.append(row(payload, old.keeper_id, old.valid_from, start, old.reason, old.note))
        if end is not None and (old.valid_to is None or old.valid_to > end):
            rows.append(row(payload, old.keeper_id, end, old.valid_to, old.reason, old.note))
    if data is not None:
        rows.append(row(data, keeper_id, start, end, reason, note))
    return rows


def _announce(
    session: Session,
    definition: RegistryDefinition,
    subject_id: str,
    record_key: str,
    keeper_id: str,
    actor: str,
    reason: str,
    start: date,
    end: date | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    superseded: list[int],
    inserted: list[int],
    now: datetime,
) -> Change:
    """Audit the write and tell subscribers (through the outbox) which events it fired."""
    fields = changed_fields(before, after)
    events = _events(definition, reason, before, after)
    change_id = str(uuid.uuid4())
    party_id = definition.party_of(subject_id, after if after is not None else before)
    audit.record(
        session,
        actor=actor,
        action=f"registry.{reason}",
        object_type=f"registry:{definition.id}",
        object_id=subject_id,
        at=now,
        data={
            "change_id": change_id,
            "record_key": record_key,
            "keeper_id": keeper_id,
            "valid_from": start.isoformat(),
            "valid_to": end.isoformat() if end else None,
            "superseded": superseded,
            "inserted": inserted,
            "changed_fields": fields,
            "events": events,
            "data_sha256": hashlib.sha256(_dump(after or {}).encode()).hexdigest(),
        },
    )
    if events:
        outbox.publish(
            session,
            CHANGED_TOPIC,
            {
                "change_id": change_id,
                "registry_id": definition.id,
                "subject_id": subject_id,
                "record_key": record_key,
                "party_id": party_id,
                "keeper_id": keeper_id,
                "events": events,
                "changed_fields": fields,
                "valid_from": start.isoformat(),
                "recorded_at": now.isoformat(),
                "version_id": inserted[-1] if after is not None and inserted else None,
            },
            event_id=change_id,
            fresh_id=True,  # a uuid4 made above
        )
    return Change(
        change_id, definition.id, subject_id, record_key, tuple(superseded), tuple(inserted),
        tuple(events), tuple(fields),
    )  # fmt: skip


def _events(
    definition: RegistryDefinition,
    reason: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> list[str]:
    if after is None:
        return ["retracted"]
    events = ["created"] if before is None else []
    if before is not None and before != after:
        events.append("corrected" if reason == "correction" else "changed")
    events.extend(rule.id for rule in definition.events if rule.fired(before, after))
    return events


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Deep merge; ``None`` in the patch removes the field."""
    merged = dict(base)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def change(
    session: Session,
    registry_id: str,
    subject_id: str,
    patch: dict[str, Any],
    *,
    actor: str,
    valid_from: date,
    record_key: str | None = None,
    keeper_id: str | None = None,
    reason: str = "change",
    note: str | None = None,
    at: datetime | None = None,
    record: dict[str, Any] | None = None,
) -> Change:
    """Change some fields from ``valid_from`` until the end of the version valid then.

    The ordinary register update ("from 1 April the address is …"); a
    correction is the same call with ``reason="correction"`` and the date the
    wrong version started. Later versions already recorded are left alone.
    With ``record`` (and ``keeper_id``), a subject with no version valid then gets
    that whole record from ``valid_from`` instead (a first enrolment). The record changed
    is the one ``record_key`` names, by default ``record``'s own key (none for a register
    with one record per subject): patch and record must be about the same record, or a
    first enrolment could replace another record of the subject unseen.

    One locked read finds the version valid then and every version it supersedes.
    """
    definition = get_registry(registry_id)
    record_key = _changed_key(definition, record_key, record)
    rows = _current_rows(session, registry_id, subject_id, record_key, valid_from, None)
    current = next((r for r in rows if r.valid_from <= valid_from), None)
    # None found: the locked read may have waited for a concurrent change that superseded the
    # version; a new statement (a new snapshot) sees the version that change made. For a
    # first enrolment with nothing read at all, the new version's INSERT is that statement.
    # (SQLite: one writer.)
    recheck = current is None and session.get_bind().dialect.name == "postgresql"
    enrolment = recheck and not rows and record is not None and keeper_id is not None
    if (
        recheck
        and not enrolment
        and version_at(
            session, registry_id, subject_id, valid_from, record_key=record_key, fresh=True
        )
    ):
        raise _changed_meanwhile()
    if current is not None:
        data, keeper, end = (
            _merge(json.loads(current.data), patch),
            keeper_id or current.keeper_id,
            current.valid_to,
        )
    elif record is not None and keeper_id is not None:
        data, keeper, end = record, keeper_id, None
    else:
        raise NotFoundError(
            "no_record",
            "その日に有効な記録がありません。",
            f"No {registry_id} record of this subject is valid on {valid_from}.",
        )
    return _assert(
        session, definition, subject_id, data, keeper_id=keeper, actor=actor,
        valid_from=valid_from, valid_to=end, record_key=record_key, reason=reason, note=note,
        at=at, read=(record_key, rows), unless_current=enrolment,
    )  # fmt: skip


def _changed_key(
    definition: RegistryDefinition, record_key: str | None, record: dict[str, Any] | None
) -> str:
    """The key of the record :func:`change` reads: ``record``'s own unless given, and never
    another than ``record``'s."""
    own = definition.record_key(record) if record is not None else None
    if record_key is not None and own is not None and record_key != own:
        raise ValidationError(
            "record_key_mismatch",
            f"記録のキー「{own}」が変更する記録のキー「{record_key}」と一致しません。",
            f"The record's key {own!r} is not the key of the record changed, {record_key!r}.",
        )
    return record_key if record_key is not None else own or ""


def correct(
    session: Session,
    registry_id: str,
    subject_id: str,
    patch: dict[str, Any],
    *,
    actor: str,
    valid_from: date,
    valid_to: date | None = None,
    record_key: str = "",
    note: str | None = None,
    at: datetime | None = None,
) -> list[Change]:
    """Correct fields that were wrong over [valid_from, valid_to) in every version there.

    Each current version keeps its own interval and other fields; the wrong
    versions stay in history, superseded, so what was believed before the
    correction remains answerable.
    """
    now = at or utcnow()
    rows = session.execute(
        select(RegistryRecord)
        .where(_overlapping(registry_id, subject_id, record_key, valid_from, valid_to))
        .order_by(RegistryRecord.valid_from)
    ).scalars()
    pieces = [
        (max(r.valid_from, valid_from), _earliest(r.valid_to, valid_to), r.keeper_id, r.data)
        for r in rows
    ]
    if not pieces:
        raise NotFoundError(
            "no_record",
            "訂正する記録がありません。",
            f"No {registry_id} record of this subject in that interval.",
        )
    return [
        assert_fact(
            session, registry_id, subject_id, _merge(json.loads(data), patch), keeper_id=keeper,
            actor=actor, valid_from=start, valid_to=end, reason="correction", note=note, at=now,
        )
        for start, end, keeper, data in pieces
    ]  # fmt: skip


def _earliest(a: date | None, b: date | None) -> date | None:
    return b if a is None else a if b is None else min(a, b)


def _valid_on(day: date | BindParameter[date]) -> ColumnElement[bool]:
    c = RECORDS.c
    return and_(c.valid_from <= day, or_(c.valid_to.is_(None), c.valid_to > day))


def _known_at(moment: datetime | BindParameter[datetime] | None) -> ColumnElement[bool]:
    c = RECORDS.c
    if moment is None:
        return c.superseded_at.is_(None)
    return and_(c.recorded_at <= moment, or_(c.superseded_at.is_(None), c.superseded_at > moment))


@lru_cache(maxsize=8)
def _as_of_query(by_party: bool, known: bool, keyed: bool) -> DriverQuery:
    """The statement of one shape of "as of" read, built once: a fetch makes one per call."""
    c = RECORDS.c
    who = c.party_id if by_party else c.subject_id
    query = select(RECORDS).where(
        who == bindparam("who"),
        c.registry_id == bindparam("registry"),
        _valid_on(bindparam("day", type_=Date)),
        _known_at(bindparam("known", type_=UTCDateTime()) if known else None),
    )
    if keyed:
        query = query.where(c.record_key == bindparam("key"))
    return DriverQuery(query.order_by(c.subject_id if by_party else c.record_key))


def _read_as_of(
    session: Session,
    registry_id: str,
    who: str,
    *,
    by_party: bool,
    valid_on: date | None,
    known_at: datetime | None,
    record_key: str | None,
    fresh: bool = False,
) -> list[Version]:
    """The versions, read once per transaction unless ``fresh`` (a new statement, a new
    snapshot on PostgreSQL: what a concurrent change committed since is seen).

    A submission reads the same 住民票 twice (to find the office, then as its evidence). The
    register is written only by :func:`_write` and :func:`bulk_load`, which forget every read.
    """
    get_registry(registry_id)
    day = valid_on or tokyo_today()
    read = transaction_memo(session, _AS_OF_READ)
    key = (registry_id, who, by_party, day, known_at, record_key)
    versions = None if fresh else read.get(key)
    if versions is None:
        params = {"who": who, "registry": registry_id, "day": day, "known": known_at,
                  "key": record_key}  # fmt: skip
        query = _as_of_query(by_party, known_at is not None, record_key is not None)
        # No flush first: the registry writes its table with Core statements only, so a change
        # made earlier in this transaction is already there, and the caller's pending changes
        # to other tables (a submitted application) wait for the commit.
        versions = read[key] = [_version(row) for row in query.rows(session.connection(), params)]
    return list(versions)


# Per transaction: (registry, who, by party, day, known at, key) → the versions read.
_AS_OF_READ = "registry.as_of"


def _forget_reads(session: Session) -> None:
    transaction_memo(session, _AS_OF_READ).clear()


def as_of(
    session: Session,
    registry_id: str,
    subject_id: str,
    *,
    valid_on: date | None = None,
    known_at: datetime | None = None,
    record_key: str | None = None,
) -> list[Version]:
    """What the register said about the subject for ``valid_on``, as known at ``known_at``.

    Defaults: today (Tokyo) and current knowledge. A keyed registry (課税 per
    fiscal year) may hold several records; ``record_key`` picks one.
    """
    return _read_as_of(
        session, registry_id, subject_id, by_party=False, valid_on=valid_on,
        known_at=known_at, record_key=record_key,
    )  # fmt: skip


def as_of_party(
    session: Session,
    registry_id: str,
    party_id: str,
    *,
    valid_on: date | None = None,
    known_at: datetime | None = None,
    record_key: str | None = None,
) -> list[Version]:
    """Like :func:`as_of`, for every record whose data is about ``party_id`` (a car's owner)."""
    return _read_as_of(
        session, registry_id, party_id, by_party=True, valid_on=valid_on,
        known_at=known_at, record_key=record_key,
    )  # fmt: skip


def get_version(session: Session, version_id: int) -> Version:
    row = session.get(RegistryRecord, version_id)
    if row is None:
        raise NotFoundError(
            "no_version", "記録の版が見つかりません。", f"No record version {version_id}."
        )
    return _version(row)


def version_at(
    session: Session,
    registry_id: str,
    subject_id: str,
    day: date,
    *,
    record_key: str = "",
    known_at: datetime | None = None,
    fresh: bool = False,
) -> Version | None:
    found = _read_as_of(
        session, registry_id, subject_id, by_party=False, valid_on=day, known_at=known_at,
        record_key=record_key, fresh=fresh,
    )  # fmt: skip
    return found[0] if found else None


def history(
    session: Session, registry_id: str, subject_id: str, *, record_key: str | None = None
) -> list[Version]:
    """Every version ever recorded (superseded ones included), in recording order."""
    get_registry(registry_id)
    query = select(RegistryRecord).where(
        RegistryRecord.registry_id == registry_id, RegistryRecord.subject_id == subject_id
    )
    if record_key is not None:
        query = query.where(RegistryRecord.record_key == record_key)
    rows = session.execute(
        query.order_by(RegistryRecord.recorded_at, RegistryRecord.valid_from, RegistryRecord.id)
    ).scalars()
    return [_version(r) for r in rows]


def kept_by(
    session: Session,
    keeper_id: str,
    registry_id: str,
    *,
    valid_on: date | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Version]:
    """Current versions an organization keeps, valid on a day (the keeper's list)."""
    get_registry(registry_id)
    rows = session.execute(
        select(RegistryRecord)
        .where(
            RegistryRecord.keeper_id == keeper_id,
            RegistryRecord.registry_id == registry_id,
            RegistryRecord.superseded_at.is_(None),
            _valid_on(valid_on or tokyo_today()),
        )
        .order_by(RegistryRecord.subject_id, RegistryRecord.record_key)
        .limit(limit)
        .offset(offset)
    ).scalars()
    return [_version(r) for r in rows]


# Top-level fields that hold the name of a record's subject, in any register.
NAME_FIELDS = (
    "name", "kana", "former_name", "trade_name", "trade_name_kana", "employee_name",
    "holder_name", "holder_kana",
)  # fmt: skip
_HIRAGANA = {code: code + 0x60 for code in range(ord("ぁ"), ord("ゖ") + 1)}


def _name_key(text: str) -> str:
    """What name matching compares: NFKC, no spaces, hiragana as katakana."""
    folded = unicodedata.normalize("NFKC", text).translate(_HIRAGANA)
    return "".join(folded.split())


def names_of(data: dict[str, Any]) -> list[str]:
    """The subject's names in a record (each part, and family + given together), folded."""
    found: list[str] = []
    for key in NAME_FIELDS:
        value = data.get(key)
        if isinstance(value, dict):
            parts = [v for v in value.values() if isinstance(v, str)]
            found += parts
            found.append("".join(str(value.get(k, "")) for k in ("family", "given")))
        elif isinstance(value, str):
            found.append(value)
    return [k for k in (_name_key(n) for n in found) if k]


def find_kept_by(
    session: Session, keeper_id: str, registry_id: str, name: str, *, limit: int = 50
) -> list[Version]:
    """Current versions an organization keeps whose subject's name contains ``name``.

    Kanji or kana (hiragana finds katakana readings), with or without the space
    between family and given name. The database narrows by the first two
    characters of each word; the names are then compared exactly.
    """
    get_registry(registry_id)
    wanted = _name_key(name)
    if not wanted:
        return []
    words = [_name_key(w)[:2] for w in unicodedata.normalize("NFKC", name).split()]
    rows = session.execute(
        select(RegistryRecord)
        .where(
            RegistryRecord.keeper_id == keeper_id,
            RegistryRecord.registry_id == registry_id,
            RegistryRecord.superseded_at.is_(None),
            _valid_on(tokyo_today()),
            *(RegistryRecord.data.contains(w, autoescape=True) for w in words if w),
        )
        .order_by(RegistryRecord.subject_id, RegistryRecord.record_key)
        .execution_options(yield_per=500)
    ).scalars()
    found: list[Version] = []
    for row in rows:
        version = _version(row)
        if any(wanted in n for n in names_of(version.data)):
            found.append(version)
            if len(found) == limit:
                break
    return found


def valid_on_day(
    session: Session, registry_id: str, day: date, *, keeper_id: str | None = None
) -> Iterator[Version]:
    """Every current version of a register valid on ``day`` (optionally one keeper's), streamed
    in subject order: what batch work over a whole register reads (e.g. proactive scans)."""
    get_registry(registry_id)
    query = select(RECORDS).where(
        RECORDS.c.registry_id == registry_id,
        RECORDS.c.superseded_at.is_(None),
        _valid_on(day),
    )
    if keeper_id is not None:
        query = query.where(RECORDS.c.keeper_id == keeper_id)
    rows = session.execute(
        query.order_by(RECORDS.c.subject_id, RECORDS.c.record_key),
        execution_options={"yield_per": BULK_BATCH},
    )
    for row in rows:
        yield _version(row)


def kept_with(
    session: Session,
    keeper_id: str,
    registry_id: str,
    field_path: str,
    value: str,
    *,
    valid_on: date | None = None,
) -> list[Version]:
    """Current versions a keeper holds whose ``field_path`` equals ``value`` (e.g. the members
    of one household).

    The registry's group field (住民基本台帳: the 世帯番号) is an indexed column, so a
    household is found by an index lookup; any other field narrows the rows by their JSON
    text, which reads every current record of the keeper. Each candidate is then checked.
    """
    definition = get_registry(registry_id)
    if field_path == definition.group_field:
        narrowed = RECORDS.c.group_key == value
    else:
        needle = _dump({field_path.rsplit(".", 1)[-1]: value})[1:-1]
        escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        narrowed = RECORDS.c.data.like(f"%{escaped}%", escape="\\")
    rows = session.execute(
        select(RECORDS)
        .where(
            RECORDS.c.keeper_id == keeper_id,
            RECORDS.c.registry_id == registry_id,
            RECORDS.c.superseded_at.is_(None),
            _valid_on(valid_on or tokyo_today()),
            narrowed,
        )
        .order_by(RECORDS.c.subject_id)
    )
    found = [_version(row) for row in rows]
    return [v for v in found if lookup(v.data, field_path) == value]


def count_kept_by(session: Session, keeper_id: str, registry_id: str) -> int:
    return int(
        session.execute(
            select(func.count())
            .select_from(RegistryRecord)
            .where(
                RegistryRecord.keeper_id == keeper_id,
                RegistryRecord.registry_id == registry_id,
                RegistryRecord.superseded_at.is_(None),
                _valid_on(tokyo_today()),
            )
        ).scalar_one()
    )


def subjects_with_records(
    session: Session, registry_id: str, subject_ids: Sequence[str], *, batch: int = 500
) -> set[str]:
    """Which of ``subject_ids`` have any version in the registry (what a load may skip)."""
    found: set[str] = set()
    for start in range(0, len(subject_ids), batch):
        chunk = list(subject_ids[start : start + batch])
        found.update(
            session.execute(
                select(RECORDS.c.subject_id)
                .where(RECORDS.c.registry_id == registry_id, RECORDS.c.subject_id.in_(chunk))
                .distinct()
            ).scalars()
        )
    return found


def current_counts(session: Session, *, valid_on: date | None = None) -> dict[str, int]:
    """Records each registry holds valid on a day (today), as currently known."""
    c = RECORDS.c
    rows = session.execute(
        select(c.registry_id, func.count())
        .where(c.superseded_at.is_(None), _valid_on(valid_on or tokyo_today()))
        .group_by(c.registry_id)
    ).all()
    return {str(registry_id): int(count) for registry_id, count in rows}


@dataclass(frozen=True)
class InitialRecord:
    """One record of an initial load (migration of an existing register)."""

    subject_id: str
    keeper_id: str
    data: dict[str, Any]
    valid_from: date
    valid_to: date | None = None


def bulk_load(
    session: Session,
    registry_id: str,
    records: Iterable[InitialRecord],
    *,
    actor: str,
    at: datetime | None = None,
) -> int:
    """Load records of an existing register in batches: validated, one audit record, no events.

    For the initial migration (初期移行) of a register that was kept
    elsewhere; changes after that go through :func:`assert_fact`. Subjects
    must not have records in this registry yet (the unique index enforces it).
    """
    definition = get_registry(registry_id)
    now = at or utcnow()
    keepers: set[str] = set()
    batch: list[dict[str, Any]] = []
    total = 0
    digest = hashlib.sha256()
    for item in records:
        definition.validator.validate(registry_id, item.data)
        _check_interval(item.valid_from, item.valid_to)
        if item.keeper_id not in keepers:
            check_keeper(session, definition, item.keeper_id)
            keepers.add(item.keeper_id)
        encoded = _dump(item.data)
        digest.update(encoded.encode())
        batch.append(
            {
                "registry_id": registry_id,
                "subject_id": item.subject_id,
                "record_key": definition.record_key(item.data),
                "party_id": definition.party_of(item.subject_id, item.data),
                "group_key": definition.group_of(item.data),
                "keeper_id": item.keeper_id,
                "valid_from": item.valid_from,
                "valid_to": item.valid_to,
                "recorded_at": now,
                "superseded_at": None,
                "data": encoded,
                "recorded_by": actor,
                "reason": "initial",
                "note": None,
            }
        )
        if len(batch) >= BULK_BATCH:
            session.execute(insert(RegistryRecord), batch)
            total += len(batch)
            batch = []
    if batch:
        session.execute(insert(RegistryRecord), batch)
        total += len(batch)
    _forget_reads(session)
    audit.record(
        session,
        actor=actor,
        action="registry.initial_load",
        object_type=f"registry:{registry_id}",
        object_id="*",
        at=now,
        data={"records": total, "keepers": sorted(keepers), "data_sha256": digest.hexdigest()},
    )
    return total


def purge_expired(
    session: Session, registry_id: str, *, actor: str, today: date | None = None
) -> int:
    """Delete versions whose validity ended longer ago than the retention period.

    The only way history leaves a register, and only as the law's retention
    rule allows (e.g. 150 years for a removed 住民票); the purge is audited.
    """
    definition = get_registry(registry_id)
    day = today or tokyo_today()
    cutoff = day - timedelta(days=round(definition.retention_years * 365.2425))
    result = session.execute(
        delete(RegistryRecord).where(
            RegistryRecord.registry_id == registry_id,
            RegistryRecord.valid_to.is_not(None),
            RegistryRecord.valid_to < cutoff,
        )
    )
    count = int(getattr(result, "rowcount", 0) or 0)
    audit.record(
        session,
        actor=actor,
        action="registry.purged",
        object_type=f"registry:{registry_id}",
        object_id="*",
        data={"cutoff": cutoff.isoformat(), "versions": count},
    )
    return count
