"""Japanese search: analysis, ranking, facets and filters on both backends."""

from __future__ import annotations

import pytest

from tests.opendata.conftest import CallAction, World, dataset
from tsunagu.opendata import search


def test_analysis_uses_normalized_forms_and_compounds() -> None:
    assert search.analyze("ＡＥＤ設置箇所") == ["aed", "設置", "箇所"]
    assert "トイレ" in search.analyze("ﾄｲﾚ")
    terms = search.analyze("自動体外式除細動器")
    assert "自動体外式除細動器" in terms and "細動" in terms
    assert "の" not in search.analyze("避難場所の一覧")


def test_suffixes_are_optional_in_queries() -> None:
    assert search.query_terms("避難所") == ["避難"]
    assert search.query_terms("保育所") == ["保育"]
    assert search.query_terms("所") == ["所"]


@pytest.fixture
def catalog(world: World, call: CallAction) -> World:
    call("group_create", "sysadmin", world, name="bousai", title="防災")
    specs = [
        dataset(
            name="evacuation",
            title="指定緊急避難場所一覧",
            notes="災害時の避難場所",
            tags=[{"name": "防災"}],
            groups=[{"name": "bousai"}],
            resources=[{"name": "一覧", "url": "https://e.jp/a.csv", "format": "CSV"}],
        ),
        dataset(
            name="shelter-notes",
            title="防災マップ",
            notes="避難の手引き（PDF）",
            tags=[{"name": "防災"}],
            resources=[{"name": "地図", "url": "https://e.jp/m.pdf", "format": "PDF"}],
        ),
        dataset(
            name="nursery",
            title="保育園一覧",
            notes="認可保育園",
            tags=[{"name": "子育て"}],
            license_id="gov-jp-2.0",
            resources=[{"name": "一覧", "url": "https://e.jp/n.xlsx", "format": "XLSX"}],
        ),
        dataset(
            name="sapporo-evac",
            org="sapporo",
            title="避難場所",
            tags=[{"name": "防災"}],
            resources=[{"name": "一覧", "url": "https://e.jp/s.csv", "format": "CSV"}],
        ),
    ]
    for spec in specs:
        who = "outsider" if spec["owner_org"] == "sapporo" else "editor"
        assert call("package_create", who, world, **spec).status_code == 200
    return world


def names(
    call: CallAction, who: str | None = None, world: World | None = None, **params: object
) -> list[str]:
    response = call("package_search", who, world, **params)
    assert response.status_code == 200, response.text
    return [p["name"] for p in response.json()["result"]["results"]]


def test_hinanjo_finds_designated_emergency_evacuation_sites(
    catalog: World, call: CallAction
) -> None:
    found = names(call, q="避難所")
    assert found[0] in ("evacuation", "sapporo-evac")
    assert set(found) == {"evacuation", "sapporo-evac", "shelter-notes"}
    # title matches outrank a match in the description only
    assert found[-1] == "shelter-notes"
    assert names(call, q="保育所") == ["nursery"]
    assert names(call, q="ｴｰｲｰﾃﾞｨｰ 存在しない語") == []


def test_filters_facets_sort_and_paging(catalog: World, call: CallAction) -> None:
    assert names(call, fq="organization:sapporo") == ["sapporo-evac"]
    assert set(names(call, fq='tags:"防災" res_format:CSV')) == {"evacuation", "sapporo-evac"}
    assert names(call, fq="license_id:gov-jp-2.0") == ["nursery"]
    assert names(call, fq="groups:bousai") == ["evacuation"]
    assert "nursery" not in names(call, fq="-tags:子育て", rows=10)
    assert names(call, q="name:nursery") == ["nursery"]
    result = call(
        "package_search",
        q="避難",
        **{"facet.field": ["organization", "tags", "res_format", "license_id"]},
    )
    facets = result.json()["result"]["facets"]
    assert facets["organization"] == {"chiyoda": 2, "sapporo": 1}
    assert facets["tags"] == {"防災": 3}
    assert facets["res_format"] == {"CSV": 2, "PDF": 1}
    ordered = names(call, sort="name asc", rows=2)
    assert ordered == ["evacuation", "nursery"]
    assert names(call, sort="name asc", rows=2, start=2) == ["sapporo-evac", "shelter-notes"]
    assert call("package_search", q="*:*").json()["result"]["count"] == 4


def test_bad_queries_are_search_query_errors(catalog: World, call: CallAction) -> None:
    for params in (
        {"fq": "secret_field:x"},
        {"sort": "nothing asc"},
        {"facet.field": '["bogus"]'},
        {"rows": "many"},
    ):
        response = call("package_search", **params)
        assert response.status_code == 409, params
        assert response.json()["error"]["__type"] == "Search Query Error", params


