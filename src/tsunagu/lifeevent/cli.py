"""``tsunagu lifeevent …``: operator commands of the life-event module."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer

from tsunagu.core.config import get_settings
from tsunagu.core.db import make_engine, make_session_factory, transaction
from tsunagu.lifeevent import proactive

app = typer.Typer(help="ライフイベント / life events", no_args_is_help=True)


@app.command("scan")
def scan(
    date: Annotated[
        datetime | None,
        typer.Option("--date", formats=["%Y-%m-%d"], help="基準日 / scan as of this day"),
    ] = None,
) -> None:
    """プッシュ型のお知らせを作成 / offer residents what the proactive rules find due.

    Run it daily from a schedule (cron, a systemd timer). Running it again on the same
    day, or later, never repeats a notice (one per rule, person and period).
    """
    factory = make_session_factory(make_engine(get_settings().effective_database_url))
    with transaction(factory) as session:
        result = proactive.scan(session, date.date() if date else None)
    typer.echo(
        json.dumps(
            {"residents": result.residents, "offered": result.offered, "already": result.already}
        )
    )
