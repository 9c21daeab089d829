"""gunicorn settings for the shop; each one can be overridden from the environment."""

from __future__ import annotations

import os

from gunicorn.glogging import Logger

PROBE_PATHS = frozenset({"/healthz", "/readyz"})

wsgi_app = "config.wsgi:application"
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Threads keep one slow Stripe call from blocking a whole worker.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
accesslog = "-"
errorlog = "-"
# Only the proxy in front of us may say which scheme and client a request came from.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


class ProbeQuietLogger(Logger):
    """Health probes every few seconds would drown the access log."""

    def access(self, resp, req, environ, request_time) -> None:  # type: ignore[no-untyped-def]
        if environ.get("PATH_INFO") in PROBE_PATHS:
            return
        super().access(resp, req, environ, request_time)


logger_class = ProbeQuietLogger
