"""The official console: who may open and act on what, filters and paging, actions and refusals."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tsunagu.core.clock import tokyo_today
from tsunagu.core.db import transaction
from tsunagu.procedure import service
from tsunagu.procedure.models import Application

from .conftest import Login, World, tennyu_form

QUEUE = "/console/applications"
NOBODY = "00000000-0000-0000-0000-000000000000"
WHO = ("anonymous", "applicant", "resident", "other_org", "counter", "colleague", "assigned")


def late_tennyu(**overrides: Any) -> dict[str, Any]:
    """A 転入届 the rules cannot decide (notified after the period): it waits for a reviewer."""
    form = tennyu_form(**overrides)
    form["moved_in_on"] = (tokyo_today() - timedelta(days=20)).isoformat()
    return form


def file(world: World, form: dict[str, Any] | None = None) -> Application:
    actor = world.person(world.hanako)
    with transaction(world.factory) as session:
        draft = service.create(session, actor, "tennyu", form or late_tennyu())
        signature = world.sign(world.hanako, service.document(draft))
        return service.submit(session, actor, draft.id, signature, store=world.store).application


def assign(world: World, application_id: str, official: str) -> None:
    with transaction(world.factory) as session:
        service.assign(session, world.official(official), application_id)


@pytest.fixture
def browsers(world: World, login: Login, app: FastAPI) -> dict[str, TestClient]:
    """One client per kind of visitor (CSRF header set for the logged-in ones)."""
    anonymous = TestClient(app, follow_redirects=False)
    clients = {
        "anonymous": anonymous,
        "applicant": login(person=world.hanako),
        "resident": login(person=world.stranger),
        "other_org": login(official=world.chiyoda_reviewer),
        "counter": login(official=world.osaka_counter),
        "colleague": login(official=world.osaka_reviewer2),
        "assigned": login(official=world.osaka_reviewer),
    }
    for client in clients.values():
        client.follow_redirects = False
        client.headers["accept"] = "text/html"
    return clients


def _expect_login(response: Any, back: str) -> None:
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")
    assert back.replace("/", "%2F") in response.headers["location"]


@pytest.mark.parametrize("who", WHO)
def test_who_may_open_the_queue_and_the_detail(
    world: World, browsers: dict[str, TestClient], who: str
) -> None:
    app = file(world)
    assign(world, app.id, world.osaka_reviewer)
    detail = f"{QUEUE}/{app.id}"
    queue, page = browsers[who].get(QUEUE), browsers[who].get(detail)
    if who == "anonymous":
        _expect_login(queue, QUEUE)
        _expect_login(page, detail)
    elif who in ("colleague", "assigned"):
        assert queue.status_code == page.status_code == 200
        assert app.id in queue.text and app.id in page.text
    elif who == "other_org":  # another municipality's reviewer: its own (empty) queue
        assert queue.status_code == 200 and app.id not in queue.text
        assert page.status_code == 404
    else:  # the applicant, another resident, counter staff of the owner
        assert queue.status_code == page.status_code == 404
    if page.status_code == 404:  # answered exactly like an application that does not exist
        missing = browsers[who].get(f"{QUEUE}/{NOBODY}")
        assert missing.status_code == 404
        assert page.text.replace(app.id, NOBODY) == missing.text


ACTIONS = {
    "assign": {},
    "return": {"reason": "続柄を確認してください。"},
    "decision": {"outcome": "reject", "reason": "届出期間を過ぎています。"},
    "comments": {"body": "確認中"},
}


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("action", list(ACTIONS))
def test_who_may_act(world: World, browsers: dict[str, TestClient], who: str, action: str) -> None:
    app = file(world)
    assign(world, app.id, world.osaka_reviewer)
    path = f"{QUEUE}/{app.id}/{action}"
    response = browsers[who].post(path, data=ACTIONS[action])
    with transaction(world.factory) as session:
        after = session.get(Application, app.id)
        assert after is not None
        status, comments = (
            after.status,
            service.comments(session, world.official(world.osaka_reviewer), app.id),
        )
    if who == "anonymous":
        _expect_login(response, f"{QUEUE}/{app.id}")
    elif who in ("applicant", "resident", "other_org", "counter"):
        assert response.status_code == 404
    elif who == "colleague" and action in ("return", "decision"):  # not assigned to them
        assert response.status_code == 403
        assert "この申請の担当者ではありません。" in response.text
    else:
        assert response.status_code == 303, response.text
        assert response.headers["location"].startswith(f"{QUEUE}/{app.id}?done=")
        return
    # nothing changed for anyone refused
    assert status == "in_review" and comments == []


def test_changes_need_the_csrf_token(world: World, browsers: dict[str, TestClient]) -> None:
    app = file(world)
    reviewer = browsers["assigned"]
    del reviewer.headers["x-csrf-token"]
    response = reviewer.post(f"{QUEUE}/{app.id}/assign", data={})
    assert response.status_code == 403
    page = reviewer.get(f"{QUEUE}/{app.id}").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    done = reviewer.post(f"{QUEUE}/{app.id}/assign", data={"csrf_token": token.group(1)})
    assert done.status_code == 303


def test_review_through_the_pages(
    world: World, browsers: dict[str, TestClient], login: Login
) -> None:
    """Assign, return with a reason (the applicant reads it), resubmission, approval."""
    app = file(world, late_tennyu(household={"head_name": "山田 花子", "relationship": "同居人"}))
    reviewer = browsers["assigned"]
    detail = f"{QUEUE}/{app.id}"
    page = reviewer.get(detail).text
    assert "転入届" in page and "世帯主との続柄" in page and "同居人" in page
    assert "住民票" in page and "千代田区" in page  # the evidence and its keeper
    assert "電子署名付きで提出（証明情報を照会）" in page  # the history, from the audit trail
    done = reviewer.post(f"{detail}/assign", data={"official_id": world.osaka_reviewer})
    assert done.headers["location"] == f"{detail}?done=assigned"
    assert "担当者を割り当てました。" in reviewer.get(done.headers["location"]).text
    # a return needs a reason: shown inline, nothing changes
    blank = reviewer.post(f"{detail}/return", data={"reason": "  "})
    assert blank.status_code == 422
    assert 'aria-invalid="true"' in blank.text and "1〜4000 文字" in blank.text
    reason = "続柄を確認してください。"
    returned = reviewer.post(f"{detail}/return", data={"reason": reason})
    assert returned.status_code == 303
    hanako = browsers["applicant"]
    shown = hanako.get(f"/api/applications/{app.id}/comments").json()
    assert [c["body"] for c in shown] == [reason]
    assert hanako.get(f"/api/applications/{app.id}").json()["status"] == "returned"
    assert reason in hanako.get(f"/applications/{app.id}").text  # the applicant's status page
    # the applicant corrects and signs again; the rules still leave it to a person
    actor = world.person(world.hanako)
    with transaction(world.factory) as session:
        service.update(session, actor, app.id, late_tennyu())
        draft = service.get(session, actor, app.id)
        signature = world.sign(world.hanako, service.document(draft))
        assert service.submit(
            session, actor, app.id, signature, store=world.store
        ).application.status == ("submitted")
    reviewer.post(f"{detail}/assign", data={})
    # a decision needs an outcome; what was typed stays
    undecided = reviewer.post(f"{detail}/decision", data={"reason": "確認しました。"})
    assert undecided.status_code == 422 and "確認しました。</textarea>" in undecided.text
    approved = reviewer.post(
        f"{detail}/decision", data={"outcome": "approve", "reason": "確認しました。"}
    )
    assert approved.headers["location"] == f"{detail}?done=approved"
    page = reviewer.get(approved.headers["location"]).text
    assert "承認" in page and "decision.pdf" not in page  # the worker has not issued it yet
    assert "電子署名をして発行しているところです。" in page
    world.drain()
    page = reviewer.get(detail).text
    assert f"/api/applications/{app.id}/decision.pdf" in page
    assert reviewer.get(f"/api/applications/{app.id}/decision.pdf").content.startswith(b"%PDF")
    # the same action again: the state refuses it, in the page's language
    again = reviewer.post(
        f"{detail}/decision?lang=en", data={"outcome": "approve", "reason": "again"}
    )
    assert again.status_code == 409 and "cannot be approve" in again.text


def test_queue_filters_sorts_counts_and_pages(
    world: World, browsers: dict[str, TestClient]
) -> None:
    first, second, third = file(world), file(world), file(world)
    assign(world, first.id, world.osaka_reviewer)
    assign(world, second.id, world.osaka_reviewer2)
    today = tokyo_today()
    with transaction(world.factory) as session:  # one overdue, one due today, one on time
        for app, due in ((first, -3), (second, 0), (third, 5)):
            row = session.get(Application, app.id)
            assert row is not None
            row.due_on = today + timedelta(days=due)
    reviewer = browsers["assigned"]

    def listed(**query: str) -> list[str]:
        html = reviewer.get(QUEUE, params=query).text
        return re.findall(rf'href="{QUEUE}/([0-9a-f-]{{36}})"', html)

    assert listed() == [first.id, second.id, third.id]
    assert listed(order="-due") == [third.id, second.id, first.id]
    assert listed(sla="overdue") == [first.id]
    assert listed(sla="due_today") == [second.id]
    assert listed(sla="on_time") == [third.id]
    assert listed(assigned="me") == [first.id]
    assert listed(assigned="unassigned") == [third.id]
    assert listed(status="submitted") == [third.id]
    assert listed(procedure="tenkyo") == []
    page = reviewer.get(QUEUE).text
    assert "期限超過" in page and "本日期限" in page and "期限内" in page  # badges in words
    assert "審査中: 2" in page and "提出済み: 1" in page
    english = reviewer.get(QUEUE, params={"lang": "en"}).text
    assert "Overdue" in english and "In review: 2" in english
    assert reviewer.get(QUEUE, params={"sla": "late"}).status_code == 422


def test_queue_pages(
    world: World, browsers: dict[str, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tsunagu.procedure import console

    monkeypatch.setattr(console, "PAGE_SIZE", 2)
    ids = {file(world).id for _ in range(3)}
    reviewer = browsers["assigned"]
    first = reviewer.get(QUEUE).text
    second = reviewer.get(QUEUE, params={"page": "2"}).text
    found = set(re.findall(rf'href="{QUEUE}/([0-9a-f-]{{36}})"', first + second))
    assert found == ids and "page=2" in first and "page=1" in second


def test_comments_internal_and_to_the_applicant(
    world: World, browsers: dict[str, TestClient]
) -> None:
    app = file(world)
    reviewer, hanako = browsers["colleague"], browsers["applicant"]
    detail = f"{QUEUE}/{app.id}"
    reviewer.post(f"{detail}/comments", data={"body": "内部メモ"})
    reviewer.post(f"{detail}/comments", data={"body": "ご確認ください", "to_applicant": "1"})
    empty = reviewer.post(f"{detail}/comments", data={"body": "", "to_applicant": "1"})
    assert empty.status_code == 422 and 'id="comment-body-error"' in empty.text
    page = reviewer.get(detail).text
    assert "内部メモ" in page and "ご確認ください" in page and "osaka-rev2" in page
    shown = hanako.get(f"/api/applications/{app.id}/comments").json()
    assert [c["body"] for c in shown] == ["ご確認ください"]


def test_the_json_queue_takes_the_same_filters(
    world: World, browsers: dict[str, TestClient]
) -> None:
    first, second = file(world), file(world)
    assign(world, first.id, world.osaka_reviewer)
    api = browsers["assigned"]

    def ids(**query: str) -> list[str]:
        response = api.get("/api/applications/queue", params=query)
        assert response.status_code == 200, response.text
        return [a["id"] for a in response.json()]

    assert ids(assigned="me") == [first.id]
    assert ids(assigned="unassigned", status="submitted") == [second.id]
    assert set(ids(sla="on_time")) == {first.id, second.id}
    assert api.get("/api/applications/queue", params={"status": "nonsense"}).status_code == 422
    assert browsers["counter"].get("/api/applications/queue").status_code == 403


def test_a_reviewer_logging_in_lands_on_the_queue(world: World, app: FastAPI) -> None:
    from tsunagu.identity import auth

    with transaction(world.factory) as session:
        auth.set_password(
            session, world.settings, password="a long password 12", label="osaka-rev",
            official_id=world.osaka_reviewer, actor="test",
        )  # fmt: skip
        code = auth.current_totp(world.settings, session, "osaka-rev")
    with TestClient(app, follow_redirects=False) as client:
        token = re.search(r'name="login_csrf" value="([^"]+)"', client.get("/login").text)
        assert token is not None
        response = client.post(
            "/login/password",
            data={"login_name": "osaka-rev", "password": "a long password 12", "totp": code,
                  "login_csrf": token.group(1)},
        )  # fmt: skip
    assert response.status_code == 303 and response.headers["location"] == QUEUE


def test_assign_to_a_colleague_but_not_to_counter_staff(
    world: World, browsers: dict[str, TestClient]
) -> None:
    app = file(world)
    reviewer = browsers["assigned"]
    detail = f"{QUEUE}/{app.id}"
    refused = reviewer.post(f"{detail}/assign", data={"official_id": world.osaka_counter})
    assert refused.status_code == 422
    assert "この機関の審査担当の職員ではありません。" in refused.text
    assert f'<option value="{world.osaka_counter}"' not in refused.text  # reviewers only
    assert (
        reviewer.post(f"{detail}/assign", data={"official_id": world.osaka_reviewer2}).status_code
        == 303
    )
    with transaction(world.factory) as session:
        row = session.get(Application, app.id)
        assert row is not None and row.assigned_to == world.osaka_reviewer2
    assert "osaka-rev2" in reviewer.get(QUEUE).text
