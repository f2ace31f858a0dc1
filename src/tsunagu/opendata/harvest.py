"""Harvesting: import datasets from another CKAN (Action API) or from a DCAT document.

A harvested dataset gets a stable id derived from (source, remote id), so a
re-run updates instead of duplicating, and belongs to the source's
organization. Names clashing with local datasets are prefixed with the source
name. Sources run when due (``interval_hours`` after their last run), from
``tsunagu opendata harvest --due`` in cron or a scheduler.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import httpx2
from rdflib import Graph, URIRef
from rdflib.namespace import DCAT, DCTERMS, RDF
from sqlalchemy import select
from sqlalchemy.orm import Session

from tsunagu.core.audit import service as audit
from tsunagu.core.clock import utcnow
from tsunagu.core.errors import TsunaguError, ValidationError
from tsunagu.opendata import licenses, service
from tsunagu.opendata.auth import Actor
from tsunagu.opendata.models import OdHarvestSource, OdPackage

HARVESTER = Actor(user_id="system:harvest", name="harvest", sysadmin=True)
KINDS = ("ckan", "dcat")
PAGE = 100
TIMEOUT = 30.0
LICENSE_BY_URL = {lic.url: lic.id for lic in licenses.LICENSES if lic.url}


class HarvestError(ValidationError):
    def __init__(self, message_ja: str, message_en: str) -> None:
        super().__init__("opendata.harvest", message_ja, message_en)


def create_source(
    session: Session,
    actor: Actor,
    *,
    name: str,
    url: str,
    kind: str,
    organization: str,
    interval_hours: int = 24,
) -> OdHarvestSource:
    if not actor.sysadmin:
        raise service.denied("収集元を登録する", "register harvest sources")
    if kind not in KINDS:
        raise HarvestError(
            f"種類は {', '.join(KINDS)} のいずれかです。",
            f"kind must be one of {', '.join(KINDS)}.",
        )
    org = service.get_organization(session, organization)
    source = OdHarvestSource(
        id=str(uuid.uuid4()),
        name=name,
        url=url,
        kind=kind,
        organization_id=org.id,
        interval_hours=interval_hours,
        last_status="",
        last_message="",
    )
    session.add(source)
    session.flush()
    audit.record(
        session,
        actor=actor.audit_name,
        action="opendata.harvest_source.create",
        object_type="opendata_harvest_source",
        object_id=source.id,
        data={"name": name, "url": url, "kind": kind},
    )
    return source


def due_sources(session: Session) -> list[OdHarvestSource]:
    now = utcnow()
    sources = session.execute(select(OdHarvestSource).order_by(OdHarvestSource.name)).scalars()
    return [
        s
        for s in sources
        if s.last_run_at is None or s.last_run_at + timedelta(hours=s.interval_hours) <= now
    ]


def get_source(session: Session, name: str) -> OdHarvestSource:
    source = session.execute(
        select(OdHarvestSource).where(OdHarvestSource.name == name)
    ).scalar_one_or_none()
    if source is None:
        raise service.not_found("収集元", "Harvest source", name)
    return source


def run(
    session: Session, source: OdHarvestSource, site_url: str, client: httpx2.Client | None = None
) -> dict[str, int]:
    """Harvest one source; the outcome is recorded on the source even when it fails."""
    own = client or httpx2.Client(timeout=TIMEOUT, follow_redirects=True)
    counts = {"created": 0, "updated": 0, "failed": 0}
    try:
        records = (
            _ckan_records(own, source.url)
            if source.kind == "ckan"
            else _dcat_records(own, source.url)
        )
        for remote_id, data in records:
            outcome = _save(session, source, remote_id, data, site_url)
            counts[outcome] += 1
        source.last_status = "ok" if not counts["failed"] else "partial"
        source.last_message = ", ".join(f"{k}={v}" for k, v in counts.items())
    except (httpx2.HTTPError, ValueError, KeyError) as exc:
        source.last_status, source.last_message = "error", f"{type(exc).__name__}: {exc}"[:2000]
        raise HarvestError(f"収集に失敗しました: {exc}", f"Harvest failed: {exc}") from exc
    finally:
        source.last_run_at = utcnow()
        if client is None:
            own.close()
    return counts


def _save(
    session: Session, source: OdHarvestSource, remote_id: str, data: dict[str, Any], site_url: str
) -> str:
    local_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{source.id}:{remote_id}"))
    existing = session.get(OdPackage, local_id)
    data = {
        **data,
        "id": local_id,
        "owner_org": source.organization_id,
        "harvest_source_id": source.id,
        "private": False,
    }
    data["name"] = existing.name if existing else _free_name(session, source, data["name"])
    try:
        with session.begin_nested():
            if existing:
                service.update_package(session, HARVESTER, data, site_url)
            else:
                service.create_package(session, HARVESTER, data, site_url)
    except TsunaguError:
        return "failed"
    return "updated" if existing else "created"


def _free_name(session: Session, source: OdHarvestSource, wanted: str) -> str:
    name = re.sub(r"[^a-z0-9_-]", "-", wanted.lower())[:100].strip("-") or "dataset"
    if len(name) < 2 or session.execute(select(OdPackage.id).where(OdPackage.name == name)).first():
        name = f"{source.name}-{name}"[:100]
    return name


def _ckan_records(client: httpx2.Client, url: str) -> list[tuple[str, dict[str, Any]]]:
    records: list[tuple[str, dict[str, Any]]] = []
    start = 0
    while True:
        response = client.get(
            f"{url.rstrip('/')}/api/3/action/package_search",
            params={"q": "*:*", "rows": PAGE, "start": start, "sort": "name asc"},
        )
        response.raise_for_status()
        result = response.json()["result"]
        for pkg in result["results"]:
            records.append((pkg["id"], _from_ckan(pkg)))
        start += PAGE
        if start >= result["count"] or not result["results"]:
            return records


def _from_ckan(pkg: dict[str, Any]) -> dict[str, Any]:
    keep = (
        "name",
        "title",
        "notes",
        "license_id",
        "author",
        "author_email",
        "maintainer",
        "maintainer_email",
        "url",
        "version",
        "spatial_lg_code",
        "temporal_start",
        "temporal_end",
        "frequency",
        "conforms_to",
        "extras",
    )
    data = {key: pkg.get(key) for key in keep if pkg.get(key) is not None}
    data["tags"] = [{"name": t["name"]} for t in pkg.get("tags", [])]
    data["resources"] = [
        {
            "name": r.get("name", ""),
            "description": r.get("description", ""),
            "url": r["url"],
            "format": r.get("format", ""),
            "mimetype": r.get("mimetype") or "",
        }
        for r in pkg.get("resources", [])
        if r.get("url")
    ]
    return data


def _dcat_records(client: httpx2.Client, url: str) -> list[tuple[str, dict[str, Any]]]:
    response = client.get(
        url, headers={"Accept": "text/turtle, application/rdf+xml;q=0.9, application/ld+json;q=0.8"}
    )
    response.raise_for_status()
    content_type = response.headers.get("content-type", "").split(";")[0].strip()
    fmt = {
        "text/turtle": "turtle",
        "application/rdf+xml": "xml",
        "application/ld+json": "json-ld",
    }.get(content_type)
    graph = Graph().parse(data=response.content, format=fmt or _format_from_url(url))
    return [
        (str(node), _from_dcat(graph, node))
        for node in graph.subjects(RDF.type, DCAT.Dataset)
        if isinstance(node, URIRef)
    ]


def _format_from_url(url: str) -> str:
    for ext, fmt in ((".ttl", "turtle"), (".rdf", "xml"), (".xml", "xml"), (".jsonld", "json-ld")):
        if url.split("?")[0].endswith(ext):
            return fmt
    return "turtle"


def _text(graph: Graph, node: Any, predicate: URIRef) -> str:
    values = list(graph.objects(node, predicate))
    for value in values:
        if getattr(value, "language", None) == "ja":
            return str(value)
    return str(values[0]) if values else ""


def _from_dcat(graph: Graph, node: URIRef) -> dict[str, Any]:
    identifier = _text(graph, node, DCTERMS.identifier) or str(node).rstrip("/").rsplit("/", 1)[-1]
    data: dict[str, Any] = {
        "name": identifier,
        "title": _text(graph, node, DCTERMS.title) or identifier,
        "notes": _text(graph, node, DCTERMS.description),
        "tags": [{"name": str(k)[:100]} for k in graph.objects(node, DCAT.keyword)],
        "resources": [],
    }
    for period in graph.objects(node, DCTERMS.temporal):
        data["temporal_start"] = str(graph.value(period, DCAT.startDate) or "") or None
        data["temporal_end"] = str(graph.value(period, DCAT.endDate) or "") or None
    for place in graph.objects(node, DCTERMS.spatial):
        code = str(graph.value(place, DCTERMS.identifier) or "")
        if re.fullmatch(r"\d{6}", code):
            data["spatial_lg_code"] = code
    for dist in graph.objects(node, DCAT.distribution):
        access = graph.value(dist, DCAT.downloadURL) or graph.value(dist, DCAT.accessURL)
        if access is None:
            continue
        fmt = graph.value(dist, DCTERMS["format"])
        lic = graph.value(dist, DCTERMS.license) or graph.value(node, DCTERMS.license)
        if lic is not None and str(lic) in LICENSE_BY_URL:
            data["license_id"] = LICENSE_BY_URL[str(lic)]
        data["resources"].append(
            {
                "name": _text(graph, dist, DCTERMS.title),
                "url": str(access),
                "description": _text(graph, dist, DCTERMS.description),
                "format": str(fmt).rstrip("/").rsplit("/", 1)[-1].replace("RDF_", "")
                if fmt
                else "",
            }
        )
    return data
