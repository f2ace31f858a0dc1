"""Writing, verifying and anchoring the audit trail.

``record`` is called by every service in the same session (and so the same
transaction) as the change it describes. Rows are hashed at once but inserted
in one batch when the session flushes, which is what makes bulk work cheap.

The trail is a set of interleaved hash chains. A transaction appends to one
chain, holding that chain's lock until it commits; with a single chain every
auditing transaction in every app worker would queue behind one commit at a
time. On PostgreSQL a transaction takes whichever of ``CHAINS`` chains is free;
``seq`` is one global order (a sequence, so it may have gaps after rollbacks)
and each record links to the previous record *of its chain*. Deleting,
altering, reordering or moving a record between chains breaks a link.
SQLite has one writer at a time anyway, so it uses chain 0 only.

Taking a place costs PostgreSQL one round trip whatever the contention: the
function ``tsunagu_audit_take`` (migration core_0004) tries every chain's lock in
turn, stops at the first it gets, then reads that chain's last hash and reserves
seqs. Plain SQL would need two statements: a statement sees the data as of its
start, and the chain's previous holder may commit between that start and the
moment its lock is released to us; each statement of a VOLATILE function takes
a new snapshot.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import event, func, select, text
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction

from tsunagu.core.audit import merkle
from tsunagu.core.audit.models import AUDIT_RECORDS, AuditDailyRoot, AuditRecord
from tsunagu.core.clock import TOKYO, utcnow
from tsunagu.core.db import DriverQuery, insert_on_driver
from tsunagu.core.ids import is_valid_mynumber

GENESIS_HASH = "0" * 64
_PENDING = "tsunagu.audit.pending"
_HEAD = "tsunagu.audit.head"
# A bare run of twelve digits; runs inside identifiers (UUIDs, hex digests,
# hyphenated references) are not numbers a person was given.
_TWELVE_DIGITS = re.compile(r"(?<![0-9A-Za-z-])\d{12}(?![0-9A-Za-z-])")
# Arbitrary constant; chain c is guarded by the PostgreSQL advisory lock _PG_LOCK_KEY + c.
_PG_LOCK_KEY = 0x7453_756E_6167_75
# More chains than a deployment has concurrent auditing transactions (workers × their
# connections), so a transaction rarely waits for a chain.
CHAINS = 16
# Seqs reserved with the chain head (most transactions append a few records), then per block.
_FIRST_SEQS = 8
_SEQ_BLOCK = 64


class PersonalNumberInAudit(ValueError):
    """Raised when a caller tries to put a 個人番号 into the audit trail."""


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no spaces, UTF-8 kept as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def chain_hash(prev_hash: str, body: dict[str, Any]) -> str:
    """SHA-256 over the previous hash followed by the canonical JSON of the record."""
    return _link(prev_hash, canonical_json(body))


def _link(prev_hash: str, body_json: str) -> str:
    return hashlib.sha256((prev_hash + body_json).encode("utf-8")).hexdigest()


def _json_text(value: str | int) -> str:
    return json.dumps(value, ensure_ascii=False)


def _body_json(row: dict[str, Any]) -> str:
    """``canonical_json(_record_body(row))`` for a row being written, put together directly.

    The row's ``data`` is canonical JSON already; parsing it back only to encode it
    again was the most expensive part of writing a record. The keys are in sorted
    order, as canonical JSON has them (a test compares both ways on varied records).
    """
    return (
        f'{{"action":{_json_text(row["action"])},"actor":{_json_text(row["actor"])},'
        f'"data":{row["data"]},"object_id":{_json_text(row["object_id"])},'
        f'"object_type":{_json_text(row["object_type"])},'
        f'"occurred_at":{_json_text(row["occurred_at"].isoformat())},"seq":{int(row["seq"])}}}'
    )


def _record_body(row: dict[str, Any]) -> dict[str, Any]:
    """The hashed part of a row: everything except the hashes themselves."""
    return {
        "seq": row["seq"],
        "occurred_at": row["occurred_at"].isoformat(),
        "actor": row["actor"],
        "action": row["action"],
        "object_type": row["object_type"],
        "object_id": row["object_id"],
        "data": json.loads(row["data"]),
    }


def _refuse_personal_numbers(data_json: str) -> None:
    for candidate in _TWELVE_DIGITS.findall(data_json):
        if is_valid_mynumber(candidate):
            raise PersonalNumberInAudit(
                "個人番号を監査記録に含めることはできません / "
                "an individual number (個人番号) must never be written to the audit trail"
            )


@dataclass
class _Head:
    """This transaction's place in the trail: its chain, that chain's last hash, next seqs."""

    chain: int
    prev_hash: str
    last_seq: int = 0
    reserved: list[int] = field(default_factory=list)


def _is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


_PG_TAKE = DriverQuery(
    text("SELECT taken_chain, last_hash, seqs FROM tsunagu_audit_take(:key, :chains, :start, :n)")
)
_SQLITE_HEAD = DriverQuery(
    select(AuditRecord.seq, AuditRecord.hash)
    .where(AuditRecord.chain == 0)
    .order_by(AuditRecord.seq.desc())
    .limit(1)
)
_RESERVE_SEQS = text("SELECT nextval('audit_records_seq') FROM generate_series(1, :n)")


def _head(session: Session) -> _Head:
    """Chain and link for this transaction's appends, fixed at its first record."""
    cached: _Head | None = session.info.get(_HEAD)
    if cached is not None:
        return cached
    if _is_postgresql(session):
        parameters = {
            "key": _PG_LOCK_KEY,
            "chains": CHAINS,
            "start": random.randrange(CHAINS),
            "n": _FIRST_SEQS,
        }
        chain, last_hash, seqs = _PG_TAKE.rows(session.connection(), parameters)[0]
        head = _Head(chain, last_hash or GENESIS_HASH, reserved=list(seqs))
    else:
        # SQLite writes only chain 0, so its last record is also the trail's last.
        found = _SQLITE_HEAD.rows(session.connection(), {})
        head = _Head(0, found[0].hash if found else GENESIS_HASH, found[0].seq if found else 0)
    session.info[_HEAD] = head
    return head


