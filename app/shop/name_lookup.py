"""Host name lookups inside a deadline, which the system resolver itself does not keep.

libpq's connect_timeout and the HTTP client's connect timeout start only after the lookup:
with a name that does not answer (Docker's DNS forwards an unknown one upstream, 10 s per
try) a request would wait far past its bound. The lookup runs on a thread of its own, one
per name however many requests wait for it, and a caller waits at most its timeout.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

# A handful of names (the database, the payment provider): a thread each is plenty.
_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="name-lookup")
# Reentrant: a lookup that is already done runs its callback at once, under the lock.
_lock = threading.RLock()
_pending: dict[tuple[str, int], Future[str]] = {}


class NameNotResolved(OSError):
    """The name did not resolve, or not within the caller's deadline."""


def resolve(host: str, port: int, timeout: float) -> str:
    """One address for `host`, or NameNotResolved within `timeout` seconds."""
    if _is_address(host):
        return host
    key = (host, port)
    with _lock:
        lookup = _pending.get(key)
        if lookup is None:
            lookup = _pending[key] = _pool.submit(_first_address, host, port)
            lookup.add_done_callback(lambda _: _forget(key))
    try:
        return lookup.result(timeout=timeout)
    except FutureTimeout:
        raise NameNotResolved(f"{host} did not resolve within {timeout:g} s") from None
    except OSError as error:
        raise NameNotResolved(f"{host} did not resolve: {error}") from None


def _first_address(host: str, port: int) -> str:
    answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return str(answers[0][4][0])


def _forget(key: tuple[str, int]) -> None:
    with _lock:
        _pending.pop(key, None)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
