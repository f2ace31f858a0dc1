"""The 転入届 scenario: a demo resident moves to another municipality through the HTTP API.

What a front end does, step by step, with a demo wallet: log in with the
card key, file a signed 転出届 at the current municipality, then a signed
転入届 at the new one; the rules decide both without a person where they
allow it, and the decision notice (signed PDF) is downloaded once the worker
has issued it. Only the API is used, so the same run works against any server
(``--url``, whose worker issues the notices) or against one started in this
process (:func:`serving`, with an outbox worker beside it, :func:`working`).
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2
import uvicorn
from sqlalchemy.orm import Session, sessionmaker

from tsunagu.core.clock import tokyo_today
from tsunagu.core.config import Settings
from tsunagu.core.db import transaction
from tsunagu.core.errors import ConflictError
from tsunagu.core.outbox import worker
from tsunagu.exchange import sealing
from tsunagu.handlers import HANDLER_MODULES
from tsunagu.identity import service as identity
from tsunagu.trust import protocol
from tsunagu.trust import wallet as wallets

DECIDED = ("approved", "rejected")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(settings: Settings, make_app: Callable[[Settings], Any]) -> Iterator[str]:
    """Run the web app on a free local port in a thread; yields its base URL."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    app = make_app(settings.model_copy(update={"base_url": url}))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise ConflictError(
                "server_not_started",
                "デモ用サーバを起動できませんでした。",
                "The in-process server did not start.",
            )
        time.sleep(0.02)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def working(settings: Settings, factory: sessionmaker[Session]) -> Iterator[None]:
    """An outbox worker in a thread (what ``tsunagu worker`` does), polling briskly."""
    stop = threading.Event()
    brisk = settings.model_copy(update={"worker_poll_interval": 0.05})
    thread = threading.Thread(
        target=worker.run,
        args=(factory, brisk, stop),
        kwargs={"handler_modules": HANDLER_MODULES},
        daemon=True,
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)


class _Filer:
    """A logged-in resident filing signed applications over HTTP."""

    def __init__(self, http: httpx2.Client, unlocked: wallets.UnlockedWallet) -> None:
        self.http = http
        self.unlocked = unlocked

    def call(self, method: str, path: str, **kwargs: Any) -> httpx2.Response:
        return self._checked(self.http.request(method, path, **kwargs))

    @staticmethod
    def _checked(response: httpx2.Response) -> httpx2.Response:
        if response.is_success:
            return response
        try:
            error = response.json().get("error", {})
        except ValueError:
            error = {}
        raise ConflictError(
            str(error.get("code", f"http_{response.status_code}")),
            str(error.get("message_ja", f"サーバがエラーを返しました（{response.status_code}）。")),
            str(error.get("message_en", f"The server answered {response.status_code}.")),
        )

    def file(self, procedure_id: str, form: dict[str, Any]) -> dict[str, Any]:
        created = self.call(
            "POST", f"/api/procedures/{procedure_id}/applications", json={"form": form}
        ).json()
        signature = self.unlocked.sign(protocol.canonical_json(created["document"]))
        submitted: dict[str, Any] = self.call(
            "POST",
            f"/api/applications/{created['id']}/submit",
            json={"cms": protocol.b64(signature)},
        ).json()
        return submitted

    def notice(self, application_id: str, *, wait_seconds: float = 60.0) -> bytes:
        """The signed notice, asking again while the server says it is not issued yet (409).

        Polls at most every quarter second, or as Retry-After says when that is sooner.
        """
        deadline = time.monotonic() + wait_seconds
        path = f"/api/applications/{application_id}/decision.pdf"
        while True:
            response = self.http.get(path)
            retry_after = response.headers.get("retry-after")
            if response.status_code != 409 or retry_after is None or time.monotonic() > deadline:
                return self._checked(response).content
            time.sleep(min(float(retry_after), 0.25))


def _current_municipality(detail: dict[str, Any]) -> str | None:
    for evidence in detail.get("evidence", []):
        if evidence["evidence_type"] == "juminhyo" and evidence["records"]:
            code = evidence["records"][0]["data"]["address"].get("municipality_code")
            return str(code) if code else None
    return None


