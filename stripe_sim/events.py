"""Webhook events: building, signing exactly as Stripe does, and delivering them."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from stripe_sim.ids import new_id

logger = logging.getLogger(__name__)

DELIVERY_TIMEOUT_SECONDS = 5
RETRY_DELAYS_SECONDS = (0.5, 1.0, 2.0)
USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"


def signature_header(payload: str, secret: str, timestamp: int | None = None) -> str:
    """`Stripe-Signature`: HMAC-SHA256 of "<t>.<payload>", keyed with the whole whsec_ string."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


@dataclass(frozen=True)
class Delivery:
    status: int | None
    error: str | None


@dataclass
class Event:
    id: str
    type: str
    payload: str
    deliveries: list[Delivery] = field(default_factory=list)


class EventLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[Event] = []
        self._held: list[Event] = []
        # Set once the simulator is reset, so pending retries of forgotten events stop.
        self.retired = threading.Event()

    def record(
        self,
        event_type: str,
        data_object: dict[str, Any],
        api_version: str,
        request_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Event:
        event_id = new_id("evt_")
        body = {
            "id": event_id,
            "object": "event",
            "api_version": api_version,
            "created": int(time.time()),
            "data": {"object": data_object},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": request_id, "idempotency_key": idempotency_key},
            "type": event_type,
        }
        event = Event(event_id, event_type, json.dumps(body, indent=2))
        with self._lock:
            self._events.append(event)
        return event

    def hold(self, event: Event) -> None:
        with self._lock:
            self._held.append(event)

    def take_held(self) -> list[Event]:
        with self._lock:
            held, self._held = self._held, []
            return held

    def get(self, event_id: str) -> Event | None:
        with self._lock:
            return next((event for event in self._events if event.id == event_id), None)

    def all(self) -> list[Event]:
        with self._lock:
            return list(self._events)

    def deliveries(self, event: Event) -> list[Delivery]:
        with self._lock:
            return list(event.deliveries)

    def deliver(self, event: Event, url: str, secret: str) -> Delivery:
        """POST the event once, synchronously, and record the outcome."""
        delivery = _post(event, url, secret)
        with self._lock:
            event.deliveries.append(delivery)
        logger.info(
            "event %s (%s) -> %s: %s", event.id, event.type, url, delivery.status or delivery.error
        )
        return delivery

    def deliver_in_background(self, event: Event, url: str, secret: str, copies: int) -> None:
        threading.Thread(
            target=self._deliver_with_retries,
            args=(event, url, secret, copies),
            name=f"deliver-{event.id}",
            daemon=True,
        ).start()

    def _deliver_with_retries(self, event: Event, url: str, secret: str, copies: int) -> None:
        for _ in range(copies):
            for delay in (0.0, *RETRY_DELAYS_SECONDS):
                if self.retired.wait(delay):
                    return
                if _succeeded(self.deliver(event, url, secret)):
                    break


def _succeeded(delivery: Delivery) -> bool:
    return delivery.status is not None and 200 <= delivery.status < 300


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # Stripe treats a redirect from a webhook endpoint as a failed delivery.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


# Webhook endpoints are usually local or inside the compose network, never behind a proxy.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects())


def _post(event: Event, url: str, secret: str) -> Delivery:
    request = urllib.request.Request(  # noqa: S310 - the URL's scheme is checked when configured
        url,
        data=event.payload.encode(),
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": signature_header(event.payload, secret),
            "User-Agent": USER_AGENT,
        },
    )
    try:
        with OPENER.open(request, timeout=DELIVERY_TIMEOUT_SECONDS) as response:
            return Delivery(response.status, None)
    except urllib.error.HTTPError as exc:
        exc.close()
        return Delivery(exc.code, None)
    except (urllib.error.URLError, OSError) as exc:
        return Delivery(None, str(getattr(exc, "reason", exc)))
