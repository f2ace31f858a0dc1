"""Open data catalog benchmarks (issue #6 targets).

- Search: 100,000 datasets with Japanese titles and descriptions; indexing
  rate of ``search.index`` (Sudachi analysis included) and ``package_search``
  latency (CKAN parameters, facets, full result dictionaries) on SQLite and
  PostgreSQL; also the first search of a process (which reads the index into
  memory) and the first after a dataset changed (the snapshot catches up).
- Datastore: loading a 1,000,000-row CP932 CSV and ``datastore_search``
  latency (filters, paging, sort on an indexed column, exact totals).

Sizes can be reduced for a quick look with ``TSUNAGU_BENCH_OPENDATA_SCALE``
(e.g. ``0.1``); the targets hold at scale 1.
"""

from __future__ import annotations

import csv
import os
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from bench.common import percentile, postgres_url, sqlite_url
from tsunagu.core.db import make_engine, make_session_factory, transaction
from tsunagu.opendata import datastore, search, service
from tsunagu.opendata.auth import ANONYMOUS, Actor
from tsunagu.opendata.models import OdOrganization, OdPackage, OdPackageTag, OdResource

SCALE = float(os.environ.get("TSUNAGU_BENCH_OPENDATA_SCALE", "1"))
DATASETS = int(100_000 * SCALE)
ROWS = int(1_000_000 * SCALE)
QUERIES = 300
TARGETS = {
    "index_datasets_per_s": 2_000,
    "package_search_p95_ms": 50,
    "datastore_load_1m_rows_s": 20,
    "datastore_search_p95_ms": 30,
}
TOPICS = [
    "AED設置箇所",
    "指定緊急避難場所",
    "公衆トイレ",
    "保育園",
    "地域・年齢別人口",
    "観光施設",
    "イベント",
    "文化財",
    "医療機関",
    "介護サービス事業所",
    "公共施設",
    "公衆無線LAN",
    "消防水利施設",
    "ごみ収集日程",
    "道路工事",
    "予算書",
    "決算",
    "議会会議録",
    "図書館",
    "駐輪場",
    "バス停留所",
    "子育て支援",
    "空き家",
    "農地",
    "気象観測",
    "大気汚染",
    "水道使用量",
    "税収",
    "住民異動",
    "出生数",
]
WORDS = ["一覧", "位置情報", "統計", "年度別", "月次", "地区別", "施設", "調査", "結果", "集計"]
FORMATS = ["CSV", "XLSX", "PDF", "JSON", "GEOJSON"]
LICENSES = ["cc-by-4.0", "gov-jp-2.0"]
QUERY_WORDS = [
    "避難所",
    "トイレ",
    "保育所",
    "AED",
    "人口",
    "観光",
    "文化財 一覧",
    "図書館 統計",
    "ごみ",
    "予算",
]
ACTOR = Actor(user_id="bench", name="bench", sysadmin=True)


def _orgs(session: Session, count: int = 100) -> list[tuple[str, str]]:
    now = datetime.now(UTC)
    rows = [
        {
            "id": str(uuid.uuid4()),
            "name": f"city-{i:03d}",
            "title": f"市{i:03d}",
            "title_en": "",
            "description": "",
            "image_url": "",
            "homepage": "",
            "email": "",
            "state": "active",
            "created_at": now,
        }
        for i in range(count)
    ]
    session.execute(insert(OdOrganization), rows)
    return [(str(r["id"]), str(r["name"])) for r in rows]


def _synthetic(rng: random.Random, orgs: list[tuple[str, str]], n: int) -> dict[str, Any]:
    topic = rng.choice(TOPICS)
    org_id, org_name = rng.choice(orgs)
    year = rng.randint(2010, 2024)
    when = datetime(2024, 1, 1, tzinfo=UTC) - timedelta(minutes=n)
    return {
        "id": str(uuid.uuid4()),
        "name": f"ds-{n:06d}",
        "title": f"{topic}{rng.choice(WORDS)}（{year}年度）",
        "notes": f"{org_name}の{topic}に関する{rng.choice(WORDS)}データです。"
        f"{rng.choice(TOPICS)}と合わせて利用できます。",
        "owner_org": org_id,
        "org_name": org_name,
        "license_id": rng.choice(LICENSES),
        "tags": list({topic, rng.choice(WORDS)}),
        "format": rng.choice(FORMATS),
        "private": rng.random() < 0.05,
        "when": when,
    }


