"""gunicorn settings for the shop; each one can be overridden from the environment.

Used by the image (`gunicorn --config /srv/shop/deploy/gunicorn.conf.py`) and by the browser tests.
"""

from __future__ import annotations

import gc
import json
import logging
import math
import os
import time
import traceback
from pathlib import Path

from gunicorn.glogging import Logger
from pythonjsonlogger.json import JsonFormatter

PROBE_PATHS = frozenset({"/healthz", "/readyz"})
APP_DIR = Path(__file__).resolve().parent.parent / "app"
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def usable_cpus() -> int:
    """CPUs this process may use: the container's CPU quota if it has one, else its affinity.

    `os.cpu_count()` reports the host's CPUs, which would start far too many workers in a
    container limited to one or two.
    """
    try:
        quota, period = CGROUP_CPU_MAX.read_text().split()
        if quota != "max":
            return max(1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    return len(os.sched_getaffinity(0))


def default_bind() -> str:
    # Container hosts say which port to serve through PORT and reach it from outside the
    # container; without it (a developer's machine) only loopback is served.
    port = os.environ.get("PORT")
    return f"0.0.0.0:{port}" if port else "127.0.0.1:8000"


# The Django project is importable wherever gunicorn is started from.
chdir = str(APP_DIR)
wsgi_app = "config.wsgi:application"
bind = os.environ.get("GUNICORN_BIND") or default_bind()
workers = int(os.environ.get("WEB_CONCURRENCY") or 2 * usable_cpus())
# Threads keep one slow Stripe call from blocking a whole worker.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# Longer than the Stripe client's 10 s budget, so a stalled Stripe ends in our 503 page
# rather than a killed worker.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
keepalive = 5
# Load Django once in the master: a worker then starts as a fork, in milliseconds, and the
# workers share the code's memory. A recycled worker booting Django anew took about half a
# CPU-second, a large tax at high request rates.
preload_app = True
# Recycle workers now and then so a slow leak never grows without bound; the jitter keeps
# them from restarting all at once. Each recycle costs a fork and a cold worker: at 2000, two
# workers recycled every few seconds under load, and 10000 took a fifth off /healthz's CPU
# per request and 4% off the storefront's (interleaved wrk runs, 2 workers x 4 threads).
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "10000"))
max_requests_jitter = max_requests // 10
# The heartbeat file lives in memory: a read-only or slow disk must not look like a hung worker.
SHARED_MEMORY = "/dev/shm"  # noqa: S108 - gunicorn only keeps its worker heartbeat files there
worker_tmp_dir = SHARED_MEMORY if os.path.isdir(SHARED_MEMORY) else None
# The control socket would need a writable directory; nothing here uses `gunicornc`.
control_socket_disable = True
accesslog = "-"
errorlog = "-"
# Only the proxy in front of us may say which scheme and client a request came from.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


# The same choice as the app's (config/settings.py): JSON unless DEBUG asks for plain lines.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "").strip().lower() or (
    "plain" if os.environ.get("DEBUG", "").strip().lower() in ("1", "true", "yes", "on") else "json"
)
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"
RENAMED_FIELDS = {"asctime": "time", "levelname": "level", "name": "logger"}


def json_line(logger: str, fields: dict[str, str | int], created: float) -> str:
    """The line JsonFormatter(JSON_FIELDS, rename_fields=RENAMED_FIELDS) writes for an INFO
    record of `logger` with `fields` (the message among them), built without a record."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(created))
    head = {
        RENAMED_FIELDS["asctime"]: f"{stamp},{int(created % 1 * 1000):03d}",
        RENAMED_FIELDS["levelname"]: "INFO",
        RENAMED_FIELDS["name"]: logger,
    }
    return json.dumps({**head, **fields})


class ShopLogger(Logger):
    """gunicorn's logs in the app's format, with the request id; probes stay out."""

    def setup(self, cfg):  # type: ignore[no-untyped-def]
        super().setup(cfg)
        if LOG_FORMAT != "json":
            return
        formatter = JsonFormatter(JSON_FIELDS, rename_fields=RENAMED_FIELDS)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(formatter)

    def access(self, resp, req, environ, request_time) -> None:  # type: ignore[no-untyped-def]
        # Health probes every few seconds would drown the access log.
        if environ.get("PATH_INFO") in PROBE_PATHS or not self.access_log_enabled:
            return
        # Only the fields logged, read directly: gunicorn's own atoms copy every request and
        # response header first, which costs more than some pages take to render.
        request_id = next(
            (value for name, value in resp.headers if name.lower() == "x-request-id"), "-"
        )
        fields = {
            "request_id": request_id,
            "method": environ["REQUEST_METHOD"],
            "path": environ.get("PATH_INFO", ""),
            "status": str(resp.status_code),
            "duration_ms": request_time.seconds * 1000 + request_time.microseconds // 1000,
        }
        line = (
            f'{environ.get("REMOTE_ADDR", "-")} "{environ["REQUEST_METHOD"]} {environ["RAW_URI"]} '
            f'{environ["SERVER_PROTOCOL"]}" {fields["status"]} {resp.sent} '
            f"{fields['duration_ms']}ms request_id={request_id}"
        )
        try:
            streams = self._json_streams()
            if streams:
                self._write_json(streams, {"message": line, **fields})
            else:
                self.access_log.info(line, extra=fields)
        except Exception:
            self.error(traceback.format_exc())

    def _json_streams(self) -> list[logging.StreamHandler]:  # type: ignore[type-arg]
        """The access log's handlers when each is a plain stream, the JSON line's fast path.

        Looked up per line: a reload (SIGHUP) replaces the handlers."""
        handlers = self.access_log.handlers
        if LOG_FORMAT != "json" or not all(type(h) is logging.StreamHandler for h in handlers):
            return []
        return list(handlers)

    def _write_json(
        self,
        streams: list[logging.StreamHandler],  # type: ignore[type-arg]
        fields: dict[str, str | int],
    ) -> None:
        # The same line JsonFormatter writes, built directly: the logging machinery (a record,
        # the formatter's field walk, its JSON encoder) cost about a twentieth of a page's
        # gunicorn CPU (py-spy, GIL samples, 2 workers x 4 threads).
        line = json_line(self.access_log.name, fields, time.time()) + "\n"
        for handler in streams:
            with handler.lock:  # type: ignore[union-attr]
                handler.stream.write(line)
                handler.stream.flush()


logger_class = ShopLogger


def when_ready(server) -> None:  # type: ignore[no-untyped-def]
    # What every worker would otherwise build after each fork (recycled ones too): the URL
    # resolver and the pages' templates. Nothing here touches the database.
    from shop.pages import warm_up

    warm_up()


def pre_fork(server, worker) -> None:  # type: ignore[no-untyped-def]
    # The preloaded objects move out of the collector's reach: a worker's collections then
    # neither walk them nor write to their pages, which would copy the master's memory into
    # every worker. Measured at 2 workers: a recycled worker cost less, and each request too.
    gc.freeze()
