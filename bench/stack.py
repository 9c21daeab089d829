"""The stack under measurement, on this machine and outside containers: a database of the
bench's own on the local PostgreSQL, the Stripe simulator, gunicorn with the image's config,
and nginx with the repository's templates rendered as the nginx image renders them.

Every process runs in a session of its own, so Ctrl-C reaches only the harness, which then
stops each one by its pid, last started first.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
from psycopg2 import sql

REPO_DIR = Path(__file__).resolve().parent.parent
APP_DIR = REPO_DIR / "app"
GUNICORN_CONFIG = REPO_DIR / "deploy" / "gunicorn.conf.py"
NGINX_TEMPLATES = REPO_DIR / "nginx" / "templates"
HOST = "127.0.0.1"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/shop"
SECRET_KEY = "bench-only-secret-key-thrown-away-after-the-run"
STRIPE_TEST_KEY = "sk_test_bench_only"
WEBHOOK_SECRET = "whsec_bench_only"
STARTUP_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 25.0
# The values docker-compose.yml gives the nginx image; only these are substituted, as there.
NGINX_VARIABLES = {
    "NGINX_PORT": "",
    "UPSTREAM": "",
    "NGINX_FORWARDED_PROTO": "$scheme",
    "NGINX_CHECKOUT_RATE": "1r/s",
    "NGINX_CHECKOUT_BURST": "20",
}
# Only loopback traffic here: a proxy from the environment must not see these requests.
LOCAL_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class StackError(RuntimeError):
    """A part of the stack is missing or would not start; the message says which and why."""


@dataclass
class Stack:
    scratch: Path
    database_url: str
    simulator_url: str
    nginx_url: str
    gunicorn_port: int
    env: dict[str, str]
    gunicorn: subprocess.Popen[bytes] | None = None

    def gunicorn_workers(self) -> list[int]:
        assert self.gunicorn is not None
        return child_pids(self.gunicorn.pid)


def require_tools() -> None:
    missing = [tool for tool in ("wrk", "nginx", "envsubst") if shutil.which(tool) is None]
    if missing:
        packages = " ".join("gettext-base" if tool == "envsubst" else tool for tool in missing)
        raise StackError(
            f"The bench needs {', '.join(missing)} on PATH: apt-get install {packages}"
        )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@contextmanager
def bench_database() -> Iterator[str]:
    """A database of the bench's own beside the one DATABASE_URL names, dropped afterwards."""
    url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise StackError(f"DATABASE_URL must name a PostgreSQL server, not {parts.scheme!r}.")
    name = f"{parts.path.lstrip('/') or 'shop'}_bench"
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
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(statement)


def server_env(database_url: str, simulator_url: str, gunicorn_port: int) -> dict[str, str]:
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
        "STRIPE_CHECKOUT_ORIGIN": "",
        "STRIPE_SECRET_KEY": STRIPE_TEST_KEY,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "GUNICORN_BIND": f"{HOST}:{gunicorn_port}",
    }


def manage(env: dict[str, str], *args: str) -> None:
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


