"""Business accounts (prime + members) and electronic powers of attorney, with who may call what."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pyotp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tsunagu.core.clock import utcnow
from tsunagu.core.db import transaction
from tsunagu.identity import service as parties
from tsunagu.identity.access_models import Delegation
from tsunagu.identity.schemas import OrganizationIn, OrganizationKind
from tsunagu.trust import cms, protocol
from tsunagu.trust import service as trust
from tsunagu.trust import wallet as wallets
from tsunagu.trust.pki import AuthorityRole, OrganizationAttributes, generate_key

from .conftest import BASE, PIN, World

CORPORATE = "1180301018771"
IssueCard = Callable[[str, TestClient], wallets.Wallet]


def _corporation_with_seal(world: World) -> tuple[str, Callable[[bytes], bytes]]:
    """A corporation and a seal signer (its key held by the test, as by the company)."""
    key = generate_key()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .sign(key, hashes.SHA256())
    )
    with transaction(world.factory) as session:
        org = parties.create_organization(
            session,
            OrganizationIn(
                kind=OrganizationKind.CORPORATION,
                name_ja="株式会社つなぐ",
                name_kana="カブシキガイシャツナグ",
                corporate_number=CORPORATE,
            ),
            actor="test",
        ).id
        row = trust.issue_seal(
            session,
            world.settings,
            csr_data=csr.public_bytes(serialization.Encoding.PEM),
            organization=OrganizationAttributes("株式会社つなぐ", CORPORATE),
            subject_ref=org,
            actor="test",
        )
        cert = row.der
        chain = [trust.authority_certificate(session, AuthorityRole.ORGANIZATION)]

    def sign(content: bytes) -> bytes:
        return cms.sign_detached(
            content,
            sign=lambda d: cms.raw_signature(key, d),
            signer_cert_der=cert,
            chain_ders=chain,
            signing_time=utcnow(),
        )

    return org, sign


def _login(client: TestClient, wallet: wallets.Wallet) -> dict[str, str]:
    session = wallets.login(wallet, PIN, url=BASE, client=client)
    client.headers["x-csrf-token"] = session["csrf_token"]
    return session


def _open_account(world: World, client: TestClient, sign: Callable[[bytes], bytes]) -> dict:
    document = {
        "type": "tsunagu-business-account/1",
        "corporate_number": CORPORATE,
        "representative": world.alice,
    }
    response = client.post(
        "/api/identity/business/accounts/seal",
        json={
            "corporate_number": CORPORATE,
            "cms": protocol.b64(sign(protocol.canonical_json(document))),
        },
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_prime_opens_with_seal_and_manages_members(
    world: World, clients: Callable[[], TestClient], issue_card: IssueCard
) -> None:
    org, seal = _corporation_with_seal(world)
    prime = clients()
    _login(prime, issue_card(world.alice, prime))
    # a seal over someone else's representation is refused
    wrong = {
        "type": "tsunagu-business-account/1",
        "corporate_number": CORPORATE,
        "representative": world.bob,
    }
    refused = prime.post(
        "/api/identity/business/accounts/seal",
        json={
            "corporate_number": CORPORATE,
            "cms": protocol.b64(seal(protocol.canonical_json(wrong))),
        },
    )
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "content_mismatch"
    account = _open_account(world, prime, seal)
    assert account["organization_id"] == org and account["verification"] == "seal"
    assert prime.post(
        "/api/identity/business/accounts/seal", json={"corporate_number": CORPORATE, "cms": "AAAA"}
    ).status_code in (409, 422)

    added = prime.post(
        "/api/identity/business/members",
        json={
            "login_name": "staff1",
            "display_name": "担当 一郎",
            "password": "a long member password",
        },
    )
    assert added.status_code == 200, added.text
    secret = added.json()["totp_secret"]
    member = clients()
    logged = member.post(
        "/api/identity/login/password",
        json={
            "login_name": "staff1",
            "password": "a long member password",
            "totp": pyotp.TOTP(secret).now(),
        },
    )
    assert logged.status_code == 200 and logged.json()["kind"] == "member"
    member.headers["x-csrf-token"] = logged.json()["csrf_token"]
    assert {m["login_name"] for m in member.get("/api/identity/business/members").json()} == {
        f"{CORPORATE}-prime",
        "staff1",
    }
    # a member cannot manage members
    assert (
        member.post(
            "/api/identity/business/members",
            json={"login_name": "staff2", "display_name": "x", "password": "another long password"},
        ).status_code
        == 403
    )
    # a person outside the account sees nothing
    outsider = clients()
    _login(outsider, issue_card(world.bob, outsider))
    assert outsider.get("/api/identity/business/members").status_code == 403
    member_id = added.json()["id"]
    assert outsider.delete(f"/api/identity/business/members/{member_id}").status_code == 403
    # the prime removes the member: their session ends at once
    assert prime.delete(f"/api/identity/business/members/{member_id}").status_code == 204
    assert member.get("/api/identity/business/members").status_code == 401


def test_counter_opens_an_account_only_with_the_permission(
    world: World, clients: Callable[[], TestClient]
) -> None:
    _corporation_with_seal(world)
    from .conftest import password_login

    reviewer = clients()
    reviewer.headers["x-csrf-token"] = password_login(reviewer, world, "reviewer1")["csrf_token"]
    body = {"corporate_number": CORPORATE, "person_id": world.alice}
    assert reviewer.post("/api/identity/business/accounts/counter", json=body).status_code == 403
    counter = clients()
    counter.headers["x-csrf-token"] = password_login(counter, world, "counter1")["csrf_token"]
    opened = counter.post("/api/identity/business/accounts/counter", json=body)
    assert opened.status_code == 200 and opened.json()["verification"] == "counter"
    bad = counter.post(
        "/api/identity/business/accounts/counter",
        json={**body, "corporate_number": "1180301018772"},
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_corporate_number"


def _power(
    principal: tuple[str, str], agent: tuple[str, str], procedures: list[str], days: int = 365
) -> dict[str, Any]:
    now = utcnow().replace(microsecond=0)
    return {
        "type": "tsunagu-power-of-attorney/1",
        "principal": {"kind": principal[0], "id": principal[1]},
        "agent": {"kind": agent[0], "id": agent[1]},
        "procedures": procedures,
        "valid_from": (now - timedelta(minutes=1)).isoformat(),
        "valid_until": (now + timedelta(days=days)).isoformat(),
    }


def test_corporate_power_of_attorney_is_reused_and_revoked_at_once(
    world: World, clients: Callable[[], TestClient], issue_card: IssueCard
) -> None:
    org, seal = _corporation_with_seal(world)
    prime = clients()
    alice_wallet = issue_card(world.alice, prime)
    _login(prime, alice_wallet)
    _open_account(world, prime, seal)
    agent = clients()
    _login(agent, issue_card(world.bob, agent))

    document = _power(
        ("organization", org),
        ("person", world.bob),
        ["social_insurance.enrollment", "employment.report"],
    )
    signature = alice_wallet.unlock(PIN).sign(protocol.canonical_json(document))
    # the agent cannot register it for the corporation
    assert (
        agent.post(
            "/api/identity/delegations", json={"document": document, "cms": protocol.b64(signature)}
        ).status_code
        == 403
    )
    registered = prime.post(
        "/api/identity/delegations", json={"document": document, "cms": protocol.b64(signature)}
    )
    assert registered.status_code == 200, registered.text
    delegation_id = registered.json()["id"]
    check = {
        "principal_kind": "organization",
        "principal_id": org,
        "agent_kind": "person",
        "agent_id": world.bob,
        "procedure": "social_insurance.enrollment",
    }
    for _ in range(3):  # registered once, reused by every procedure
        assert agent.post("/api/identity/delegations/check", json=check).json()["valid"]
    other = agent.post("/api/identity/delegations/check", json={**check, "procedure": "tax.filing"})
    assert other.json()["valid"] is False
    # someone else (here the principal's prime) may not ask on Bob's behalf
    assert prime.post("/api/identity/delegations/check", json=check).status_code == 403
    # the agent sees it; the agent may not revoke it; the principal may
    assert agent.get(f"/api/identity/delegations/{delegation_id}").status_code == 200
    assert agent.post(f"/api/identity/delegations/{delegation_id}/revoke").status_code == 403
    revoked = prime.post(f"/api/identity/delegations/{delegation_id}/revoke")
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert agent.post("/api/identity/delegations/check", json=check).json()["valid"] is False


def test_personal_power_of_attorney_needs_the_principals_own_signature(
    world: World, clients: Callable[[], TestClient], issue_card: IssueCard
) -> None:
    alice, bob = clients(), clients()
    alice_wallet = issue_card(world.alice, alice)
    bob_wallet = issue_card(world.bob, bob)
    _login(alice, alice_wallet)
    _login(bob, bob_wallet)
    document = _power(("person", world.bob), ("person", world.alice), ["care.application"])
    # Alice cannot register Bob's power of attorney, even signed by Bob
    by_bob = protocol.b64(bob_wallet.unlock(PIN).sign(protocol.canonical_json(document)))
    assert (
        alice.post(
            "/api/identity/delegations", json={"document": document, "cms": by_bob}
        ).status_code
        == 403
    )
    # Bob cannot register one signed by Alice
    by_alice = protocol.b64(alice_wallet.unlock(PIN).sign(protocol.canonical_json(document)))
    wrong = bob.post("/api/identity/delegations", json={"document": document, "cms": by_alice})
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "wrong_signer"
    # a tampered document fails the signature
    tampered = {**document, "procedures": ["care.application", "bank.withdrawal"]}
    assert (
        bob.post(
            "/api/identity/delegations", json={"document": tampered, "cms": by_bob}
        ).status_code
        == 422
    )
    ok = bob.post("/api/identity/delegations", json={"document": document, "cms": by_bob})
    assert ok.status_code == 200
    assert [d["id"] for d in alice.get("/api/identity/delegations").json()] == [ok.json()["id"]]


def test_bad_power_of_attorney_creates_nothing(
    world: World, clients: Callable[[], TestClient], issue_card: IssueCard
) -> None:
    bob = clients()
    wallet = issue_card(world.bob, bob)
    _login(bob, wallet)
    good = _power(("person", world.bob), ("person", world.alice), ["care.application"])
    for document in [
        {**good, "valid_until": good["valid_from"]},
        {**good, "valid_until": (utcnow() + timedelta(days=6 * 366)).isoformat()},
        {**good, "procedures": []},
        {**good, "procedures": ["NOT A CODE"]},
        {**good, "valid_from": "yesterday"},
        {**good, "type": "something-else"},
        {**good, "agent": {"kind": "robot", "id": "x"}},
    ]:
        cms_b64 = protocol.b64(wallet.unlock(PIN).sign(protocol.canonical_json(document)))
        response = bob.post(
            "/api/identity/delegations", json={"document": document, "cms": cms_b64}
        )
        assert response.status_code == 422, document
    assert (
        bob.post("/api/identity/delegations", json={"document": good, "cms": "!!"}).status_code
        == 422
    )
    with transaction(world.factory) as session:
        assert session.scalar(select(func.count()).select_from(Delegation)) == 0
