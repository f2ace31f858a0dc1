"""Public audit endpoints: the daily Merkle roots outsiders can anchor."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from tsunagu.core.audit import service
from tsunagu.core.web import DbSession

router = APIRouter(prefix="/api/audit", tags=["audit"])


class DailyRootOut(BaseModel):
    day: str
    root: str
    record_count: int
    first_seq: int
    last_seq: int
    final: bool


@router.get("/roots", response_model=list[DailyRootOut])
def list_roots(session: DbSession) -> list[DailyRootOut]:
    """Merkle roots (RFC 6962 tree over record hashes) per Tokyo day; today's is provisional."""
    return [
        DailyRootOut(
            day=r.day.isoformat(),
            root=r.root,
            record_count=r.record_count,
            first_seq=r.first_seq,
            last_seq=r.last_seq,
            final=r.final,
        )
        for r in service.daily_roots(session)
    ]
