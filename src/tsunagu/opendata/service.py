"""The catalog's behaviour: organizations, groups, datasets, resources, search, history.

Datasets are exchanged as CKAN dictionaries (what ``package_show`` returns is
what ``package_create``/``package_update`` accept), so the Action API, the
harvester, the demo seeder and the pages all go through the same functions.
Every function takes the calling ``Actor`` and enforces what it may do.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, BinaryIO

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from tsunagu.core import ids
from tsunagu.core.audit import service as audit
from tsunagu.core.clock import tokyo_today, utcnow
from tsunagu.core.errors import NotFoundError, PermissionDenied, ValidationError
from tsunagu.opendata import licenses, search
from tsunagu.opendata.auth import CAPACITIES, Actor, get_user
from tsunagu.opendata.models import (
    OdApiCallCount,
    OdDataRequest,
    OdGroup,
    OdMember,
    OdOrganization,
    OdPackage,
    OdPackageGroup,
    OdPackageTag,
    OdResource,
    OdRevision,
    OdSearchDoc,
)
from tsunagu.opendata.storage import Storage

NAME_RE = re.compile(r"^[a-z0-9_-]{2,100}$")
MACHINE_READABLE = {
    "CSV",
    "TSV",
    "JSON",
    "GEOJSON",
    "XML",
    "XLSX",
    "XLS",
    "RDF",
    "TTL",
    "JSON-LD",
    "ODS",
    "SHP",
    "KML",
    "GML",
    "PARQUET",
}
OPEN_FORMATS = MACHINE_READABLE - {"XLSX", "XLS"}
LINKED_FORMATS = {"RDF", "TTL", "JSON-LD"}
TABULAR_FORMATS = {"CSV", "TSV", "XLSX", "XLS"}


class CatalogValidationError(ValidationError):
    """Invalid input, with CKAN-style per-field messages (``{"name": ["..."]}``)."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        summary = "; ".join(f"{k}: {' '.join(v)}" for k, v in fields.items())
        super().__init__(
            "opendata.validation",
            f"入力内容に誤りがあります: {summary}",
            f"Invalid input: {summary}",
        )
        self.fields = fields


def not_found(kind_ja: str, kind_en: str, key: str) -> NotFoundError:
    return NotFoundError(
        "opendata.not_found", f"{kind_ja} {key} が見つかりません。", f"{kind_en} {key} not found."
    )


def denied(what_ja: str, what_en: str) -> PermissionDenied:
    return PermissionDenied(
        "opendata.denied", f"{what_ja}権限がありません。", f"You are not authorized to {what_en}."
    )


