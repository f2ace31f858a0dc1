"""A company's webhook receiver in miniature, for the demo scenario, tests and the benchmark.

It is what a utility's system does on its side: accept ``POST`` notices,
check the HMAC header with the secret it was given at registration (when it
has one), answer 2xx, and remember what it got. It can be told to fail its
first N requests, which is how a recovering endpoint is shown. ``GET /stats``
answers the counts as JSON. Run it in a thread (:class:`ReceiverThread`) or
as a process: ``python -m tsunagu.lifeevent.receiver --port 8765``.
"""

from __future__ import annotations

import argparse
import json
import socket
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from tsunagu.lifeevent.signatures import SIGNATURE_HEADER, verify_hmac

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """The ASGI app; ``received`` holds every accepted notice in arrival order."""

    fail_first: int = 0
    secret: bytes | None = None
    keep: bool = True
    requests: int = 0
    accepted: int = 0
    received: list[Received] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] == "GET":
            stats = {"requests": self.requests, "accepted": self.accepted}
            await _answer(send, 200, json.dumps(stats).encode())
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.requests += 1
        if self.requests <= self.fail_first:
            await _answer(send, 503, b'{"error":"unavailable"}')
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if self.secret is not None and not verify_hmac(
            self.secret, body, headers.get(SIGNATURE_HEADER.lower(), ""), now=time.time()
        ):
            await _answer(send, 401, b'{"error":"bad signature"}')
            return
        self.accepted += 1
        if self.keep:
            self.received.append(Received(headers, body))
        await _answer(send, 200, b'{"ok":true}')


async def _answer(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _server(app: Receiver) -> uvicorn.Server:
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    return uvicorn.Server(config)


class ReceiverThread:
    """A receiver on 127.0.0.1 (a free port) in a background thread; use as a context manager."""

    def __init__(self, app: Receiver) -> None:
        self.app = app
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port = int(self._sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}/notices"
        self._server = _server(app)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def __enter__(self) -> ReceiverThread:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the receiver did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="sample life-event webhook receiver")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--fail-first", type=int, default=0)
    args = parser.parse_args(argv)
    app = Receiver(fail_first=args.fail_first, keep=False)
    uvicorn.run(
        app, host="127.0.0.1", port=args.port, log_level="warning", lifespan="off",
        access_log=False,
    )  # fmt: skip


if __name__ == "__main__":
    main()
