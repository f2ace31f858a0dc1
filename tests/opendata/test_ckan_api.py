"""The CKAN Action API: envelope, parameters, and who may call each action."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.opendata.conftest import CallAction, World, dataset


def test_envelope_and_site_actions(client: TestClient) -> None:
    response = client.get("/api/3/action/site_read")
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True and body["result"] is True
    assert body["help"].endswith("/api/3/action/help_show?name=site_read")
    status = client.get("/api/action/status_show").json()["result"]
    assert status["ckan_version"].startswith("2.")
    licenses = {lic["id"] for lic in client.get("/api/3/action/license_list").json()["result"]}
    assert {"cc-by-4.0", "gov-jp-2.0"} <= licenses


def test_unknown_action_is_bad_request(client: TestClient) -> None:
    response = client.get("/api/3/action/no_such_thing")
    assert response.status_code == 400
    assert response.json()["success"] is False


def test_create_show_update_patch_delete(world: World, call: CallAction) -> None:
    created = call("package_create", "editor", world, **dataset())
    assert created.status_code == 200, created.text
    pkg = created.json()["result"]
    assert pkg["organization"]["name"] == "chiyoda"
    assert pkg["license_title"].startswith("クリエイティブ")
    assert [t["name"] for t in pkg["tags"]] == ["医療", "防災"]
    assert pkg["resources"][0]["format"] == "CSV"

    shown = call("package_show", id="aed").json()["result"]
    assert shown["id"] == pkg["id"]

    updated = call("package_update", "editor", world, **{**shown, "title": "AED一覧（更新）"})
    assert updated.json()["result"]["title"] == "AED一覧（更新）"
    assert updated.json()["result"]["resources"][0]["id"] == pkg["resources"][0]["id"]

    patched = call("package_patch", "editor", world, id="aed", notes="新しい説明")
    assert patched.json()["result"]["notes"] == "新しい説明"
    assert patched.json()["result"]["title"] == "AED一覧（更新）"

    revisions = call("package_revision_list", id="aed").json()["result"]
    assert [r["revision"] for r in revisions] == [3, 2, 1]

    assert call("package_delete", "editor", world, id="aed").json()["success"] is True
    gone = call("package_show", id="aed")
    assert gone.status_code == 404
    assert gone.json()["error"]["__type"] == "Not Found Error"


def test_validation_errors_use_ckan_shape(world: World, call: CallAction) -> None:
    bad = call("package_create", "editor", world, **dataset(name="A B", spatial_lg_code="131017"))
    assert bad.status_code == 409
    error = bad.json()["error"]
    assert error["__type"] == "Validation Error"
    assert "name" in error and "spatial_lg_code" in error
    call("package_create", "editor", world, **dataset())
    clash = call("package_create", "editor", world, **dataset())
    assert "already in use" in clash.json()["error"]["name"][0]


def test_write_actions_need_the_right_capacity(world: World, call: CallAction) -> None:
    for who in (None, "member", "outsider"):
        response = call("package_create", who, world, **dataset())
        assert response.status_code == 403, who
        assert response.json()["error"]["__type"] == "Authorization Error"
    assert call("package_create", "editor", world, **dataset()).status_code == 200
    for who in (None, "member", "outsider"):
        assert call("package_patch", who, world, id="aed", title="x").status_code == 403, who
        assert call("package_delete", who, world, id="aed").status_code == 403, who
        assert (
            call(
                "resource_create", who, world, package_id="aed", url="https://example.jp/x.csv"
            ).status_code
            == 403
        ), who
    resource_id = call("package_show", id="aed").json()["result"]["resources"][0]["id"]
    for who in (None, "member", "outsider"):
        assert (
            call(
                "resource_update", who, world, id=resource_id, url="https://example.jp/y.csv"
            ).status_code
            == 403
        ), who
        assert call("resource_delete", who, world, id=resource_id).status_code == 403, who
    assert call("package_patch", "orgadmin", world, id="aed", title="x").status_code == 200
    assert call("package_patch", "sysadmin", world, id="aed", title="y").status_code == 200


def test_bad_token_is_refused(client: TestClient) -> None:
    response = client.get("/api/3/action/package_list", headers={"Authorization": "tsod_nope"})
    assert response.status_code == 403
    assert response.json()["error"]["__type"] == "Authorization Error"


def test_private_datasets_are_invisible_to_anonymous_and_outsiders(
    world: World, call: CallAction, client: TestClient
) -> None:
    call(
        "package_create",
        "editor",
        world,
        **dataset(name="secret", private=True, title="非公開 AED"),
    )
    call("package_create", "editor", world, **dataset(name="public"))
    for who in (None, "outsider"):
        assert call("package_show", who, world, id="secret").status_code == 404, who
        names = call("package_list", who, world, include_private=True).json()["result"]
        assert names == ["public"], who
        found = call("package_search", who, world, q="AED", include_private=True).json()["result"]
        assert [p["name"] for p in found["results"]] == ["public"], who
        org = call("organization_show", who, world, id="chiyoda", include_datasets=True)
        assert [p["name"] for p in org.json()["result"]["packages"]] == ["public"], who
        assert org.json()["result"]["package_count"] == 1, who
    resource_id = call("package_show", "member", world, id="secret").json()["result"]["resources"][
        0
    ]["id"]
    assert call("resource_show", id=resource_id).status_code == 404
    assert call("resource_show", "member", world, id=resource_id).status_code == 200
    for who in ("member", "editor", "sysadmin"):
        assert call("package_show", who, world, id="secret").status_code == 200, who
        found = call("package_search", who, world, q="AED", include_private=True).json()["result"]
        assert {p["name"] for p in found["results"]} == {"public", "secret"}, who
    # without include_private even members see public datasets only, as in CKAN
    found = call("package_search", "member", world, q="AED").json()["result"]
    assert [p["name"] for p in found["results"]] == ["public"]
    assert client.get("/api/3/action/tag_list").json()["result"] == ["医療", "防災"]


def test_organization_and_member_actions(world: World, call: CallAction) -> None:
    names = call("organization_list").json()["result"]
    assert names == ["chiyoda", "sapporo"]
    full = call("organization_list", all_fields=True).json()["result"]
    assert full[0]["lg_code"] == "131016"
    assert call("organization_create", "editor", world, name="x-city").status_code == 403
    created = call(
        "organization_create", "sysadmin", world, name="x-city", title="X市", lg_code="131016"
    )
    assert created.status_code == 200
    bad_code = call("organization_create", "sysadmin", world, name="y-city", lg_code="131017")
    assert bad_code.status_code == 409
    for who in (None, "member", "editor", "outsider"):
        response = call(
            "organization_member_create",
            who,
            world,
            id="chiyoda",
            username="newcomer",
            role="editor",
        )
        assert response.status_code == 403, who
    response = call(
        "organization_member_create",
        "orgadmin",
        world,
        id="chiyoda",
        username="newcomer",
        role="editor",
    )
    assert response.json()["result"]["capacity"] == "editor"
    users = call("organization_show", "orgadmin", world, id="chiyoda", include_users=True)
    assert "newcomer" in {u["name"] for u in users.json()["result"]["users"]}
    anonymous = call("organization_show", id="chiyoda", include_users=True).json()["result"]
    assert "users" not in anonymous


def test_groups(world: World, call: CallAction) -> None:
    assert call("group_create", "editor", world, name="bousai").status_code == 403
    assert call("group_create", "sysadmin", world, name="bousai", title="防災").status_code == 200
    call("package_create", "editor", world, **dataset(groups=[{"name": "bousai"}]))
    assert call("group_list").json()["result"] == ["bousai"]
    assert call("group_show", id="bousai").json()["result"]["package_count"] == 1


def test_get_parameters_and_form_posts(world: World, call: CallAction, client: TestClient) -> None:
    call("package_create", "editor", world, **dataset())
    response = client.get(
        "/api/3/action/package_search",
        params={"q": "AED", "facet.field": '["organization","tags"]', "rows": 5},
    )
    result = response.json()["result"]
    assert result["count"] == 1
    assert result["facets"]["organization"] == {"chiyoda": 1}
    assert result["search_facets"]["organization"]["items"][0]["display_name"] == "千代田区"
    form = client.post("/api/3/action/package_show", data={"id": "aed"})
    assert form.json()["result"]["name"] == "aed"
