"""Quality and open data by design: broken-link checks and self-published statistics.

The platform publishes its own figures as open data (plan No.2-3, No.2-11):
``publish_statistics`` writes a machine-readable CSV of the catalog's use and
content as a dataset of the platform organization, loaded into the datastore,
every time it runs (``tsunagu opendata publish-stats`` from a schedule).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

import httpx2
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tsunagu.core.clock import tokyo_today, utcnow
from tsunagu.core.errors import NotFoundError
from tsunagu.opendata import datastore, service
from tsunagu.opendata.auth import Actor
from tsunagu.opendata.models import OdApiCallCount, OdOrganization, OdPackage, OdResource
from tsunagu.opendata.storage import Storage

SYSTEM = Actor(user_id="system:opendata", name="opendata-system", sysadmin=True)
PLATFORM_ORG = "tsunagu-platform"
STATS_DATASET = "tsunagu-catalog-statistics"
LINK_TIMEOUT = 10.0


def check_links(
    session: Session, client: httpx2.Client | None = None, limit: int | None = None
) -> dict[str, int]:
    """HEAD (then GET) every linked resource; marks each ``ok`` or ``broken`` with the cause."""
    own = client or httpx2.Client(timeout=LINK_TIMEOUT, follow_redirects=True)
    query = (
        select(OdResource)
        .join(OdPackage, OdPackage.id == OdResource.package_id)
        .where(OdPackage.state == "active", OdResource.url_type != "upload", OdResource.url != "")
        .order_by(OdResource.link_checked_at.is_not(None), OdResource.link_checked_at)
    )
    if limit:
        query = query.limit(limit)
    counts = {"ok": 0, "broken": 0}
    try:
        for resource in session.execute(query).scalars():
            error = _probe(own, resource.url)
            resource.link_status = "broken" if error else "ok"
            resource.link_error = error[:500] if error else None
            resource.link_checked_at = utcnow()
            counts[resource.link_status] += 1
    finally:
        if client is None:
            own.close()
    return counts


def _probe(client: httpx2.Client, url: str) -> str | None:
    try:
        response = client.head(url)
        if response.status_code in (405, 501):
            response = client.get(url, headers={"Range": "bytes=0-0"})
    except httpx2.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    if response.status_code >= 400:
        return f"HTTP {response.status_code}"
    return None


def _platform_org(session: Session) -> OdOrganization:
    try:
        return service.get_organization(session, PLATFORM_ORG)
    except NotFoundError:
        return service.create_organization(
            session,
            SYSTEM,
            {
                "name": PLATFORM_ORG,
                "title": "tsunagu プラットフォーム運営",
                "title_en": "tsunagu platform operator",
                "description": "プラットフォーム自身の統計をオープンデータとして自動公開します。",
            },
        )


def statistics_rows(session: Session) -> list[dict[str, Any]]:
    """Today's figures: public datasets and downloads per organization, API calls per action."""
    today = tokyo_today().isoformat()
    rows: list[dict[str, Any]] = []
    per_org = session.execute(
        select(
            OdOrganization.name,
            OdOrganization.title,
            func.count(OdPackage.id),
            func.coalesce(func.sum(OdPackage.download_count), 0),
        )
        .join(
            OdPackage,
            (OdPackage.owner_org == OdOrganization.id)
            & (OdPackage.state == "active")
            & OdPackage.private.is_(False),
        )
        .group_by(OdOrganization.name, OdOrganization.title)
        .order_by(OdOrganization.name)
    ).all()
    for name, title, datasets, downloads in per_org:
        rows.append(
            {
                "集計日": today,
                "区分": "組織別データセット数",
                "項目": name,
                "名称": title,
                "値": datasets,
            }
        )
        rows.append(
            {
                "集計日": today,
                "区分": "組織別ダウンロード数",
                "項目": name,
                "名称": title,
                "値": int(downloads),
            }
        )
    calls = session.execute(
        select(OdApiCallCount.action, func.sum(OdApiCallCount.count))
        .group_by(OdApiCallCount.action)
        .order_by(OdApiCallCount.action)
    ).all()
    for action, count in calls:
        rows.append(
            {
                "集計日": today,
                "区分": "API呼出し数",
                "項目": action,
                "名称": action,
                "値": int(count),
            }
        )
    return rows


@dataclass(frozen=True)
class GeneratedDataset:
    """A dataset the platform writes about itself (open data by design, No.2-3)."""

    name: str
    title: str
    notes: str
    resource_name: str
    file_name: str
    tags: tuple[str, ...] = ("統計", "オープンデータ・バイ・デザイン")


def publish_generated_csv(
    session: Session, site_url: str, storage: Storage, dataset: GeneratedDataset, csv_text: str
) -> OdPackage:
    """Create or refresh ``dataset`` under the platform organization with a new CSV, and load it.

    Modules above the catalog (e.g. procedures) call this to publish their own
    figures; the catalog never imports them.
    """
    org = _platform_org(session)
    data = {
        "name": dataset.name,
        "title": dataset.title,
        "notes": dataset.notes,
        "owner_org": org.id,
        "license_id": "cc-by-4.0",
        "frequency": "daily",
        "tags": [{"name": tag} for tag in dataset.tags],
    }
    try:
        package = service.get_package(session, dataset.name)
        package = service.update_package(session, SYSTEM, {**data, "id": package.id}, site_url)
    except NotFoundError:
        package = service.create_package(session, SYSTEM, data, site_url)
    resource = (
        session.execute(
            select(OdResource)
            .where(OdResource.package_id == package.id)
            .order_by(OdResource.position)
        )
        .scalars()
        .first()
    )
    upload = service.Upload(dataset.file_name, io.BytesIO(csv_text.encode()), "text/csv")
    fields = {"name": dataset.resource_name, "format": "CSV", "package_id": package.id}
    mode = "create" if resource is None else "update"
    if resource is not None:
        fields["id"] = resource.id
    saved = service.save_resource(session, SYSTEM, fields, site_url, storage, upload, mode=mode)
    datastore.load_resource(session, saved, storage)
    return package


STATISTICS = GeneratedDataset(
    name=STATS_DATASET,
    title="オープンデータカタログ利用統計",
    notes="組織別の公開データセット数・ダウンロード数、API 呼出し数（自動公開）。",
    resource_name="カタログ利用統計",
    file_name="catalog-statistics.csv",
)


def publish_statistics(session: Session, site_url: str, storage: Storage) -> OdPackage:
    """Create or refresh the catalog's own usage statistics dataset."""
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=["集計日", "区分", "項目", "名称", "値"], lineterminator="\r\n"
    )
    writer.writeheader()
    writer.writerows(statistics_rows(session))
    return publish_generated_csv(session, site_url, storage, STATISTICS, buffer.getvalue())