def _store(session: Session, items: list[dict[str, Any]]) -> None:
    session.execute(
        insert(OdPackage),
        [
            {
                "id": d["id"],
                "name": d["name"],
                "title": d["title"],
                "notes": d["notes"],
                "owner_org": d["owner_org"],
                "license_id": d["license_id"],
                "private": d["private"],
                "state": "active",
                "type": "dataset",
                "author": "",
                "author_email": "",
                "maintainer": "",
                "maintainer_email": "",
                "url": "",
                "version": "",
                "extras": [],
                "metadata_created": d["when"],
                "metadata_modified": d["when"],
                "view_count": 0,
                "download_count": 0,
            }
            for d in items
        ],
    )
    session.execute(
        insert(OdPackageTag), [{"package_id": d["id"], "name": t} for d in items for t in d["tags"]]
    )
    session.execute(
        insert(OdResource),
        [
            {
                "id": str(uuid.uuid4()),
                "package_id": d["id"],
                "position": 0,
                "name": d["title"],
                "description": "",
                "url": f"https://example.jp/{d['name']}.{d['format'].lower()}",
                "url_type": "",
                "format": d["format"],
                "mimetype": "",
                "hash": "",
                "extras": {},
                "datastore_active": False,
                "download_count": 0,
                "created": d["when"],
                "last_modified": d["when"],
            }
            for d in items
        ],
    )


def _doc(d: dict[str, Any]) -> search.IndexDoc:
    return search.IndexDoc(
        package_id=d["id"],
        name=d["name"],
        title=d["title"],
        body=f"{d['notes']}\n{' '.join(d['tags'])}\n{d['org_name']}\n{d['title']} {d['format']}",
        owner_org=d["owner_org"],
        private=d["private"],
        metadata_created=d["when"],
        metadata_modified=d["when"],
        facets={
            "organization": [d["org_name"]],
            "tags": d["tags"],
            "res_format": [d["format"]],
            "license_id": [d["license_id"]],
            "groups": [],
        },
    )


def search_suite(url: str) -> dict[str, Any]:
    engine = make_engine(url)
    factory = make_session_factory(engine)
    rng = random.Random(2019)
    with transaction(factory) as session:
        orgs = _orgs(session)
    index_seconds = 0.0
    batch = 2_000
    for start in range(0, DATASETS, batch):
        items = [_synthetic(rng, orgs, n) for n in range(start, min(start + batch, DATASETS))]
        with transaction(factory) as session:
            _store(session, items)
        began = time.perf_counter()
        with transaction(factory) as session:
            search.index(session, [_doc(d) for d in items])
        index_seconds += time.perf_counter() - began
    queries = _search_queries(rng, orgs)
    samples: list[float] = []
    browse: list[float] = []
    with factory() as session:
        began = time.perf_counter()  # the first search reads the index into memory
        service.package_search(session, ANONYMOUS, queries[0], "http://bench")
        first_search = time.perf_counter() - began
    with transaction(factory) as session:
        search.index(session, [_doc(items[-1])])  # one dataset changed: snapshots catch up
    with factory() as session:
        began = time.perf_counter()
        service.package_search(session, ANONYMOUS, queries[0], "http://bench")
        after_change = time.perf_counter() - began
        for params in queries[:20]:  # warm caches
            service.package_search(session, ANONYMOUS, params, "http://bench")
        for params in queries:
            began = time.perf_counter()
            result = service.package_search(session, ANONYMOUS, params, "http://bench")
            samples.append((time.perf_counter() - began) * 1000)
            assert "results" in result
        for _ in range(30):
            params = {
                "q": "",
                "facet.field": '["organization","tags","res_format","license_id"]',
                "rows": 10,
                "sort": "metadata_modified desc",
            }
            began = time.perf_counter()
            service.package_search(session, ANONYMOUS, params, "http://bench")
            browse.append((time.perf_counter() - began) * 1000)
    engine.dispose()
    return {
        "datasets": DATASETS,
        "index_datasets_per_s": round(DATASETS / index_seconds),
        "package_search_p50_ms": round(percentile(samples, 50), 2),
        "package_search_p95_ms": round(percentile(samples, 95), 2),
        "browse_all_with_facets_p95_ms": round(percentile(browse, 95), 2),
        "first_search_reading_index_ms": round(first_search * 1000, 1),
        "first_search_after_one_change_ms": round(after_change * 1000, 1),
    }


