"""Liveness and readiness probes for container runtimes and load balancers.

They answer before host validation and the HTTPS redirect: probes call by IP over plain HTTP.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from http import HTTPStatus

from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse, JsonResponse

from shop.responses import expected

logger = logging.getLogger(__name__)

LIVENESS_PATH = "/healthz"
READINESS_PATH = "/readyz"

# Applied migrations do not come undone while the process runs; checking once is enough.
_migrations_applied = False
# A probe every few seconds need not reach the database every time, and must not queue
# behind a database that hangs: one thread checks, the others answer the last result.
READINESS_CACHE_SECONDS = 2.0
# After a database failure, requests answer 503 at once for this long instead of each one
# holding a worker thread for the connect timeout.
OUTAGE_HOLD_SECONDS = 2.0


class DatabaseOutage:
    """This process's view of whether the database is out: tripped on a failure, for a moment."""

    def __init__(self, hold_seconds: float) -> None:
        self.hold_seconds = hold_seconds
        self._until = 0.0

    @property
    def ongoing(self) -> bool:
        return time.monotonic() < self._until

    def trip(self) -> None:
        self._until = time.monotonic() + self.hold_seconds

    def clear(self) -> None:
        self._until = 0.0


database_outage = DatabaseOutage(OUTAGE_HOLD_SECONDS)
_readiness_lock = threading.Lock()
_last_readiness: tuple[float, str | None] | None = None


def liveness() -> JsonResponse:
    return JsonResponse({"status": "ok"})


def readiness() -> JsonResponse:
    failed = _cached_failed_check()
    if failed:
        return expected(
            JsonResponse(
                {"status": "unavailable", "failed": failed}, status=HTTPStatus.SERVICE_UNAVAILABLE
            )
        )
    return JsonResponse({"status": "ok", "checks": ["database", "migrations"]})


def _cached_failed_check() -> str | None:
    global _last_readiness
    if database_outage.ongoing:
        return "database"
    last = _last_readiness
    if last is not None and time.monotonic() - last[0] < READINESS_CACHE_SECONDS:
        return last[1]
    if not _readiness_lock.acquire(blocking=False):
        # Another thread is asking the database right now; do not queue behind it.
        return last[1] if last is not None else "database"
    try:
        failed = _failed_check()
        _last_readiness = (time.monotonic(), failed)
        return failed
    finally:
        _readiness_lock.release()


def _failed_check() -> str | None:
    global _migrations_applied
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        if not _migrations_applied:
            executor = MigrationExecutor(connection)
            plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
            if plan:
                return "migrations"
            _migrations_applied = True
    except DatabaseError as error:
        database_outage.trip()
        logger.warning("readiness: database check failed: %s", error)
        # A broken connection must not be reused by the next check.
        connection.close_if_unusable_or_obsolete()
        return "database"
    return None


class HealthCheckMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == LIVENESS_PATH:
            return liveness()
        if request.path == READINESS_PATH:
            return readiness()
        return self.get_response(request)
