"""A small catalog world: two municipalities, a sysadmin and users of each capacity."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tsunagu.core.db import transaction
from tsunagu.opendata import auth, service


@dataclass
class World:
    tokens: dict[str, str]
    org_ids: dict[str, str]


@pytest.fixture
def world(session_factory: sessionmaker[Session]) -> World:
    tokens: dict[str, str] = {}
    with transaction(session_factory) as session:
        admin = auth.ensure_user(session, "admin", sysadmin=True)
        tokens["sysadmin"] = auth.create_token(session, admin, "test")
        root = auth.actor_for_user(session, admin)
        chiyoda = service.create_organization(
            session, root, {"name": "chiyoda", "title": "千代田区", "lg_code": "131016"}
        )
        sapporo = service.create_organization(
            session, root, {"name": "sapporo", "title": "札幌市", "lg_code": "011002"}
        )
        for name, org, capacity in (
            ("editor", "chiyoda", "editor"),
            ("member", "chiyoda", "member"),
            ("orgadmin", "chiyoda", "admin"),
            ("outsider", "sapporo", "editor"),
        ):
            user = auth.ensure_user(session, name)
            service.add_member(session, root, org, name, capacity)
            tokens[name] = auth.create_token(session, user, "test")
        auth.ensure_user(session, "newcomer")
        return World(tokens, {"chiyoda": chiyoda.id, "sapporo": sapporo.id})


CallAction = Callable[..., Any]


@pytest.fixture
def call(client: TestClient) -> CallAction:
    """POST an action as ``who`` (a key of ``world.tokens`` or None); returns the response."""

    def run(_action: str, who: str | None = None, world: World | None = None, **params: Any) -> Any:
        headers = {"Authorization": world.tokens[who]} if who and world else {}
        return client.post(f"/api/3/action/{_action}", json=params, headers=headers)

    return run


def dataset(name: str = "aed", org: str = "chiyoda", **extra: Any) -> dict[str, Any]:
    base = {
        "name": name,
        "title": "AED設置箇所一覧",
        "owner_org": org,
        "license_id": "cc-by-4.0",
        "notes": "区内のAED（自動体外式除細動器）の設置場所",
        "tags": [{"name": "防災"}, {"name": "医療"}],
        "resources": [{"name": "AED一覧", "url": "https://example.jp/aed.csv", "format": "CSV"}],
    }
    base.update(extra)
    return base
