"""The demo catalog: every recommended dataset per demo municipality, conforming, idempotent."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tsunagu.core.config import Settings
from tsunagu.core.db import transaction
from tsunagu.opendata.demo import MUNICIPALITIES, seed_catalog


def test_demo_catalog_is_complete_valid_and_idempotent(
    settings: Settings, session_factory: sessionmaker[Session], client: TestClient
) -> None:
    with transaction(session_factory) as session:
        first = seed_catalog(session, seed=2019, settings=settings)
    assert first.startswith(f"{len(MUNICIPALITIES) * 15} datasets")
    with transaction(session_factory) as session:
        assert seed_catalog(session, seed=2019, settings=settings).startswith("0 datasets")
    result = client.get(
        "/api/3/action/package_search",
        params={"fq": "organization:shibuya tags:推奨データセット", "rows": 50},
    )
    packages = result.json()["result"]["results"]
    assert len(packages) == 14
    for pkg in packages:
        resource = pkg["resources"][0]
        assert resource["datastore_active"], pkg["name"]
        report = client.get(f"/api/opendata/resources/{resource['id']}/validation").json()
        assert report["valid"], (pkg["name"], report["errors"][:3])
    found = client.get("/api/3/action/package_search", params={"q": "避難所"}).json()["result"]
    assert found["count"] >= len(MUNICIPALITIES)


def test_demo_catalog_organizations_are_linked_to_the_municipalities(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    """Demo officials with the data-publisher role publish for their own municipality."""
    from tsunagu.identity import service as identity
    from tsunagu.identity import sessions
    from tsunagu.identity.schemas import OfficialIn, OfficialRole
    from tsunagu.opendata import auth, service

    with transaction(session_factory) as session:
        shibuya = identity.ensure_local_government(session, "131130", actor="test")
        seed_catalog(session, seed=2019, settings=settings)
        official = identity.create_official(
            session,
            OfficialIn(
                organization_id=shibuya.id,
                display_name="渋谷区 データ公開担当",
                login_name="shibuya-data",
                roles=[OfficialRole.DATA_PUBLISHER],
            ),
            actor="test",
        )
        party = sessions.start(session, method="test", ial=2, aal=2, official_id=official.id)
        actor = auth.actor_for_official(session, party.actor)
        assert actor.editable_orgs() == [service.get_organization(session, "shibuya").id]
        assert service.get_organization(session, "maebashi").identity_org_id is None
