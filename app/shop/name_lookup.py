"""Host name lookups inside a deadline, which the system resolver itself does not keep.

libpq's connect_timeout and the HTTP client's connect timeout start only after the lookup:
with a name that does not answer (Docker's DNS forwards an unknown one upstream, 10 s per
try) a request would wait far past its bound. The lookup runs on a thread of its own, one
per name however many requests wait for it, and a caller waits at most its timeout. A lookup
older than a caller's timeout has already failed a caller: that one starts a new lookup, so a
name that is back resolves at once while the hung lookup ends on its own (one thread per name
per timeout, at most, while the name hangs).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from functools import partial

# Reentrant: a lookup that is already done runs its callback at once, under the lock.
_lock = threading.RLock()
_pending: dict[tuple[str, int], _Lookup] = {}


class NameNotResolved(OSError):
    """The name did not resolve, or not within the caller's deadline."""


@dataclass(eq=False)
class _Lookup:
    started: float = field(default_factory=time.monotonic)
    answer: Future[str] = field(default_factory=Future)


def resolve(host: str, port: int, timeout: float) -> str:
    """One address for `host`, or NameNotResolved within `timeout` seconds."""
    if _is_address(host):
        return host
    key = (host, port)
    with _lock:
        lookup = _pending.get(key)
        if lookup is None or time.monotonic() - lookup.started >= timeout:
            lookup = _pending[key] = _start(host, port)
            lookup.answer.add_done_callback(partial(_forget, key, lookup))
    try:
        return lookup.answer.result(timeout=timeout)
    except FutureTimeout:
        raise NameNotResolved(f"{host} did not resolve within {timeout:g} s") from None
    except OSError as error:
        raise NameNotResolved(f"{host} did not resolve: {error}") from None


def _start(host: str, port: int) -> _Lookup:
    lookup = _Lookup()

    def run() -> None:
        try:
            lookup.answer.set_result(_first_address(host, port))
        except Exception as error:
            lookup.answer.set_exception(error)

    threading.Thread(target=run, name=f"name-lookup-{host}", daemon=True).start()
    return lookup


def _first_address(host: str, port: int) -> str:
    answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return str(answers[0][4][0])


def _forget(key: tuple[str, int], done: _Lookup, _: Future[str]) -> None:
    with _lock:
        if _pending.get(key) is done:
            del _pending[key]


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
