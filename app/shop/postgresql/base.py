"""Django's PostgreSQL backend, with a bound on how many threads wait on a slow connect, and a
health check that asks the connection's socket instead of the server.

A database that accepts connections and never answers holds each connecting thread for the
whole connect timeout. Letting every worker thread wait so would leave none for the
liveness probe, and the runtime would restart healthy containers. So only a few threads
connect at a time. The others wait their turn while connections keep being made, however
slowly a busy machine makes them; once one attempt has been stuck for 1.5 s and none has
succeeded for as long, they give up at once, as if the database had refused.

libpq's connect_timeout does not cover looking the host name up, so that is done here,
within LOOKUP_SECONDS, and libpq is handed the address (`hostaddr`; `host` still names the
server for TLS and passwords).
"""

from __future__ import annotations

import select
import threading
import time
from typing import Any

import psycopg2
from django.db.backends.postgresql import base
from psycopg2.extensions import TRANSACTION_STATUS_IDLE

from shop.name_lookup import NameNotResolved, resolve

CONNECTING_AT_ONCE = 2
# Well under a liveness probe's usual 2 s timeout, well over a healthy connect.
STUCK_SECONDS = 1.5
QUEUE_POLL_SECONDS = 0.05
# Inside the 2.5 s in which a page or a probe must answer when the database is gone.
LOOKUP_SECONDS = 1.0
DEFAULT_PORT = 5432

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
            new_connection = super().get_new_connection(_with_address(conn_params))
        finally:
            with _lock:
                del _started[me]
            _slots.release()
        _succeeded()
        return new_connection

    def is_usable(self) -> bool:
        """Whether a connection kept from an earlier request still works, without a round trip.

        Django asks the server `SELECT 1` before each request's first query: a round trip,
        two system calls and some 50,000 instructions (callgrind). An idle connection has
        nothing to read until the server closes it (a restart, a failover, an idle timeout),
        which leaves its goodbye or the end of the stream on the socket; nothing else comes
        unasked, as the shop LISTENs to nothing.
        A connection inside a transaction is still asked the old way.
        """
        connection = self.connection
        if connection is None or connection.closed:
            return False
        if connection.info.transaction_status != TRANSACTION_STATUS_IDLE:
            return bool(super().is_usable())
        socket = select.poll()
        socket.register(connection.fileno(), select.POLLIN)
        return not socket.poll(0)


def _with_address(conn_params: dict[str, Any]) -> dict[str, Any]:
    host = conn_params.get("host") or ""
    if not host or host.startswith("/") or "," in host or "hostaddr" in conn_params:
        return conn_params
    try:
        address = resolve(host, int(conn_params.get("port") or DEFAULT_PORT), LOOKUP_SECONDS)
    except NameNotResolved as error:
        raise psycopg2.OperationalError(f"could not look up the database host: {error}") from None
    return {**conn_params, "hostaddr": address}


def _succeeded() -> None:
    global _last_success
    with _lock:
        _last_success = time.monotonic()