def _search_queries(rng: random.Random, orgs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    facets = '["organization","tags","res_format","license_id"]'
    queries: list[dict[str, Any]] = []
    for i in range(QUERIES):
        word = rng.choice(QUERY_WORDS)
        kind = i % 4
        if kind == 0:
            queries.append({"q": word, "facet.field": facets, "rows": 10})
        elif kind == 1:
            queries.append(
                {
                    "q": word,
                    "fq": f"organization:{rng.choice(orgs)[1]}",
                    "facet.field": facets,
                    "rows": 10,
                }
            )
        elif kind == 2:
            queries.append(
                {
                    "q": f"{word} {rng.randint(2010, 2024)}年度",
                    "rows": 20,
                    "start": 20,
                    "facet.field": facets,
                }
            )
        else:
            queries.append(
                {
                    "fq": f'tags:"{rng.choice(TOPICS)}" res_format:CSV',
                    "rows": 10,
                    "facet.field": facets,
                    "sort": "metadata_modified desc",
                }
            )
    return queries


def _write_csv(path: Path, rows: int) -> None:
    rng = random.Random(1)
    kinds = ["避難所", "公園", "学校", "病院", "図書館", "公民館", "体育館", "駅", "役所", "郵便局"]
    with path.open("w", encoding="cp932", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["番号", "名称", "区分", "市区町村コード", "人口", "緯度", "経度"])
        for n in range(rows):
            kind = kinds[n % len(kinds)]
            writer.writerow(
                [
                    n + 1,
                    f"第{n}{kind}",
                    kind,
                    f"{rng.randint(1, 47):02d}1002",
                    rng.randint(0, 100_000),
                    f"{35 + rng.random():.6f}",
                    f"{139 + rng.random():.6f}",
                ]
            )


def datastore_suite(url: str, csv_path: Path) -> dict[str, Any]:
    engine = make_engine(url)
    factory = make_session_factory(engine)
    resource_id = str(uuid.uuid4())
    began = time.perf_counter()
    with transaction(factory) as session:
        meta = datastore.load_file(session, resource_id, csv_path, "CSV")
    load_seconds = time.perf_counter() - began
    rng = random.Random(7)
    kinds = ["避難所", "公園", "学校", "病院", "図書館"]
    queries: list[dict[str, Any]] = []
    for i in range(QUERIES):
        kind = i % 4
        if kind == 0:
            queries.append({"filters": {"区分": rng.choice(kinds)}, "limit": 100})
        elif kind == 1:
            queries.append({"limit": 100, "offset": rng.randint(0, 1000) * 100})
        elif kind == 2:
            queries.append({"filters": {"番号": rng.randint(1, ROWS)}})
        else:
            queries.append(
                {
                    "filters": {"市区町村コード": f"{rng.randint(1, 47):02d}1002"},
                    "fields": "番号,名称,人口",
                    "limit": 50,
                    "sort": "番号 desc",
                }
            )
    samples: list[float] = []
    with factory() as session:
        for params in queries:
            began = time.perf_counter()
            result = datastore.search(session, resource_id, params)
            samples.append((time.perf_counter() - began) * 1000)
            assert result["records"] or params.get("offset")
    engine.dispose()
    return {
        "rows": meta.row_count,
        "encoding": meta.encoding,
        "datastore_load_1m_rows_s": round(load_seconds, 2),
        "datastore_search_p50_ms": round(percentile(samples, 50), 2),
        "datastore_search_p95_ms": round(percentile(samples, 95), 2),
    }


def run(workdir: Path) -> dict[str, Any]:
    csv_path = workdir / "rows.csv"
    _write_csv(csv_path, ROWS)
    results: dict[str, Any] = {"targets": TARGETS, "scale": SCALE}
    results["sqlite"] = {
        **search_suite(sqlite_url(workdir, "search")),
        **datastore_suite(sqlite_url(workdir, "datastore"), csv_path),
    }
    with postgres_url() as pg:
        if pg:
            results["postgresql"] = {**search_suite(pg)}
    with postgres_url() as pg:
        if pg:
            results["postgresql"].update(datastore_suite(pg, csv_path))
    return results
