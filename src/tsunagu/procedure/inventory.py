"""行政手続の棚卸 (inventory of administrative procedures) with live figures.

One row per procedure of the catalog: who owns it, on what legal basis,
whether it is online end to end, how many attachments the once-only exchange
eliminated, and what the applications actually show — the online share, the
share decided automatically end to end (plan measure No.11-3) and the median
processing time in business days against the standard processing time.

Processing time is the standard-time clock of the application: business days
while the clock ran (time returned to the applicant for 補正 does not count),
the same measure the SLA status uses. Figures are aggregates only, so the
inventory is public.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import asdict, dataclass, field, fields
from statistics import median

from sqlalchemy import select
from sqlalchemy.orm import Session

from tsunagu.core.clock import to_tokyo
from tsunagu.opendata.models import OdPackage
from tsunagu.opendata.quality import GeneratedDataset, publish_generated_csv
from tsunagu.opendata.storage import Storage
from tsunagu.procedure import calendar
from tsunagu.procedure.definitions import procedures
from tsunagu.procedure.models import Application
from tsunagu.procedure.workflow import State

DECIDED = (State.APPROVED.value, State.REJECTED.value)


@dataclass(frozen=True)
class InventoryRow:
    procedure_id: str
    name_ja: str
    name_en: str
    category: str
    owner_kind: str
    legal_basis_ja: str
    legal_basis_en: str
    online: bool
    attachments_eliminated: int
    automatic_rules: int
    fee_paper: int
    fee_online: int
    standard_days: int
    applications: int
    decided: int
    online_share: float | None
    automatic_share: float | None
    median_days: float | None
    within_standard_share: float | None


@dataclass
class _Figures:
    applications: int = 0
    online: int = 0
    automatic: int = 0
    days: list[int] = field(default_factory=list)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _figures(session: Session) -> dict[str, _Figures]:
    """Counts per procedure over applications past the draft stage."""
    rows = session.execute(
        select(
            Application.procedure_id,
            Application.channel,
            Application.status,
            Application.automatic,
            Application.days_used,
            Application.clock_from,
            Application.decided_at,
        ).where(Application.status != State.DRAFT.value, Application.submitted_at.is_not(None))
    )
    figures: dict[str, _Figures] = defaultdict(_Figures)
    for row in rows:
        found = figures[row.procedure_id]
        found.applications += 1
        found.online += row.channel == "online"
        if row.status not in DECIDED or row.decided_at is None:
            continue
        found.automatic += bool(row.automatic)
        ran = (
            calendar.business_days_between(row.clock_from, to_tokyo(row.decided_at).date())
            if row.clock_from is not None
            else 0
        )
        found.days.append(row.days_used + ran)
    return figures


def inventory(session: Session) -> list[InventoryRow]:
    """Every procedure of the catalog with its live figures."""
    figures = _figures(session)
    out = []
    for definition in procedures().values():
        found = figures.get(definition.id, _Figures())
        days = found.days
        out.append(
            InventoryRow(
                procedure_id=definition.id,
                name_ja=definition.name.ja,
                name_en=definition.name.en,
                category=definition.category,
                owner_kind=definition.owner.kind,
                legal_basis_ja=definition.legal_basis.ja,
                legal_basis_en=definition.legal_basis.en,
                online=definition.online,
                attachments_eliminated=definition.attachments_eliminated,
                automatic_rules=len(definition.rules),
                fee_paper=definition.fee.paper,
                fee_online=definition.fee.online,
                standard_days=definition.processing_days,
                applications=found.applications,
                decided=len(days),
                online_share=_share(found.online, found.applications),
                automatic_share=_share(found.automatic, len(days)),
                median_days=float(median(days)) if days else None,
                within_standard_share=_share(
                    sum(d <= definition.processing_days for d in days), len(days)
                ),
            )
        )
    return out


COLUMNS = tuple(f.name for f in fields(InventoryRow))


def to_csv(rows: list[InventoryRow]) -> str:
    """The inventory as CSV (UTF-8, header row of field names, empty cell = no figure yet)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in asdict(row).items()})
    return out.getvalue()


INVENTORY_DATASET = GeneratedDataset(
    name="tsunagu-procedure-inventory",
    title="行政手続の棚卸（オンライン化・添付書類削減・処理状況）",
    notes=(
        "手続ごとの所管、根拠法令、オンライン化の有無、削減した添付書類数と、"
        "オンライン申請率・自動処理率・標準処理期間に対する処理日数の実績（自動公開）。"
    ),
    resource_name="行政手続の棚卸",
    file_name="procedure-inventory.csv",
    tags=("行政手続", "棚卸", "オープンデータ・バイ・デザイン"),
)


def publish_inventory(session: Session, site_url: str, storage: Storage) -> OdPackage:
    """Publish (or refresh) the inventory with its live figures as an open dataset."""
    return publish_generated_csv(
        session, site_url, storage, INVENTORY_DATASET, to_csv(inventory(session))
    )
