"""``tsunagu registry …``: what the base registers hold, for operators.

Reads only: changes go through the keepers' pages or API, where they are
authorized and audited. Output is JSON (one document) so it can be piped.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Annotated, Any

import typer

from tsunagu.core.config import get_settings
from tsunagu.core.db import make_engine, make_session_factory, transaction
from tsunagu.registry import service
from tsunagu.registry.definitions import get_registry, registries

app = typer.Typer(help="基本台帳 / base registries (read only)", no_args_is_help=True)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, default=_iso)


def _iso(value: Any) -> str:
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _factory() -> Any:
    return make_session_factory(make_engine(get_settings().effective_database_url))


@app.command("list")
def list_registries() -> None:
    """台帳の一覧と本日有効な記録数 / registries with the records valid today."""
    with transaction(_factory()) as session:
        counts = service.current_counts(session)
    for definition in registries().values():
        count = counts.get(definition.id, 0)
        typer.echo(f"{definition.id:12} {count:>9}  {definition.name.ja} / {definition.name.en}")


@app.command("show")
def show(
    registry_id: str,
    subject_id: str,
    valid_on: Annotated[
        datetime | None, typer.Option(help="基準日 / valid on this day (default: today)")
    ] = None,
    known_at: Annotated[
        datetime | None, typer.Option(help="把握時点 / as known at this moment (UTC)")
    ] = None,
) -> None:
    """ある日の記録をある時点の認識で表示 / the record valid on a day, as known at a moment."""
    get_registry(registry_id)
    with transaction(_factory()) as session:
        versions = service.as_of(
            session, registry_id, subject_id,
            valid_on=valid_on.date() if valid_on else None,
            known_at=known_at.replace(tzinfo=known_at.tzinfo or UTC) if known_at else None,
        )  # fmt: skip
    typer.echo(_json([asdict(v) for v in versions]))


@app.command("history")
def history(registry_id: str, subject_id: str) -> None:
    """訂正・置換を含む全履歴 / every version ever recorded, superseded ones included."""
    get_registry(registry_id)
    with transaction(_factory()) as session:
        versions = service.history(session, registry_id, subject_id)
    typer.echo(_json([asdict(v) for v in versions]))
