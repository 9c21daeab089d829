"""Django's PostgreSQL backend, with a bound on how many threads wait on a slow connect.

A database that accepts connections and never answers holds each connecting thread for the
whole connect timeout. Letting every worker thread wait so would leave none for the
liveness probe, and the runtime would restart healthy containers. So only a few threads
connect at a time; while one of them has been at it for longer than a healthy database
ever takes, the others give up at once, as if the database had refused.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from django.db.backends.postgresql import base

CONNECTING_AT_ONCE = 2
# A healthy database connects in milliseconds, even on a busy machine.
SLOW_CONNECT_SECONDS = 1.0
QUEUE_POLL_SECONDS = 0.05

_slots = threading.BoundedSemaphore(CONNECTING_AT_ONCE)
_lock = threading.Lock()
_started: dict[int, float] = {}


def _oldest_attempt_seconds() -> float:
    with _lock:
        return time.monotonic() - min(_started.values(), default=time.monotonic())


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        while not _slots.acquire(timeout=QUEUE_POLL_SECONDS):
            if _oldest_attempt_seconds() > SLOW_CONNECT_SECONDS:
                raise self.Database.OperationalError(
                    "The database has not answered other threads' connection attempts."
                )
        me = threading.get_ident()
        with _lock:
            _started[me] = time.monotonic()
        try:
            return super().get_new_connection(conn_params)
        finally:
            with _lock:
                del _started[me]
            _slots.release()
