"""Registry keepers' pages: who may see and change which records; inline errors in ja/en."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Page
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.browser import assert_keyboard_accessible, assert_no_axe_violations
from tests.registry.conftest import resident
from tsunagu.core.audit.models import AuditRecord
from tsunagu.core.config import Settings
from tsunagu.core.db import transaction
from tsunagu.identity import service as identity
from tsunagu.identity import sessions
from tsunagu.identity.schemas import OfficialIn, OfficialRole, OrganizationIn, OrganizationKind
from tsunagu.registry import service

HANAKO = str(uuid.UUID(int=77))
RECORD = f"/registries/juki/records/{HANAKO}"


@dataclass
class Staff:
    chiyoda_keeper: str
    chiyoda_clerk: str
    osaka_keeper: str
    company_keeper: str


@pytest.fixture
def staff(session_factory: sessionmaker[Session]) -> Staff:
    """Keepers of 千代田区, 大阪市 and a company; a counter clerk; Hanako in 千代田区's 住基."""
    with transaction(session_factory) as session:
        chiyoda = identity.ensure_local_government(session, "131016", actor="t").id
        osaka = identity.ensure_local_government(session, "271004", actor="t").id
        company = identity.create_organization(
            session,
            OrganizationIn(kind=OrganizationKind.CORPORATION, name_ja="つなぐ商事株式会社",
                           name_kana="ツナグショウジ", corporate_number="1180301018771"),
            actor="t",
        ).id  # fmt: skip
        service.assert_fact(
            session, "juki", HANAKO, resident(), keeper_id=chiyoda, actor="t",
            valid_from=date(2010, 4, 1),
        )  # fmt: skip

        def official(org: str, name: str, role: OfficialRole) -> str:
            data = OfficialIn(organization_id=org, display_name=name, login_name=name, roles=[role])
            return identity.create_official(session, data, actor="t").id

        keeper = OfficialRole.REGISTRY_KEEPER
        return Staff(
            official(chiyoda, "chiyoda-keeper", keeper),
            official(chiyoda, "chiyoda-clerk", OfficialRole.COUNTER_STAFF),
            official(osaka, "osaka-keeper", keeper),
            official(company, "company-keeper", keeper),
        )


Login = Callable[[str | None], TestClient]


@pytest.fixture
def login(
    app: FastAPI, session_factory: sessionmaker[Session]
) -> Iterator[Callable[[str | None], TestClient]]:
    clients: list[TestClient] = []

    def make(official_id: str | None) -> TestClient:
        client = TestClient(app, follow_redirects=False)
        clients.append(client)
        if official_id:
            with transaction(session_factory) as session:
                started = sessions.start(
                    session, method="test", ial=2, aal=2, official_id=official_id
                )
            client.cookies.set(sessions.COOKIE, started.token)
        return client

    yield make
    for client in clients:
        client.close()


def _csrf(page_html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page_html)
    assert found, "the form carries a CSRF token"
    return found.group(1)


def _form(client: TestClient, **changes: str) -> dict[str, str]:
    """The change form as the page fills it, with ``changes`` (dotted paths) applied."""
    html = client.get(RECORD).text
    fields = dict(
        re.findall(r'<input id="f-[^"]*" name="(f\.[^"]+)" type="text" value="([^"]*)"', html)
    )
    for name, value in re.findall(
        r'<select id="f-[^"]*" name="(f\.[^"]+)"[^>]*>(.*?)</select>', html, re.S
    ):
        chosen = re.search(r'<option value="([^"]*)" selected>', value)
        fields[name] = chosen.group(1) if chosen else ""
    fields |= {f"f.{k.replace('__', '.')}": v for k, v in changes.items() if k not in FORM_KEYS}
    form = {"csrf_token": _csrf(html), "valid_from": "2025-04-01", "reason": "change", **fields}
    return form | {k: v for k, v in changes.items() if k in FORM_KEYS}


FORM_KEYS = {"valid_from", "reason", "note", "csrf_token"}


