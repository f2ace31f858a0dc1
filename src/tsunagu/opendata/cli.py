"""``tsunagu opendata …``: users and API tokens, harvesting, link checks, reindexing, statistics."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.orm import Session, sessionmaker

from tsunagu.core.config import get_settings
from tsunagu.core.db import make_engine, make_session_factory, transaction
from tsunagu.opendata import auth, harvest, quality, service
from tsunagu.opendata.config import storage_for

app = typer.Typer(help="オープンデータカタログ / open data catalog", no_args_is_help=True)
token_app = typer.Typer(help="API トークン / API tokens", no_args_is_help=True)
app.add_typer(token_app, name="token")


def _factory() -> sessionmaker[Session]:
    return make_session_factory(make_engine(get_settings().effective_database_url))


def _site() -> str:
    return get_settings().base_url


@app.command("user")
def user_add(
    name: str,
    sysadmin: Annotated[bool, typer.Option(help="全権限 / may do anything")] = False,
    org: Annotated[str | None, typer.Option(help="組織名 / organization name")] = None,
    capacity: Annotated[str, typer.Option(help="member | editor | admin")] = "editor",
) -> None:
    """カタログ利用者を作成・権限付与 / create a catalog user, optionally in an organization."""
    with transaction(_factory()) as session:
        user = auth.ensure_user(session, name, sysadmin=sysadmin, actor="cli")
        if org:
            service.add_member(session, quality.SYSTEM, org, user.name, capacity)
    typer.echo(f"user {name} ready")


@token_app.command("create")
def token_create(
    user: str, label: Annotated[str, typer.Option("--name", help="用途 / label")] = "cli"
) -> None:
    """トークンを発行（一度だけ表示）/ issue a token for USER; shown once, stored hashed."""
    with transaction(_factory()) as session:
        secret = auth.create_token(session, auth.get_user(session, user), label, actor="cli")
    typer.echo(secret)


@token_app.command("revoke")
def token_revoke(token_id: str) -> None:
    """トークンを失効 / revoke a token by id."""
    with transaction(_factory()) as session:
        auth.revoke_token(session, token_id, actor="cli")
    typer.echo("revoked")


@app.command("harvest-source")
def harvest_source(
    name: str,
    url: str,
    kind: Annotated[str, typer.Option(help="ckan | dcat")] = "ckan",
    org: Annotated[str, typer.Option(help="取込先の組織 / organization")] = "",
    interval_hours: int = 24,
) -> None:
    """収集元を登録 / register a CKAN or DCAT harvest source."""
    with transaction(_factory()) as session:
        harvest.create_source(
            session,
            harvest.HARVESTER,
            name=name,
            url=url,
            kind=kind,
            organization=org,
            interval_hours=interval_hours,
        )
    typer.echo(f"source {name} registered")


@app.command("harvest")
def harvest_run(
    source: Annotated[str | None, typer.Option(help="収集元名 / one source")] = None,
    due: Annotated[bool, typer.Option(help="期限の来た収集元すべて / all due sources")] = False,
) -> None:
    """収集を実行 / harvest one source, or every due one (for cron)."""
    factory = _factory()
    with transaction(factory) as session:
        names = (
            [source] if source else [s.name for s in harvest.due_sources(session)] if due else []
        )
    if not names:
        typer.echo("nothing to harvest (give --source NAME or --due)")
        return
    for name in names:
        with transaction(factory) as session:
            counts = harvest.run(session, harvest.get_source(session, name), _site())
        typer.echo(f"{name}: " + ", ".join(f"{k}={v}" for k, v in counts.items()))


@app.command("linkcheck")
def linkcheck(limit: Annotated[int | None, typer.Option(help="最大件数 / at most")] = None) -> None:
    """リンク切れ検査 / check linked resources, oldest check first."""
    with transaction(_factory()) as session:
        counts = quality.check_links(session, limit=limit)
    typer.echo(f"ok={counts['ok']} broken={counts['broken']}")


@app.command("reindex")
def reindex() -> None:
    """検索索引を再構築 / rebuild the search index."""
    with transaction(_factory()) as session:
        count = service.reindex(session, _site())
    typer.echo(f"indexed {count} datasets")


@app.command("publish-stats")
def publish_stats() -> None:
    """利用統計をデータセットとして公開 / publish the catalog's statistics as a dataset."""
    with transaction(_factory()) as session:
        package = quality.publish_statistics(session, _site(), storage_for(get_settings()))
    typer.echo(f"published {package.name}")
