"""The JSON API end to end, and who may call each endpoint."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from tsunagu.core.clock import tokyo_today
from tsunagu.trust import protocol

from .conftest import Login, World, tennyu_form


def _submit(world: World, client: TestClient, person: str, created: dict) -> dict:
    cms = protocol.b64(world.sign(person, created["document"]))
    response = client.post(f"/api/applications/{created['id']}/submit", json={"cms": cms})
    assert response.status_code == 200, response.text
    return response.json()


# The Japanese procedures issue #5 names (packs may add more, e.g. for life events).
ISSUE_PROCEDURES = {
    "tenshutsu", "tennyu", "tenkyo", "kokuho", "jidou_teate", "hoiku", "kaigo_nintei", "shibou",
    "juminhyo_kofu", "kazei_shomei_kofu", "risai_shomei", "hisaisha_shien", "shikaku_shutoku",
}  # fmt: skip


def test_catalog_is_public(client: TestClient) -> None:
    listed = {p["id"] for p in client.get("/api/procedures").json()}
    assert listed >= ISSUE_PROCEDURES  # and those the life-event bundles add
    tennyu = client.get("/api/procedures/tennyu").json()
    assert tennyu["evidence"][0]["replaces"]["ja"] == "転出証明書"
    assert client.get("/api/procedures/nothing").status_code == 404


def test_tennyu_through_the_api(world: World, client: TestClient, login: Login) -> None:
    assert client.post("/api/procedures/tennyu/applications", json={}).status_code == 401
    hanako = login(person=world.hanako)
    created = hanako.post("/api/procedures/tennyu/applications", json={"form": tennyu_form()})
    assert created.status_code == 200, created.text
    submitted = _submit(world, hanako, world.hanako, created.json())
    assert submitted["status"] == "approved" and submitted["automatic"]
    assert submitted["attachments_requested"] == 0
    assert [e["outcome"] for e in submitted["evidence"]] == ["provided"]
    # the answer shows the evidence as stored: the same as any later read of the application
    read = hanako.get(f"/api/applications/{submitted['id']}").json()
    assert read["evidence"] == submitted["evidence"]
    assert read["submitted_at"] == submitted["submitted_at"]
    assert [a["id"] for a in hanako.get("/api/applications").json()] == [submitted["id"]]


def test_form_errors_reach_the_client(world: World, login: Login) -> None:
    hanako = login(person=world.hanako)
    created = hanako.post(
        "/api/procedures/tennyu/applications", json={"form": {"moved_in_on": "x"}}
    ).json()
    cms = protocol.b64(world.sign(world.hanako, created["document"]))
    response = hanako.post(f"/api/applications/{created['id']}/submit", json={"cms": cms})
    assert response.status_code == 422
    errors = response.json()["error"]["errors"]
    assert {"moved_in_on", "new_address"} <= {e["path"] for e in errors}


def test_who_may_call_what(world: World, login: Login) -> None:
    hanako = login(person=world.hanako)
    late = tennyu_form()
    late["moved_in_on"] = (tokyo_today() - timedelta(days=30)).isoformat()
    created = hanako.post("/api/procedures/tennyu/applications", json={"form": late}).json()
    app_id = _submit(world, hanako, world.hanako, created)["id"]
    path = f"/api/applications/{app_id}"
    other_resident = login(person=world.taro)
    other_office = login(official=world.chiyoda_reviewer)
    counter = login(official=world.osaka_counter)
    reviewer = login(official=world.osaka_reviewer)
    outsiders = (other_resident, other_office, counter)
    calls: list[tuple[str, str, dict | None]] = [
        ("get", path, None),
        ("get", f"{path}/comments", None),
        ("post", f"{path}/comments", {"body": "x"}),
        ("post", f"{path}/assign", {}),
        ("post", f"{path}/return", {"reason": "x"}),
        ("post", f"{path}/decision", {"approved": True, "reason": "x"}),
        ("post", f"{path}/withdraw", None),
        ("put", f"{path}/form", {"form": late}),
    ]
    for outsider in outsiders:
        for method, url, body in calls:
            response = outsider.request(method, url, json=body)
            assert response.status_code == 404, (method, url, response.text)
    for outsider in (other_resident, counter):
        assert outsider.get("/api/applications/queue").status_code == 403
    assert other_office.get("/api/applications/queue").json() == []
    # the applicant cannot review their own application
    assert hanako.post(f"{path}/assign", json={}).status_code == 404
    assert (
        hanako.post(f"{path}/decision", json={"approved": True, "reason": "x"}).status_code == 404
    )
    # a state-changing call without the CSRF token is refused
    token = reviewer.headers.pop("x-csrf-token")
    assert reviewer.post(f"{path}/assign", json={}).status_code == 403
    reviewer.headers["x-csrf-token"] = token
    assert [a["id"] for a in reviewer.get("/api/applications/queue").json()] == [app_id]
    assert reviewer.get(path).json()["evidence"][0]["evidence_type"] == "juminhyo"
    assert reviewer.post(f"{path}/assign", json={}).json()["status"] == "in_review"
    returned = reviewer.post(f"{path}/return", json={"reason": "日付を確認してください"})
    assert returned.json()["status"] == "returned"
    assert [c["body"] for c in hanako.get(f"{path}/comments").json()] == ["日付を確認してください"]
    assert hanako.post(f"{path}/withdraw").json()["status"] == "withdrawn"


def test_a_filer_sees_only_what_the_registers_said_about_them(world: World, login: Login) -> None:
    """A proxy's filing fetches the principal's record for the office, not for the proxy."""
    world.power_of_attorney(world.hanako, world.stranger, ["tennyu"])
    agent = login(person=world.stranger)
    created = agent.post(
        "/api/procedures/tennyu/applications",
        json={"form": tennyu_form(), "on_behalf_of": {"kind": "person", "id": world.hanako}},
    )
    assert created.status_code == 200, created.text
    submitted = _submit(world, agent, world.stranger, created.json())
    path = f"/api/applications/{submitted['id']}"
    assert [(e["outcome"], e["records"]) for e in submitted["evidence"]] == [("provided", [])]
    assert agent.get(path).json()["evidence"][0]["records"] == []
    hanako = login(person=world.hanako)
    assert hanako.get(path).json()["evidence"][0]["records"]  # about her: she sees it
    reviewer = login(official=world.osaka_reviewer)
    assert reviewer.get(path).json()["evidence"][0]["records"]


def test_lower_assurance_session_is_refused(world: World, login: Login) -> None:
    weak = login(person=world.hanako, ial=2)
    response = weak.post("/api/procedures/tennyu/applications", json={"form": tennyu_form()})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "assurance_too_low"
    # a procedure at IAL2 accepts the same session
    ok = weak.post(
        "/api/procedures/juminhyo_kofu/applications",
        json={"form": {"copies": 1, "purpose": "就職"}},
    )
    assert ok.status_code == 200, ok.text