def _next_seq(session: Session, head: _Head) -> int:
    """The next global position; drawn only after the chain lock, so a chain's seqs ascend."""
    if not _is_postgresql(session):
        head.last_seq += 1
        return head.last_seq
    if not head.reserved:
        head.reserved = list(
            session.connection().execute(_RESERVE_SEQS, {"n": _SEQ_BLOCK}).scalars()
        )
    head.last_seq = head.reserved.pop(0)
    return head.last_seq


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> str:
    """Append one record to the chain in the caller's transaction; returns its hash."""
    data_json = canonical_json(data or {})
    _refuse_personal_numbers(data_json)
    head = _head(session)
    occurred_at = at or utcnow()
    row: dict[str, Any] = {
        "seq": _next_seq(session, head),
        "chain": head.chain,
        "occurred_at": occurred_at,
        "day": occurred_at.astimezone(TOKYO).date(),
        "actor": actor,
        "action": action,
        "object_type": object_type,
        "object_id": str(object_id),
        "data": data_json,
        "prev_hash": head.prev_hash,
    }
    row["hash"] = _link(head.prev_hash, _body_json(row))
    session.info.setdefault(_PENDING, []).append(row)
    head.prev_hash = row["hash"]
    return str(row["hash"])


def records_of(session: Session, object_type: str, object_id: str) -> list[AuditRecord]:
    """Every record about one object in the order written: its history, e.g. for a case worker."""
    flush_pending(session)
    return list(
        session.execute(
            select(AuditRecord)
            .where(AuditRecord.object_type == object_type, AuditRecord.object_id == object_id)
            .order_by(AuditRecord.seq)
        ).scalars()
    )


def last_seq(session: Session) -> int:
    """Chain position of the record this transaction appended last (rows that cite it keep it)."""
    return _head(session).last_seq


def flush_pending(session: Session) -> None:
    """Insert the records buffered by ``record``.

    Runs by itself before commit and before an ORM query of the trail, so a
    transaction's records cost one multi-row INSERT, not one per ORM flush; late
    (``core.db``): on PostgreSQL with the transaction's other late rows.
    """
    rows = session.info.pop(_PENDING, None)
    if rows:
        insert_on_driver(session.connection(), AUDIT_RECORDS, rows, late=True)


def _forget_head(session: Session) -> None:
    session.info.pop(_HEAD, None)
    session.info.pop(_PENDING, None)


@dataclass(frozen=True)
class _Savepoint:
    """The buffer and the place in the trail when a savepoint began."""

    pending: list[dict[str, Any]]
    head: _Head | None


