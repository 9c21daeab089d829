"""Django's PostgreSQL backend, with a bound on how many threads may be connecting at once.

A database that accepts connections and never answers holds each connecting thread for the
whole connect timeout. Letting every worker thread wait so would leave none for the
liveness probe, and the runtime would restart healthy containers. So only a few threads
connect at a time; the others give up after a short wait, as if the database had refused.
"""

from __future__ import annotations

import threading
from typing import Any

from django.db.backends.postgresql import base

CONNECTING_AT_ONCE = 2
# A healthy database connects in milliseconds, so a queue longer than this means trouble.
CONNECT_QUEUE_SECONDS = 0.25
_connecting = threading.BoundedSemaphore(CONNECTING_AT_ONCE)


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        if not _connecting.acquire(timeout=CONNECT_QUEUE_SECONDS):
            raise self.Database.OperationalError(
                "Other threads are still waiting to connect to the database."
            )
        try:
            return super().get_new_connection(conn_params)
        finally:
            _connecting.release()
