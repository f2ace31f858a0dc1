"""DCAT-AP 3 output: three serialisations, validated against the official SHACL shapes."""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pyshacl import validate
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, RDF

from tests.opendata.conftest import CallAction, World, dataset

SHAPES = Path(__file__).resolve().parents[2].parent / "shared/reference/dcat-ap-3.0.0-shacl.ttl"


@lru_cache(maxsize=1)
def shapes() -> Graph:
    if not SHAPES.exists():
        pytest.fail(f"DCAT-AP SHACL shapes not found at {SHAPES}")
    return Graph().parse(SHAPES)


@pytest.fixture
def catalog(world: World, call: CallAction, client: TestClient) -> World:
    call(
        "package_create",
        "editor",
        world,
        **dataset(
            name="evacuation",
            title="指定緊急避難場所一覧",
            spatial_lg_code="131016",
            temporal_start="2024-04-01",
            temporal_end="2025-03-31",
            frequency="annual",
            maintainer="防災課",
            maintainer_email="bousai@example.jp",
            version="2024",
            conforms_to="designated-evacuation-sites",
        ),
    )
    call(
        "package_create",
        "outsider",
        world,
        **dataset(name="sapporo", org="sapporo", license_id="gov-jp-2.0", notes=""),
    )
    call("package_create", "editor", world, **dataset(name="hidden", private=True))
    client.post(
        "/api/3/action/resource_create",
        headers={"Authorization": world.tokens["editor"]},
        data={"package_id": "evacuation", "name": "CSV", "format": "CSV"},
        files={"upload": ("e.csv", io.BytesIO("名称\n九段小\n".encode()), "text/csv")},
    )
    return world


def conforms(graph: Graph) -> None:
    ok, _, text = validate(graph, shacl_graph=shapes(), inference="none", advanced=True)
    assert ok, text


@pytest.mark.parametrize(("ext", "fmt"), [("ttl", "turtle"), ("jsonld", "json-ld"), ("rdf", "xml")])
def test_catalog_conforms_to_dcat_ap_3(
    catalog: World, client: TestClient, ext: str, fmt: str
) -> None:
    response = client.get(f"/catalog.{ext}")
    assert response.status_code == 200
    graph = Graph().parse(data=response.content, format=fmt)
    conforms(graph)
    datasets = set(graph.subjects(RDF.type, DCAT.Dataset))
    assert len(datasets) == 2  # the private one is not published


def test_dataset_carries_publisher_licence_coverage_and_distributions(
    catalog: World, client: TestClient
) -> None:
    response = client.get("/dataset/evacuation.ttl")
    assert response.headers["content-type"].startswith("text/turtle")
    graph = Graph().parse(data=response.content, format="turtle")
    conforms(graph)
    node = next(graph.subjects(RDF.type, DCAT.Dataset))
    publisher = graph.value(node, DCTERMS.publisher)
    assert Literal("131016") in set(graph.objects(publisher, DCTERMS.identifier))
    assert graph.value(node, DCTERMS.license) is None  # licences sit on distributions
    spatial = graph.value(node, DCTERMS.spatial)
    assert graph.value(spatial, DCTERMS.identifier) == Literal("131016")
    temporal = graph.value(node, DCTERMS.temporal)
    assert str(graph.value(temporal, DCAT.startDate)) == "2024-04-01"
    distributions = list(graph.objects(node, DCAT.distribution))
    assert len(distributions) == 2
    assert {graph.value(d, DCTERMS.license) for d in distributions} == {
        URIRef("https://creativecommons.org/licenses/by/4.0/")
    }
    assert any(graph.value(d, DCAT.downloadURL) for d in distributions)
    assert client.get("/dataset/hidden.ttl").status_code == 404
    assert client.get("/dataset/evacuation.xyz").status_code == 404