def ckan_time(moment: datetime | None) -> str | None:
    """CKAN's timestamp format: naive UTC ISO 8601 with microseconds."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds")


def as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "on")
    return bool(value)


def _text(data: dict[str, Any], key: str, limit: int | None = None) -> str:
    value = data.get(key)
    value = "" if value is None else str(value)
    return value[:limit] if limit else value


# ---------------------------------------------------------------- organizations


def get_organization(session: Session, id_or_name: str) -> OdOrganization:
    org = session.execute(
        select(OdOrganization).where(
            (OdOrganization.id == id_or_name) | (OdOrganization.name == id_or_name),
            OdOrganization.state == "active",
        )
    ).scalar_one_or_none()
    if org is None:
        raise not_found("組織", "Organization", str(id_or_name))
    return org


def _check_codes(data: dict[str, Any], errors: dict[str, list[str]]) -> None:
    for key, kind in (
        ("lg_code", ids.IdKind.LGCODE),
        ("corporate_number", ids.IdKind.CORPORATE),
        ("spatial_lg_code", ids.IdKind.LGCODE),
    ):
        if data.get(key):
            result = ids.check(kind, str(data[key]))
            if not result.valid:
                errors.setdefault(key, []).append(f"{result.reason_ja} / {result.reason_en}")
            else:
                data[key] = result.normalized


def _check_name(
    session: Session, model: Any, name: Any, own_id: str | None, errors: dict[str, list[str]]
) -> None:
    if not isinstance(name, str) or not NAME_RE.match(name):
        errors.setdefault("name", []).append(
            "名前は英小文字・数字・-・_ の2〜100文字です / Must be 2-100 characters: "
            "lowercase alphanumerics, - and _"
        )
        return
    clash = session.execute(select(model.id).where(model.name == name)).scalar_one_or_none()
    if clash is not None and clash != own_id:
        errors.setdefault("name", []).append(
            "この名前は既に使われています / That URL is already in use."
        )


def create_organization(session: Session, actor: Actor, data: dict[str, Any]) -> OdOrganization:
    """A new publisher (sysadmins only, as in CKAN's default configuration)."""
    if not actor.sysadmin:
        raise denied("組織を作成する", "create organizations")
    errors: dict[str, list[str]] = {}
    _check_name(session, OdOrganization, data.get("name"), data.get("id"), errors)
    _check_codes(data, errors)
    if errors:
        raise CatalogValidationError(errors)
    org = OdOrganization(
        id=str(data.get("id") or uuid.uuid4()), created_at=utcnow(), state="active"
    )
    _apply_org(org, data)
    session.add(org)
    session.flush()
    audit.record(
        session,
        actor=actor.audit_name,
        action="opendata.organization.create",
        object_type="opendata_organization",
        object_id=org.id,
        data={"name": org.name},
    )
    return org


def update_organization(
    session: Session, actor: Actor, data: dict[str, Any], *, patch: bool = False
) -> OdOrganization:
    org = get_organization(session, str(data.get("id") or data.get("name") or ""))
    if not actor.can_admin_org(org.id):
        raise denied("この組織を更新する", "update this organization")
    merged = {**organization_dict(session, org), **data} if patch else data
    errors: dict[str, list[str]] = {}
    _check_name(session, OdOrganization, merged.get("name", org.name), org.id, errors)
    _check_codes(merged, errors)
    if errors:
        raise CatalogValidationError(errors)
    _apply_org(org, merged)
    audit.record(
        session,
        actor=actor.audit_name,
        action="opendata.organization.update",
        object_type="opendata_organization",
        object_id=org.id,
        data={"name": org.name},
    )
    return org


def _apply_org(org: OdOrganization, data: dict[str, Any]) -> None:
    org.name = str(data.get("name") or org.name)
    org.title = _text(data, "title", 300) or org.name
    org.title_en = _text(data, "title_en", 300)
    org.description = _text(data, "description")
    org.image_url = _text(data, "image_url", 1000)
    org.homepage = _text(data, "homepage", 1000)
    org.email = _text(data, "email", 200)
    org.lg_code = data.get("lg_code") or None
    org.corporate_number = data.get("corporate_number") or None
    org.identity_org_id = data.get("identity_org_id") or None


def organization_dict(
    session: Session,
    org: OdOrganization,
    *,
    include_users: bool = False,
    package_count: int | None = None,
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "id": org.id,
        "name": org.name,
        "title": org.title,
        "display_name": org.title,
        "title_en": org.title_en,
        "description": org.description,
        "image_url": org.image_url,
        "image_display_url": org.image_url,
        "homepage": org.homepage,
        "email": org.email,
        "lg_code": org.lg_code,
        "corporate_number": org.corporate_number,
        "identity_org_id": org.identity_org_id,
        "created": ckan_time(org.created_at),
        "is_organization": True,
        "type": "organization",
        "state": org.state,
        "approval_status": "approved",
    }
    if package_count is not None:
        result["package_count"] = package_count
    if include_users:
        rows = session.execute(
            select(OdMember.capacity, OdMember.user_id).where(OdMember.organization_id == org.id)
        ).all()
        result["users"] = [
            {"id": uid, "name": get_user(session, uid).name, "capacity": cap} for cap, uid in rows
        ]
    return result


def public_package_counts(session: Session, actor: Actor) -> dict[str, int]:
    query = select(OdPackage.owner_org, func.count()).where(OdPackage.state == "active")
    query = _visible(query, actor).group_by(OdPackage.owner_org)
    return {org: n for org, n in session.execute(query).all() if org}


def list_organizations(session: Session, actor: Actor) -> list[tuple[OdOrganization, int]]:
    counts = public_package_counts(session, actor)
    orgs = (
        session.execute(
            select(OdOrganization)
            .where(OdOrganization.state == "active")
            .order_by(OdOrganization.name)
        )
        .scalars()
        .all()
    )
    return [(org, counts.get(org.id, 0)) for org in orgs]


def add_member(
    session: Session, actor: Actor, org_ref: str, username: str, capacity: str
) -> OdMember:
    """Give a user a capacity in an organization (organization admins and sysadmins)."""
    org = get_organization(session, org_ref)
    if not actor.can_admin_org(org.id):
        raise denied("この組織の構成員を管理する", "manage members of this organization")
    if capacity not in CAPACITIES:
        raise CatalogValidationError({"role": [f"{capacity!r}: member / editor / admin"]})
    user = get_user(session, username)
    member = session.get(OdMember, (org.id, user.id))
    if member is None:
        member = OdMember(organization_id=org.id, user_id=user.id, capacity=capacity)
        session.add(member)
    member.capacity = capacity
    session.flush()
    audit.record(
        session,
        actor=actor.audit_name,
        action="opendata.member.set",
        object_type="opendata_organization",
        object_id=org.id,
        data={"user": user.name, "capacity": capacity},
    )
    return member


# ----------------------------------------------------------------------- groups


def get_group(session: Session, id_or_name: str) -> OdGroup:
    group = session.execute(
        select(OdGroup).where((OdGroup.id == id_or_name) | (OdGroup.name == id_or_name))
    ).scalar_one_or_none()
    if group is None:
        raise not_found("グループ", "Group", str(id_or_name))
    return group


def create_group(session: Session, actor: Actor, data: dict[str, Any]) -> OdGroup:
    if not actor.sysadmin:
        raise denied("グループを作成する", "create groups")
    errors: dict[str, list[str]] = {}
    _check_name(session, OdGroup, data.get("name"), data.get("id"), errors)
    if errors:
        raise CatalogValidationError(errors)
    group = OdGroup(
        id=str(data.get("id") or uuid.uuid4()),
        name=data["name"],
        title=_text(data, "title", 300) or data["name"],
        description=_text(data, "description"),
        image_url=_text(data, "image_url"),
        state="active",
        created_at=utcnow(),
    )
    session.add(group)
    session.flush()
    audit.record(
        session,
        actor=actor.audit_name,
        action="opendata.group.create",
        object_type="opendata_group",
        object_id=group.id,
        data={"name": group.name},
    )
    return group


def group_dict(group: OdGroup, package_count: int | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "id": group.id,
        "name": group.name,
        "title": group.title,
        "display_name": group.title,
        "description": group.description,
        "image_url": group.image_url,
        "image_display_url": group.image_url,
        "created": ckan_time(group.created_at),
        "is_organization": False,
        "type": "group",
        "state": group.state,
        "approval_status": "approved",
    }
    if package_count is not None:
        result["package_count"] = package_count
    return result


def list_groups(session: Session, actor: Actor) -> list[tuple[OdGroup, int]]:
    query = (
        select(OdPackageGroup.group_id, func.count())
        .join(OdPackage, OdPackage.id == OdPackageGroup.package_id)
        .where(OdPackage.state == "active")
    )
    counts = dict(session.execute(_visible(query, actor).group_by(OdPackageGroup.group_id)).all())
    groups = session.execute(select(OdGroup).order_by(OdGroup.name)).scalars().all()
    return [(g, counts.get(g.id, 0)) for g in groups]


# --------------------------------------------------------------------- datasets


def _visible(query: Any, actor: Actor) -> Any:
    """Restrict a query over packages to those ``actor`` may see."""
    if actor.sysadmin:
        return query
    readable = actor.readable_orgs()
    if readable:
        return query.where((OdPackage.private.is_(False)) | (OdPackage.owner_org.in_(readable)))
    return query.where(OdPackage.private.is_(False))


def get_package(session: Session, id_or_name: str, *, include_deleted: bool = False) -> OdPackage:
    query = select(OdPackage).where((OdPackage.id == id_or_name) | (OdPackage.name == id_or_name))
    if not include_deleted:
        query = query.where(OdPackage.state != "deleted")
    package = session.execute(query).scalar_one_or_none()
    if package is None:
        raise not_found("データセット", "Dataset", str(id_or_name))
    return package


def readable_package(session: Session, actor: Actor, id_or_name: str) -> OdPackage:
    """The dataset if ``actor`` may read it; private ones look absent to everyone else."""
    package = get_package(session, id_or_name, include_deleted=actor.sysadmin)
    if package.private and not actor.can_read_org_private(package.owner_org):
        raise not_found("データセット", "Dataset", str(id_or_name))
    if package.state == "deleted" and not actor.can_edit_org(package.owner_org):
        raise not_found("データセット", "Dataset", str(id_or_name))
    return package


def list_package_names(
    session: Session,
    actor: Actor,
    *,
    include_private: bool = False,
    limit: int | None = None,
    offset: int = 0,
) -> list[str]:
    query = select(OdPackage.name).where(OdPackage.state == "active")
    public_only = query.where(OdPackage.private.is_(False))
    query = _visible(query, actor) if include_private else public_only
    query = query.order_by(OdPackage.name).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return list(session.execute(query).scalars())


def resource_url(resource: OdResource, site_url: str) -> str:
    if resource.url_type == "upload" and resource.storage_key:
        return (
            f"{site_url.rstrip('/')}/dataset/{resource.package_id}/resource/{resource.id}"
            f"/download/{resource.url}"
        )
    return resource.url


def stars(resource: OdResource) -> int:
    """Tim Berners-Lee's 5-star rating from format (5 needs links to other data: RDF with URIs)."""
    fmt = resource.format.upper()
    if not resource.url:
        return 0
    if fmt in LINKED_FORMATS:
        return 5 if resource.extras.get("links_to_other_data") else 4
    if fmt in OPEN_FORMATS:
        return 3
    if fmt in MACHINE_READABLE:
        return 2
    return 1


def resource_dict(resource: OdResource, site_url: str) -> dict[str, Any]:
    result: dict[str, Any] = dict(resource.extras or {})
    result.update(
        {
            "id": resource.id,
            "package_id": resource.package_id,
            "position": resource.position,
            "name": resource.name,
            "description": resource.description,
            "url": resource_url(resource, site_url),
            "url_type": resource.url_type or None,
            "format": resource.format,
            "mimetype": resource.mimetype or None,
            "size": resource.size,
            "hash": resource.hash,
            "created": ckan_time(resource.created),
            "last_modified": ckan_time(resource.last_modified),
            "metadata_modified": ckan_time(resource.last_modified),
            "datastore_active": resource.datastore_active,
            "conforms_to": resource.conforms_to,
            "state": "active",
            "machine_readable": resource.format.upper() in MACHINE_READABLE,
            "openness_score": stars(resource),
            "download_count": resource.download_count,
        }
    )
    return result


def package_dict(session: Session, package: OdPackage, site_url: str) -> dict[str, Any]:
    """The CKAN dictionary of a dataset (``package_show``)."""
    return package_dicts(session, [package], site_url)[0]


def package_dicts(
    session: Session, packages: list[OdPackage], site_url: str
) -> list[dict[str, Any]]:
    """CKAN dictionaries of many datasets with one query per related table (search pages)."""
    ids = [p.id for p in packages]
    org_ids = {p.owner_org for p in packages if p.owner_org}
    orgs = (
        {
            o.id: organization_dict(session, o)
            for o in session.execute(
                select(OdOrganization).where(OdOrganization.id.in_(org_ids))
            ).scalars()
        }
        if org_ids
        else {}
    )
    tags: dict[str, list[str]] = {i: [] for i in ids}
    for package_id, name in session.execute(
        select(OdPackageTag.package_id, OdPackageTag.name)
        .where(OdPackageTag.package_id.in_(ids))
        .order_by(OdPackageTag.name)
    ):
        tags[package_id].append(name)
    groups: dict[str, list[OdGroup]] = {i: [] for i in ids}
    for package_id, group in session.execute(
        select(OdPackageGroup.package_id, OdGroup)
        .join(OdGroup, OdPackageGroup.group_id == OdGroup.id)
        .where(OdPackageGroup.package_id.in_(ids))
        .order_by(OdGroup.name)
    ):
        groups[package_id].append(group)
    resources: dict[str, list[OdResource]] = {i: [] for i in ids}
    for resource in session.execute(
        select(OdResource).where(OdResource.package_id.in_(ids)).order_by(OdResource.position)
    ).scalars():
        resources[resource.package_id].append(resource)
    return [
        _package_dict(
            p, orgs.get(p.owner_org or ""), tags[p.id], groups[p.id], resources[p.id], site_url
        )
        for p in packages
    ]


def _package_dict(
    package: OdPackage,
    org: dict[str, Any] | None,
    tags: list[str],
    groups: list[OdGroup],
    resources: list[OdResource],
    site_url: str,
) -> dict[str, Any]:
    lic = licenses.get(package.license_id)
    return {
        "id": package.id,
        "name": package.name,
        "title": package.title,
        "notes": package.notes,
        "type": package.type,
        "state": package.state,
        "private": package.private,
        "owner_org": package.owner_org,
        "organization": org,
        "license_id": package.license_id,
        "license_title": lic.title if lic else package.license_id,
        "license_url": lic.url if lic else "",
        "isopen": bool(lic and lic.open),
        "author": package.author,
        "author_email": package.author_email,
        "maintainer": package.maintainer,
        "maintainer_email": package.maintainer_email,
        "url": package.url,
        "version": package.version,
        "spatial_lg_code": package.spatial_lg_code,
        "temporal_start": package.temporal_start.isoformat() if package.temporal_start else None,
        "temporal_end": package.temporal_end.isoformat() if package.temporal_end else None,
        "frequency": package.frequency,
        "conforms_to": package.conforms_to,
        "metadata_created": ckan_time(package.metadata_created),
        "metadata_modified": ckan_time(package.metadata_modified),
        "creator_user_id": package.creator_user_id,
        "tags": [
            {"name": t, "display_name": t, "state": "active", "vocabulary_id": None} for t in tags
        ],
        "groups": [
            {
                "id": g.id,
                "name": g.name,
                "title": g.title,
                "display_name": g.title,
                "description": g.description,
                "image_display_url": g.image_url,
            }
            for g in groups
        ],
        "extras": [{"key": e["key"], "value": e["value"]} for e in (package.extras or [])],
        "resources": [resource_dict(r, site_url) for r in resources],
        "num_resources": len(resources),
        "num_tags": len(tags),
        "relationships_as_object": [],
        "relationships_as_subject": [],
        "tracking_summary": {"total": package.view_count, "recent": package.view_count},
    }


def _tag_names(data: dict[str, Any], errors: dict[str, list[str]]) -> list[str]:
    names: list[str] = []
    raw = data.get("tags")
    if isinstance(raw, list):
        for tag in raw:
            names.append(str(tag.get("name", "")) if isinstance(tag, dict) else str(tag))
    if data.get("tag_string"):
        names.extend(str(data["tag_string"]).split(","))
    cleaned = [n.strip() for n in names if n and n.strip()]
    for name in cleaned:
        if len(name) > 100:
            errors.setdefault("tags", []).append(f"{name[:20]}…: 100文字まで / too long")
    return list(dict.fromkeys(cleaned))


def _parse_date(data: dict[str, Any], key: str, errors: dict[str, list[str]]) -> date | None:
    value = data.get(key)
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        errors.setdefault(key, []).append("日付は YYYY-MM-DD / date must be YYYY-MM-DD")
        return None


FIELD_LIMITS = {
    "title": 500,
    "author": 300,
    "author_email": 300,
    "maintainer": 300,
    "maintainer_email": 300,
    "url": 2000,
    "version": 100,
    "frequency": 50,
    "conforms_to": 50,
}


@dataclass
class _PackageInput:
    values: dict[str, Any]
    tags: list[str]
    group_ids: list[str]
    resources: list[dict[str, Any]] | None


def _validate_package(
    session: Session, actor: Actor, data: dict[str, Any], existing: OdPackage | None
) -> _PackageInput:
    errors: dict[str, list[str]] = {}
    _check_name(session, OdPackage, data.get("name"), existing.id if existing else None, errors)
    org_ref = data.get("owner_org")
    if not org_ref and isinstance(data.get("organization"), dict):
        org_ref = data["organization"].get("name")
    org_id: str | None = None
    if org_ref:
        try:
            org_id = get_organization(session, str(org_ref)).id
        except NotFoundError:
            errors.setdefault("owner_org", []).append(
                f"組織 {org_ref} がありません / Organization does not exist"
            )
    elif not actor.sysadmin:
        errors.setdefault("owner_org", []).append("組織は必須です / An organization must be given")
    if org_id is not None and not actor.can_edit_org(org_id):
        raise denied("この組織のデータセットを編集する", "edit datasets of this organization")
    _check_codes(data, errors)
    start = _parse_date(data, "temporal_start", errors)
    end = _parse_date(data, "temporal_end", errors)
    if start and end and end < start:
        errors.setdefault("temporal_end", []).append("開始日より後に / must not precede the start")
    tags = _tag_names(data, errors)
    group_ids: list[str] = []
    for ref in data.get("groups") or []:
        key = ref.get("id") or ref.get("name") if isinstance(ref, dict) else str(ref)
        try:
            group_ids.append(get_group(session, str(key)).id)
        except NotFoundError:
            errors.setdefault("groups", []).append(f"グループ {key} がありません / no such group")
    extras = []
    for extra in data.get("extras") or []:
        if isinstance(extra, dict) and extra.get("key"):
            extras.append({"key": str(extra["key"]), "value": str(extra.get("value", ""))})
    resources = data.get("resources")
    if resources is not None and not isinstance(resources, list):
        errors.setdefault("resources", []).append("一覧で指定 / must be a list")
    if errors:
        raise CatalogValidationError(errors)
    values: dict[str, Any] = {key: _text(data, key, limit) for key, limit in FIELD_LIMITS.items()}
    values.update(
        name=data["name"],
        notes=_text(data, "notes"),
        owner_org=org_id,
        license_id=_text(data, "license_id", 100),
        private=as_bool(data.get("private", False)),
        spatial_lg_code=data.get("spatial_lg_code") or None,
        temporal_start=start,
        temporal_end=end,
        extras=extras,
    )
    values["title"] = values["title"] or data["name"]
    values["frequency"] = values["frequency"] or None
    values["conforms_to"] = values["conforms_to"] or None
    return _PackageInput(values, tags, list(dict.fromkeys(group_ids)), resources)


def package_errors(
    session: Session, actor: Actor, data: dict[str, Any], existing: OdPackage | None = None
) -> dict[str, list[str]]:
    """What ``create_package``/``update_package`` would refuse in ``data``, changing nothing."""
    try:
        _validate_package(session, actor, dict(data), existing)
    except CatalogValidationError as exc:
        return exc.fields
    return {}


def create_package(
    session: Session, actor: Actor, data: dict[str, Any], site_url: str
) -> OdPackage:
    """``package_create``: editors of the owning organization (or sysadmins)."""
    if actor.user_id is None:
        raise denied("データセットを作成する", "create datasets")
    parsed = _validate_package(session, actor, data, None)
    requested_id = str(data.get("id") or "")
    if requested_id and session.get(OdPackage, requested_id) is not None:
        raise CatalogValidationError({"id": ["このIDは使用済みです / Dataset id already exists"]})
    now = utcnow()
    package = OdPackage(
        id=requested_id or str(uuid.uuid4()),
        state="active",
        type="dataset",
        metadata_created=now,
        metadata_modified=now,
        creator_user_id=actor.user_id,
        view_count=0,
        download_count=0,
        harvest_source_id=data.get("harvest_source_id"),
        **parsed.values,
    )
    session.add(package)
    session.flush()
    _save_relations(session, package, parsed, site_url)
    _after_change(session, actor, package, "create", site_url)
    return package


def update_package(
    session: Session, actor: Actor, data: dict[str, Any], site_url: str, *, patch: bool = False
) -> OdPackage:
    """``package_update`` replaces the dataset; ``package_patch`` changes only given keys."""
    package = get_package(
        session, str(data.get("id") or data.get("name") or ""), include_deleted=True
    )
    if not actor.can_edit_org(package.owner_org):
        if package.private and not actor.can_read_org_private(package.owner_org):
            raise not_found("データセット", "Dataset", str(data.get("id") or data.get("name")))
        raise denied("このデータセットを更新する", "update this dataset")
    if patch:
        data = {**package_dict(session, package, site_url), **data}
    data = {**data, "name": data.get("name") or package.name}
    parsed = _validate_package(session, actor, data, package)
    for key, value in parsed.values.items():
        setattr(package, key, value)
    package.state = "active"
    package.metadata_modified = utcnow()
    _save_relations(session, package, parsed, site_url)
    _after_change(session, actor, package, "update", site_url)
    return package


def _save_relations(
    session: Session, package: OdPackage, parsed: _PackageInput, site_url: str
) -> None:
    session.execute(delete(OdPackageTag).where(OdPackageTag.package_id == package.id))
    session.add_all(OdPackageTag(package_id=package.id, name=t) for t in parsed.tags)
    session.execute(delete(OdPackageGroup).where(OdPackageGroup.package_id == package.id))
    session.add_all(OdPackageGroup(package_id=package.id, group_id=g) for g in parsed.group_ids)
    if parsed.resources is None:
        return
    existing = {
        r.id: r
        for r in session.execute(
            select(OdResource).where(OdResource.package_id == package.id)
        ).scalars()
    }
    kept: set[str] = set()
    for position, raw in enumerate(parsed.resources):
        if not isinstance(raw, dict):
            raise CatalogValidationError({"resources": ["辞書で指定 / must be objects"]})
        resource = existing.get(str(raw.get("id") or ""))
        if resource is None:
            resource = _new_resource(session, package.id, raw)
        _apply_resource(resource, raw, site_url)
        resource.position = position
        kept.add(resource.id)
    for rid, resource in existing.items():
        if rid not in kept:
            session.delete(resource)
    session.flush()


def _new_resource(session: Session, package_id: str, raw: dict[str, Any]) -> OdResource:
    requested = str(raw.get("id") or "")
    now = utcnow()
    rid = (
        requested if requested and session.get(OdResource, requested) is None else str(uuid.uuid4())
    )
    resource = OdResource(
        id=rid,
        package_id=package_id,
        created=now,
        last_modified=now,
        download_count=0,
        datastore_active=False,
        extras={},
    )
    session.add(resource)
    return resource


RESOURCE_CORE = {
    "id",
    "package_id",
    "position",
    "name",
    "description",
    "url",
    "url_type",
    "format",
    "mimetype",
    "size",
    "hash",
    "created",
    "last_modified",
    "metadata_modified",
    "datastore_active",
    "conforms_to",
    "state",
    "machine_readable",
    "openness_score",
    "download_count",
    "upload",
    "cache_url",
    "cache_last_updated",
    "mimetype_inner",
    "resource_type",
    "tracking_summary",
    "datastore_contains_all_records_of_source_file",
}


def _apply_resource(resource: OdResource, raw: dict[str, Any], site_url: str) -> None:
    url = _text(raw, "url", 2000)
    own_prefix = (
        f"{site_url.rstrip('/')}/dataset/{resource.package_id}/resource/{resource.id}/download/"
    )
    if resource.storage_key and (not url or url.startswith(own_prefix)):
        url = resource.url  # still our uploaded file
    else:
        resource.storage_key = None if url != resource.url else resource.storage_key
        resource.url_type = _text(raw, "url_type", 20) if not resource.storage_key else "upload"
    resource.url = url
    resource.name = _text(raw, "name", 500)
    resource.description = _text(raw, "description")
    resource.format = _text(raw, "format", 50) or _guess_format(url)
    resource.mimetype = _text(raw, "mimetype", 100)
    if raw.get("size") not in (None, "") and not resource.storage_key:
        try:
            resource.size = int(raw["size"])
        except (TypeError, ValueError):
            resource.size = None
    if not resource.storage_key:
        resource.hash = _text(raw, "hash", 100)
    resource.conforms_to = _text(raw, "conforms_to", 50) or None
    resource.extras = {
        k: v
        for k, v in raw.items()
        if k not in RESOURCE_CORE and isinstance(v, str | int | float | bool)
    }
    resource.last_modified = utcnow()


def _guess_format(url: str) -> str:
    tail = url.rsplit("/", 1)[-1]
    if "." not in tail:
        return ""
    return tail.rsplit(".", 1)[-1].split("?")[0].upper()[:50]


def delete_package(session: Session, actor: Actor, id_or_name: str, site_url: str) -> None:
    """``package_delete``: marks the dataset deleted (history kept) and unindexes it."""
    package = get_package(session, id_or_name)
    if not actor.can_edit_org(package.owner_org):
        if package.private and not actor.can_read_org_private(package.owner_org):
            raise not_found("データセット", "Dataset", id_or_name)
        raise denied("このデータセットを削除する", "delete this dataset")
    package.state = "deleted"
    package.metadata_modified = utcnow()
    _after_change(session, actor, package, "delete", site_url)


def _after_change(
    session: Session, actor: Actor, package: OdPackage, action: str, site_url: str
) -> None:
    """History, audit trail and search index follow every change in the same transaction."""
    session.flush()
    snapshot = package_dict(session, package, site_url)
    last = (
        session.execute(
            select(func.max(OdRevision.revision)).where(OdRevision.package_id == package.id)
        ).scalar()
        or 0
    )
    session.add(
        OdRevision(
            package_id=package.id,
            revision=last + 1,
            action=action,
            actor=actor.audit_name,
            created_at=utcnow(),
            data=snapshot,
        )
    )
    audit.record(
        session,
        actor=actor.audit_name,
        action=f"opendata.package.{action}",
        object_type="opendata_package",
        object_id=package.id,
        data={"name": package.name, "private": package.private},
    )
    if package.state == "active":
        search.index(session, [index_doc(snapshot)])
    else:
        search.remove(session, [package.id])


def index_doc(pkg: dict[str, Any]) -> search.IndexDoc:
    """The search document of a CKAN package dictionary."""
    org = pkg.get("organization") or {}
    body = "\n".join(
        [
            pkg.get("notes") or "",
            " ".join(t["name"] for t in pkg["tags"]),
            org.get("title") or "",
            " ".join(g["title"] for g in pkg["groups"]),
            *(f"{r['name']} {r['description']} {r['format']}" for r in pkg["resources"]),
        ]
    )
    return search.IndexDoc(
        package_id=pkg["id"],
        name=pkg["name"],
        title=pkg["title"],
        body=body,
        owner_org=pkg.get("owner_org"),
        private=bool(pkg["private"]),
        metadata_created=datetime.fromisoformat(pkg["metadata_created"]).replace(tzinfo=UTC),
        metadata_modified=datetime.fromisoformat(pkg["metadata_modified"]).replace(tzinfo=UTC),
        facets={
            "organization": [org["name"]] if org else [],
            "tags": [t["name"] for t in pkg["tags"]],
            "res_format": [r["format"].upper() for r in pkg["resources"] if r["format"]],
            "license_id": [pkg["license_id"]] if pkg["license_id"] else [],
            "groups": [g["name"] for g in pkg["groups"]],
        },
    )


def reindex(session: Session, site_url: str, batch: int = 500) -> int:
    """Rebuild the whole search index from the catalog tables."""
    search.clear(session)
    done, offset = 0, 0
    while True:
        packages = (
            session.execute(
                select(OdPackage)
                .where(OdPackage.state == "active")
                .order_by(OdPackage.id)
                .offset(offset)
                .limit(batch)
            )
            .scalars()
            .all()
        )
        if not packages:
            return done
        search.index(
            session, [index_doc(d) for d in package_dicts(session, list(packages), site_url)]
        )
        done += len(packages)
        offset += batch


def revisions(session: Session, actor: Actor, id_or_name: str) -> list[OdRevision]:
    package = readable_package(session, actor, id_or_name)
    return list(
        session.execute(
            select(OdRevision)
            .where(OdRevision.package_id == package.id)
            .order_by(OdRevision.revision.desc())
        ).scalars()
    )


# -------------------------------------------------------------------- resources


def get_resource(session: Session, actor: Actor, resource_id: str) -> tuple[OdResource, OdPackage]:
    resource = session.get(OdResource, resource_id)
    if resource is None:
        raise not_found("リソース", "Resource", resource_id)
    package = readable_package(session, actor, resource.package_id)
    return resource, package


@dataclass
class Upload:
    filename: str
    stream: BinaryIO
    content_type: str = ""


def _store_upload(storage: Storage, resource: OdResource, upload: Upload) -> None:
    filename = re.sub(r"[^\w.\-]", "_", upload.filename.rsplit("/", 1)[-1])[:200] or "file"
    key = f"{resource.package_id}/{resource.id}/{filename}"
    if resource.storage_key and resource.storage_key != key:
        storage.delete(resource.storage_key)
    size, digest = storage.save(key, upload.stream)
    resource.storage_key, resource.url, resource.url_type = key, filename, "upload"
    resource.size, resource.hash = size, f"sha256:{digest}"
    resource.mimetype = upload.content_type[:100] if upload.content_type else resource.mimetype
    resource.format = resource.format or _guess_format(filename)


def save_resource(
    session: Session,
    actor: Actor,
    data: dict[str, Any],
    site_url: str,
    storage: Storage,
    upload: Upload | None = None,
    *,
    mode: str = "create",
) -> OdResource:
    """``resource_create``/``update``/``patch``, with an optional uploaded file."""
    if mode == "create":
        package = get_package(session, str(data.get("package_id") or ""))
        resource = _new_resource(session, package.id, data)
        resource.position = session.execute(
            select(func.count()).where(OdResource.package_id == package.id)
        ).scalar_one()
    else:
        existing = session.get(OdResource, str(data.get("id") or ""))
        if existing is None:
            raise not_found("リソース", "Resource", str(data.get("id")))
        resource = existing
        package = get_package(session, resource.package_id)
        if mode == "patch":
            data = {**resource_dict(resource, site_url), **data}
    if not actor.can_edit_org(package.owner_org):
        if package.private and not actor.can_read_org_private(package.owner_org):
            raise not_found("データセット", "Dataset", package.id)
        raise denied("このデータセットのリソースを編集する", "edit resources of this dataset")
    if upload is not None:
        _store_upload(storage, resource, upload)
        data = {**data, "url": resource.url}
    elif not data.get("url") and not resource.storage_key:
        raise CatalogValidationError(
            {"url": ["URLかファイルが必要です / A URL or file is required"]}
        )
    _apply_resource(resource, data, site_url)
    package.metadata_modified = utcnow()
    _after_change(session, actor, package, "update", site_url)
    return resource


def delete_resource(
    session: Session, actor: Actor, resource_id: str, site_url: str, storage: Storage
) -> None:
    resource = session.get(OdResource, resource_id)
    if resource is None:
        raise not_found("リソース", "Resource", resource_id)
    package = get_package(session, resource.package_id)
    if not actor.can_edit_org(package.owner_org):
        if package.private and not actor.can_read_org_private(package.owner_org):
            raise not_found("リソース", "Resource", resource_id)
        raise denied("このリソースを削除する", "delete this resource")
    if resource.storage_key:
        storage.delete(resource.storage_key)
    session.delete(resource)
    package.metadata_modified = utcnow()
    _after_change(session, actor, package, "update", site_url)


# ---------------------------------------------------------------------- search


def package_search(
    session: Session, actor: Actor, params: dict[str, Any], site_url: str
) -> dict[str, Any]:
    """``package_search`` with CKAN's parameters and result shape."""
    try:
        rows = int(params.get("rows", 10))
        start = int(params.get("start", 0))
        facet_limit = int(params.get("facet.limit", 50))
        facet_mincount = int(params.get("facet.mincount", 1))
    except (TypeError, ValueError) as exc:
        raise search.search_error("数値が必要です", f"a number is required ({exc})") from exc
    include_private = as_bool(params.get("include_private", False))
    if actor.sysadmin and include_private:
        private_orgs: list[str] | None = None
    else:
        private_orgs = actor.readable_orgs() if include_private else []
    facet_fields = search.parse_facet_fields(params.get("facet.field"))
    if not as_bool(params.get("facet", "true")):
        facet_fields = []
    result = search.search(
        session,
        search.Query(
            q=str(params.get("q") or ""),
            fq=str(params.get("fq") or ""),
            facet_fields=facet_fields,
            facet_limit=facet_limit,
            facet_mincount=facet_mincount,
            rows=rows,
            start=start,
            sort=str(params.get("sort") or ""),
            private_orgs=private_orgs,
        ),
    )
    packages = {
        p.id: p
        for p in session.execute(
            select(OdPackage).where(OdPackage.id.in_(result.package_ids))
        ).scalars()
    }
    titles = _facet_titles(session, result.facets)
    return {
        "count": result.count,
        "sort": params.get("sort") or "score desc, metadata_modified desc",
        "results": package_dicts(
            session, [packages[pid] for pid in result.package_ids if pid in packages], site_url
        ),
        "facets": result.facets,
        "search_facets": {
            name: {
                "title": name,
                "items": [
                    {"name": value, "display_name": titles.get((name, value), value), "count": n}
                    for value, n in values.items()
                ],
            }
            for name, values in result.facets.items()
        },
    }


def _facet_titles(
    session: Session, facets: dict[str, dict[str, int]]
) -> dict[tuple[str, str], str]:
    titles: dict[tuple[str, str], str] = {}
    if facets.get("organization"):
        for name, title in session.execute(
            select(OdOrganization.name, OdOrganization.title).where(
                OdOrganization.name.in_(facets["organization"])
            )
        ):
            titles[("organization", name)] = title
    if facets.get("groups"):
        for name, title in session.execute(
            select(OdGroup.name, OdGroup.title).where(OdGroup.name.in_(facets["groups"]))
        ):
            titles[("groups", name)] = title
    for lic_id in facets.get("license_id", {}):
        lic = licenses.get(lic_id)
        if lic:
            titles[("license_id", lic_id)] = lic.title
    return titles


def tag_list(session: Session, actor: Actor, query: str = "") -> list[str]:
    stmt = (
        select(OdPackageTag.name)
        .join(OdPackage, OdPackage.id == OdPackageTag.package_id)
        .where(OdPackage.state == "active", OdPackage.private.is_(False))
        .distinct()
        .order_by(OdPackageTag.name)
    )
    if query:
        stmt = stmt.where(OdPackageTag.name.contains(query))
    return list(session.execute(stmt).scalars())


def package_count(session: Session) -> int:
    return session.execute(select(func.count()).select_from(OdSearchDoc)).scalar_one()


# ---------------------------------------------------------------------- counts


def count_api_call(session: Session, action: str) -> None:
    """One more call of ``action`` today (no caller identity is kept)."""
    dialect_insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = dialect_insert(OdApiCallCount).values(
        day=tokyo_today(), action=action[:50], count=1
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["day", "action"], set_={"count": OdApiCallCount.count + 1}
        )
    )


