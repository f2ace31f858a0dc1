"""HTML pages of the digital card: who may and may not see and use each one.

Every page is checked for anonymous visitors, the right party, another
resident, the wrong role and the wrong municipality; every form for its CSRF
token; bad input for a clear error that creates nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tsunagu.core.db import transaction
from tsunagu.identity import business, delegation
from tsunagu.identity import service as parties
from tsunagu.identity.access_models import BusinessMember, Delegation
from tsunagu.identity.schemas import OrganizationIn, OrganizationKind
from tsunagu.trust import protocol
from tsunagu.trust import service as trust
from tsunagu.trust import wallet as wallets

from .conftest import BASE, PASSWORD, PIN, World

IssueCard = Callable[[str, TestClient], wallets.Wallet]
CORPORATE = "1180301018771"


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def card_login(client: TestClient, wallet: wallets.Wallet) -> None:
    wallets.login(wallet, PIN, url=BASE, client=client)


def form_login(
    client: TestClient, world: World, login_name: str, password: str = PASSWORD
) -> TestClient:
    page = client.get("/login")
    token = re.search(r'name="login_csrf" value="([0-9a-f]+)"', page.text)
    assert token
    response = client.post(
        "/login/password",
        data={
            "login_name": login_name,
            "password": password,
            "totp": world.totp(login_name),
            "login_csrf": token.group(1),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return client


def redirected_to_login(response: object, path: str) -> bool:
    status = getattr(response, "status_code", 0)
    location = getattr(response, "headers", {}).get("location", "")
    return bool(status == 303 and location.startswith("/login?next=" + path.replace("/", "%2F")))


# --- login and logout ------------------------------------------------------------------


def test_login_page_offers_the_card_and_the_password_form(
    world: World, clients: Callable[[], TestClient]
) -> None:
    client = clients()
    page = client.get("/login")
    assert page.status_code == 200
    assert page.headers["content-language"] == "ja"
    assert page.headers["cache-control"] == "no-store"
    assert 'data-wallet-action="login"' in page.text and "/static/wallet.js" in page.text
    assert 'action="/login/password"' in page.text and "tsunagu_login" in page.cookies
    english = client.get("/login?lang=en")
    assert "Officials and business members" in english.text
    assert 'href="/login"' in client.get("/").text  # header link for visitors


def test_password_login_form_checks_its_own_csrf_token_and_the_credentials(
    world: World, clients: Callable[[], TestClient]
) -> None:
    client = clients()
    client.get("/login")
    fields = {"login_name": "counter1", "password": PASSWORD, "totp": world.totp("counter1")}
    forged = client.post("/login/password", data={**fields, "login_csrf": "0" * 64})
    assert forged.status_code == 403 and "tsunagu_session" not in client.cookies
    stranger = clients()  # a token from another visitor's page does not fit this cookie
    token = re.search(r'name="login_csrf" value="([0-9a-f]+)"', stranger.get("/login").text)
    assert token
    assert (
        client.post("/login/password", data={**fields, "login_csrf": token.group(1)}).status_code
        == 403
    )
    own = re.search(r'name="login_csrf" value="([0-9a-f]+)"', client.get("/login").text)
    assert own
    wrong = client.post(
        "/login/password",
        data={**fields, "password": "wrong password!", "login_csrf": own.group(1)},
    )
    assert wrong.status_code == 401 and 'role="alert"' in wrong.text
    assert 'aria-invalid="true"' in wrong.text and "tsunagu_session" not in client.cookies
    form_login(client, world, "counter1")
    assert client.get("/counter").status_code == 200


def test_a_visitor_reading_in_english_logs_in_and_comes_back_in_english(
    world: World, clients: Callable[[], TestClient]
) -> None:
    """``?lang=en`` chooses one request's language: the login round trip carries it."""
    client = clients()
    sent = client.get("/me/card?lang=en", follow_redirects=False)
    assert sent.status_code == 303
    assert sent.headers["location"] == "/login?next=%2Fme%2Fcard%3Flang%3Den&lang=en"
    page = client.get(sent.headers["location"])
    assert page.headers["content-language"] == "en"
    assert 'action="/login/password?lang=en"' in page.text
    assert 'name="next" value="/me/card?lang=en"' in page.text
    token = re.search(r'name="login_csrf" value="([0-9a-f]+)"', page.text)
    assert token
    fields = {"login_name": "counter1", "password": PASSWORD, "login_csrf": token.group(1),
              "next": "/counter?lang=en"}  # fmt: skip
    wrong = client.post("/login/password?lang=en", data={**fields, "totp": "000000"})
    assert wrong.status_code == 401 and wrong.headers["content-language"] == "en"
    done = client.post(
        "/login/password?lang=en",
        data={**fields, "totp": world.totp("counter1")},
        follow_redirects=False,
    )
    assert done.headers["location"] == "/counter?lang=en"
    # Only ?lang= may follow the path: anything else is still refused.
    assert 'name="next" value=""' in client.get("/login?next=/me/card?x=1").text


