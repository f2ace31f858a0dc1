"""Public JSON endpoints of the identity module: organizations and the municipality master.

Only public facts are served here (an organization's names, numbers and
address, as the 法人番号公表サイト publishes them). Persons, households and
officials have no public endpoint.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from tsunagu.core.errors import NotFoundError
from tsunagu.core.web import DbSession
from tsunagu.identity import municipalities as master
from tsunagu.identity import service
from tsunagu.identity.schemas import OrganizationDetail, OrganizationKind, OrganizationPublic

# Each server worker reads the municipality master (Japan Post's list, ~0.2 s) while
# starting: every application, address and organization check needs it.
router = APIRouter(prefix="/api/identity", tags=["identity"], on_startup=[master.load])


class OrganizationPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[OrganizationPublic]


class PrefectureOut(BaseModel):
    code: str
    name: str
    name_kana: str


class MunicipalityOut(BaseModel):
    code: str
    name: str
    name_kana: str
    short_name: str
    short_name_kana: str
    kind: master.MunicipalityKind
    prefecture: PrefectureOut
    parent_code: str | None


class TownOut(BaseModel):
    postal_code: str
    municipality_code: str
    name: str
    name_kana: str
    has_chome: bool
    note: str | None


def _municipality_out(municipality: master.Municipality) -> MunicipalityOut:
    pref = municipality.prefecture
    return MunicipalityOut(
        code=municipality.code,
        name=municipality.name,
        name_kana=municipality.name_kana,
        short_name=municipality.short_name,
        short_name_kana=municipality.short_name_kana,
        kind=municipality.kind,
        prefecture=PrefectureOut(code=pref.code, name=pref.name, name_kana=pref.name_kana),
        parent_code=municipality.parent_code,
    )


@router.get("/organizations", response_model=OrganizationPage)
def list_organizations(
    session: DbSession,
    kind: OrganizationKind | None = None,
    parent_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> OrganizationPage:
    """Registered organizations (municipalities, prefectures, ministries, corporations…)."""
    return OrganizationPage(
        total=service.count_organizations(session, kind=kind, parent_id=parent_id),
        limit=limit,
        offset=offset,
        items=service.list_organizations(
            session, kind=kind, parent_id=parent_id, limit=limit, offset=offset
        ),
    )


@router.get("/organizations/{organization_id}", response_model=OrganizationDetail)
def get_organization(session: DbSession, organization_id: str) -> OrganizationDetail:
    """One organization with its units (部署)."""
    return service.organization_detail(session, organization_id)


@router.get("/municipalities/{lgcode}", response_model=MunicipalityOut)
def get_municipality(lgcode: str) -> MunicipalityOut:
    """A municipality of Japan Post's list by its 6-digit 全国地方公共団体コード."""
    return _municipality_out(master.get_municipality(lgcode))


@router.get("/postal-codes/{postal_code}", response_model=list[TownOut])
def lookup_postal_code(postal_code: str) -> list[TownOut]:
    """The towns a postal code covers, for filling in address forms."""
    towns = master.lookup_postal_code(postal_code)
    if not towns:
        raise NotFoundError(
            "postal_code_not_found",
            f"郵便番号 {postal_code} は日本郵便のデータにありません",
            f"the postal code {postal_code} is not in Japan Post's data",
        )
    return [TownOut(**vars(town)) for town in towns]
