"""The simulator's configuration, its resettable state, and the actions that emit events."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from stripe_sim.events import Delivery, Event, EventLog
from stripe_sim.faults import FaultList
from stripe_sim.idempotency import IdempotencyStore
from stripe_sim.sessions import CheckoutSession, SessionStore

logger = logging.getLogger(__name__)

# The API version of the installed library; used when a request does not send Stripe-Version.
DEFAULT_API_VERSION = "2026-10-28.endive"
# Well known on purpose: it only guards a local simulator, and the app must be able to share it.
DEFAULT_WEBHOOK_SECRET = "whsec_stripe_sim_local_only"  # noqa: S105
MAX_DUPLICATE_DELIVERIES = 10
MAX_CLOCK_OFFSET_SECONDS = 7 * 24 * 60 * 60
CONFIGURABLE = (
    "webhook_url",
    "webhook_secret",
    "duplicate_deliveries",
    "hold_events",
    "clock_offset",
)


@dataclass(frozen=True)
class Config:
    public_url: str
    webhook_url: str | None = None
    webhook_secret: str = DEFAULT_WEBHOOK_SECRET
    duplicate_deliveries: int = 1
    hold_events: bool = False
    # Seconds Stripe's clock runs ahead of ours (negative: behind), for skew and time passing.
    clock_offset: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """What `/_sim/config` shows: everything but the webhook secret, which can sign events."""
        shown = asdict(self)
        del shown["webhook_secret"]
        return shown


def check_webhook_url(url: Any) -> None:
    if url is None:
        return
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("webhook_url must be an http(s) URL or null.")


def check_webhook_secret(secret: Any) -> None:
    if not isinstance(secret, str) or not secret.startswith("whsec_"):
        raise ValueError("webhook_secret must be a string starting with 'whsec_'.")


def check_config_changes(changes: dict[str, Any]) -> None:
    """Raise ValueError unless `changes` is a valid partial update from the control API."""
    unknown = set(changes) - set(CONFIGURABLE)
    if unknown:
        raise ValueError(f"Unknown config fields: {', '.join(sorted(unknown))}.")
    if "webhook_url" in changes:
        check_webhook_url(changes["webhook_url"])
    if "webhook_secret" in changes:
        check_webhook_secret(changes["webhook_secret"])
    copies = changes.get("duplicate_deliveries", 1)
    if not isinstance(copies, int) or not 1 <= copies <= MAX_DUPLICATE_DELIVERIES:
        raise ValueError(f"duplicate_deliveries must be between 1 and {MAX_DUPLICATE_DELIVERIES}.")
    if not isinstance(changes.get("hold_events", False), bool):
        raise ValueError("hold_events must be true or false.")
    offset = changes.get("clock_offset", 0)
    if (
        not isinstance(offset, int | float)
        or isinstance(offset, bool)
        or not abs(offset) <= MAX_CLOCK_OFFSET_SECONDS
    ):
        raise ValueError(
            f"clock_offset must be a number of seconds within ±{MAX_CLOCK_OFFSET_SECONDS}."
        )


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []

    def record(
        self,
        method: str,
        path: str,
        idempotency_key: str | None,
        status: int | None,
        replayed: bool,
        received_at: float,
    ) -> None:
        entry = {
            # Monotonic seconds when the request arrived, so tests can read attempts' spacing.
            "received_at": received_at,
            "method": method,
            "path": path,
            "idempotency_key": idempotency_key,
            "status": status,
            "replayed": replayed,
        }
        with self._lock:
            self._entries.append(entry)

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._entries)


class State:
    """Everything a reset forgets."""

    def __init__(self) -> None:
        self.sessions = SessionStore()
        self.events = EventLog()
        self.idempotency = IdempotencyStore()
        self.faults = FaultList()
        self.requests = RequestLog()


class Simulator:
    """Requests read `state` once and keep using it, so one still running during a reset
    finishes against the forgotten state instead of leaking into the next test."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.state = State()
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            retired, self.state = self.state, State()
        retired.events.retired.set()

    def now(self) -> int:
        """Stripe's clock: ours plus the configured offset."""
        return int(time.time() + self.config.clock_offset)

    def configure(self, **changes: Any) -> Config:
        with self._lock:
            self.config = replace(self.config, **changes)
            return self.config

    def emit(
        self,
        state: State,
        event_type: str,
        session: CheckoutSession,
        request_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Event:
        event = state.events.record(
            event_type, session.to_api(), session.api_version, request_id, idempotency_key
        )
        logger.info("%s %s for %s", event.id, event_type, session.id)
        config = self.config
        if config.hold_events:
            state.events.hold(event)
        elif config.webhook_url:
            state.events.deliver_in_background(
                event, config.webhook_url, config.webhook_secret, config.duplicate_deliveries
            )
        return event

    def deliver_now(self, state: State, event: Event) -> Delivery:
        config = self.config
        if not config.webhook_url:
            return Delivery(None, "no webhook_url is configured")
        return state.events.deliver(event, config.webhook_url, config.webhook_secret)

    def flush(self, state: State, newest_first: bool) -> list[tuple[Event, Delivery]]:
        """Deliver the held events once each (times duplicate_deliveries), synchronously."""
        held = state.events.take_held()
        ordered = reversed(held) if newest_first else held
        copies = self.config.duplicate_deliveries
        return [(event, self.deliver_now(state, event)) for event in ordered for _ in range(copies)]

    def expire(
        self,
        state: State,
        session_id: str,
        request_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> CheckoutSession:
        session = state.sessions.expire(session_id)
        self.emit(state, "checkout.session.expired", session, request_id, idempotency_key)
        return session

    def complete(
        self,
        state: State,
        session_id: str,
        payment_status: str = "paid",
        amount_total: int | None = None,
        currency: str | None = None,
    ) -> tuple[CheckoutSession, Event]:
        session = state.sessions.complete(session_id, payment_status, amount_total, currency)
        return session, self.emit(state, "checkout.session.completed", session)

    def settle(
        self, state: State, session_id: str, succeeded: bool
    ) -> tuple[CheckoutSession, Event]:
        session = state.sessions.settle(session_id, succeeded)
        outcome = "succeeded" if succeeded else "failed"
        return session, self.emit(state, f"checkout.session.async_payment_{outcome}", session)
