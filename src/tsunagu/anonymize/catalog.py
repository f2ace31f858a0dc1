"""Publishing a sealed release to the open data catalog.

The dataset is created through the catalog's own service functions (the
same path as ``package_create`` and ``resource_create``), owned by the
catalog organization linked to the release's organization (by
``identity_org_id``, else its 地方公共団体コード or 法人番号). Its extras carry
the 作成記録 figures and the 公表事項 (``release.catalog_metadata``) and where
to fetch and check the sealed record; the anonymized CSV is its resource.
The catalog actor is an editor of that one organization only, named after
the official, so the catalog's own permission checks and audit still apply.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from tsunagu.anonymize import release, service, signing
from tsunagu.anonymize.engine import sha256_file
from tsunagu.anonymize.models import AnonymizationRelease
from tsunagu.core.audit import service as audit
from tsunagu.core.clock import utcnow
from tsunagu.core.config import Settings
from tsunagu.core.errors import ConflictError
from tsunagu.core.outbox import service as outbox
from tsunagu.identity import service as identity
from tsunagu.opendata import service as catalog
from tsunagu.opendata.auth import ANONYMOUS, Actor
from tsunagu.opendata.config import storage_for

TOPIC_PUBLISHED = "anonymize.release.published"
TAG = "匿名加工情報"
CATALOG_USER_ID = "system:anonymize"


def catalog_organization(session: Session, organization_id: str) -> str:
    """The id of the catalog organization that publishes for ``organization_id``."""
    org = identity.get_organization(session, organization_id)
    candidates = [o for o, _count in catalog.list_organizations(session, ANONYMOUS)]
    for matches in (
        lambda o: o.identity_org_id == organization_id,
        lambda o: org.lgcode is not None and o.lg_code == org.lgcode,
        lambda o: org.corporate_number is not None and o.corporate_number == org.corporate_number,
    ):
        found = [o.id for o in candidates if matches(o)]
        if found:
            return found[0]
    raise ConflictError(
        "anonymize.no_catalog_organization",
        f"{org.name_ja} のオープンデータカタログの組織がありません。"
        "カタログ管理者に登録を依頼してください",
        f"the open data catalog has no organization for {org.name_en or org.name_ja}; "
        "ask the catalog administrator to register it",
    )


def release_urls(settings: Settings, release_id: str) -> dict[str, str]:
    base = f"{settings.base_url.rstrip('/')}/api/anonymize/releases/{release_id}"
    return {
        "release_record_url": f"{base}/record.json",
        "release_signature_url": f"{base}/record.p7s",
        "release_verification_url": f"{base}/verification",
    }


def _extras(
    settings: Settings, row: AnonymizationRelease, verified: signing.Verification
) -> list[dict[str, str]]:
    figures: dict[str, Any] = {
        **release.catalog_metadata(service.content_of(row)),
        "release_id": row.id,
        "release_signer_serial": verified.signer_serial,
        "release_time_stamp": verified.time_stamp.isoformat() if verified.time_stamp else None,
        **release_urls(settings, row.id),
    }
    extras = []
    for key, value in figures.items():
        if value is None:
            continue
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        extras.append({"key": key, "value": text})
    return extras


def _notes(row: AnonymizationRelease, extra: str) -> str:
    """A Japanese description stating the figures (what DCAT readers see)."""
    publication = json.loads(row.publication)
    parts = [
        f"{row.organization}が作成した匿名加工情報です。",
        f"加工方法: {row.method}、k-匿名性 k={row.achieved_k}"
        + (f"、l-多様性 l={row.achieved_l}" if row.achieved_l is not None else "")
        + (f"、t-近接性 t={row.achieved_t}" if row.achieved_t is not None else "")
        + f"、情報損失 (GCP) {row.gcp}、削除したレコード {row.suppressed_rows} 件"
        + f" (入力 {row.input_rows} 件)。",
        f"含まれる個人に関する情報の項目: {'、'.join(publication['categories'])}。",
        f"提供の方法: {publication['provision_method']}",
        "作成記録は電子公印で署名されています (extras の release_record_url と"
        " release_signature_url、検証は release_verification_url)。",
    ]
    return "\n".join(parts + ([extra] if extra.strip() else []))


def publish_release(
    session: Session,
    settings: Settings,
    row: AnonymizationRelease,
    *,
    file: Path,
    actor: str,
    license_id: str = "cc-by-4.0",
    notes: str = "",
) -> str:
    """Create the catalog dataset of a sealed release; returns the dataset id."""
    if row.package_id is not None:
        raise ConflictError(
            "anonymize.already_published",
            "この匿名加工情報は既に公開されています",
            "this release is already published",
        )
    if row.status != service.SIGNED:
        raise ConflictError(
            "anonymize.not_signed",
            "電子公印で署名した作成記録だけを公開できます",
            "only a release sealed by its organization can be published",
        )
    verified = signing.require_valid(session, row)
    if not file.is_file() or sha256_file(file) != row.output_sha256:
        raise ConflictError(
            "anonymize.file_mismatch",
            "公開するファイルがないか、作成記録の SHA-256 と一致しません",
            "the released file is missing or does not match the SHA-256 in the record",
        )
    assert row.organization_id is not None  # a valid seal names it
    owner = catalog_organization(session, row.organization_id)
    editor = Actor(CATALOG_USER_ID, f"anonymize/{actor}", capacities={owner: "editor"})
    package = catalog.create_package(
        session,
        editor,
        {
            "name": f"anonymized-{row.id}",
            "title": row.title,
            "notes": _notes(row, notes),
            "owner_org": owner,
            "license_id": license_id,
            "tags": [{"name": TAG}],
            "extras": _extras(settings, row, verified),
        },
        settings.base_url,
    )
    with file.open("rb") as stream:
        catalog.save_resource(
            session,
            editor,
            {
                "package_id": package.id,
                "name": row.title,
                "description": f"匿名加工情報 (SHA-256 {row.output_sha256})",
                "format": "CSV",
            },
            settings.base_url,
            storage_for(settings),
            catalog.Upload(f"{row.id}.csv", stream, "text/csv"),
        )
    row.package_id, row.published_at, row.published_by = package.id, utcnow(), actor
    row.status = service.PUBLISHED
    audit.record(
        session,
        actor=actor,
        action="anonymize.release.publish",
        object_type="anonymize_release",
        object_id=row.id,
        data={"package": package.name, "record_sha256": row.record_sha256},
    )
    outbox.publish(session, TOPIC_PUBLISHED, {"release_id": row.id, "package_id": package.id})
    return package.id
