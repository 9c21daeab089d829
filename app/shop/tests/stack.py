"""The shop as production runs it, for the browser tests: gunicorn, a database of its own,
and the Stripe simulator with its webhooks pointed at gunicorn.

The server processes never see pytest-django's test database; tests read theirs through
`Database`, the page and the simulator's control API.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager, suppress
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import dj_database_url
import psycopg2
from psycopg2 import sql

APP_DIR = Path(__file__).resolve().parents[2]
REPO_DIR = APP_DIR.parent
GUNICORN_CONFIG = REPO_DIR / "deploy" / "gunicorn.conf.py"
HOST = "127.0.0.1"
WEBHOOK_SECRET = "whsec_browser_tests_only"
STRIPE_TEST_KEY = "sk_test_browser_tests_only"
SECRET_KEY = "browser-tests-only-secret-key-never-used-for-anything-else"
STARTUP_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
POSTGRES_SCHEMES = ("postgres", "postgresql")
ORDERS_QUERY = (
    "SELECT id, status, quantity, amount_cents, stripe_session_id FROM shop_order ORDER BY id"
)
# Only loopback traffic here: a proxy from the environment must not see these requests.
LOCAL_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class StackError(RuntimeError):
    """A process of the stack would not start; the message carries its output."""


@dataclass(frozen=True)
class Database:
    """The live server's database, read the way an operator would: plain SQL."""

    url: str

    @property
    def is_postgres(self) -> bool:
        return urlsplit(self.url).scheme in POSTGRES_SCHEMES

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
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=APP_DIR,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return result.stdout


@contextmanager
def running_stack(
    tmp_dir: Path, database_route: Callable[[str], str] | None = None, *, sqlite: bool = False
) -> Iterator[Stack]:
    """Start the database, the simulator and gunicorn; stop them all on the way out.

    `database_route` maps the fresh database's URL to the one gunicorn is given, say
    through a `DatabaseProxy`. `sqlite` serves from SQLite whatever DATABASE_URL says, as
    `make run` does.
    """
    port = _free_port()
    base_url = f"http://{HOST}:{port}"
    gunicorn_log, simulator_log = tmp_dir / "gunicorn.log", tmp_dir / "stripe_sim.log"
    with ExitStack() as stack:
        database_url = stack.enter_context(_fresh_database(tmp_dir, sqlite=sqlite))
        server_database_url = database_route(database_url) if database_route else database_url
        simulator_url = stack.enter_context(
            running_simulator(simulator_log, f"{base_url}/stripe/webhook/", WEBHOOK_SECRET)
        )
        env = _server_env(server_database_url, simulator_url, port)
        # gunicorn runs the production settings, which serve only collected static files.
        _manage(env, "collectstatic", "--noinput")
        _manage(env, "migrate", "--noinput")
        gunicorn = stack.enter_context(
            _running(
                [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONFIG)],
                cwd=APP_DIR,
                env=env,
                log=gunicorn_log,
            )
        )
        _wait_until_ready(f"{base_url}/readyz", gunicorn, gunicorn_log)
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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


@contextmanager
def _fresh_database(tmp_dir: Path, *, sqlite: bool = False) -> Iterator[str]:
    """A new, empty database beside the one DATABASE_URL names (a temp file for SQLite)."""
    url = os.environ.get("DATABASE_URL", "")
    parts = urlsplit(url)
    if sqlite or not url or parts.scheme == "sqlite":
        yield f"sqlite:///{tmp_dir / 'shop.sqlite3'}"
        return
    if parts.scheme not in POSTGRES_SCHEMES:
        raise StackError(f"DATABASE_URL must name PostgreSQL or SQLite, not {parts.scheme!r}.")
    name = f"{parts.path.lstrip('/') or 'shop'}_e2e"
    # The maintenance database, since the one in the URL may not exist yet.
    server_url = urlunsplit(parts._replace(path="/postgres"))
    _recreate_postgres_database(server_url, name)
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        _drop_postgres_database(server_url, name)


