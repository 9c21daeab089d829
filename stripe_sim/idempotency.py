"""Idempotency keys as Stripe documents them.

A key is scoped to the API key that sent it. The first request with a key claims it; once the
endpoint has run, its response (whatever the status, 500 included) is saved and replayed for
every later request with the same key and the same method, path and parameters. A request that
never started executing (validation, auth, rate limit, conflict) releases the key unsaved.
"""

from __future__ import annotations

import enum
import threading
import time
from dataclasses import dataclass
from typing import Any

from stripe_sim.web import Response

KEY_LIFETIME_SECONDS = 24 * 60 * 60
MAX_KEY_LENGTH = 255

Scope = tuple[str, str]


class Outcome(enum.Enum):
    CLAIMED = "claimed"
    REPLAY = "replay"
    IN_FLIGHT = "in_flight"
    OTHER_ENDPOINT = "other_endpoint"
    OTHER_PARAMS = "other_params"


@dataclass(frozen=True)
class SavedResponse:
    response: Response
    request_id: str


@dataclass(frozen=True)
class Lookup:
    outcome: Outcome
    saved: SavedResponse | None = None
    first_endpoint: str = ""


@dataclass
class _Entry:
    endpoint: str
    params: Any
    claimed_at: float
    saved: SavedResponse | None = None


class IdempotencyStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[Scope, _Entry] = {}

    def begin(self, scope: Scope, endpoint: str, params: Any) -> Lookup:
        """Claim the key for this request, or say why this request must not run."""
        with self._lock:
            self._forget_expired()
            entry = self._entries.get(scope)
            if entry is None:
                self._entries[scope] = _Entry(endpoint, params, time.monotonic())
                return Lookup(Outcome.CLAIMED)
            if entry.saved is None:
                return Lookup(Outcome.IN_FLIGHT)
            if entry.endpoint != endpoint:
                return Lookup(Outcome.OTHER_ENDPOINT, first_endpoint=entry.endpoint)
            if entry.params != params:
                return Lookup(Outcome.OTHER_PARAMS)
            return Lookup(Outcome.REPLAY, entry.saved)

    def save(self, scope: Scope, response: Response, request_id: str) -> None:
        with self._lock:
            self._entries[scope].saved = SavedResponse(response, request_id)

    def release(self, scope: Scope) -> None:
        with self._lock:
            self._entries.pop(scope, None)

    def _forget_expired(self) -> None:
        cutoff = time.monotonic() - KEY_LIFETIME_SECONDS
        for scope in [scope for scope, entry in self._entries.items() if entry.claimed_at < cutoff]:
            del self._entries[scope]
