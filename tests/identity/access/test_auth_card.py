"""Login with the digital card, sessions, CSRF and the card page API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from tsunagu.core.clock import utcnow
from tsunagu.core.db import transaction
from tsunagu.trust import protocol
from tsunagu.trust import wallet as wallets
from tsunagu.trust.models import Challenge

from .conftest import BASE, PIN, World

IssueCard = Callable[[str, TestClient], wallets.Wallet]


def test_enroll_and_log_in_with_the_card(
    world: World, clients: Callable[[], TestClient], issue_card: IssueCard
) -> None:
    client = clients()
    wallet = issue_card(world.alice, client)
    result = wallets.login(wallet, PIN, url=BASE, client=client)
    assert result["person_id"] == world.alice
    assert (result["ial"], result["aal"]) == ("IAL3", "AAL2")
    session = client.get("/api/identity/session").json()
    assert session["person_id"] == world.alice and session["kind"] == "person"
    cookie = client.cookies.jar
    (entry,) = [c for c in cookie if c.name == "tsunagu_session"]
    assert entry.has_nonstandard_attr("HttpOnly")


def _signed_login(client: TestClient, wallet: wallets.Wallet, challenge: dict) -> dict:
    from datetime import datetime

    unlocked = wallet.unlock(PIN)
    signature = unlocked.login_signature(
        challenge["origin"], challenge["nonce"], datetime.fromisoformat(challenge["expires_at"])
    )
    return {
        "nonce": challenge["nonce"],
        "certificate": protocol.b64(wallet.certificate("authentication")),
        "signature": protocol.b64(signature),
    }


def test_replayed_challenge_fails(
    world: World, clients: Callable[[], TestClient], issue_card: IssueCard
) -> None:
    client = clients()
    wallet = issue_card(world.alice, client)
    challenge = client.post("/api/identity/login/challenge").json()
    body = _signed_login(client, wallet, challenge)
    assert client.post("/api/identity/login/card", json=body).status_code == 200
    replay = clients().post("/api/identity/login/card", json=body)
    assert replay.status_code == 422 and replay.json()["error"]["code"] == "bad_challenge"


def test_expired_challenge_fails(
    world: World, clients: Callable[[], TestClient], issue_card: IssueCard
) -> None:
    client = clients()
    wallet = issue_card(world.alice, client)
    challenge = client.post("/api/identity/login/challenge").json()
    body = _signed_login(client, wallet, challenge)
    with transaction(world.factory) as session:
        session.execute(update(Challenge).values(expires_at=utcnow() - timedelta(seconds=1)))
    response = client.post("/api/identity/login/card", json=body)
    assert response.status_code == 422 and response.json()["error"]["code"] == "bad_challenge"


def test_signature_by_another_key_fails(
    world: World, clients: Callable[[], TestClient], issue_card: IssueCard
) -> None:
    client = clients()
    alice = issue_card(world.alice, client)
    bob = issue_card(world.bob, clients())
    challenge = client.post("/api/identity/login/challenge").json()
    body = _signed_login(client, bob, challenge)
    body["certificate"] = protocol.b64(alice.certificate("authentication"))
    response = client.post("/api/identity/login/card", json=body)
    assert response.status_code == 422 and response.json()["error"]["code"] == "bad_signature"
    assert client.get("/api/identity/session").status_code == 401


def test_signing_certificate_cannot_log_in(
    world: World, clients: Callable[[], TestClient], issue_card: IssueCard
) -> None:
    client = clients()
    wallet = issue_card(world.alice, client)
    challenge = client.post("/api/identity/login/challenge").json()
    body = _signed_login(client, wallet, challenge)
    body["certificate"] = protocol.b64(wallet.certificate("signing"))
    response = client.post("/api/identity/login/card", json=body)
    assert response.json()["error"]["code"] == "wrong_certificate_kind"


def test_wallet_refuses_a_challenge_for_another_origin(
    world: World, clients: Callable[[], TestClient], issue_card: IssueCard
) -> None:
    client = clients()
    wallet = issue_card(world.alice, client)
    world.settings.base_url = "https://phish.example"
    with pytest.raises(wallets.WalletError) as refused:
        wallets.login(wallet, PIN, url=BASE, client=client)
    assert refused.value.code == "origin_mismatch"


@pytest.mark.parametrize(
    "body",
    [
        {"nonce": "x" * 20, "certificate": "!!!", "signature": "AAAA"},
        {"nonce": "x" * 20, "certificate": "AAAA", "signature": "AAAA"},
        {"nonce": "x" * 20, "certificate": "A" * 20_000, "signature": "AAAA"},
    ],
)
def test_garbage_login_input(world: World, clients: Callable[[], TestClient], body: dict) -> None:
    response = clients().post("/api/identity/login/card", json=body)
    assert response.status_code == 422
    assert response.json().get("error") or response.json().get("detail")


def test_report_loss_revokes_both_and_ends_the_session(
    world: World, clients: Callable[[], TestClient], issue_card: IssueCard
) -> None:
    client = clients()
    wallet = issue_card(world.alice, client)
    session = wallets.login(wallet, PIN, url=BASE, client=client)
    mine = client.get("/api/identity/card").json()
    assert {c["kind"] for c in mine} == {"signing", "authentication"}
    assert all(c["status"] == "good" for c in mine)
    # without the CSRF token the change is refused
    assert client.post("/api/identity/card/loss").status_code == 403
    lost = client.post("/api/identity/card/loss", headers={"x-csrf-token": session["csrf_token"]})
    assert lost.status_code == 200 and len(lost.json()) == 2
    assert client.get("/api/identity/card").status_code == 401  # session ended
    with pytest.raises(wallets.WalletError) as refused:
        wallets.login(wallet, PIN, url=BASE, client=client)
    assert refused.value.code == "certificate_revoked"
    # the relying-party status API agrees
    status = client.post("/api/trust/status", json={"serial": mine[0]["serial"]}).json()
    assert (status["status"], status["reason"]) == ("revoked", "loss")


def test_logout(world: World, clients: Callable[[], TestClient], issue_card: IssueCard) -> None:
    client = clients()
    wallet = issue_card(world.alice, client)
    session = wallets.login(wallet, PIN, url=BASE, client=client)
    assert client.post("/api/identity/logout").status_code == 403  # CSRF
    out = client.post("/api/identity/logout", headers={"x-csrf-token": session["csrf_token"]})
    assert out.status_code == 204
    assert client.get("/api/identity/session").status_code == 401


def test_person_a_cannot_see_or_change_person_b(
    world: World, clients: Callable[[], TestClient], issue_card: IssueCard
) -> None:
    alice_client, bob_client = clients(), clients()
    alice = issue_card(world.alice, alice_client)
    bob = issue_card(world.bob, bob_client)
    alice_session = wallets.login(alice, PIN, url=BASE, client=alice_client)
    wallets.login(bob, PIN, url=BASE, client=bob_client)
    bob_serials = {c["serial"] for c in bob_client.get("/api/identity/card").json()}
    alice_view = {c["serial"] for c in alice_client.get("/api/identity/card").json()}
    assert not alice_view & bob_serials
    headers = {"x-csrf-token": alice_session["csrf_token"]}
    # counter endpoints are for officials only
    for method, path, body in [
        ("get", f"/api/identity/counter/persons/{world.bob}/card", None),
        ("post", "/api/identity/counter/events", {"person_id": world.bob, "event": "loss"}),
        (
            "post",
            "/api/identity/counter/enrollments",
            {"person_id": world.bob, "document": "passport"},
        ),
    ]:
        response = alice_client.request(method, path, json=body, headers=headers)
        assert response.status_code == 403, path
    # Alice's loss report revokes only Alice's certificates
    alice_client.post("/api/identity/card/loss", headers=headers)
    assert all(c["status"] == "good" for c in bob_client.get("/api/identity/card").json())


def test_anonymous_callers_get_401(world: World, clients: Callable[[], TestClient]) -> None:
    client = clients()
    for method, path in [
        ("get", "/api/identity/session"),
        ("get", "/api/identity/card"),
        ("post", "/api/identity/card/loss"),
        ("get", f"/api/identity/counter/persons/{world.alice}/card"),
        ("post", "/api/identity/counter/events"),
        ("post", "/api/identity/counter/enrollments"),
    ]:
        response = client.request(
            method, path, json={"person_id": world.alice, "event": "loss", "document": "passport"}
        )
        assert response.status_code == 401, path