def test_index_follows_updates_and_deletes(catalog: World, call: CallAction) -> None:
    call("package_patch", "editor", catalog, id="nursery", title="認定こども園一覧")
    assert names(call, q="こども園") == ["nursery"]
    call("package_delete", "editor", catalog, id="nursery")
    assert names(call, q="こども園") == []


def test_every_search_sees_committed_changes_of_other_sessions(
    catalog: World, session_factory
) -> None:  # type: ignore[no-untyped-def]
    """The in-memory snapshot is a cache checked against the index token, never stale."""
    from tsunagu.core.db import transaction
    from tsunagu.opendata import auth, service

    def count(**params: object) -> int:
        with session_factory() as session:
            return service.package_search(session, auth.ANONYMOUS, params, "http://t")["count"]

    assert count(q="保育") == 1
    with transaction(session_factory) as session:
        editor = auth.actor_for_user(session, auth.get_user(session, "editor"))
        service.update_package(
            session, editor, {"id": "nursery", "title": "保育施設"}, "http://t", patch=True
        )
        # the writer's own session sees its change before commit
        own = service.package_search(session, editor, {"q": "保育施設"}, "http://t")
        assert own["count"] == 1
    assert count(q="保育施設") == 1
    with session_factory() as session:
        editor = auth.actor_for_user(session, auth.get_user(session, "editor"))
        service.delete_package(session, editor, "nursery", "http://t")
        assert service.package_search(session, editor, {"q": "保育"}, "http://t")["count"] == 0
        session.rollback()  # the token of the rolled-back change is never seen again
    assert count(q="保育") == 1
    facets = {"facet.field": '["license_id"]'}
    with session_factory() as session:
        result = service.package_search(session, auth.ANONYMOUS, facets, "http://t")
    assert result["facets"]["license_id"] == {"cc-by-4.0": 3, "gov-jp-2.0": 1}


def test_sorting_by_several_keys_and_private_visibility(catalog: World, call: CallAction) -> None:
    call("package_create", "editor", catalog, **dataset(name="secret", private=True))
    call("package_create", "editor", catalog, **dataset(name="aed-copy", title="防災マップ"))
    titles = {
        "evacuation": "指定緊急避難場所一覧",
        "sapporo-evac": "避難場所",
        "nursery": "保育園一覧",
        "shelter-notes": "防災マップ",
        "aed-copy": "防災マップ",
    }
    by_title = sorted(sorted(titles), key=lambda n: titles[n], reverse=True)  # stable
    assert names(call, sort="title_string desc, name asc", rows=10) == by_title
    assert names(call, sort="title_string desc, name asc", rows=2, start=1) == by_title[1:3]
    assert "secret" not in names(call, include_private=True, rows=10)
    assert "secret" in names(call, "member", catalog, include_private=True, rows=10)
    assert "secret" not in names(call, "outsider", catalog, include_private=True, rows=10)
    assert "secret" not in names(call, "member", catalog, rows=10)  # only when asked for


def test_snapshot_catches_up_with_changes_and_reloads_after_removals(
    catalog: World, call: CallAction, session_factory
) -> None:  # type: ignore[no-untyped-def]
    from tsunagu.opendata import snapshot

    def live(snap: snapshot.Snapshot) -> tuple[list[str], dict[tuple[str, str], int]]:
        counts = snap.counts(snap.alive)
        ids = sorted(p for p, alive in zip(snap.package_ids, snap.alive, strict=True) if alive)
        return ids, {key: int(counts[n]) for key, n in snap.values.items() if counts[n]}

    with session_factory() as session:
        before = snapshot.current(session)
    call("package_patch", "editor", catalog, id="nursery", title="認定こども園一覧", tags=[])
    call("package_create", "editor", catalog, **dataset(name="new-one"))
    with session_factory() as session:
        caught_up = snapshot.refreshed(session, before, snapshot.state(session).removed)
        assert caught_up is not None and caught_up.size == before.size + 2
        assert live(caught_up) == live(snapshot.load(session))
    assert names(call, q="こども園") == ["nursery"]
    assert (
        "子育て"
        not in call("package_search", **{"facet.field": '["tags"]'}).json()["result"]["facets"][
            "tags"
        ]
    )
    call("package_delete", "editor", catalog, id="nursery")
    with session_factory() as session:
        after_removal = snapshot.refreshed(session, caught_up, snapshot.state(session).removed)
        assert after_removal is not None and live(after_removal) == live(snapshot.load(session))
        assert not after_removal.with_package(caught_up.package_ids[-2]).any()
    assert names(call, q="こども園") == []
    assert names(call, fq="name:nursery") == []
