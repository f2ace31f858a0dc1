"""Operator CLI: ``tsunagu serve | worker | db | demo | audit | ids``.

Every failure an operator can cause (bad input, unreachable database) ends
with a one-line message and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from tsunagu.anonymize.cli import app as anonymize_app
from tsunagu.core import ids as idnum
from tsunagu.core import migrate
from tsunagu.core.audit import service as audit
from tsunagu.core.config import get_settings
from tsunagu.core.db import make_engine, make_session_factory, transaction
from tsunagu.core.errors import TsunaguError
from tsunagu.lifeevent.cli import app as lifeevent_app
from tsunagu.opendata.cli import app as opendata_app
from tsunagu.registry.cli import app as registry_app
from tsunagu.trust.cli import pki_app, wallet_app

EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_DATABASE = 3

app = typer.Typer(
    help="tsunagu — デジタル・ガバメント基盤 / digital government platform",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="データベース / database migrations", no_args_is_help=True)
audit_app = typer.Typer(help="監査証跡 / audit trail", no_args_is_help=True)
ids_app = typer.Typer(help="番号の検証と生成 / identity numbers", no_args_is_help=True)
demo_app = typer.Typer(help="デモデータ / demo world", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(audit_app, name="audit")
app.add_typer(ids_app, name="ids")
app.add_typer(demo_app, name="demo")
official_app = typer.Typer(help="職員のログイン / officials' password login", no_args_is_help=True)
app.add_typer(official_app, name="official")
procedure_app = typer.Typer(help="行政手続 / procedures", no_args_is_help=True)
app.add_typer(procedure_app, name="procedure")
app.add_typer(opendata_app, name="opendata")
app.add_typer(pki_app, name="pki")
app.add_typer(wallet_app, name="wallet")
app.add_typer(anonymize_app, name="anonymize")
app.add_typer(registry_app, name="registry")
app.add_typer(lifeevent_app, name="lifeevent")


def _session_factory() -> sessionmaker[Session]:
    return make_session_factory(make_engine(get_settings().effective_database_url))


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: Annotated[
        int, typer.Option(help="worker processes (each on its own SO_REUSEPORT socket)")
    ] = 1,
    reload: bool = False,
    access_log: Annotated[bool, typer.Option(help="log every request")] = True,
) -> None:
    """Web サーバを起動 / serve the web application."""
    from tsunagu.web import serve as server

    server.run(host, port, workers=workers, reload=reload, access_log=access_log)


@app.command()
def worker(
    until_idle: Annotated[bool, typer.Option(help="stop when no event is due")] = False,
    handlers: Annotated[
        list[str] | None, typer.Option(help="extra handler modules to import")
    ] = None,
) -> None:
    """イベント配信ワーカー / dispatch outbox events."""
    from tsunagu.core.outbox import worker as outbox_worker
    from tsunagu.handlers import HANDLER_MODULES

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    stop = threading.Event()
    outbox_worker.install_stop_signals(stop)
    handled = outbox_worker.run(
        _session_factory(),
        get_settings(),
        stop,
        handler_modules=[*HANDLER_MODULES, *(handlers or [])],
        until_idle=until_idle,
    )
    typer.echo(f"handled {handled} events")


@db_app.command("upgrade")
def db_upgrade(revision: str = "heads") -> None:
    """マイグレーションを適用 / apply migrations."""
    migrate.upgrade(get_settings().effective_database_url, revision)
    typer.echo("database is up to date")


@db_app.command("downgrade")
def db_downgrade(revision: str) -> None:
    """マイグレーションを戻す / revert migrations to REVISION."""
    migrate.downgrade(get_settings().effective_database_url, revision)
    typer.echo(f"database downgraded to {revision}")


@audit_app.command("verify")
def audit_verify() -> None:
    """ハッシュチェーンを検証 / verify the hash chain (exit 1 names the first broken record)."""
    with transaction(_session_factory()) as session:
        broken = audit.verify_chain(session)
    if broken:
        typer.echo(
            f"監査証跡が改ざんされています / "
            f"audit chain broken at record {broken.seq}: {broken.reason}",
            err=True,
        )
        raise typer.Exit(EXIT_INVALID)
    typer.echo("audit chain intact")


@audit_app.command("roots")
def audit_roots() -> None:
    """日次マークルルートを確定・表示 / publish closed days and list daily Merkle roots."""
    with transaction(_session_factory()) as session:
        audit.publish_closed_days(session)
        for root in audit.daily_roots(session):
            state = "final" if root.final else "provisional"
            typer.echo(f"{root.day} {root.root} {root.record_count} {state}")


@ids_app.command("check")
def ids_check(
    kind: Annotated[idnum.IdKind, typer.Argument(help="mynumber | corporate | lgcode")],
    number: Annotated[str, typer.Argument(help="番号 (全角可) / the number")],
) -> None:
    """番号を検証 / validate a number: exit 0 when valid, 1 with a reason when not."""
    result = idnum.check(kind, number)
    if not result.valid:
        typer.echo(f"invalid: {result.reason_en} / {result.reason_ja}", err=True)
        raise typer.Exit(EXIT_INVALID)
    typer.echo(f"valid: {result.normalized}")


@ids_app.command("generate")
def ids_generate(
    kind: Annotated[idnum.IdKind, typer.Argument(help="mynumber | corporate | lgcode")],
    count: int = 1,
    seed: int | None = None,
) -> None:
    """テスト用の有効な番号を生成 / generate valid numbers for testing."""
    import random

    rng = random.Random(seed)
    for _ in range(count):
        typer.echo(idnum.generate(kind, rng))


@demo_app.command("seed")
def demo_seed(
    seed: Annotated[int, typer.Option(help="random seed (same seed → same world)")] = 2019,
    residents: Annotated[int, typer.Option(help="number of residents")] = 200,
) -> None:
    """デモの世界を作成 / create the demo world (idempotent)."""
    from tsunagu.demo.seed import seed_world

    with transaction(_session_factory()) as session:
        summary = seed_world(session, seed=seed, residents=residents)
    for key, value in summary.items():
        typer.echo(f"{key}: {value}")


@demo_app.command("scenario")
def demo_scenario(
    name: Annotated[str, typer.Argument(help="scenario: tennyu (転入届) or moving (引越し)")],
    url: Annotated[
        str | None, typer.Option(help="running server on the same database (default: start one)")
    ] = None,
    wallet: Annotated[
        Path | None, typer.Option(help="demo wallet (default var/demo/wallets/resident-1.wallet)")
    ] = None,
    pin: Annotated[str, typer.Option(help="wallet PIN")] = "123456",
) -> None:
    """デモのシナリオを API 経由で実行し JSON を出力 / run a demo scenario through the API."""
    import json

    from tsunagu.demo.seed import MUNICIPALITIES
    from tsunagu.lifeevent import scenario as moving
    from tsunagu.procedure import scenario
    from tsunagu.web.app import create_app

    lgcodes = [code for code, _ in MUNICIPALITIES]
    if name == "tennyu":
        result = scenario.run(
            get_settings(), _session_factory(), make_app=create_app,
            lgcodes=lgcodes, wallet_path=wallet, pin=pin, url=url,
        )  # fmt: skip
    elif name == "moving":
        result = moving.run(
            get_settings(), _session_factory(), make_app=create_app, lgcodes=lgcodes
        )
    else:
        typer.echo(f"未知のシナリオです / unknown scenario {name!r} (tennyu, moving)", err=True)
        raise typer.Exit(EXIT_USAGE)
    typer.echo(json.dumps(result, ensure_ascii=False))


@official_app.command("password")
def official_password(
    login: Annotated[str, typer.Argument(help="login name, e.g. 131130.counter_staff")],
    password: Annotated[
        str,
        typer.Option(prompt=True, hide_input=True, confirmation_prompt=True, help="new password"),
    ],
) -> None:
    """パスワードと TOTP を設定 / set a password and a new TOTP secret (shown once)."""
    from tsunagu.identity import auth
    from tsunagu.identity.service import find_official_by_login

    with transaction(_session_factory()) as session:
        official = find_official_by_login(session, login)
        if official is None:
            typer.echo(f"職員が見つかりません / no official with login {login!r}", err=True)
            raise typer.Exit(EXIT_INVALID)
        enrolment = auth.set_password(
            session,
            get_settings(),
            password=password,
            official_id=official.id,
            label=login,
            actor="cli",
        )
    typer.echo(f"TOTP secret: {enrolment.secret}")
    typer.echo(f"authenticator URI: {enrolment.uri}")


@official_app.command("totp")
def official_totp(login: Annotated[str, typer.Argument(help="login name")]) -> None:
    """現在の TOTP コード (運用・デモ用) / the current TOTP code (operators and demos)."""
    from tsunagu.identity import auth

    with transaction(_session_factory()) as session:
        typer.echo(auth.current_totp(get_settings(), session, login))


@procedure_app.command("publish-inventory")
def procedure_publish_inventory() -> None:
    """手続の棚卸をオープンデータとして公開 / publish the procedure inventory as open data.

    Run it from a schedule (cron, a systemd timer), like ``opendata publish-stats``.
    """
    from tsunagu.opendata.config import storage_for
    from tsunagu.procedure.inventory import publish_inventory

    settings = get_settings()
    with transaction(_session_factory()) as session:
        package = publish_inventory(session, settings.base_url, storage_for(settings))
    typer.echo(f"published {package.name}")


def _describe_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unparseable URL)"


def main() -> None:
    """Entry point: run the Typer app and turn expected failures into clean exits."""
    try:
        app(standalone_mode=True)
    except OperationalError as exc:
        url = _describe_url(get_settings().effective_database_url)
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        typer.echo(
            f"データベースに接続できません / cannot reach the database {url}: {reason}", err=True
        )
        sys.exit(EXIT_DATABASE)
    except SQLAlchemyError as exc:
        typer.echo(
            f"データベースエラー / database error: {exc.__class__.__name__}: {exc}".splitlines()[0],
            err=True,
        )
        sys.exit(EXIT_DATABASE)
    except TsunaguError as exc:
        typer.echo(f"{exc.message_ja} / {exc.message_en}", err=True)
        sys.exit(EXIT_INVALID)