@pytest.mark.parametrize(
    ("who", "path", "status"),
    [
        (None, "/registries", 401),
        ("chiyoda_clerk", "/registries", 403),
        ("chiyoda_keeper", "/registries", 200),
        (None, RECORD, 401),
        ("chiyoda_clerk", RECORD, 403),
        ("chiyoda_keeper", RECORD, 200),
        ("osaka_keeper", RECORD, 404),  # another municipality's resident is not revealed
        ("company_keeper", RECORD, 404),  # a company does not keep the 住民基本台帳
        ("company_keeper", "/registries/shuro", 200),
        ("chiyoda_keeper", "/registries/shuro", 404),
        ("chiyoda_keeper", "/registries/juki/new", 200),
        ("osaka_keeper", "/registries/juki", 200),
    ],
)
def test_who_may_open_which_page(
    staff: Staff, login: Login, who: str | None, path: str, status: int
) -> None:
    response = login(getattr(staff, who) if who else None).get(path)
    assert response.status_code == status


def test_keeper_sees_the_record_its_history_and_the_registers_of_its_kind(
    staff: Staff, login: Login
) -> None:
    client = login(staff.chiyoda_keeper)
    index = client.get("/registries").text
    assert "住民基本台帳" in index and "住民税課税台帳" in index and "商業・法人登記簿" not in index
    page = client.get(RECORD).text
    assert "山田" in page and "永田町" in page and "2010-04-01" in page
    listing = client.get("/registries/juki").text
    assert RECORD in listing
    assert client.get("/registries/juki", params={"subject": HANAKO}).headers["location"] == RECORD


def test_keeper_finds_records_by_name_in_kanji_or_kana(
    staff: Staff, login: Login, session_factory: sessionmaker[Session]
) -> None:
    taro = str(uuid.UUID(int=78))
    with transaction(session_factory) as session:
        chiyoda = identity.ensure_local_government(session, "131016", actor="t").id
        service.assert_fact(
            session, "juki", taro,
            resident(name={"family": "佐藤", "given": "太郎"},
                     kana={"family": "サトウ", "given": "タロウ"}, resident_code="12345678902"),
            keeper_id=chiyoda, actor="t", valid_from=date(2010, 4, 1),
        )  # fmt: skip
    client = login(staff.chiyoda_keeper)
    for query in ("山田", "山田 花子", "山田花子", "ヤマダ", "やまだ　はなこ", "ﾊﾅｺ"):
        listing = client.get("/registries/juki", params={"name": query}).text
        assert RECORD in listing and taro not in listing, query
    listing = client.get("/registries/juki", params={"name": "さとう"}).text
    assert taro in listing and RECORD not in listing
    # Not a name: the address and other fields are not searched.
    assert RECORD not in client.get("/registries/juki", params={"name": "永田町"}).text
    assert RECORD not in client.get("/registries/juki", params={"name": "%"}).text
    # Another municipality's keeper does not find 千代田区's residents.
    other = login(staff.osaka_keeper).get("/registries/juki", params={"name": "山田"})
    assert other.status_code == 200 and RECORD not in other.text
    assert login(staff.chiyoda_clerk).get("/registries/juki?name=山田").status_code == 403
    assert login(None).get("/registries/juki?name=山田").status_code == 401


def test_a_change_is_recorded_audited_and_history_kept(
    staff: Staff, login: Login, session_factory: sessionmaker[Session]
) -> None:
    client = login(staff.chiyoda_keeper)
    form = _form(client, address__town="霞が関", address__block="一丁目1番1号", note="転居届")
    response = client.post(RECORD, data=form)
    assert response.status_code == 303 and response.headers["location"].endswith("saved=1")
    with transaction(session_factory) as session:
        (now,) = service.as_of(session, "juki", HANAKO, valid_on=date(2025, 4, 1))
        (before,) = service.as_of(session, "juki", HANAKO, valid_on=date(2025, 3, 31))
        assert (now.data["address"]["town"], before.data["address"]["town"]) == ("霞が関", "永田町")
        assert now.note == "転居届" and now.recorded_by.startswith("official:")
        actions = session.execute(select(AuditRecord.action)).scalars().all()
        assert actions.count("registry.change") == 2  # the first record and this change
    page = client.get(RECORD).text
    assert "霞が関" in page and "転居届" in page


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("ja", "郵便番号 (ハイフンなし 7 桁) の形式ではありません"),
        ("en", "is not a 7-digit postal code"),
    ],
)
def test_invalid_fields_are_reported_inline_and_nothing_changes(
    staff: Staff, login: Login, session_factory: sessionmaker[Session], lang: str, expected: str
) -> None:
    client = login(staff.chiyoda_keeper)
    form = _form(client, address__postal_code="100-0014", name__family="", birth_date="1980-13-01")
    response = client.post(f"{RECORD}?lang={lang}", data=form)
    assert response.status_code == 422
    html = response.text
    assert expected in html
    assert 'id="f-address-postal_code" name="f.address.postal_code"' in html
    assert 'aria-invalid="true" aria-describedby="f-address-postal_code-error"' in html
    assert 'id="f-name-family-error"' in html and 'id="f-birth_date-error"' in html
    assert 'value="100-0014"' in html  # what was typed is kept
    with transaction(session_factory) as session:
        assert len(service.history(session, "juki", HANAKO)) == 1