def count_view(session: Session, package_id: str) -> None:
    session.execute(
        update(OdPackage)
        .where(OdPackage.id == package_id)
        .values(view_count=OdPackage.view_count + 1)
    )


def count_download(session: Session, resource: OdResource) -> None:
    session.execute(
        update(OdResource)
        .where(OdResource.id == resource.id)
        .values(download_count=OdResource.download_count + 1)
    )
    session.execute(
        update(OdPackage)
        .where(OdPackage.id == resource.package_id)
        .values(download_count=OdPackage.download_count + 1)
    )


def api_call_counts(session: Session, days: Iterable[date] | None = None) -> dict[str, int]:
    query = select(OdApiCallCount.action, func.sum(OdApiCallCount.count)).group_by(
        OdApiCallCount.action
    )
    if days is not None:
        query = query.where(OdApiCallCount.day.in_(list(days)))
    return {action: int(n) for action, n in session.execute(query).all()}


def usage_statistics(session: Session) -> dict[str, Any]:
    """Public figures only: nothing about private datasets or callers."""
    public = (OdPackage.state == "active") & OdPackage.private.is_(False)
    datasets, views, downloads = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(OdPackage.view_count), 0),
            func.coalesce(func.sum(OdPackage.download_count), 0),
        ).where(public)
    ).one()
    organizations = session.execute(
        select(func.count()).select_from(OdOrganization).where(OdOrganization.state == "active")
    ).scalar_one()
    return {
        "datasets": datasets,
        "organizations": organizations,
        "views": int(views),
        "downloads": int(downloads),
        "api_calls": api_call_counts(session),
    }


