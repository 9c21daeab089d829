"""The shop's processes outside containers, for the tests and the bench alike: a database of
their own beside DATABASE_URL's, the Stripe simulator, gunicorn with the image's config, and
nginx with the repository's templates.

Every process runs in a session of its own, so Ctrl-C reaches only the harness, which then
stops each one by its pid.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import closing, contextmanager
from http import HTTPStatus
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
from psycopg2 import sql

REPO_DIR = Path(__file__).resolve().parents[2]
APP_DIR = REPO_DIR / "app"
GUNICORN_CONFIG = REPO_DIR / "deploy" / "gunicorn.conf.py"
RENDER_NGINX = REPO_DIR / "scripts" / "render-nginx.sh"
HOST = "127.0.0.1"
POSTGRES_SCHEMES = ("postgres", "postgresql")
SECRET_KEY = "local-processes-only-secret-key-never-used-for-anything-else"
STRIPE_TEST_KEY = "sk_test_local_processes_only"
WEBHOOK_SECRET = "whsec_local_processes_only"
STARTUP_TIMEOUT_SECONDS = 30.0
# Longer than gunicorn's graceful timeout (20 s), so a stop never cuts a request it could finish.
STOP_TIMEOUT_SECONDS = 25.0
# Only loopback traffic here: a proxy from the environment must not see these requests.
LOCAL_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class StackError(RuntimeError):
    """A part of the stack is missing or would not start; the message says which and why."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@contextmanager
def fresh_database(
    suffix: str, *, sqlite_file: Path | None = None, default_url: str = ""
) -> Iterator[str]:
    """A new, empty database named after DATABASE_URL's plus `suffix`, dropped afterwards.

    With `sqlite_file`, a DATABASE_URL that names no PostgreSQL gets a SQLite file there instead.
    """
    url = os.environ.get("DATABASE_URL") or default_url
    parts = urlsplit(url)
    if sqlite_file is not None and parts.scheme in ("", "sqlite"):
        yield f"sqlite:///{sqlite_file}"
        return
    if parts.scheme not in POSTGRES_SCHEMES:
        raise StackError(f"DATABASE_URL must name a PostgreSQL server, not {parts.scheme!r}.")
    name = f"{parts.path.lstrip('/') or 'shop'}{suffix}"
    # The maintenance database, since the one in the URL may not exist yet.
    server_url = urlunsplit(parts._replace(path="/postgres"))
    _drop_database(server_url, name)
    _outside_transaction(server_url, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        _drop_database(server_url, name)


def _drop_database(server_url: str, name: str) -> None:
    # FORCE: a run killed halfway may have left connections open.
    statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    _outside_transaction(server_url, statement)


def _outside_transaction(server_url: str, statement: sql.Composable) -> None:
    with closing(psycopg2.connect(server_url)) as connection:
        # CREATE and DROP DATABASE refuse to run inside a transaction block.
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(statement)


def server_env(database_url: str, simulator_url: str, port: int) -> dict[str, str]:
    """The image's settings: DEBUG off, a throwaway key, Stripe being the simulator."""
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
    }


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=APP_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise StackError(f"manage.py {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def start(
    args: list[str], *, cwd: Path, env: dict[str, str], log: Path, pipe_stdout: bool = False
) -> subprocess.Popen[str]:
    """A process with its output in `log` (stderr only, when stdout is piped to us)."""
    with log.open("a") as log_file:
        return subprocess.Popen(
            args,
            cwd=cwd,
            env=env,
            text=True,
            stdout=subprocess.PIPE if pipe_stdout else log_file,
            stderr=log_file if pipe_stdout else subprocess.STDOUT,
            start_new_session=True,
        )


def stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM by pid (a graceful stop for gunicorn and a fast one for nginx), then SIGKILL."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()


@contextmanager
def running(process: subprocess.Popen[str]) -> Iterator[subprocess.Popen[str]]:
    try:
        yield process
    finally:
        stop(process)


@contextmanager
def simulator(
    log: Path, webhook_url: str | None, webhook_secret: str = WEBHOOK_SECRET
) -> Iterator[str]:
    """The simulator as its own process; yields its base URL. No webhook URL: events are kept."""
    args = [sys.executable, "-m", "stripe_sim", "--port", "0", "--webhook-secret", webhook_secret]
    env = {**os.environ, "STRIPE_SIM_WEBHOOK_URL": webhook_url or ""}
    with running(start(args, cwd=REPO_DIR, env=env, log=log, pipe_stdout=True)) as process:
        assert process.stdout is not None
        # The simulator's first stdout line is the only one, and names its port.
        match = re.search(rf"http://{re.escape(HOST)}:\d+", process.stdout.readline())
        if match is None:
            raise StackError(f"The Stripe simulator did not start:\n{log.read_text()}")
        yield match.group(0)


def start_gunicorn(env: dict[str, str], log: Path) -> subprocess.Popen[str]:
    """gunicorn with deploy/gunicorn.conf.py, answering /readyz on GUNICORN_BIND."""
    args = [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONFIG)]
    process = start(args, cwd=APP_DIR, env=env, log=log)
    try:
        wait_until_ok("gunicorn", f"http://{env['GUNICORN_BIND']}/readyz", process, log)
    except StackError:
        stop(process)
        raise
    return process


@contextmanager
def nginx(scratch: Path, port: int, upstream: str) -> Iterator[str]:
    """nginx from the machine, its config rendered by scripts/render-nginx.sh into `scratch`."""
    prefix = scratch / "nginx"
    rendered = subprocess.run(
        [str(RENDER_NGINX), str(prefix)],
        env={**os.environ, "NGINX_PORT": f"{HOST}:{port}", "UPSTREAM": upstream},
        capture_output=True,
        text=True,
        check=False,
    )
    if rendered.returncode != 0:
        raise StackError(f"The nginx config would not render:\n{rendered.stderr}")
    args = ["nginx", "-p", str(prefix), "-e", str(prefix / "logs" / "error.log")]
    args += ["-c", str(prefix / "nginx.conf")]
    check = subprocess.run([*args, "-t", "-q"], capture_output=True, text=True, check=False)
    if check.returncode != 0:
        raise StackError(f"nginx -t refused the rendered config:\n{check.stderr}")
    log = scratch / "nginx.log"
    process = start([*args, "-g", "daemon off;"], cwd=prefix, env=dict(os.environ), log=log)
    with running(process):
        wait_until_ok("nginx", f"http://{HOST}:{port}/nginx-health", process, log)
        yield f"http://{HOST}:{port}"


def wait_until_ok(name: str, url: str, process: subprocess.Popen[str], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StackError(f"{name} exited with {process.returncode}:\n{_tail(log)}")
        if answers_ok(url):
            return
        time.sleep(0.1)
    raise StackError(f"{url} did not answer 200 in {STARTUP_TIMEOUT_SECONDS:.0f} s:\n{_tail(log)}")


def answers_ok(url: str) -> bool:
    try:
        with LOCAL_OPENER.open(url, timeout=2) as response:
            return bool(response.status == HTTPStatus.OK)
    except OSError:
        return False


def _tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