def test_unreadable_numbers_and_dates_are_field_errors(staff: Staff, login: Login) -> None:
    client = login(staff.chiyoda_keeper)
    response = client.post(RECORD, data=_form(client, valid_from="someday"))
    assert response.status_code == 422 and 'id="f-valid_from-error"' in response.text


def test_changes_need_the_csrf_token_and_the_keeper_role(
    staff: Staff, login: Login, session_factory: sessionmaker[Session]
) -> None:
    keeper = login(staff.chiyoda_keeper)
    form = _form(keeper, address__town="霞が関")
    assert keeper.post(RECORD, data={**form, "csrf_token": "forged"}).status_code == 403
    assert login(staff.chiyoda_clerk).post(RECORD, data=form).status_code == 403
    assert login(staff.osaka_keeper).post(RECORD, data=form).status_code in (403, 404)
    assert login(None).post(RECORD, data=form).status_code == 401
    with transaction(session_factory) as session:
        assert len(service.history(session, "juki", HANAKO)) == 1


def test_keeper_adds_a_record_once(staff: Staff, login: Login, settings: Settings) -> None:
    client = login(staff.chiyoda_keeper)
    html = client.get("/registries/juki/new").text
    taro = str(uuid.UUID(int=78))
    record = _flat(resident(name={"family": "山田", "given": "太郎"}))
    data = {
        "csrf_token": _csrf(html), "subject_id": taro, "valid_from": "2020-04-01",
        **{f"f.{k}": v for k, v in record.items()},
    }  # fmt: skip
    assert client.post("/registries/juki/new", data=data).status_code == 303
    assert "太郎" in client.get(f"/registries/juki/records/{taro}").text
    again = client.post("/registries/juki/new", data=data)
    assert again.status_code == 422 and "既にあります" in again.text


def _flat(data: dict[str, object], prefix: str = "") -> dict[str, str]:
    """Dotted path → text of every leaf (what the form's controls hold)."""
    found: dict[str, str] = {}
    for key, value in data.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            found |= _flat(value, path)
        else:
            found[path] = str(value)
    return found


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_record_page_with_errors_passes_axe(
    page: Page, live_server: str, staff: Staff, session_factory: sessionmaker[Session], lang: str
) -> None:
    with transaction(session_factory) as session:
        started = sessions.start(
            session, method="test", ial=2, aal=2, official_id=staff.chiyoda_keeper
        )
    page.context.add_cookies(
        [{"name": sessions.COOKIE, "value": started.token, "url": live_server}]
    )
    page.goto(f"/registries?lang={lang}")
    assert_no_axe_violations(page)
    page.goto(f"{RECORD}?lang={lang}")
    assert_no_axe_violations(page)
    page.fill("#f-address-postal_code", "123")
    page.fill("#f-valid_from", "2025-04-01")
    page.click("text=" + ("Record the change" if lang == "en" else "変更を記録する"))
    page.wait_for_selector("#error-summary")
    assert_no_axe_violations(page)
    assert_keyboard_accessible(page, f"/registries/juki?lang={lang}")
    page.goto(f"/registries/juki?lang={lang}&name=やまだ")
    assert_no_axe_violations(page)
