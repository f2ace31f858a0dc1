"""Officials' pages: who may use them, and the whole flow through the forms."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.anonymize.conftest import CONFIG, RESIDENT, Login, World
from tsunagu.anonymize import workspace
from tsunagu.core.audit.models import AuditRecord
from tsunagu.core.config import Settings
from tsunagu.core.db import transaction

HTML = {"accept": "text/html"}


def _upload(client: TestClient, csv_text: str, config_text: str = "") -> object:
    return client.post(
        "/anonymize/work",
        files={"file": ("住民.csv", csv_text.encode(), "text/csv")},
        data={"config_text": config_text},
        headers=HTML,
        follow_redirects=False,
    )


def _work_id(response: object) -> str:
    location = response.headers["location"]  # type: ignore[attr-defined]
    match = re.fullmatch(r"/anonymize/work/([0-9a-f]{32})", location)
    assert match, location
    return match.group(1)


def _form_fields(columns: list[str], **roles: dict[str, str]) -> dict[str, str | list[str]]:
    """The configuration form as a browser posts it (defaults: every column deleted)."""
    fields: dict[str, str | list[str]] = {
        "algorithm": "optimal",
        "k": "5",
        "l": "2",
        "l_variant": "distinct",
        "t": "",
        "suppression_percent": "5",
    }
    for index, name in enumerate(columns):
        for key, value in roles.get(name, {"role": "delete"}).items():
            fields[f"{key}_{index}"] = value
    return fields


def _select(page: str, name: str) -> str:
    match = re.search(rf'<select id="{name}"[^>]*>(.*?)</select>', page, re.S)
    assert match, name
    return match.group(1)


def test_who_may_use_the_pages(login: Login, world: World, csv_text: str) -> None:
    publisher = login(official_id=world.officials["publisher"])
    work_id = _work_id(_upload(publisher, csv_text))
    pages = ["/anonymize", f"/anonymize/work/{work_id}"]
    actions = [
        "/anonymize/work",
        f"/anonymize/work/{work_id}/run",
        f"/anonymize/work/{work_id}/run-yaml",
        f"/anonymize/work/{work_id}/release",
        f"/anonymize/work/{work_id}/discard",
    ]
    for client, status in (
        (login(), 401),
        (login(person_id=RESIDENT), 403),
        (login(official_id=world.officials["clerk"]), 403),
        (login(official_id=world.officials["admin"]), 403),
    ):
        for path in pages:
            response = client.get(path, headers=HTML)
            assert response.status_code == status, path
            assert "text/html" in response.headers["content-type"]
        for path in actions:
            assert client.post(path, headers=HTML).status_code == status, path
    # Another official, even a data publisher of another organization, cannot open this work.
    osaka = login(official_id=world.officials["osaka"])
    assert osaka.get(f"/anonymize/work/{work_id}", headers=HTML).status_code == 404
    assert osaka.post(f"/anonymize/work/{work_id}/discard").status_code == 404
    assert publisher.get(f"/anonymize/work/{work_id}").status_code == 200


def test_forms_need_the_csrf_token(login: Login, world: World, csv_text: str) -> None:
    forged = login(official_id=world.officials["publisher"], csrf=False)
    assert _upload(forged, csv_text).status_code == 403
    assert forged.get("/anonymize").status_code == 200
    page = forged.get("/anonymize").text
    assert 'name="csrf_token" value="' in page


def test_whole_flow_through_the_forms(
    login: Login,
    world: World,
    csv_text: str,
    settings: Settings,
    session_factory: sessionmaker[Session],
) -> None:
    publisher = login(official_id=world.officials["publisher"])
    index = publisher.get("/anonymize")
    assert index.status_code == 200 and "表のアップロード" in index.text
    assert "電子公印" in index.text
    work_id = _work_id(_upload(publisher, csv_text))
    form = publisher.get(f"/anonymize/work/{work_id}")
    assert form.status_code == 200
    columns = re.findall(r'<th scope="row" id="c\d+">([^ <]+)', form.text)
    assert columns == ["resident_id", "age", "sex", "municipality", "household_size", "income_band"]
    # municipality is suggested the municipality hierarchy, age numeric intervals
    assert 'value="municipality" selected' in _select(form.text, "hierarchy_3")
    assert 'value="interval" selected' in _select(form.text, "hierarchy_1")
    assert 'id="result"' not in form.text  # nothing run yet

    fields = _form_fields(
        columns,
        resident_id={"role": "identifier", "kind": "linking_code"},
        age={"role": "quasi_identifier", "hierarchy": "interval", "widths": "5, 10, 20"},
        sex={"role": "quasi_identifier", "hierarchy": "suppress"},
        municipality={"role": "quasi_identifier", "hierarchy": "municipality"},
        income_band={"role": "sensitive"},
    )
    ran = publisher.post(f"/anonymize/work/{work_id}/run", data=fields, follow_redirects=False)
    assert ran.status_code == 303, ran.text
    preview = publisher.get(f"/anonymize/work/{work_id}")
    assert 'id="result"' in preview.text and "再識別リスク" in preview.text
    assert "widths:" in preview.text and "type: municipality" in preview.text  # the YAML shown
    assert 'role="img"' in preview.text
    # the form now stands for the run, ready to be adjusted
    assert 'value="quasi_identifier" selected' in _select(preview.text, "role_1")
    assert 'value="linking_code" selected' in _select(preview.text, "kind_0")
    assert 'value="delete" selected' in _select(preview.text, "role_4")
    assert (
        'id="widths_1" name="widths_1" type="text" inputmode="decimal" size="12" value="5, 10, 20"'
        in (preview.text)
    )

    recorded = publisher.post(
        f"/anonymize/work/{work_id}/release",
        data={"title": "住民の属性 (匿名加工情報)", "categories": "年齢, 性別, 住所 (都道府県)",
              "provision_method": "オープンデータカタログでの公開"},
        follow_redirects=False,
    )  # fmt: skip
    assert recorded.status_code == 303, recorded.text
    release_page = recorded.headers["location"]
    release_id = release_page.rsplit("/", 1)[1]
    # the work area, and with it the raw input, is gone; the released file is kept
    assert not (settings.var_dir / "anonymize" / "work" / work_id).exists()
    assert (settings.var_dir / "anonymize" / "releases" / f"{release_id}.csv").is_file()
    assert publisher.get(f"/anonymize/work/{work_id}").status_code == 404
    with transaction(session_factory) as session:
        trail = session.scalars(
            select(AuditRecord.action)
            .where(AuditRecord.object_id == work_id)
            .order_by(AuditRecord.seq)
        ).all()
    assert trail == ["anonymize.work.upload", "anonymize.work.run"]
    page = publisher.get(release_page)
    assert page.status_code == 200 and "記録済み" in page.text
    assert "先に電子公印で署名してください" in page.text
    output = publisher.get(f"{release_page}/output.csv")
    assert output.status_code == 200 and output.text.startswith("age,sex,municipality")

    sealed = publisher.post(f"{release_page}/sign", follow_redirects=False)
    assert sealed.status_code == 303
    page = publisher.get(release_page)
    assert "電子公印は有効です" in page.text and "カタログで公開する" in page.text
    published = publisher.post(
        f"{release_page}/publish", data={"license_id": "gov-jp-2.0"}, follow_redirects=False
    )
    assert published.status_code == 303
    page = publisher.get(release_page)
    assert "公開済み" in page.text and f"/dataset/anonymized-{release_id}" in page.text
    dataset = login().get("/api/3/action/package_show", params={"id": f"anonymized-{release_id}"})
    assert dataset.json()["result"]["license_id"] == "gov-jp-2.0"
    assert "住民の属性" in publisher.get("/anonymize").text
    # the same page in English
    english = publisher.get(f"{release_page}?lang=en")
    assert "The seal is valid." in english.text and "Published" in english.text


def test_yaml_runs_at_once_and_mistakes_are_shown(
    login: Login, world: World, csv_text: str
) -> None:
    publisher = login(official_id=world.officials["publisher"])
    work_id = _work_id(_upload(publisher, csv_text, CONFIG))
    assert 'id="result"' in publisher.get(f"/anonymize/work/{work_id}").text
    wrong = publisher.post(
        f"/anonymize/work/{work_id}/run-yaml",
        data={"config_text": "attributes: {salary: {role: quasi_identifier}}"},
    )
    assert wrong.status_code == 422 and 'role="alert"' in wrong.text
    assert "salary" in wrong.text and "設定にある列がデータにありません" in wrong.text
    # the previous run stays in place and the pasted text is kept for correction
    assert 'id="result"' in wrong.text and "salary: {role: quasi_identifier}" in wrong.text
    no_qi = publisher.post(
        f"/anonymize/work/{work_id}/run", data=_form_fields(["resident_id"]), headers=HTML
    )
    assert no_qi.status_code == 422 and "quasi_identifier" in no_qi.text
    missing = publisher.post(
        f"/anonymize/work/{work_id}/release", data={"title": "", "provision_method": ""}
    )
    assert missing.status_code == 422 and "名称と提供の方法を入力してください" in missing.text
    discarded = publisher.post(f"/anonymize/work/{work_id}/discard", follow_redirects=False)
    assert discarded.status_code == 303
    assert publisher.get(f"/anonymize/work/{work_id}").status_code == 404


def test_page_uploads_are_limited_by_size_and_type(
    login: Login,
    world: World,
    csv_text: str,
    monkeypatch: pytest.MonkeyPatch,
    settings: Settings,
) -> None:
    publisher = login(official_id=world.officials["publisher"])
    parquet = publisher.post(
        "/anonymize/work", files={"file": ("t.parquet", b"PAR1....", "application/octet-stream")}
    )
    assert parquet.status_code == 415 and ".csv のみです" in parquet.text
    ragged = publisher.post(
        "/anonymize/work", files={"file": ("t.csv", b"a,b\n1,2,3\n", "text/csv")}, headers=HTML
    )
    assert ragged.status_code == 422 and "入力データを処理できません" in ragged.text
    assert not any((settings.var_dir / "anonymize" / "work").glob("*"))
    none = publisher.post("/anonymize/work", data={"config_text": ""})
    assert none.status_code == 422 and "CSV ファイルを選んでください" in none.text
    monkeypatch.setattr(workspace, "MAX_UPLOAD_BYTES", 2048)
    large = _upload(publisher, csv_text)
    assert large.status_code == 413 and "ファイルが大きすぎます" in large.text  # type: ignore[attr-defined]


def test_release_pages_of_other_organizations_look_absent(
    login: Login, world: World, csv_text: str
) -> None:
    publisher = login(official_id=world.officials["publisher"])
    work_id = _work_id(_upload(publisher, csv_text, CONFIG))
    recorded = publisher.post(
        f"/anonymize/work/{work_id}/release",
        data={"title": "t", "provision_method": "p"},
        follow_redirects=False,
    )
    release_page = recorded.headers["location"]
    osaka = login(official_id=world.officials["osaka"])
    for path in (release_page, f"{release_page}/output.csv"):
        assert osaka.get(path, headers=HTML).status_code == 404
    for action in ("sign", "publish"):
        assert osaka.post(f"{release_page}/{action}").status_code == 404
    assert login().get(release_page, headers=HTML).status_code == 401
    assert login(person_id=RESIDENT).get(release_page, headers=HTML).status_code == 403
    assert "まだありません" in osaka.get("/anonymize").text  # Osaka's list is its own
