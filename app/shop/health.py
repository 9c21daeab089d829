"""Liveness and readiness probes for container runtimes and load balancers.

They answer before host validation and the HTTPS redirect: probes call by IP over plain HTTP.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from http import HTTPStatus

from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger(__name__)

LIVENESS_PATH = "/healthz"
READINESS_PATH = "/readyz"

# Applied migrations do not come undone while the process runs; checking once is enough.
_migrations_applied = False


def liveness() -> JsonResponse:
    return JsonResponse({"status": "ok"})


def readiness() -> JsonResponse:
    failed = _failed_check()
    if failed:
        return JsonResponse(
            {"status": "unavailable", "failed": failed}, status=HTTPStatus.SERVICE_UNAVAILABLE
        )
    return JsonResponse({"status": "ok", "checks": ["database", "migrations"]})


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
        logger.warning("readiness: database check failed: %s", error)
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
