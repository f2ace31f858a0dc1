"""The resident's view of the access log, verifiable offline.

Each entry is returned with the audit record it cites (content, previous
hash, hash) and a Merkle inclusion proof against that day's root, so that
``tools/verify_access_log.py`` can check a downloaded log without trusting
the server: recompute the chain hash from the content, follow the proof to
the root, and compare the root with the published one (``/api/audit/roots``).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from tsunagu.core.audit import service as audit
from tsunagu.core.clock import TOKYO, to_tokyo
from tsunagu.core.errors import NotFoundError
from tsunagu.exchange.definitions import evidence_types, matrix
from tsunagu.exchange.models import AccessLogEntry
from tsunagu.identity import service as identity
from tsunagu.registry.definitions import registries

FORMAT = "tsunagu-access-log/1"
CSV_COLUMNS = [
    "occurred_at",
    "kind",
    "outcome",
    "reason",
    "agency",
    "agency_id",
    "owner",
    "procedure",
    "evidence_type",
    "registry",
    "legal_basis",
    "fields",
    "audit_seq",
    "audit_hash",
    "merkle_root",
]


def _start(day: date) -> datetime:
    return datetime.combine(day, time.min, TOKYO)


def entries_for(
    session: Session,
    party_id: str,
    *,
    agency: str | None = None,
    since: date | None = None,
    until: date | None = None,
    limit: int = 1000,
) -> list[AccessLogEntry]:
    """Entries about one person, newest first; ``agency`` matches requester or owner."""
    query = select(AccessLogEntry).where(AccessLogEntry.party_id == party_id)
    if agency:
        query = query.where(
            or_(AccessLogEntry.requester_id == agency, AccessLogEntry.owner_id == agency)
        )
    if since:
        query = query.where(AccessLogEntry.occurred_at >= _start(since))
    if until:
        query = query.where(AccessLogEntry.occurred_at < _start(until + timedelta(days=1)))
    query = query.order_by(AccessLogEntry.occurred_at.desc(), AccessLogEntry.id.desc())
    return list(session.execute(query.limit(limit)).scalars())


class _Names:
    """Display names of organizations, looked up once per export."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.cache: dict[str, str] = {}

    def __call__(self, organization_id: str | None) -> str:
        if not organization_id:
            return ""
        if organization_id not in self.cache:
            try:
                self.cache[organization_id] = identity.get_organization(
                    self.session, organization_id
                ).name_ja
            except NotFoundError:
                self.cache[organization_id] = organization_id
        return self.cache[organization_id]


def _label(table: dict[str, Any], key: str | None, language: str) -> str:
    item = table.get(key or "")
    return item.name.get(language) if item is not None else (key or "")


def describe(
    session: Session, entries: list[AccessLogEntry], language: str = "ja"
) -> list[dict[str, Any]]:
    """Entries as the resident reads them (names resolved), without proofs."""
    names = _Names(session)
    m = matrix()
    bases = {p.id: p.basis for p in m.provisions} | {
        n.id: n.basis for n in m.notifications.values()
    }
    rows = []
    for e in entries:
        basis = bases.get(e.provision_id or "")
        rows.append(
            {
                "id": e.id,
                "occurred_at": to_tokyo(e.occurred_at).isoformat(),
                "kind": e.kind,
                "outcome": e.outcome,
                "reason": e.reason,
                "agency_id": e.requester_id,
                "agency": names(e.requester_id),
                "agency_verified": e.requester_verified,
                "owner_id": e.owner_id,
                "owner": names(e.owner_id),
                "procedure_id": e.procedure_id,
                "procedure": _label(m.procedures, e.procedure_id, language),
                "evidence_type_id": e.evidence_type_id,
                "evidence_type": _label(evidence_types(), e.evidence_type_id, language),
                "registry_id": e.registry_id,
                "registry": _label(registries(), e.registry_id, language),
                "application_ref": e.application_ref,
                "provision_id": e.provision_id,
                "legal_basis": basis.get(language) if basis else "",
                "fields": json.loads(e.fields),
                "audit_seq": e.audit_seq,
            }
        )
    return rows


def export(session: Session, party_id: str, language: str = "ja", **filters: Any) -> dict[str, Any]:
    """The downloadable log: described entries, each with its audit record and proof."""
    entries = entries_for(session, party_id, **filters)
    proofs = audit.records_with_proofs(session, [e.audit_seq for e in entries])
    described = describe(session, entries, language)
    for row in described:
        row["audit"] = proofs[row["audit_seq"]]
    return {"format": FORMAT, "party_id": party_id, "entries": described}


def to_csv(document: dict[str, Any]) -> str:
    """Spreadsheet form of an export (UTF-8 with BOM so Excel reads the Japanese)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in document["entries"]:
        writer.writerow(
            row
            | {
                "fields": " ".join(row["fields"]),
                "audit_hash": row["audit"]["hash"],
                "merkle_root": row["audit"]["root"],
            }
        )
    return "\ufeff" + buffer.getvalue()
