"""DCAT-AP 3 export (Turtle, JSON-LD, RDF/XML) of the catalog and of each dataset.

Every node carries its class (``dct:LicenseDocument``, ``dct:Location``,
``foaf:Agent``…) so the DCAT-AP SHACL shapes can check ranges without
inference. Spatial coverage is the municipality identified by its
全国地方公共団体コード (``{site}/lg/{code}``, a ``dct:Location`` whose
``dct:identifier`` is the code); temporal coverage a ``dct:PeriodOfTime``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, RDFS, SKOS, XSD
from sqlalchemy import select
from sqlalchemy.orm import Session

from tsunagu.opendata import licenses, recommended, service
from tsunagu.opendata.auth import ANONYMOUS
from tsunagu.opendata.config import opendata_settings
from tsunagu.opendata.models import OdOrganization, OdPackage

VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
SPDX = Namespace("http://spdx.org/rdf/terms#")
HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
# The DCAT namespace again, open: terms DCAT 3 added (dcat:version) that rdflib's closed DCAT lacks.
DCAT3 = Namespace(str(DCAT))
EU_FILE_TYPE = "http://publications.europa.eu/resource/authority/file-type/"
EU_FREQUENCY = "http://publications.europa.eu/resource/authority/frequency/"
JAPANESE = URIRef("http://publications.europa.eu/resource/authority/language/JPN")
FORMATS = {
    "CSV": "CSV",
    "TSV": "TSV",
    "JSON": "JSON",
    "GEOJSON": "GEOJSON",
    "XML": "XML",
    "XLSX": "XLSX",
    "XLS": "XLS",
    "PDF": "PDF",
    "RDF": "RDF_XML",
    "TTL": "RDF_TURTLE",
    "JSON-LD": "JSON_LD",
    "ZIP": "ZIP",
    "HTML": "HTML",
    "ODS": "ODS",
    "KML": "KML",
    "SHP": "SHP",
    "DOCX": "DOCX",
}
FREQUENCIES = {
    "daily": "DAILY",
    "weekly": "WEEKLY",
    "monthly": "MONTHLY",
    "quarterly": "QUARTERLY",
    "annual": "ANNUAL",
    "irregular": "IRREG",
    "continuous": "CONT",
    "never": "NEVER",
}
MEDIA_TYPES = {
    "turtle": "text/turtle",
    "json-ld": "application/ld+json",
    "xml": "application/rdf+xml",
}
EXTENSIONS = {"ttl": "turtle", "jsonld": "json-ld", "rdf": "xml"}
PAGE_SIZE = 1000


def _graph() -> Graph:
    graph = Graph()
    for prefix, namespace in (
        ("dcat", DCAT),
        ("dct", DCTERMS),
        ("foaf", FOAF),
        ("vcard", VCARD),
        ("spdx", SPDX),
        ("skos", SKOS),
        ("hydra", HYDRA),
    ):
        graph.bind(prefix, namespace)
    return graph


def _site(site_url: str) -> str:
    return site_url.rstrip("/")


def _ja(value: str) -> Literal:
    return Literal(value, lang="ja")


def _when(value: str | None) -> Literal | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value).replace(tzinfo=UTC)
    return Literal(moment.isoformat(), datatype=XSD.dateTime)


def _agent(graph: Graph, site: str, org: dict[str, Any]) -> URIRef:
    agent = URIRef(f"{site}/organization/{org['name']}")
    graph.add((agent, RDF.type, FOAF.Agent))
    graph.add((agent, RDF.type, FOAF.Organization))
    graph.add((agent, FOAF.name, _ja(org["title"])))
    if org.get("title_en"):
        graph.add((agent, FOAF.name, Literal(org["title_en"], lang="en")))
    for code in (org.get("lg_code"), org.get("corporate_number")):
        if code:
            graph.add((agent, DCTERMS.identifier, Literal(code)))
    if org.get("homepage"):
        graph.add((agent, FOAF.homepage, URIRef(org["homepage"])))
    return agent


def _location(graph: Graph, site: str, code: str, label: str | None) -> URIRef:
    place = URIRef(f"{site}/lg/{code}")
    graph.add((place, RDF.type, DCTERMS.Location))
    graph.add((place, DCTERMS.identifier, Literal(code)))
    if label:
        graph.add((place, SKOS.prefLabel, _ja(label)))
    return place


def _license(graph: Graph, license_id: str) -> URIRef | None:
    lic = licenses.get(license_id)
    if lic is None or not lic.url:
        return None
    node = URIRef(lic.url)
    graph.add((node, RDF.type, DCTERMS.LicenseDocument))
    graph.add((node, RDFS.label, _ja(lic.title)))
    graph.add((node, RDFS.label, Literal(lic.title_en, lang="en")))
    return node


def add_dataset(
    graph: Graph, pkg: dict[str, Any], site: str, place_names: dict[str, str]
) -> URIRef:
    """The triples of one CKAN package dictionary."""
    node = URIRef(f"{site}/dataset/{pkg['id']}")
    graph.add((node, RDF.type, DCAT.Dataset))
    graph.add((node, DCTERMS.identifier, Literal(pkg["id"])))
    graph.add((node, DCTERMS.title, _ja(pkg["title"])))
    graph.add((node, DCTERMS.description, _ja(pkg["notes"] or pkg["title"])))
    landing = URIRef(f"{site}/dataset/{pkg['name']}")
    graph.add((landing, RDF.type, FOAF.Document))
    graph.add((node, DCAT.landingPage, landing))
    for key, predicate in (
        ("metadata_created", DCTERMS.issued),
        ("metadata_modified", DCTERMS.modified),
    ):
        if (value := _when(pkg.get(key))) is not None:
            graph.add((node, predicate, value))
    for tag in pkg["tags"]:
        graph.add((node, DCAT.keyword, _ja(tag["name"])))
    graph.add((node, DCTERMS.language, JAPANESE))
    graph.add((JAPANESE, RDF.type, DCTERMS.LinguisticSystem))
    if pkg.get("version"):
        graph.add((node, DCAT3.version, Literal(pkg["version"])))
    if pkg.get("organization"):
        graph.add((node, DCTERMS.publisher, _agent(graph, site, pkg["organization"])))
    license_node = _license(graph, pkg["license_id"])
    if code := pkg.get("spatial_lg_code"):
        graph.add((node, DCTERMS.spatial, _location(graph, site, code, place_names.get(code))))
    _temporal(graph, node, pkg)
    _contact(graph, node, pkg)
    if pkg.get("conforms_to"):
        standard = URIRef(f"{site}/api/opendata/recommended/{pkg['conforms_to']}/schema.json")
        graph.add((standard, RDF.type, DCTERMS.Standard))
        graph.add((node, DCTERMS.conformsTo, standard))
    if (frequency := FREQUENCIES.get(str(pkg.get("frequency") or "").lower())) is not None:
        period = URIRef(EU_FREQUENCY + frequency)
        graph.add((period, RDF.type, DCTERMS.Frequency))
        graph.add((node, DCTERMS.accrualPeriodicity, period))
    for resource in pkg["resources"]:
        graph.add((node, DCAT.distribution, _distribution(graph, site, resource, license_node)))
    return node


def _temporal(graph: Graph, node: URIRef, pkg: dict[str, Any]) -> None:
    if not (pkg.get("temporal_start") or pkg.get("temporal_end")):
        return
    period = BNode()
    graph.add((period, RDF.type, DCTERMS.PeriodOfTime))
    if pkg.get("temporal_start"):
        graph.add((period, DCAT.startDate, Literal(pkg["temporal_start"], datatype=XSD.date)))
    if pkg.get("temporal_end"):
        graph.add((period, DCAT.endDate, Literal(pkg["temporal_end"], datatype=XSD.date)))
    graph.add((node, DCTERMS.temporal, period))


def _contact(graph: Graph, node: URIRef, pkg: dict[str, Any]) -> None:
    name = pkg.get("maintainer") or (pkg.get("organization") or {}).get("title")
    if not name:
        return
    contact = BNode()
    graph.add((contact, RDF.type, VCARD.Kind))
    graph.add((contact, VCARD.fn, _ja(name)))
    if pkg.get("maintainer_email"):
        graph.add((contact, VCARD.hasEmail, URIRef(f"mailto:{pkg['maintainer_email']}")))
    graph.add((node, DCAT.contactPoint, contact))


def _distribution(
    graph: Graph, site: str, resource: dict[str, Any], license_node: URIRef | None
) -> URIRef:
    node = URIRef(f"{site}/dataset/{resource['package_id']}/resource/{resource['id']}")
    graph.add((node, RDF.type, DCAT.Distribution))
    url = URIRef(resource["url"]) if resource["url"] else node
    graph.add((url, RDF.type, RDFS.Resource))
    graph.add((node, DCAT.accessURL, url))
    if resource.get("url_type") == "upload":
        graph.add((node, DCAT.downloadURL, url))
    if resource.get("name"):
        graph.add((node, DCTERMS.title, _ja(resource["name"])))
    if resource.get("description"):
        graph.add((node, DCTERMS.description, _ja(resource["description"])))
    if (file_type := FORMATS.get(resource["format"].upper())) is not None:
        fmt = URIRef(EU_FILE_TYPE + file_type)
        graph.add((fmt, RDF.type, DCTERMS.MediaTypeOrExtent))
        graph.add((node, DCTERMS["format"], fmt))
    if resource.get("mimetype") and "/" in resource["mimetype"]:
        media = URIRef(f"https://www.iana.org/assignments/media-types/{resource['mimetype']}")
        graph.add((media, RDF.type, DCTERMS.MediaType))
        graph.add((node, DCAT.mediaType, media))
    if resource.get("size") is not None:
        graph.add((node, DCAT.byteSize, Literal(resource["size"], datatype=XSD.nonNegativeInteger)))
    if str(resource.get("hash", "")).startswith("sha256:"):
        checksum = BNode()
        graph.add((checksum, RDF.type, SPDX.Checksum))
        graph.add((checksum, SPDX.algorithm, SPDX.checksumAlgorithm_sha256))
        graph.add((SPDX.checksumAlgorithm_sha256, RDF.type, SPDX.ChecksumAlgorithm))
        graph.add(
            (
                checksum,
                SPDX.checksumValue,
                Literal(resource["hash"].removeprefix("sha256:"), datatype=XSD.hexBinary),
            )
        )
        graph.add((node, SPDX.checksum, checksum))
    if resource.get("conforms_to") in recommended.definitions():
        standard = URIRef(f"{site}/api/opendata/recommended/{resource['conforms_to']}/schema.json")
        graph.add((standard, RDF.type, DCTERMS.Standard))
        graph.add((node, DCTERMS.conformsTo, standard))
    if license_node is not None:
        graph.add((node, DCTERMS.license, license_node))
    return node


def _place_names(session: Session) -> dict[str, str]:
    rows = session.execute(
        select(OdOrganization.lg_code, OdOrganization.title).where(
            OdOrganization.lg_code.is_not(None)
        )
    ).all()
    return {code: title for code, title in rows if code}


def catalog_graph(session: Session, site_url: str, page: int = 1) -> Graph:
    """The catalog with one page of public datasets (``PAGE_SIZE`` each, hydra-linked)."""
    site = _site(site_url)
    graph = _graph()
    catalog = URIRef(f"{site}/catalog")
    graph.add((catalog, RDF.type, DCAT.Catalog))
    title = opendata_settings().site_title
    graph.add((catalog, DCTERMS.title, _ja(title)))
    graph.add(
        (
            catalog,
            DCTERMS.description,
            _ja(f"{title}：地方公共団体・府省のオープンデータカタログ（CKAN API・DCAT-AP 3 対応）"),
        )
    )
    operator = URIRef(f"{site}/#publisher")
    graph.add((operator, RDF.type, FOAF.Agent))
    graph.add((operator, FOAF.name, _ja(title)))
    graph.add((catalog, DCTERMS.publisher, operator))
    homepage = URIRef(f"{site}/opendata")
    graph.add((homepage, RDF.type, FOAF.Document))
    graph.add((catalog, FOAF.homepage, homepage))
    graph.add((catalog, DCTERMS.language, JAPANESE))
    graph.add((JAPANESE, RDF.type, DCTERMS.LinguisticSystem))
    api = URIRef(f"{site}/api/3/action/")
    graph.add((api, RDF.type, DCAT.DataService))
    graph.add((api, DCTERMS.title, Literal("CKAN Action API v3", lang="en")))
    graph.add((api, RDF.type, RDFS.Resource))
    graph.add((api, DCAT.endpointURL, api))
    graph.add((catalog, DCAT.service, api))
    names = service.list_package_names(session, ANONYMOUS)
    total = len(names)
    start = (max(page, 1) - 1) * PAGE_SIZE
    places = _place_names(session)
    packages = {
        p.name: p
        for p in session.execute(
            select(OdPackage).where(OdPackage.name.in_(names[start : start + PAGE_SIZE]))
        ).scalars()
    }
    for name in names[start : start + PAGE_SIZE]:
        pkg = service.package_dict(session, packages[name], site)
        graph.add((catalog, DCAT.dataset, add_dataset(graph, pkg, site, places)))
    if total > PAGE_SIZE:
        _paging(graph, site, page, total)
    return graph


def _paging(graph: Graph, site: str, page: int, total: int) -> None:
    view = URIRef(f"{site}/catalog.ttl?page={page}")
    last = (total + PAGE_SIZE - 1) // PAGE_SIZE
    graph.add((view, RDF.type, HYDRA.PartialCollectionView))
    graph.add((view, HYDRA.totalItems, Literal(total)))
    graph.add((view, HYDRA.first, URIRef(f"{site}/catalog.ttl?page=1")))
    graph.add((view, HYDRA.last, URIRef(f"{site}/catalog.ttl?page={last}")))
    if page < last:
        graph.add((view, HYDRA.next, URIRef(f"{site}/catalog.ttl?page={page + 1}")))


def dataset_graph(session: Session, package: OdPackage, site_url: str) -> Graph:
    site = _site(site_url)
    graph = _graph()
    add_dataset(graph, service.package_dict(session, package, site), site, _place_names(session))
    return graph


def serialize(graph: Graph, fmt: str) -> bytes:
    if fmt == "json-ld":
        return graph.serialize(format="json-ld", auto_compact=True).encode("utf-8")
    return graph.serialize(format=fmt, encoding="utf-8")
