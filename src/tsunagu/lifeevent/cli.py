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


@app.command("deliver")
def deliver(
    until_idle: Annotated[
        bool, typer.Option(help="stop when nothing is due (tests, batch jobs)")
    ] = False,
    concurrency: Annotated[int, typer.Option(help="parallel webhook requests")] = 8,
) -> None:
    """事業者への通知を配信 / post life-event notices to companies' webhooks.

    A long-running process next to ``tsunagu worker`` (which turns register changes
    into notices); several may run against PostgreSQL, each claims its own batches.
    """
    import logging
    import threading

    from tsunagu.core.outbox.worker import install_stop_signals
    from tsunagu.lifeevent.webhooks import WebhookDispatcher

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = get_settings()
    factory = make_session_factory(make_engine(settings.effective_database_url))
    stop = threading.Event()
    install_stop_signals(stop)
    with WebhookDispatcher(
        factory, settings, concurrency=concurrency,
        max_attempts=settings.outbox_max_attempts, backoff_base=settings.outbox_backoff_base,
    ) as dispatcher:  # fmt: skip
        delivered = dispatcher.run(stop, until_idle=until_idle)
    typer.echo(json.dumps({"delivered": delivered}))
