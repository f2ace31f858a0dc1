"""``tsunagu serve --workers 2``: two worker processes, each on its own SO_REUSEPORT socket."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2

from tsunagu.core import migrate


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_two_workers_serve_and_stop_together(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    migrate.upgrade(url)
    port = _free_port()
    env = os.environ | {"TSUNAGU_DATABASE_URL": url, "TSUNAGU_VAR_DIR": str(tmp_path / "var")}
    server = subprocess.Popen(
        [sys.executable, "-c", "from tsunagu.cli import main; main()", "serve",
         "--port", str(port), "--workers", "2", "--no-access-log"],
        env=env,
    )  # fmt: skip
    try:
        answered = 0
        deadline = time.monotonic() + 240  # spawned workers import the app
        while time.monotonic() < deadline and answered < 20:
            try:
                # A new connection per request: the kernel picks a worker for each.
                response = httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                assert response.json()["status"] == "ok"
                answered += 1
            except httpx2.HTTPError:
                time.sleep(0.2)
        assert answered == 20
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and len(_serving(server.pid, port)) < 2:
            time.sleep(0.2)
        serving = _serving(server.pid, port)
        assert len(serving) == 2
        # A worker that dies is replaced.
        os.kill(serving[0], signal.SIGKILL)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and sorted(_serving(server.pid, port)) in (
            sorted(serving),
            serving[1:],
        ):
            time.sleep(0.2)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and len(_serving(server.pid, port)) < 2:
            time.sleep(0.2)
        replaced = _serving(server.pid, port)
        assert len(replaced) == 2 and serving[0] not in replaced
    finally:
        children = _children(server.pid)
        server.send_signal(signal.SIGTERM)
        assert server.wait(60) == 0
    deadline = time.monotonic() + 30  # multiprocessing's resource tracker leaves last
    while time.monotonic() < deadline and any(_alive(p) for p in children):
        time.sleep(0.2)
    assert not any(_alive(p) for p in children)


def _serving(pid: int, port: int) -> list[int]:
    """The server's child processes that listen on ``port``."""
    return [p for p in _children(pid) if _listens(p, port)]


def _listens(pid: int, port: int) -> bool:
    """Whether the process holds a listening TCP socket on ``port`` (Linux /proc)."""
    try:
        inodes = {
            os.readlink(f"/proc/{pid}/fd/{fd}")[8:-1]
            for fd in os.listdir(f"/proc/{pid}/fd")
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:[")
        }
    except OSError:
        return False
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, inode = fields[1], fields[3], fields[9]
        if state == "0A" and int(local.split(":")[1], 16) == port and inode in inodes:
            return True
    return False


def test_a_server_process_works_on_request_threads_at_once(tmp_path: Path) -> None:
    from anyio import to_thread
    from fastapi.testclient import TestClient

    from tsunagu.core.config import Settings
    from tsunagu.web.app import create_app

    url = f"sqlite:///{tmp_path / 'threads.db'}"
    migrate.upgrade(url)
    app = create_app(Settings(database_url=url, var_dir=tmp_path / "var", request_threads=3))
    with TestClient(app) as client:
        tokens = client.portal.call(lambda: to_thread.current_default_thread_limiter().total_tokens)
        assert tokens == 3
        assert client.get("/healthz").status_code == 200