def start(args: list[str], *, cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as log_file:
        return subprocess.Popen(
            args,
            cwd=cwd,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM by pid (a graceful stop for gunicorn and a fast one for nginx), then SIGKILL."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def running(process: subprocess.Popen[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    try:
        yield process
    finally:
        stop(process)


@contextmanager
def simulator(scratch: Path, webhook_url: str) -> Iterator[str]:
    """The simulator on a free port; yields its base URL, read from its first line."""
    log = scratch / "stripe_sim.log"
    port_file = scratch / "stripe_sim.out"
    env = {**os.environ, "STRIPE_SIM_WEBHOOK_URL": webhook_url}
    args = [sys.executable, "-m", "stripe_sim", "--port", "0", "--webhook-secret", WEBHOOK_SECRET]
    with port_file.open("wb") as out, log.open("wb") as err:
        process = subprocess.Popen(
            args, cwd=REPO_DIR, env=env, stdout=out, stderr=err, start_new_session=True
        )
    with running(process):
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            match = re.search(rf"http://{re.escape(HOST)}:\d+", port_file.read_text())
            if match:
                yield match.group(0)
                return
            if process.poll() is not None:
                break
            time.sleep(0.05)
        raise StackError(f"The Stripe simulator did not start:\n{log.read_text()}")


def start_gunicorn(stack: Stack, extra_env: dict[str, str] | None = None) -> None:
    """gunicorn with deploy/gunicorn.conf.py; WEB_CONCURRENCY and GUNICORN_THREADS override it."""
    env = {**stack.env, **(extra_env or {})}
    log = stack.scratch / "gunicorn.log"
    args = [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONFIG)]
    stack.gunicorn = start(args, cwd=APP_DIR, env=env, log=log)
    wait_until_ok("gunicorn", f"http://{HOST}:{stack.gunicorn_port}/readyz", stack.gunicorn, log)


def workers_booted(stack: Stack) -> int:
    """Workers gunicorn has booted so far: the first ones and each one recycled since."""
    log = stack.scratch / "gunicorn.log"
    return log.read_text(errors="replace").count("Booting worker with pid")


def stop_gunicorn(stack: Stack) -> None:
    if stack.gunicorn is not None:
        stop(stack.gunicorn)
        stack.gunicorn = None


@contextmanager
def nginx(scratch: Path, port: int, upstream: str) -> Iterator[str]:
    """nginx from the machine, with its own prefix, pid and temp paths in the scratch folder."""
    prefix = scratch / "nginx"
    render_nginx_templates(prefix, port, upstream)
    config = prefix / "nginx.conf"
    error_log = str(prefix / "logs" / "error.log")
    args = ["nginx", "-p", str(prefix), "-e", error_log, "-c", str(config), "-g", "daemon off;"]
    check = subprocess.run([*args[:-2], "-t", "-q"], capture_output=True, text=True, check=False)
    if check.returncode != 0:
        raise StackError(f"nginx -t refused the rendered config:\n{check.stderr}")
    log = scratch / "nginx.log"
    with running(start(args, cwd=prefix, env=dict(os.environ), log=log)) as process:
        wait_until_ok("nginx", f"http://{HOST}:{port}/nginx-health", process, log)
        yield f"http://{HOST}:{port}"


def render_nginx_templates(prefix: Path, port: int, upstream: str) -> None:
    """envsubst of each template into conf.d/, as the nginx image's entrypoint does."""
    values = {**NGINX_VARIABLES, "NGINX_PORT": f"{HOST}:{port}", "UPSTREAM": upstream}
    names = " ".join(f"${{{name}}}" for name in values)
    for template in NGINX_TEMPLATES.rglob("*.template"):
        target = prefix / "conf.d" / template.relative_to(NGINX_TEMPLATES).with_suffix("")
        target.parent.mkdir(parents=True, exist_ok=True)
        rendered = subprocess.run(
            ["envsubst", names],
            input=template.read_text(),
            capture_output=True,
            text=True,
            env={**os.environ, **values},
            check=True,
        )
        target.write_text(rendered.stdout)
    # No HTTPS server: the production overlay mounts one into tls/, the local stack has none.
    (prefix / "tls").mkdir(exist_ok=True)
    (prefix / "logs").mkdir(exist_ok=True)
    # The official image's main config (worker_processes auto, 1024 connections, access log
    # on), with every path inside the prefix.
    (prefix / "nginx.conf").write_text(f"""\
worker_processes auto;
error_log {prefix}/logs/error.log notice;
pid {prefix}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    client_body_temp_path {prefix}/client_temp;
    proxy_temp_path {prefix}/proxy_temp;
    fastcgi_temp_path {prefix}/fastcgi_temp;
    uwsgi_temp_path {prefix}/uwsgi_temp;
    scgi_temp_path {prefix}/scgi_temp;
    access_log {prefix}/logs/access.log combined;
    sendfile on;
    keepalive_timeout 65;
    include conf.d/*.conf;
}}
""")


def wait_until_ok(name: str, url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StackError(f"{name} exited with {process.returncode}:\n{_tail(log)}")
        try:
            with LOCAL_OPENER.open(url, timeout=2) as response:
                if response.status == HTTPStatus.OK:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise StackError(f"{url} did not answer 200 in {STARTUP_TIMEOUT_SECONDS:.0f} s:\n{_tail(log)}")


def _tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def child_pids(parent: int) -> list[int]:
    children = Path(f"/proc/{parent}/task/{parent}/children")
    try:
        return [int(pid) for pid in children.read_text().split()]
    except OSError:
        return []


def cpu_seconds(parent: int) -> float:
    """CPU time of a process tree: the parent's, its reaped children's and its live children's.

    Recycled gunicorn workers are counted too: a reaped child's time moves to its parent.
    """
    ticks = os.sysconf("SC_CLK_TCK")

    def times(pid: int, fields: slice) -> float:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return 0.0
        # utime, stime, cutime, cstime follow the command name, which may contain spaces.
        values = stat.rsplit(")", 1)[1].split()[11:15]
        return sum(int(value) for value in values[fields]) / ticks

    return times(parent, slice(0, 4)) + sum(times(pid, slice(0, 2)) for pid in child_pids(parent))


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None