def test_login_goes_back_only_to_a_path_of_this_site(
    world: World, clients: Callable[[], TestClient]
) -> None:
    client = clients()
    page = client.get("/login", params={"next": "//evil.example/x"})
    assert 'name="next" value=""' in page.text
    token = re.search(r'name="login_csrf" value="([0-9a-f]+)"', page.text)
    assert token
    response = client.post(
        "/login/password",
        data={
            "login_name": "counter1",
            "password": PASSWORD,
            "totp": world.totp("counter1"),
            "login_csrf": token.group(1),
            "next": "https://evil.example/",
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/counter"


def test_logout_button_in_the_header(
    world: World, clients: Callable[[], TestClient], issue_card: IssueCard
) -> None:
    client = clients()
    card_login(client, issue_card(world.alice, client))
    home = client.get("/")
    assert 'action="/logout"' in home.text and "山田" in home.text
    token = csrf_of(home.text)
    assert client.post("/logout").status_code == 403  # no CSRF token: refused, still logged in
    assert client.get("/me/card").status_code == 200
    out = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login?logged_out=1"
    assert redirected_to_login(client.get("/me/card", follow_redirects=False), "/me/card")


# --- the resident's card ------------------------------------------------------------


def test_card_page_shows_only_the_callers_own_certificates(
    world: World, clients: Callable[[], TestClient], issue_card: IssueCard
) -> None:
    anonymous = clients()
    assert redirected_to_login(anonymous.get("/me/card", follow_redirects=False), "/me/card")
    alice, bob = clients(), clients()
    alice_wallet = issue_card(world.alice, alice)
    bob_wallet = issue_card(world.bob, bob)
    card_login(alice, alice_wallet)
    card_login(bob, bob_wallet)
    page = alice.get("/me/card")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    with transaction(world.factory) as session:
        mine = {c.serial for c in trust.certificates_of(session, world.alice)}
        theirs = {c.serial for c in trust.certificates_of(session, world.bob)}
    assert all(serial in page.text for serial in mine)
    assert not any(serial in page.text for serial in theirs)
    assert "IAL3" in page.text and "AAL2" in page.text
    official = form_login(clients(), world, "counter1")
    assert official.get("/me/card").status_code == 403


def test_report_loss_revokes_both_and_logs_out(
    world: World, clients: Callable[[], TestClient], issue_card: IssueCard
) -> None:
    alice = clients()
    card_login(alice, issue_card(world.alice, alice))
    token = csrf_of(alice.get("/me/card").text)
    assert alice.post("/me/card/loss", data={"confirm": "yes"}).status_code == 403  # no CSRF
    unconfirmed = alice.post("/me/card/loss", data={"csrf_token": token})
    assert unconfirmed.status_code == 422 and 'role="alert"' in unconfirmed.text
    with transaction(world.factory) as session:
        assert all(c.revoked_at is None for c in trust.certificates_of(session, world.alice))
    done = alice.post("/me/card/loss", data={"csrf_token": token, "confirm": "yes"})
    assert done.status_code == 200
    with transaction(world.factory) as session:
        rows = trust.certificates_of(session, world.alice)
    assert len(rows) == 2 and all(r.revocation_reason == "loss" for r in rows)
    assert all(r.serial in done.text for r in rows)
    assert redirected_to_login(alice.get("/me/card", follow_redirects=False), "/me/card")


# --- the counter ----------------------------------------------------------------------


def test_counter_pages_are_for_card_staff_of_the_residents_municipality(
    world: World, clients: Callable[[], TestClient], issue_card: IssueCard
) -> None:
    person_page = f"/counter/persons/{world.alice}"
    anonymous = clients()
    assert redirected_to_login(anonymous.get("/counter", follow_redirects=False), "/counter")
    assert redirected_to_login(anonymous.get(person_page, follow_redirects=False), person_page)
    resident = clients()
    card_login(resident, issue_card(world.bob, resident))
    assert resident.get("/counter").status_code == 403
    assert resident.get(person_page).status_code == 403
    reviewer = form_login(clients(), world, "reviewer1")
    assert reviewer.get("/counter").status_code == 403
    osaka = form_login(clients(), world, "osaka1")
    assert "山田" not in osaka.get("/counter", params={"kana": "てすと"}).text
    assert osaka.get(person_page).status_code == 404
    token = csrf_of(osaka.get("/counter").text)  # the header's logout form carries it
    refused = osaka.post(
        f"{person_page}/enrollment", data={"csrf_token": token, "document": "passport"}
    )
    assert refused.status_code == 404
    counter = form_login(clients(), world, "counter1")
    found = counter.get("/counter", params={"kana": "てすと たろう", "birth_date": "1985-04-01"})
    assert found.status_code == 200 and "山田" in found.text and "鈴木" in found.text
    assert "山田" not in counter.get("/counter", params={"kana": "ヤマ"}).text
    bad_date = counter.get("/counter", params={"kana": "テスト", "birth_date": "1985/04/01"})
    assert bad_date.status_code == 422 and 'role="alert"' in bad_date.text
    assert counter.get(person_page).status_code == 200


def test_counter_issues_a_code_that_a_wallet_redeems_and_records_events(
    world: World, clients: Callable[[], TestClient], tmp_path: Path
) -> None:
    counter = form_login(clients(), world, "counter1")
    person_page = f"/counter/persons/{world.alice}"
    token = csrf_of(counter.get(person_page).text)
    unknown = counter.post(
        f"{person_page}/enrollment", data={"csrf_token": token, "document": "library_card"}
    )
    assert unknown.status_code == 422 and "library_card" not in unknown.text
    assert counter.post(f"{person_page}/enrollment", data={"document": "passport"}).status_code == (
        403
    )
    issued = counter.post(
        f"{person_page}/enrollment", data={"csrf_token": token, "document": "passport"}
    )
    assert issued.status_code == 200 and issued.headers["cache-control"] == "no-store"
    code = re.search(r"<code>([A-Z2-9]{4}(?:-[A-Z2-9]{4}){3})</code>", issued.text)
    assert code, issued.text
    resident = clients()
    wallet = wallets.Wallet.create(tmp_path / "alice.w", PIN)
    assert wallets.enroll(wallet, PIN, code=code.group(1), url=BASE, client=resident) == [
        "authentication",
        "signing",
    ]
    with pytest.raises(wallets.WalletError):
        wallets.enroll(wallet, PIN, code=code.group(1), url=BASE, client=resident)
    unknown_event = counter.post(
        f"{person_page}/events", data={"csrf_token": token, "event": "superseded"}
    )
    assert unknown_event.status_code == 422
    changed = counter.post(
        f"{person_page}/events",
        data={"csrf_token": token, "event": "attribute_change"},
        follow_redirects=False,
    )
    assert changed.status_code == 303
    with transaction(world.factory) as session:
        status = {
            c.kind: c.revoked_at is not None for c in trust.certificates_of(session, world.alice)
        }
    assert status == {"signing": True, "authentication": False}


# --- business accounts ----------------------------------------------------------------


def _account_for_alice(world: World) -> str:
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
        business.open_at_counter(
            session,
            world.official_actor(world.counter),
            corporate_number=CORPORATE,
            person_id=world.alice,
        )
    return org


def test_business_page_prime_adds_and_removes_members(
    world: World, clients: Callable[[], TestClient], issue_card: IssueCard
) -> None:
    _account_for_alice(world)
    anonymous = clients()
    assert redirected_to_login(anonymous.get("/business", follow_redirects=False), "/business")
    outsider = clients()
    card_login(outsider, issue_card(world.bob, outsider))
    assert outsider.get("/business").status_code == 403
    official = form_login(clients(), world, "counter1")
    assert official.get("/business").status_code == 403  # wrong role: not a business member
    prime = clients()
    card_login(prime, issue_card(world.alice, prime))
    page = prime.get("/business")
    assert page.status_code == 200 and 'action="/business/members"' in page.text
    token = csrf_of(page.text)
    new = {"login_name": "staff1", "display_name": "佐藤 一郎", "password": "a long password 1"}
    assert prime.post("/business/members", data=new).status_code == 403  # no CSRF
    weak = prime.post("/business/members", data={**new, "password": "short", "csrf_token": token})
    assert weak.status_code == 422 and 'role="alert"' in weak.text
    added = prime.post("/business/members", data={**new, "csrf_token": token})
    assert added.status_code == 200 and "otpauth://" in added.text
    assert added.headers["cache-control"] == "no-store"
    taken = prime.post("/business/members", data={**new, "csrf_token": token})
    assert taken.status_code == 409
    with transaction(world.factory) as session:
        member_id = session.execute(
            select(BusinessMember.id).where(BusinessMember.login_name == "staff1")
        ).scalar_one()
        assert session.execute(select(func.count()).select_from(BusinessMember)).scalar() == 2
    member = form_login(clients(), world, "staff1", new["password"])
    member_page = member.get("/business")
    assert member_page.status_code == 200 and 'action="/business/members"' not in member_page.text
    member_token = csrf_of(member_page.text)
    assert (
        member.post("/business/members", data={**new, "csrf_token": member_token}).status_code
        == 403
    )
    assert (
        member.post(
            f"/business/members/{member_id}/remove", data={"csrf_token": member_token}
        ).status_code
        == 403
    )
    removed = prime.post(
        f"/business/members/{member_id}/remove",
        data={"csrf_token": token},
        follow_redirects=False,
    )
    assert removed.status_code == 303
    assert redirected_to_login(member.get("/business", follow_redirects=False), "/business")


# --- powers of attorney ---------------------------------------------------------------


def test_power_of_attorney_pages_register_list_and_revoke(
    world: World, clients: Callable[[], TestClient], issue_card: IssueCard
) -> None:
    anonymous = clients()
    assert redirected_to_login(
        anonymous.get("/delegations", follow_redirects=False), "/delegations"
    )
    alice, bob = clients(), clients()
    alice_wallet = issue_card(world.alice, alice)
    card_login(alice, alice_wallet)
    card_login(bob, issue_card(world.bob, bob))
    token = csrf_of(alice.get("/delegations").text)
    fields = {
        "csrf_token": token,
        "agent_kind": "person",
        "agent": world.bob,
        "procedures": "care.certification, childcare.allowance",
        "valid_from": "2025-04-01",
        "valid_until": "2035-03-31",
    }
    too_long = alice.post("/delegations/draft", data=fields)
    assert too_long.status_code == 422 and 'role="alert"' in too_long.text
    fields["valid_until"] = "2029-03-31"
    bad_date = alice.post("/delegations/draft", data={**fields, "valid_from": "April"})
    assert bad_date.status_code == 422
    as_json = alice.post("/delegations/draft", data=fields, headers={"accept": "application/json"})
    assert as_json.status_code == 200
    document = as_json.json()["document"]
    assert document["principal"] == {"kind": "person", "id": world.alice}
    assert document["valid_from"] == "2025-04-01T00:00:00+09:00"
    assert document["valid_until"] == "2029-04-01T00:00:00+09:00"
    # without JavaScript: the page offers the exact document to sign with the Python wallet
    page = alice.post("/delegations/draft", data=fields)
    assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.text
    content = protocol.canonical_json(document)
    assert protocol.b64(content) in page.text
    signature = alice_wallet.unlock(PIN).sign(content)
    garbage = alice.post(
        "/delegations",
        data={"csrf_token": token, "document": content.decode()},
        files={"cms_file": ("poa.json.p7s", b"not a signature", "application/pkcs7-signature")},
    )
    assert garbage.status_code == 422
    bob_token = csrf_of(bob.get("/delegations").text)
    not_principal = bob.post(
        "/delegations",
        data={"csrf_token": bob_token, "document": content.decode()},
        files={"cms_file": ("poa.json.p7s", signature, "application/pkcs7-signature")},
    )
    assert not_principal.status_code == 403
    with transaction(world.factory) as session:
        assert session.execute(select(func.count()).select_from(Delegation)).scalar() == 0
    registered = alice.post(
        "/delegations",
        data={"csrf_token": token, "document": content.decode()},
        files={"cms_file": ("poa.json.p7s", signature, "application/pkcs7-signature")},
        follow_redirects=False,
    )
    assert registered.status_code == 303, registered.text
    listing = alice.get("/delegations")
    assert "care.certification" in listing.text and "/revoke" in listing.text
    agent_view = bob.get("/delegations")
    assert "care.certification" in agent_view.text and "/revoke" not in agent_view.text
    with transaction(world.factory) as session:
        row_id = session.execute(select(Delegation.id)).scalar_one()
    assert bob.post(
        f"/delegations/{row_id}/revoke", data={"csrf_token": bob_token}
    ).status_code == (403)
    assert alice.post(f"/delegations/{row_id}/revoke").status_code == 403  # no CSRF
    revoked = alice.post(
        f"/delegations/{row_id}/revoke", data={"csrf_token": token}, follow_redirects=False
    )
    assert revoked.status_code == 303
    with transaction(world.factory) as session:
        assert (
            delegation.check(
                session,
                agent_kind="person",
                agent_id=world.bob,
                principal_kind="person",
                principal_id=world.alice,
                procedure="care.certification",
            )
            is None
        )


def test_officials_cannot_give_a_power_of_attorney(
    world: World, clients: Callable[[], TestClient]
) -> None:
    counter = form_login(clients(), world, "counter1")
    page = counter.get("/delegations")
    assert page.status_code == 200 and 'action="/delegations/draft"' not in page.text
    refused = counter.post(
        "/delegations/draft",
        data={
            "csrf_token": csrf_of(page.text),
            "agent": world.bob,
            "procedures": "x",
            "valid_from": "2025-04-01",
            "valid_until": "2025-05-01",
        },
    )
    assert refused.status_code == 403


def test_wallet_pages_are_public_and_need_script_only_for_keys(
    world: World, clients: Callable[[], TestClient]
) -> None:
    client = clients()
    for path, action in (("/wallet/enroll", "enroll"), ("/wallet/sign", "sign")):
        page = client.get(path)
        assert page.status_code == 200 and f'data-wallet-action="{action}"' in page.text
        assert "<noscript>" in page.text and 'id="wallet-messages"' in page.text
