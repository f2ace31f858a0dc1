"""Demo catalog for ``tsunagu demo seed``: every recommended dataset for each demo municipality.

Rows are generated from each recommended dataset's Table Schema (so they
conform and get a green badge), placed around the municipality's office, and
joined by a small population statistics table. Same seed → same catalog;
re-running adds only what is missing.
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from tsunagu.core import ids
from tsunagu.core.config import Settings
from tsunagu.core.errors import NotFoundError
from tsunagu.identity import service as identity
from tsunagu.opendata import datastore, recommended, service
from tsunagu.opendata.config import storage_for
from tsunagu.opendata.quality import SYSTEM

ROWS_PER_DATASET = 12


@dataclass(frozen=True)
class DemoMunicipality:
    slug: str
    code: str
    prefecture: str
    name: str
    name_en: str
    latitude: float
    longitude: float


MUNICIPALITIES = (
    DemoMunicipality("shibuya", "131130", "東京都", "渋谷区", "Shibuya City", 35.6640, 139.6982),
    DemoMunicipality("maebashi", "102016", "群馬県", "前橋市", "Maebashi City", 36.3895, 139.0634),
    DemoMunicipality("kamiyama", "363421", "徳島県", "神山町", "Kamiyama Town", 33.9676, 134.3504),
)
KANA = [
    "シミン",
    "チュウオウ",
    "ミナミ",
    "キタ",
    "ヒガシ",
    "ニシ",
    "サクラ",
    "ヒカリ",
    "ミドリ",
    "アオバ",
]
PLACES = ["市民", "中央", "南", "北", "東", "西", "さくら", "ひかり", "みどり", "青葉"]


def _value(
    field: dict[str, Any], rng: random.Random, town: DemoMunicipality, n: int, title: str
) -> str:
    name, kind = field["name"], field["type"]
    enum = field.get("constraints", {}).get("enum")
    check = field.get("x-tsunagu-check")
    if check == "lgcode":
        return town.code
    if check == "corporate":
        return ids.generate(ids.IdKind.CORPORATE, rng)
    if enum:
        return rng.choice(enum)
    if kind == "number":
        if "緯度" in name:
            return f"{town.latitude + rng.uniform(-0.02, 0.02):.6f}"
        if "経度" in name:
            return f"{town.longitude + rng.uniform(-0.02, 0.02):.6f}"
        return str(rng.randint(1, 500))
    if kind == "date":
        return f"2024-{rng.randint(4, 12):02d}-{rng.randint(1, 28):02d}"
    if kind == "time":
        return rng.choice(["08:30", "09:00", "10:00"]) if "開始" in name else "17:00"
    if field.get("format") == "uri":
        return f"https://www.example.jp/{town.slug}/{n}"
    place = PLACES[n % len(PLACES)]
    if name.endswith("_カナ"):
        return KANA[n % len(KANA)] + str(n)
    if name == "NO":
        return str(n)
    if name == "都道府県名":
        return town.prefecture
    if name == "市区町村名":
        return town.name
    if name == "住所" or name.endswith("住所"):
        return f"{town.prefecture}{town.name}{place}{rng.randint(1, 5)}丁目{rng.randint(1, 30)}番"
    if name == "電話番号":
        return f"0{rng.randint(10, 99)}-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}"
    if field.get("constraints", {}).get("required"):
        return f"{place}{title.removesuffix('一覧')}{n}"
    return ""


def _csv(definition: recommended.Recommended, town: DemoMunicipality, seed: int) -> bytes:
    rng = random.Random(f"{seed}:{town.code}:{definition.key}")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(definition.field_names)
    for n in range(1, ROWS_PER_DATASET + 1):
        writer.writerow(
            [_value(f, rng, town, n, definition.title) for f in definition.schema["fields"]]
        )
    return buffer.getvalue().encode("utf-8")


def _population_csv(town: DemoMunicipality, seed: int) -> bytes:
    rng = random.Random(f"{seed}:{town.code}:population")
    base = rng.randint(5_000, 220_000)
    lines = ["年,総人口,世帯数"]
    for year in range(2015, 2025):
        base = int(base * rng.uniform(0.985, 1.01))
        lines.append(f"{year},{base},{int(base / rng.uniform(1.8, 2.4))}")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def _publish(
    session: Session,
    settings: Settings,
    town: DemoMunicipality,
    name: str,
    data: dict[str, Any],
    filename: str,
    content: bytes,
    conforms_to: str | None,
) -> bool:
    try:
        service.get_package(session, name)
        return False
    except NotFoundError:
        pass
    site = settings.base_url
    package = service.create_package(session, SYSTEM, {"name": name, **data}, site)
    upload = service.Upload(filename, io.BytesIO(content), "text/csv")
    resource = service.save_resource(
        session,
        SYSTEM,
        {
            "package_id": package.id,
            "name": data["title"],
            "format": "CSV",
            "conforms_to": conforms_to or "",
        },
        site,
        storage_for(settings),
        upload,
    )
    datastore.load_resource(session, resource, storage_for(settings))
    return True


def seed_catalog(session: Session, *, seed: int, settings: Settings) -> str:
    """Publish the demo catalog; returns a one-line summary for the CLI."""
    created = 0
    definitions = sorted(recommended.definitions().values(), key=lambda r: r.number)
    for index, town in enumerate(MUNICIPALITIES):
        # the municipality's officials with the data-publisher role publish for it
        municipality = identity.find_organization(session, lgcode=town.code)
        linked = municipality.id if municipality else None
        try:
            org = service.get_organization(session, town.slug)
            if linked and org.identity_org_id != linked:
                service.update_organization(
                    session, SYSTEM, {"id": org.id, "identity_org_id": linked}, patch=True
                )
        except NotFoundError:
            org = service.create_organization(
                session,
                SYSTEM,
                {
                    "name": town.slug,
                    "title": town.name,
                    "title_en": town.name_en,
                    "lg_code": town.code,
                    "description": f"{town.prefecture}{town.name}のオープンデータ",
                    "identity_org_id": linked,
                },
            )
        common = {
            "owner_org": org.id,
            "spatial_lg_code": town.code,
            "frequency": "annual",
            "temporal_start": "2024-04-01",
            "maintainer": f"{town.name} 情報政策課",
        }
        for definition in definitions:
            licence = "cc-by-4.0" if (definition.number + index) % 2 else "gov-jp-2.0"
            created += _publish(
                session,
                settings,
                town,
                f"{town.slug}-{definition.key}",
                {
                    **common,
                    "title": f"{town.name} {definition.title}",
                    "notes": f"{town.prefecture}{town.name}の{definition.title}"
                    f"（推奨データセット準拠）。{definition.description}",
                    "license_id": licence,
                    "conforms_to": definition.key,
                    "tags": [
                        {"name": "推奨データセット"},
                        {"name": definition.title.removesuffix("一覧")},
                    ],
                },
                f"{definition.key}.csv",
                _csv(definition, town, seed),
                definition.key,
            )
        created += _publish(
            session,
            settings,
            town,
            f"{town.slug}-population-trend",
            {
                **common,
                "title": f"{town.name} 人口・世帯数の推移",
                "license_id": "cc-by-4.0",
                "notes": f"{town.name}の各年の総人口と世帯数（住民基本台帳、デモ値）。",
                "tags": [{"name": "統計"}, {"name": "人口"}],
                "temporal_start": "2015-01-01",
                "temporal_end": "2024-12-31",
            },
            "population.csv",
            _population_csv(town, seed),
            None,
        )
    return f"{created} datasets published ({len(MUNICIPALITIES)} municipalities)"