def run_tennyu(
    url: str,
    wallet_path: Path,
    pin: str,
    *,
    destinations: Sequence[str],
    out_dir: Path,
) -> dict[str, Any]:
    """File 転出届 then 転入届 for the wallet's holder; returns the scenario's result."""
    started = time.perf_counter()
    wallet = wallets.Wallet.open(wallet_path)
    with httpx2.Client(base_url=url.rstrip("/"), timeout=60) as http:
        login = wallets.login(wallet, pin, url=url, client=http)
        http.headers["x-csrf-token"] = str(login["csrf_token"])
        filer = _Filer(http, wallet.unlock(pin))
        today = tokyo_today()
        moved_out = filer.file(
            "tenshutsu",
            {
                "moving_out_on": (today - timedelta(days=2)).isoformat(),
                "destination": "デモの転居先 / demo destination",
            },
        )
        if moved_out["status"] != "approved":
            raise ConflictError(
                "moving_out_not_accepted",
                f"転出届が受理されませんでした（{moved_out['status']}）。",
                f"The moving-out notification was not accepted ({moved_out['status']}).",
            )
        current = _current_municipality(moved_out)
        target = next((code for code in destinations if code != current), None)
        if target is None:
            raise ConflictError(
                "no_destination",
                "転入先の市区町村がありません。",
                "No other municipality to move to.",
            )
        moved_in = filer.file(
            "tennyu",
            {
                "moved_in_on": (today - timedelta(days=1)).isoformat(),
                "new_address": {"municipality_code": target, "town": "本町", "block": "1番1号"},
                "household": {"head_name": str(login["display_name"]), "relationship": "世帯主"},
            },
        )
        pdf_path: str | None = None
        digest: str | None = None
        if moved_in["status"] in DECIDED:
            pdf = filer.notice(moved_in["id"])
            out_dir.mkdir(parents=True, exist_ok=True)
            path = out_dir / f"{moved_in['id']}.pdf"
            path.write_bytes(pdf)
            pdf_path, digest = str(path), hashlib.sha256(pdf).hexdigest()
    return {
        "application_id": moved_in["id"],
        "procedure_id": "tennyu",
        "status": moved_in["status"],
        "automatic": moved_in["automatic"],
        "attachments_requested": moved_in["attachments_requested"],
        "evidence": [
            {"type": e["evidence_type"], "outcome": e["outcome"]} for e in moved_in["evidence"]
        ],
        "from_municipality": current,
        "to_municipality": target,
        "moving_out_application_id": moved_out["id"],
        "decision_pdf": pdf_path,
        "decision_pdf_sha256": digest,
        "elapsed_ms": round((time.perf_counter() - started) * 1000, 1),
    }


def prepare(session: Session, settings: Settings, lgcodes: Sequence[str]) -> list[str]:
    """The municipalities on the platform among ``lgcodes``, each with a seal held here.

    Their offices fetch evidence and issue notices under their seal, which this
    deployment holds for the agencies it hosts (see ``exchange.sealing``).
    """
    store = sealing.store_for(settings)
    found = []
    for code in lgcodes:
        organization = identity.find_organization(session, lgcode=code)
        if organization is not None:
            store.ensure(session, organization.id, actor="demo")
            found.append(code)
    return found


def run(
    settings: Settings,
    factory: sessionmaker[Session],
    *,
    make_app: Callable[[Settings], Any],
    lgcodes: Sequence[str],
    wallet_path: Path | None = None,
    pin: str = "123456",
    url: str | None = None,
) -> dict[str, Any]:
    """``tsunagu demo scenario tennyu``: against ``url``, or a server started here."""
    with transaction(factory) as session:
        destinations = prepare(session, settings, lgcodes)
    demo = settings.var_dir / "demo"
    wallet = wallet_path or demo / "wallets" / "resident-1.wallet"
    if not wallet.exists():
        raise ConflictError(
            "no_demo_wallet",
            f"デモ用ウォレット {wallet} がありません（tsunagu demo seed を実行してください）。",
            f"No demo wallet at {wallet} (run tsunagu demo seed first).",
        )
    out_dir = demo / "decisions"
    if url is not None:
        return run_tennyu(url, wallet, pin, destinations=destinations, out_dir=out_dir)
    with serving(settings, make_app) as local, working(settings, factory):
        return run_tennyu(local, wallet, pin, destinations=destinations, out_dir=out_dir)
