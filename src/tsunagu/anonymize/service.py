"""Release records: store the 作成記録 and 公表事項 of an anonymized release, audited.

A release is recorded from a run's report for the organization of the
official who ran it. Its canonical content (``release.signed_content``) and
digest are fixed at creation; the status then moves on to ``signed`` (the
organization's seal, ``signing``) and ``published`` (a catalog dataset,
``catalog``). Each step is audited and announced on the outbox.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tsunagu.anonymize import access, errors, release
from tsunagu.anonymize.engine import REPORT_SCHEMA
from tsunagu.anonymize.models import AnonymizationRelease
from tsunagu.anonymize.schemas import PublicationIn, ReleaseOut
from tsunagu.core.audit import service as audit
from tsunagu.core.clock import utcnow
from tsunagu.core.errors import ConflictError
from tsunagu.core.outbox import service as outbox
from tsunagu.identity import service as identity

RECORDED = "recorded"
SIGNED = "signed"
PUBLISHED = "published"
TOPIC_RECORDED = "anonymize.release.recorded"


def _check_report(report: dict[str, Any]) -> None:
    if report.get("schema") != REPORT_SCHEMA:
        raise errors.bad_input(
            f"匿名加工レポートではありません (schema が {REPORT_SCHEMA} ではない)",
            f"not an anonymization report (schema is not {REPORT_SCHEMA})",
        )
    for key in ("achieved", "loss", "input", "output", "steps", "suppressed_rows"):
        if key not in report:
            raise errors.bad_input(f"レポートに {key} がありません", f"the report lacks '{key}'")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def create_release(
    session: Session,
    *,
    report: dict[str, Any],
    title: str,
    organization_id: str,
    publication: PublicationIn,
    actor: str,
) -> AnonymizationRelease:
    """Record a release of a run's output by ``organization_id``; one record per output file."""
    _check_report(report)
    organization = identity.get_organization(session, organization_id).name_ja
    output_sha = report["output"]["sha256"]
    duplicate = session.scalar(
        select(AnonymizationRelease.id).where(AnonymizationRelease.output_sha256 == output_sha)
    )
    if duplicate:
        raise ConflictError(
            "anonymize.duplicate_release",
            f"この出力ファイルは既に記録されています (ID {duplicate})",
            f"this output file is already recorded (release {duplicate})",
        )
    creation = release.creation_record(report)
    published = {
        "categories": publication.categories or report["attributes"]["released_columns"],
        "provision_method": publication.provision_method,
    }
    release_id, now = str(uuid.uuid4()), utcnow()
    content = release.signed_content(
        release_id=release_id,
        title=title,
        organization=organization,
        created_at=_iso(now),
        creation=creation,
        publication=published,
    )
    achieved = report["achieved"]
    row = AnonymizationRelease(
        id=release_id,
        title=title,
        organization=organization,
        created_at=now,
        created_by=actor,
        method=report["algorithm"],
        achieved_k=achieved["k"],
        achieved_l=achieved.get("l_distinct"),
        achieved_t=achieved.get("t"),
        gcp=report["loss"]["gcp"],
        input_rows=report["input"]["rows"],
        suppressed_rows=report["suppressed_rows"],
        input_sha256=report["input"]["sha256"],
        output_sha256=output_sha,
        creation_record=json.dumps(creation, ensure_ascii=False, sort_keys=True),
        publication=json.dumps(published, ensure_ascii=False, sort_keys=True),
        record_sha256=release.digest(content),
        status=RECORDED,
        organization_id=organization_id,
    )
    session.add(row)
    audit.record(
        session,
        actor=actor,
        action="anonymize.release.create",
        object_type="anonymize_release",
        object_id=release_id,
        data={
            "title": title,
            "method": row.method,
            "k": row.achieved_k,
            "l": row.achieved_l,
            "t": row.achieved_t,
            "suppressed_rows": row.suppressed_rows,
            "output_sha256": output_sha,
            "record_sha256": row.record_sha256,
        },
    )
    outbox.publish(
        session, TOPIC_RECORDED, {"release_id": release_id, "record_sha256": row.record_sha256}
    )
    return row


def audit_work(
    session: Session, *, actor: str, action: str, work_id: str, data: dict[str, Any] | None = None
) -> None:
    """Uploads, runs and discards of raw personal data are audited too: who processed what.

    Never the file name (it may hold a name or a number), only sizes, digests and figures.
    """
    audit.record(
        session,
        actor=actor,
        action=f"anonymize.work.{action}",
        object_type="anonymize_work",
        object_id=work_id,
        data=data or {},
    )


def run_figures(report: dict[str, Any]) -> dict[str, Any]:
    """What the audit trail keeps of a run."""
    return {
        "input_sha256": report["input"]["sha256"],
        "rows": report["input"]["rows"],
        "output_sha256": report["output"]["sha256"],
        "k": report["achieved"]["k"],
        "suppressed_rows": report["suppressed_rows"],
    }


def get_release(session: Session, release_id: str) -> AnonymizationRelease:
    row = session.get(AnonymizationRelease, release_id) if len(release_id) <= 36 else None
    if row is None:
        raise access.release_not_found()
    return row


def list_releases(session: Session, organization_id: str) -> list[AnonymizationRelease]:
    """The releases of one organization, newest first."""
    query = (
        select(AnonymizationRelease)
        .where(AnonymizationRelease.organization_id == organization_id)
        .order_by(AnonymizationRelease.created_at.desc(), AnonymizationRelease.id)
    )
    return list(session.scalars(query))


def content_of(row: AnonymizationRelease) -> dict[str, Any]:
    """The signed content rebuilt from the stored record (its digest must still match)."""
    return release.signed_content(
        release_id=row.id,
        title=row.title,
        organization=row.organization,
        created_at=_iso(row.created_at),
        creation=json.loads(row.creation_record),
        publication=json.loads(row.publication),
    )


def to_be_signed(row: AnonymizationRelease) -> bytes:
    """The exact bytes a seal signature over this release must cover."""
    content = content_of(row)
    if release.digest(content) != row.record_sha256:
        raise ConflictError(
            "anonymize.record_altered",
            "作成記録が記録時から変更されています",
            "the release record no longer matches its recorded digest",
        )
    return release.canonical_json(content)


def release_out(row: AnonymizationRelease) -> ReleaseOut:
    return ReleaseOut(
        id=row.id,
        title=row.title,
        organization=row.organization,
        created_at=row.created_at,
        created_by=row.created_by,
        method=row.method,
        achieved_k=row.achieved_k,
        achieved_l=row.achieved_l,
        achieved_t=row.achieved_t,
        gcp=row.gcp,
        input_rows=row.input_rows,
        suppressed_rows=row.suppressed_rows,
        input_sha256=row.input_sha256,
        output_sha256=row.output_sha256,
        record_sha256=row.record_sha256,
        status=row.status,
        organization_id=row.organization_id,
        signer_serial=row.signer_serial,
        signed_at=row.signed_at,
        package_id=row.package_id,
        published_at=row.published_at,
        creation_record=json.loads(row.creation_record),
        publication=json.loads(row.publication),
    )
