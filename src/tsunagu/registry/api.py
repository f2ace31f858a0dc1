"""JSON API of the registries, for the officials who keep them.

Any official may read the definitions. Records are read and changed only by
officials with the ``registry_keeper`` role, and only records their own
organization keeps (another organization's record answers 404, so the API
does not reveal whom a register holds). Every change is audited by the
service.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from tsunagu.core.errors import NotFoundError, PermissionDenied
from tsunagu.core.web import DbSession
from tsunagu.identity.deps import require_official
from tsunagu.identity.roles import Actor
from tsunagu.identity.schemas import OfficialRole
from tsunagu.registry import service
from tsunagu.registry.definitions import get_registry, registries

router = APIRouter(prefix="/api/registries", tags=["registry"])

Official = Annotated[Actor, Depends(require_official())]
Keeper = Annotated[Actor, Depends(require_official(OfficialRole.REGISTRY_KEEPER))]


def _keeper_org(actor: Actor) -> str:
    if actor.organization_id is None:
        raise PermissionDenied(
            "no_organization", "所属組織がありません。", "The official belongs to no organization."
        )
    return actor.organization_id


def _version(v: service.Version) -> dict[str, Any]:
    out = asdict(v)
    for key in ("valid_from", "valid_to", "recorded_at", "superseded_at"):
        out[key] = out[key].isoformat() if out[key] else None
    return out


def _not_found(registry_id: str) -> NotFoundError:
    return NotFoundError(
        "no_record",
        "貴組織が管理する記録はありません。",
        f"Your organization keeps no such {registry_id} record.",
    )


@router.get("")
def list_registries(actor: Official) -> list[dict[str, Any]]:
    return [
        {
            "id": d.id,
            "name": asdict(d.name),
            "owner_kind": d.owner_kind,
            "subject_kind": d.subject_kind,
            "events": list(d.event_ids),
        }
        for d in registries().values()
    ]


@router.get("/{registry_id}")
def get_definition(registry_id: str, actor: Official) -> dict[str, Any]:
    d = get_registry(registry_id)
    return {
        "id": d.id,
        "name": asdict(d.name),
        "description": asdict(d.description),
        "law": asdict(d.law),
        "owner_kind": d.owner_kind,
        "subject_kind": d.subject_kind,
        "key": d.key_field,
        "retention_years": d.retention_years,
        "events": list(d.event_ids),
        "schema": d.schema,
    }


@router.get("/{registry_id}/records")
def list_records(
    registry_id: str,
    session: DbSession,
    actor: Keeper,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    keeper = _keeper_org(actor)
    return {
        "total": service.count_kept_by(session, keeper, registry_id),
        "records": [
            _version(v)
            for v in service.kept_by(session, keeper, registry_id, limit=limit, offset=offset)
        ],
    }


@router.get("/{registry_id}/records/{subject_id}")
def read_record(
    registry_id: str,
    subject_id: str,
    session: DbSession,
    actor: Keeper,
    valid_on: date | None = None,
    known_at: datetime | None = None,
) -> list[dict[str, Any]]:
    """The record(s) valid on ``valid_on`` as known at ``known_at`` (both default to now)."""
    keeper = _keeper_org(actor)
    found = [
        v
        for v in service.as_of(
            session, registry_id, subject_id, valid_on=valid_on, known_at=known_at
        )
        if v.keeper_id == keeper
    ]
    if not found:
        raise _not_found(registry_id)
    return [_version(v) for v in found]


@router.get("/{registry_id}/records/{subject_id}/history")
def record_history(
    registry_id: str, subject_id: str, session: DbSession, actor: Keeper
) -> list[dict[str, Any]]:
    keeper = _keeper_org(actor)
    versions = service.history(session, registry_id, subject_id)
    if not any(v.keeper_id == keeper for v in versions):
        raise _not_found(registry_id)
    return [_version(v) for v in versions if v.keeper_id == keeper]


class AssertIn(BaseModel):
    data: dict[str, Any] | None
    valid_from: date
    valid_to: date | None = None
    record_key: str | None = None
    reason: str = "change"
    note: str | None = None


class ChangeIn(BaseModel):
    patch: dict[str, Any]
    valid_from: date
    record_key: str = ""
    reason: str = "change"
    note: str | None = None


def _changed(change: service.Change) -> dict[str, Any]:
    return asdict(change)


def _must_keep(session: DbSession, registry_id: str, subject_id: str, keeper: str) -> None:
    """A subject another organization keeps cannot be written by this one."""
    versions = service.as_of(session, registry_id, subject_id)
    if versions and all(v.keeper_id != keeper for v in versions):
        raise _not_found(registry_id)


@router.put("/{registry_id}/records/{subject_id}")
def assert_record(
    registry_id: str, subject_id: str, body: AssertIn, session: DbSession, actor: Keeper
) -> dict[str, Any]:
    """State the record for an interval (new record, change, correction or retraction)."""
    keeper = _keeper_org(actor)
    _must_keep(session, registry_id, subject_id, keeper)
    return _changed(
        service.assert_fact(
            session,
            registry_id,
            subject_id,
            body.data,
            keeper_id=keeper,
            actor=actor.label,
            valid_from=body.valid_from,
            valid_to=body.valid_to,
            record_key=body.record_key,
            reason=body.reason,
            note=body.note,
        )
    )


@router.patch("/{registry_id}/records/{subject_id}")
def change_record(
    registry_id: str, subject_id: str, body: ChangeIn, session: DbSession, actor: Keeper
) -> dict[str, Any]:
    """Change some fields from a date (the ordinary update)."""
    keeper = _keeper_org(actor)
    current = service.version_at(
        session, registry_id, subject_id, body.valid_from, record_key=body.record_key
    )
    if current is None or current.keeper_id != keeper:
        raise _not_found(registry_id)
    return _changed(
        service.change(
            session,
            registry_id,
            subject_id,
            body.patch,
            actor=actor.label,
            valid_from=body.valid_from,
            record_key=body.record_key,
            reason=body.reason,
            note=body.note,
        )
    )