# Kept beside each open savepoint, gone with it.
_SAVEPOINTS: WeakKeyDictionary[SessionTransaction, _Savepoint] = WeakKeyDictionary()


def _remember_savepoint(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested:
        head: _Head | None = session.info.get(_HEAD)
        _SAVEPOINTS[transaction] = _Savepoint(
            list(session.info.get(_PENDING, ())),
            replace(head, reserved=list(head.reserved)) if head else None,
        )


def _undo_to_savepoint(session: Session, transaction: SessionTransaction) -> None:
    """Rolling back to a savepoint drops the records made since, and nothing before.

    Records buffered before it are buffered again (a reader may have inserted them
    inside the savepoint, and those rows are gone too). A chain taken inside it is
    given up: PostgreSQL released that lock with the savepoint.
    """
    saved = _SAVEPOINTS.pop(transaction, None) if transaction.nested else None
    if saved is None:
        _forget_head(session)
        return
    # The snapshot is used once (popped above), so its copies become the live state.
    session.info[_PENDING] = saved.pending
    if saved.head is None:
        session.info.pop(_HEAD, None)
    else:
        session.info[_HEAD] = saved.head


def _end_of_transaction(session: Session, transaction: SessionTransaction) -> None:
    # Commit, rollback or close of the outermost transaction: the next one starts afresh.
    if transaction.parent is None:
        _forget_head(session)


def _insert_before_reading(state: ORMExecuteState) -> None:
    """A query of the trail in this transaction sees the records it has buffered."""
    if (
        state.session.info.get(_PENDING)
        and state.is_select
        and any(mapper.class_ is AuditRecord for mapper in state.all_mappers)
    ):
        flush_pending(state.session)


event.listen(Session, "do_orm_execute", _insert_before_reading)
event.listen(Session, "before_commit", flush_pending)
event.listen(Session, "after_transaction_create", _remember_savepoint)
event.listen(Session, "after_soft_rollback", _undo_to_savepoint)
event.listen(Session, "after_transaction_end", _end_of_transaction)


@dataclass(frozen=True)
class ChainBreak:
    """Where verification failed and why."""

    seq: int
    reason: str


def _stored_body(rec: AuditRecord) -> dict[str, Any]:
    """The hashed body rebuilt from a stored row."""
    return _record_body(
        {
            "seq": rec.seq,
            "occurred_at": rec.occurred_at,
            "actor": rec.actor,
            "action": rec.action,
            "object_type": rec.object_type,
            "object_id": rec.object_id,
            "data": rec.data,
        }
    )


def verify_chain(session: Session, batch_size: int = 5000) -> ChainBreak | None:
    """Walk every chain in ``seq`` order; return the first broken record or ``None``.

    Detects an altered row (its hash no longer matches its content) and a
    deleted, reordered or re-chained row (the next row of its chain no longer
    links to the row before it). The tail of a day is protected once its
    Merkle root is published; published roots are checked last.
    """
    flush_pending(session)
    heads: dict[int, str] = {}
    last_seq = 0
    while True:
        rows = (
            session.execute(
                select(AuditRecord)
                .where(AuditRecord.seq > last_seq)
                .order_by(AuditRecord.seq)
                .limit(batch_size)
            )
            .scalars()
            .all()
        )
        if not rows:
            break
        for rec in rows:
            if rec.prev_hash != heads.get(rec.chain, GENESIS_HASH):
                return ChainBreak(
                    rec.seq,
                    f"prev_hash does not match the previous record of chain {rec.chain} "
                    "(a record was deleted, reordered or moved)",
                )
            if chain_hash(rec.prev_hash, _stored_body(rec)) != rec.hash:
                return ChainBreak(rec.seq, "content does not match its hash (record altered)")
            heads[rec.chain] = rec.hash
            last_seq = rec.seq
    return _verify_published_roots(session)


def _verify_published_roots(session: Session) -> ChainBreak | None:
    """A published root must still match its day, or history was rewritten."""
    for published in session.execute(select(AuditDailyRoot).order_by(AuditDailyRoot.day)).scalars():
        hashes = _day_leaf_hashes(session, published.day)
        if merkle.root_of(hashes).hex() != published.root or len(hashes) != published.record_count:
            return ChainBreak(
                published.first_seq,
                f"records of {published.day} no longer match the published root",
            )
    return None


def _day_leaf_hashes(session: Session, day: date) -> list[bytes]:
    hashes = session.execute(
        select(AuditRecord.hash).where(AuditRecord.day == day).order_by(AuditRecord.seq)
    ).scalars()
    return [merkle.leaf_hash(bytes.fromhex(h)) for h in hashes]


@dataclass(frozen=True)
class DailyRoot:
    day: date
    root: str
    record_count: int
    first_seq: int
    last_seq: int
    final: bool


def publish_closed_days(session: Session) -> list[AuditDailyRoot]:
    """Freeze the Merkle root of every past day that has records but no root yet."""
    flush_pending(session)
    today = utcnow().astimezone(TOKYO).date()
    published = set(session.execute(select(AuditDailyRoot.day)).scalars())
    days = session.execute(
        select(AuditRecord.day, func.min(AuditRecord.seq), func.max(AuditRecord.seq), func.count())
        .where(AuditRecord.day < today)
        .group_by(AuditRecord.day)
    ).all()
    created = []
    for day, first_seq, last_seq, count in days:
        if day in published:
            continue
        root = merkle.root_of(_day_leaf_hashes(session, day)).hex()
        created.append(
            AuditDailyRoot(
                day=day,
                root=root,
                record_count=count,
                first_seq=first_seq,
                last_seq=last_seq,
                published_at=utcnow(),
            )
        )
    session.add_all(created)
    return created


def daily_roots(session: Session) -> list[DailyRoot]:
    """Published roots of closed days, plus today's provisional root."""
    flush_pending(session)
    roots = [
        DailyRoot(r.day, r.root, r.record_count, r.first_seq, r.last_seq, True)
        for r in session.execute(select(AuditDailyRoot).order_by(AuditDailyRoot.day)).scalars()
    ]
    today = utcnow().astimezone(TOKYO).date()
    span = session.execute(
        select(func.min(AuditRecord.seq), func.max(AuditRecord.seq), func.count()).where(
            AuditRecord.day == today
        )
    ).one()
    if span[2]:
        root = merkle.root_of(_day_leaf_hashes(session, today)).hex()
        roots.append(DailyRoot(today, root, span[2], span[0], span[1], False))
    return roots


def inclusion_proof(session: Session, seq: int) -> dict[str, Any]:
    """Proof that record ``seq`` is in its day's tree (used by data-subject access logs)."""
    flush_pending(session)
    rec = session.get(AuditRecord, seq)
    if rec is None:
        raise LookupError(f"no audit record {seq}")
    day_seqs = (
        session.execute(
            select(AuditRecord.seq).where(AuditRecord.day == rec.day).order_by(AuditRecord.seq)
        )
        .scalars()
        .all()
    )
    leaves = _day_leaf_hashes(session, rec.day)
    index = day_seqs.index(seq)
    return {
        "day": rec.day.isoformat(),
        "seq": seq,
        "hash": rec.hash,
        "leaf_index": index,
        "tree_size": len(leaves),
        "proof": [p.hex() for p in merkle.inclusion_proof(index, leaves)],
        "root": merkle.root_of(leaves).hex(),
    }


def records_with_proofs(session: Session, seqs: list[int]) -> dict[int, dict[str, Any]]:
    """Content, chain hashes and inclusion proof of several records, one tree per day.

    What an offline verifier needs: recompute ``hash`` from ``prev_hash`` and
    ``body``, then check ``proof`` leads from it to the day's ``root``.
    """
    flush_pending(session)
    rows = session.execute(select(AuditRecord).where(AuditRecord.seq.in_(seqs))).scalars().all()
    found: dict[int, dict[str, Any]] = {}
    for day in {r.day for r in rows}:
        day_seqs = list(
            session.execute(
                select(AuditRecord.seq).where(AuditRecord.day == day).order_by(AuditRecord.seq)
            ).scalars()
        )
        leaves = _day_leaf_hashes(session, day)
        root = merkle.root_of(leaves).hex()
        position = {seq: index for index, seq in enumerate(day_seqs)}
        for rec in (r for r in rows if r.day == day):
            index = position[rec.seq]
            found[rec.seq] = {
                "body": _stored_body(rec),
                "prev_hash": rec.prev_hash,
                "hash": rec.hash,
                "day": day.isoformat(),
                "leaf_index": index,
                "tree_size": len(leaves),
                "proof": [p.hex() for p in merkle.inclusion_proof(index, leaves)],
                "root": root,
            }
    return found