def _recreate_postgres_database(server_url: str, name: str) -> None:
    _drop_postgres_database(server_url, name)
    _run_outside_transaction(server_url, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _drop_postgres_database(server_url: str, name: str) -> None:
    # FORCE: a previous run killed halfway may have left connections open.
    statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    _run_outside_transaction(server_url, statement)


def _run_outside_transaction(server_url: str, statement: sql.Composable) -> None:
    with closing(psycopg2.connect(server_url)) as connection:
        # CREATE and DROP DATABASE refuse to run inside a transaction block.
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(statement)


@contextmanager
def running_simulator(log: Path, webhook_url: str | None, webhook_secret: str) -> Iterator[str]:
    """The simulator as its own process; yields its base URL. No webhook URL: events are kept."""
    args = [sys.executable, "-m", "stripe_sim", "--port", "0", "--webhook-secret", webhook_secret]
    env = {**os.environ, "STRIPE_SIM_WEBHOOK_URL": webhook_url or ""}
    with _running(args, cwd=REPO_DIR, env=env, log=log, pipe_stdout=True) as process:
        assert process.stdout is not None
        # The simulator's first stdout line is the only one, and names its port.
        match = re.search(rf"http://{re.escape(HOST)}:\d+", process.stdout.readline())
        if match is None:
            raise StackError(f"The Stripe simulator did not start:\n{log.read_text()}")
        yield match.group(0)


def _server_env(database_url: str, simulator_url: str, port: int) -> dict[str, str]:
    """Production settings, except that Stripe is the simulator."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PYTHONUNBUFFERED": "1",
        "DATABASE_URL": database_url,
        "DEBUG": "false",
        "SECRET_KEY": SECRET_KEY,
        "ALLOWED_HOSTS": f"{HOST},localhost",
        "CSRF_TRUSTED_ORIGINS": "",
        "SECURE_SSL_REDIRECT": "false",
        "SENTRY_DSN": "",
        "STRIPE_API_BASE": simulator_url,
        # Empty, so the shop derives the Checkout origin from STRIPE_API_BASE as it would live.
        "STRIPE_CHECKOUT_ORIGIN": "",
        "STRIPE_SECRET_KEY": STRIPE_TEST_KEY,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "GUNICORN_BIND": f"{HOST}:{port}",
        "WEB_CONCURRENCY": "2",
    }


def _manage(env: dict[str, str], *args: str) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=APP_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise StackError(f"manage.py {' '.join(args)} failed:\n{result.stdout}{result.stderr}")


@contextmanager
def _running(
    args: list[str], *, cwd: Path, env: dict[str, str], log: Path, pipe_stdout: bool = False
) -> Iterator[subprocess.Popen[str]]:
    """Run a process with its output in `log` (stderr only, when stdout is piped to us)."""
    with log.open("w") as log_file:
        process = subprocess.Popen(
            args,
            cwd=cwd,
            env=env,
            text=True,
            stdout=subprocess.PIPE if pipe_stdout else log_file,
            stderr=log_file if pipe_stdout else subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            _stop(process)


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()


def _wait_until_ready(url: str, process: subprocess.Popen[str], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StackError(f"gunicorn exited with {process.returncode}:\n{log.read_text()}")
        if _answers_ok(url):
            return
        time.sleep(0.1)
    raise StackError(f"{url} did not answer 200 in {STARTUP_TIMEOUT_SECONDS} s:\n{log.read_text()}")


def _answers_ok(url: str) -> bool:
    try:
        with LOCAL_OPENER.open(url, timeout=2) as response:
            return response.status == HTTPStatus.OK
    except OSError:
        return False


def _json_call(method: str, url: str, body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(
        url,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with LOCAL_OPENER.open(request, timeout=10) as response:
        return json.loads(response.read() or b"null")
