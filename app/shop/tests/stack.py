"""The shop as production runs it, for the browser tests: gunicorn, a database of its own,
and the Stripe simulator with its webhooks pointed at gunicorn.

The server processes never see pytest-django's test database; tests read theirs through
`Database`, the page and the simulator's control API.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import threading
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import dj_database_url
import psycopg2

from tests.support import servers
from tests.support.servers import HOST, LOCAL_OPENER

ORDERS_QUERY = (
    "SELECT id, status, quantity, amount_cents, stripe_session_id FROM shop_order ORDER BY id"
)


@dataclass(frozen=True)
class Database:
    """The live server's database, read the way an operator would: plain SQL."""

    url: str

    @property
    def is_postgres(self) -> bool:
        return urlsplit(self.url).scheme in servers.POSTGRES_SCHEMES

    def orders(self) -> list[dict[str, Any]]:
        return self._rows(ORDERS_QUERY)

    def _rows(self, query: str) -> list[dict[str, Any]]:
        if self.is_postgres:
            with closing(psycopg2.connect(self.url)) as connection, connection.cursor() as cursor:
                cursor.execute(query)
                assert cursor.description is not None, "a SELECT always describes its columns"
                names = [column.name for column in cursor.description]
                return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        with closing(sqlite3.connect(dj_database_url.parse(self.url)["NAME"])) as sqlite:
            sqlite.row_factory = sqlite3.Row
            return [dict(row) for row in sqlite.execute(query)]


@dataclass(frozen=True)
class Simulator:
    """The simulator's own control API; the shop never calls it."""

    base_url: str

    def get(self, path: str) -> Any:
        return _json_call("GET", self.base_url + path)

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return _json_call("POST", self.base_url + path, body or {})

    def reset(self) -> None:
        self.post("/_sim/reset")
        # A reset forgets sessions and events but keeps the config, which tests may change.
        self.post(
            "/_sim/config", {"duplicate_deliveries": 1, "hold_events": False, "clock_offset": 0}
        )

    def run_clock_ahead(self, seconds: float) -> None:
        """Stripe's clock runs this far ahead of ours: skew, or time passing at Stripe."""
        self.post("/_sim/config", {"clock_offset": seconds})

    def fault(self, **fault: Any) -> None:
        self.post("/_sim/faults", fault)

    def requests(
        self, method: str = "POST", path: str = "/v1/checkout/sessions"
    ) -> list[dict[str, Any]]:
        """The API calls the simulator received; by default, the session creations."""
        return [
            entry
            for entry in self.get("/_sim/requests")
            if (entry["method"], entry["path"]) == (method, path)
        ]

    def sessions(self) -> list[dict[str, Any]]:
        return self.get("/_sim/sessions")

    def pay(self, session_id: str, **overrides: Any) -> dict[str, Any]:
        return self.post(f"/_sim/sessions/{session_id}/pay", overrides)

    def settle_async(self, session_id: str, outcome: str) -> dict[str, Any]:
        return self.post(f"/_sim/sessions/{session_id}/async", {"outcome": outcome})

    def expire(self, session_id: str) -> dict[str, Any]:
        return self.post(f"/_sim/sessions/{session_id}/expire")

    def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.get("/_sim/events") if event_type in (None, e["type"])]


@dataclass(frozen=True)
class Stack:
    base_url: str
    database: Database
    simulator: Simulator
    logs: tuple[Path, ...]
    gunicorn_pid: int
    env: dict[str, str]

    def kill_workers(self) -> None:
        """SIGKILL every gunicorn worker, as the OOM killer would; the master starts new ones."""
        children = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(self.gunicorn_pid)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        for pid in children:
            os.kill(int(pid), signal.SIGKILL)

    def manage(self, *args: str) -> str:
        """Run a management command against the stack's database and simulator."""
        return servers.manage(self.env, *args)


@contextmanager
def running_stack(
    tmp_dir: Path, database_route: Callable[[str], str] | None = None, *, sqlite: bool = False
) -> Iterator[Stack]:
    """Start the database, the simulator and gunicorn; stop them all on the way out.

    `database_route` maps the fresh database's URL to the one gunicorn is given, say
    through a `DatabaseProxy`. `sqlite` serves from SQLite whatever DATABASE_URL says, as
    `make run` does.
    """
    port = servers.free_port()
    base_url = f"http://{HOST}:{port}"
    gunicorn_log, simulator_log = tmp_dir / "gunicorn.log", tmp_dir / "stripe_sim.log"
    sqlite_file = tmp_dir / "shop.sqlite3"
    with ExitStack() as stack:
        database_url = (
            f"sqlite:///{sqlite_file}"
            if sqlite
            else stack.enter_context(servers.fresh_database("_e2e", sqlite_file=sqlite_file))
        )
        server_database_url = database_route(database_url) if database_route else database_url
        simulator_url = stack.enter_context(
            servers.simulator(simulator_log, f"{base_url}/stripe/webhook/")
        )
        env = {
            **servers.server_env(server_database_url, simulator_url, port),
            "WEB_CONCURRENCY": "2",
        }
        # gunicorn runs the production settings, which serve only collected static files.
        servers.manage(env, "collectstatic", "--noinput")
        servers.manage(env, "migrate", "--noinput")
        gunicorn = stack.enter_context(servers.running(servers.start_gunicorn(env, gunicorn_log)))
        yield Stack(
            base_url=base_url,
            database=Database(database_url),
            simulator=Simulator(simulator_url),
            logs=(gunicorn_log, simulator_log),
            gunicorn_pid=gunicorn.pid,
            env=env,
        )


class DatabaseProxy:
    """A TCP relay in front of PostgreSQL that can make the database vanish or hang.

    up: relays every connection. down: refuses (accepts and closes at once). hang: accepts
    and never answers, as a database whose host is overloaded or wedged. Leaving `up`
    cuts the connections already relayed, as a restarted or failed-over database does.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.mode = "up"
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._listener = socket.create_server((HOST, 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def route(self, database_url: str) -> str:
        parts = urlsplit(database_url)
        netloc = f"{parts.username or 'postgres'}@{HOST}:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    def set_mode(self, mode: str) -> None:
        with self._lock:
            self.mode = mode
            if mode == "up":
                return
            cut, self._open = self._open, []
        for sock in cut:
            _close(sock)

    def close(self) -> None:
        self.set_mode("down")
        _close(self._listener)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                mode = self.mode
                if mode != "down":
                    self._open.append(client)
            if mode == "down":
                _close(client)
            elif mode == "up":
                threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(self.target, timeout=5)
        except OSError:
            _close(client)
            return
        server.settimeout(None)
        with self._lock:
            self._open.append(server)
        for source, sink in ((client, server), (server, client)):
            threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        pass
    _close(source)
    _close(sink)


def _close(sock: socket.socket) -> None:
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def _json_call(method: str, url: str, body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(
        url,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with LOCAL_OPENER.open(request, timeout=10) as response:
        return json.loads(response.read() or b"null")
