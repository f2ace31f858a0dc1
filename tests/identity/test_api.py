"""Public identity endpoints: organizations and the master; persons are never exposed."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tsunagu.core.config import Settings
from tsunagu.core.db import transaction
from tsunagu.demo import seed
from tsunagu.identity import service
from tsunagu.identity.api import router as public_router
from tsunagu.identity.mynumber import MyNumberVault
from tsunagu.identity.schemas import OrganizationKind, UnitIn


@pytest.fixture
def world(session_factory: sessionmaker[Session], settings: Settings) -> dict[str, object]:
    with transaction(session_factory) as session:
        return seed.seed_world(session, seed=2019, residents=40, settings=settings)


def test_list_and_filter_organizations(client: TestClient, world: dict[str, object]) -> None:
    everything = client.get("/api/identity/organizations").json()
    # 3 municipalities, their 3 prefectures, デジタル庁, 20 corporations, the registers'
    # demo keepers 法務省, 国土交通省 and 全国健康保険協会, and the pension service 日本年金機構.
    assert everything["total"] == 31 and len(everything["items"]) == 31
    municipalities = client.get(
        "/api/identity/organizations", params={"kind": "municipality"}
    ).json()
    assert {o["name_ja"] for o in municipalities["items"]} == {"渋谷区", "前橋市", "神山町"}
    assert all(o["lgcode"] and o["corporate_number"] for o in municipalities["items"])
    page = client.get(
        "/api/identity/organizations", params={"kind": "corporation", "limit": 5, "offset": 5}
    ).json()
    assert page["total"] == 20 and len(page["items"]) == 5
    assert client.get("/api/identity/organizations", params={"kind": "club"}).status_code == 422
    assert client.get("/api/identity/organizations", params={"limit": 0}).status_code == 422


def test_one_organization_with_units_and_children(
    client: TestClient, session_factory: sessionmaker[Session], world: dict[str, object]
) -> None:
    with transaction(session_factory) as session:
        shibuya = service.find_organization(session, lgcode="131130")
        assert shibuya is not None
        service.create_unit(session, shibuya.id, UnitIn(code="zz", name_ja="追加課"), actor="t")
    body = client.get(f"/api/identity/organizations/{shibuya.id}").json()
    assert (body["name_ja"], body["kind"], body["lgcode"]) == ("渋谷区", "municipality", "131130")
    assert "住民課" in [u["name_ja"] for u in body["units"]] and len(body["units"]) == 5
    children = client.get(
        "/api/identity/organizations", params={"parent_id": body["parent_id"]}
    ).json()["items"]
    assert [c["id"] for c in children] == [shibuya.id]


def test_unknown_organization_is_a_json_404(client: TestClient) -> None:
    response = client.get("/api/identity/organizations/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "organization_not_found" and error["message_ja"] and error["message_en"]


def test_municipality_master_endpoints(client: TestClient) -> None:
    sapporo = client.get("/api/identity/municipalities/011002").json()
    assert (sapporo["name"], sapporo["kind"], sapporo["prefecture"]["name"]) == (
        "札幌市",
        "designated_city",
        "北海道",
    )
    assert client.get("/api/identity/municipalities/１３１０１６").json()["name"] == "千代田区"
    bad = client.get("/api/identity/municipalities/131017")
    assert bad.status_code == 422 and "lgcode" in bad.json()["error"]["message_en"]
    assert client.get("/api/identity/municipalities/139998").status_code in (404, 422)
    towns = client.get("/api/identity/postal-codes/100-0014").json()
    assert towns[0]["name"] == "永田町" and towns[0]["municipality_code"] == "131016"
    assert client.get("/api/identity/postal-codes/0000000").status_code == 404
    assert client.get("/api/identity/postal-codes/abc").status_code == 422


def _sample_path(path: str, organization_id: str) -> str | None:
    """A concrete URL for a route, or None when it needs parameters we cannot guess."""
    values = {"organization_id": organization_id, "lgcode": "131130", "postal_code": "1500001"}
    for name in re.findall(r"{(\w+)(?::\w+)?}", path):
        if name not in values:
            return None
        path = re.sub(rf"{{{name}(?::\w+)?}}", values[name], path)
    return path


def test_no_route_exposes_persons(
    app: FastAPI,
    client: TestClient,
    session_factory: sessionmaker[Session],
    settings: Settings,
    world: dict[str, object],
) -> None:
    """Every GET route of the whole app, called anonymously, returns no resident's data; the
    public identity router has no route about persons, households or officials at all."""
    vault = MyNumberVault.from_settings(settings)
    with transaction(session_factory) as session:
        persons = service.list_persons(session, limit=1000)
        secrets = {p.id for p in persons}
        secrets |= {f"{p.family_name}\u3000{p.given_name}" for p in persons}
        secrets |= {f"{p.family_name} {p.given_name}" for p in persons}
        secrets |= {f"{p.family_name_kana}\u3000{p.given_name_kana}" for p in persons}
        secrets |= {
            service.reveal_mynumber(session, vault, p.id, actor="t", purpose="t") or ""
            for p in persons
        }
        organization_id = service.list_organizations(session, kind=OrganizationKind.MUNICIPALITY)[
            0
        ].id
    secrets.discard("")
    called = 0
    for route_path, operations in app.openapi()["paths"].items():
        path = _sample_path(route_path, organization_id)
        if "get" not in operations or path is None:
            continue
        body = client.get(path).text
        called += 1
        leaked = [s for s in secrets if s in body]
        assert not leaked, f"{path} exposes resident data: {leaked[:3]}"
    assert called >= 4
    public_paths = [getattr(route, "path", "") for route in public_router.routes]
    assert public_paths and not [
        p for p in public_paths if re.search("person|household|official", p)
    ]
