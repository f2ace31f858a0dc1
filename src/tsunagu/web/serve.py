"""Serving the app with several worker processes that share the load evenly.

uvicorn's own ``--workers`` has every worker accept on one inherited socket;
under keep-alive load whichever worker wakes first takes most connections (a
benchmark saw one of two workers serve 94 % of the requests). Here each
worker binds its own socket with ``SO_REUSEPORT``, so the kernel spreads new
connections over the workers by a hash of the client's address and port. The
parent only supervises: it restarts a worker that dies and stops them all on
SIGINT/SIGTERM.
"""

from __future__ import annotations

import multiprocessing
import signal
import socket
import time
from multiprocessing.process import BaseProcess
from types import FrameType

APP = "tsunagu.web.app:create_app"


def _bind(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    sock.set_inheritable(True)
    return sock


def _worker(host: str, port: int, access_log: bool) -> None:
    import uvicorn

    config = uvicorn.Config(APP, factory=True, host=host, port=port, access_log=access_log)
    uvicorn.Server(config).run(sockets=[_bind(host, port)])


def run(
    host: str, port: int, *, workers: int = 1, reload: bool = False, access_log: bool = True
) -> None:
    """Serve on ``host:port``; ``workers`` > 1 starts that many SO_REUSEPORT processes."""
    import uvicorn

    if workers <= 1 or reload or not hasattr(socket, "SO_REUSEPORT"):
        uvicorn.run(
            APP, factory=True, host=host, port=port, workers=workers, reload=reload,
            access_log=access_log,
        )  # fmt: skip
        return
    # Bind once in the parent first, so a port already in use fails here, loudly.
    _bind(host, port).close()
    context = multiprocessing.get_context("spawn")
    stopping = False

    def start() -> BaseProcess:
        process = context.Process(target=_worker, args=(host, port, access_log), daemon=False)
        process.start()
        return process

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    processes = [start() for _ in range(workers)]
    while not stopping:
        time.sleep(0.5)
        for i, process in enumerate(processes):
            if not process.is_alive() and not stopping:
                processes[i] = start()
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(10)
        if process.is_alive():
            process.kill()