# ---------------------------------------------------------------- data requests

REQUEST_STATUSES = ("open", "accepted", "published", "rejected")


def create_data_request(
    session: Session,
    *,
    title: str,
    description: str,
    requester_name: str = "",
    organization: str | None = None,
) -> OdDataRequest:
    """Anyone may ask for data (No.2-1); the organization answers and tracks it to publication."""
    errors: dict[str, list[str]] = {}
    if not title.strip():
        errors["title"] = ["件名は必須です / A title is required"]
    if not description.strip():
        errors["description"] = ["内容は必須です / A description is required"]
    if errors:
        raise CatalogValidationError(errors)
    org_id = get_organization(session, organization).id if organization else None
    now = utcnow()
    request = OdDataRequest(
        id=str(uuid.uuid4()),
        title=title.strip()[:300],
        description=description.strip(),
        requester_name=requester_name[:200],
        organization_id=org_id,
        status="open",
        response="",
        created_at=now,
        updated_at=now,
    )
    session.add(request)
    session.flush()
    audit.record(
        session,
        actor="anonymous",
        action="opendata.request.create",
        object_type="opendata_data_request",
        object_id=request.id,
        data={"title": request.title},
    )
    return request


def answer_data_request(
    session: Session,
    actor: Actor,
    request_id: str,
    *,
    status: str,
    response: str,
    package: str | None = None,
) -> OdDataRequest:
    request = session.get(OdDataRequest, request_id)
    if request is None:
        raise not_found("データ要望", "Data request", request_id)
    if not actor.can_edit_org(request.organization_id) and not (
        request.organization_id is None and actor.editable_orgs()
    ):
        raise denied("この要望に回答する", "answer this request")
    if status not in REQUEST_STATUSES:
        raise CatalogValidationError({"status": [" / ".join(REQUEST_STATUSES)]})
    if status == "published":
        if not package:
            raise CatalogValidationError(
                {"package": ["公開したデータセットを指定 / give the dataset"]}
            )
        request.package_id = readable_package(session, actor, package).id
    request.status, request.response, request.updated_at = status, response, utcnow()
    audit.record(
        session,
        actor=actor.audit_name,
        action="opendata.request.answer",
        object_type="opendata_data_request",
        object_id=request.id,
        data={"status": status},
    )
    return request


def list_data_requests(session: Session) -> list[OdDataRequest]:
    return list(
        session.execute(select(OdDataRequest).order_by(OdDataRequest.created_at.desc())).scalars()
    )


def get_resources(session: Session, package_id: str) -> list[OdResource]:
    return list(
        session.execute(
            select(OdResource)
            .where(OdResource.package_id == package_id)
            .order_by(OdResource.position)
        ).scalars()
    )
