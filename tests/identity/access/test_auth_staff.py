"""Officials: password + TOTP login, lockout, counter issuance permissions."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select

from tsunagu.core.db import transaction
from tsunagu.identity.access_models import PasswordCredential
from tsunagu.trust import wallet as wallets

from .conftest import BASE, PASSWORD, PIN, World, password_login


def test_official_logs_in_with_password_and_totp(
    world: World, clients: Callable[[], TestClient]
) -> None:
    client = clients()
    session = password_login(client, world, "counter1")
    assert session["kind"] == "official" and session["roles"] == ["counter_staff"]
    assert (session["ial"], session["aal"]) == ("IAL2", "AAL2")
    with transaction(world.factory) as db:
        stored = db.execute(select(PasswordCredential.password_hash)).scalars().first()
    assert stored and stored.startswith("$argon2id$") and PASSWORD not in stored


def test_wrong_password_totp_and_replayed_code_fail(
    world: World, clients: Callable[[], TestClient]
) -> None:
    client = clients()
    code = world.totp("counter1")
    for body in [
        {"login_name": "counter1", "password": "wrong password!!", "totp": code},
        {"login_name": "counter1", "password": PASSWORD, "totp": "000000"},
        {"login_name": "nobody", "password": PASSWORD, "totp": code},
    ]:
        assert client.post("/api/identity/login/password", json=body).status_code == 401
    good = {"login_name": "counter1", "password": PASSWORD, "totp": code}
    assert client.post("/api/identity/login/password", json=good).status_code == 200
    assert clients().post("/api/identity/login/password", json=good).status_code == 401


def test_five_failures_lock_the_account(world: World, clients: Callable[[], TestClient]) -> None:
    client = clients()
    bad = {"login_name": "reviewer1", "password": "wrong password!!", "totp": "123456"}
    for _ in range(5):
        assert client.post("/api/identity/login/password", json=bad).status_code == 401
    good = {"login_name": "reviewer1", "password": PASSWORD, "totp": world.totp("reviewer1")}
    assert client.post("/api/identity/login/password", json=good).status_code == 401


def test_counter_issues_a_code_that_a_wallet_redeems_once(
    world: World, clients: Callable[[], TestClient], tmp_path: object
) -> None:
    from pathlib import Path

    staff = clients()
    session = password_login(staff, world, "counter1")
    headers = {"x-csrf-token": session["csrf_token"]}
    body = {"person_id": world.alice, "document": "driver_license"}
    assert staff.post("/api/identity/counter/enrollments", json=body).status_code == 403  # CSRF
    issued = staff.post("/api/identity/counter/enrollments", json=body, headers=headers)
    assert issued.status_code == 200, issued.text
    code = issued.json()["code"]
    resident = clients()
    wallet = wallets.Wallet.create(Path(str(tmp_path)) / "alice.w", PIN)
    assert wallets.enroll(wallet, PIN, code=code, url=BASE, client=resident) == [
        "authentication",
        "signing",
    ]
    again = wallets.Wallet.create(Path(str(tmp_path)) / "again.w", PIN)
    try:
        wallets.enroll(again, PIN, code=code, url=BASE, client=resident)
        raise AssertionError("a used code must not work twice")
    except wallets.WalletError as refused:
        assert refused.code == "bad_enrollment_code"
    # the counter can look the card up and record a life event
    card = staff.get(f"/api/identity/counter/persons/{world.alice}/card").json()
    assert {c["status"] for c in card} == {"good"}
    moved = staff.post(
        "/api/identity/counter/events",
        headers=headers,
        json={"person_id": world.alice, "event": "attribute_change"},
    )
    assert moved.status_code == 200 and len(moved.json()) == 1


def test_who_may_issue(world: World, clients: Callable[[], TestClient]) -> None:
    body = {"person_id": world.alice, "document": "passport"}
    # a reviewer has no card permissions
    reviewer = clients()
    session = password_login(reviewer, world, "reviewer1")
    headers = {"x-csrf-token": session["csrf_token"]}
    assert (
        reviewer.post("/api/identity/counter/enrollments", json=body, headers=headers).status_code
        == 403
    )
    assert reviewer.get(f"/api/identity/counter/persons/{world.alice}/card").status_code == 403
    assert (
        reviewer.post(
            "/api/identity/counter/events",
            headers=headers,
            json={"person_id": world.alice, "event": "death"},
        ).status_code
        == 403
    )
    # counter staff of another municipality cannot issue for a 千代田区 resident
    osaka = clients()
    session = password_login(osaka, world, "osaka1")
    response = osaka.post(
        "/api/identity/counter/enrollments",
        json=body,
        headers={"x-csrf-token": session["csrf_token"]},
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_resident_here"
    # unknown document type: clear error, no code
    chiyoda = clients()
    session = password_login(chiyoda, world, "counter1")
    bad = chiyoda.post(
        "/api/identity/counter/enrollments",
        json={**body, "document": "library_card"},
        headers={"x-csrf-token": session["csrf_token"]},
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "unknown_document"
