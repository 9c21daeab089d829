"""Django's PostgreSQL backend, with a bound on how many threads wait on a slow connect.

A database that accepts connections and never answers holds each connecting thread for the
whole connect timeout. Letting every worker thread wait so would leave none for the
liveness probe, and the runtime would restart healthy containers. So only a few threads
connect at a time. The others wait their turn while connections keep being made, however
slowly a busy machine makes them; once one attempt has been stuck for 1.5 s and none has
succeeded for as long, they give up at once, as if the database had refused.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg2
from django.db.backends.postgresql import base

CONNECTING_AT_ONCE = 2
# Well under a liveness probe's usual 2 s timeout, well over a healthy connect.
STUCK_SECONDS = 1.5
QUEUE_POLL_SECONDS = 0.05

_slots = threading.BoundedSemaphore(CONNECTING_AT_ONCE)
_lock = threading.Lock()
_started: dict[int, float] = {}
_last_success = 0.0


def _stuck() -> bool:
    with _lock:
        now = time.monotonic()
        oldest = min(_started.values(), default=now)
        return now - oldest > STUCK_SECONDS and now - _last_success > STUCK_SECONDS


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        while not _slots.acquire(timeout=QUEUE_POLL_SECONDS):
            if _stuck():
                raise psycopg2.OperationalError(
                    "The database has not answered other threads' connection attempts."
                )
        me = threading.get_ident()
        with _lock:
            _started[me] = time.monotonic()
        try:
            new_connection = super().get_new_connection(conn_params)
        finally:
            with _lock:
                del _started[me]
            _slots.release()
        _succeeded()
        return new_connection


def _succeeded() -> None:
    global _last_success
    with _lock:
        _last_success = time.monotonic()
