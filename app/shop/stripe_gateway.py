"""The only module that talks to Stripe.

Everything above it sees plain dataclasses and two exception types, never the `stripe` package.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, NoReturn

import requests
import stripe
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util.connection import create_connection

from shop.name_lookup import NameNotResolved, resolve

if TYPE_CHECKING:
    from shop.models import Order

logger = logging.getLogger(__name__)

# A stalled Stripe may hold a buyer at most 3 attempts x 2.5 s plus the library's
# backoff between them (0.5 s, then at most 1 s): about 9 s, under our 10 s budget. Connecting,
# the lookup of the API's host name included, takes at most the connect timeout.
CONNECT_TIMEOUT_SECONDS = 2.0
READ_TIMEOUT_SECONDS = 2.5
MAX_NETWORK_RETRIES = 2
LIVE_KEY_PREFIXES = ("sk_live_", "rk_live_")
CHECKOUT_EVENT_PREFIX = "checkout.session."
EVENT_ID = re.compile(r"evt_[A-Za-z0-9_]{1,250}")
CHECKOUT_SESSION_ID = re.compile(r"cs_[A-Za-z0-9_]{1,250}")
TRY_AGAIN = "We could not reach our payment provider. Nothing was charged; please try again."


class PaymentProviderError(Exception):
    """Stripe did not do what we asked. The message is written for the buyer."""

    def __init__(self, message: str, *, needs_new_idempotency_key: bool = False) -> None:
        super().__init__(message)
        self.needs_new_idempotency_key = needs_new_idempotency_key


class PaymentProviderUnavailable(PaymentProviderError):
    """A passing failure (network, timeout, rate limit, Stripe 5xx): trying again may work."""


class CheckoutSessionNotFound(PaymentProviderError):
    """Stripe knows no Checkout Session with that id."""


class PaymentRequestInvalid(PaymentProviderError):
    """Stripe refused the request as invalid (a 400): it executed nothing."""


class InvalidWebhook(Exception):
    """A webhook whose signature or body does not check out."""


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    status: str
    payment_status: str
    amount_total: int | None
    currency: str | None
    client_reference_id: str | None
    metadata_order_id: str | None
    payment_intent_id: str | None
    url: str | None

    @property
    def is_paid(self) -> bool:
        """Stripe holds the money: complete and paid (a delayed method completes unpaid first)."""
        return self.status == "complete" and self.payment_status == "paid"

    @property
    def is_expired(self) -> bool:
        return self.status == "expired"


@dataclass(frozen=True)
class WebhookEvent:
    id: str
    type: str
    session: CheckoutSession | None


def refuse_live_keys(secret_key: str) -> None:
    if secret_key.startswith(LIVE_KEY_PREFIXES):
        raise ImproperlyConfigured(
            "STRIPE_SECRET_KEY is a live-mode key; this shop only runs in Stripe test mode, "
            "so set an sk_test_ key."
        )


def create_checkout_session(order: Order, *, success_url: str, cancel_url: str) -> CheckoutSession:
    """Create the order's Checkout Session; a retry with the same attempt reuses Stripe's answer."""
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [
            {
                "price_data": {
                    "currency": order.currency,
                    "unit_amount": order.unit_price_cents,
                    "product_data": {"name": order.product.name},
                },
                "quantity": order.quantity,
            }
        ],
        "success_url": success_url,
        "cancel_url": cancel_url,
        "client_reference_id": str(order.pk),
        "metadata": {"order_id": str(order.pk)},
        "expires_at": int(order.checkout_expires_at.timestamp()),
    }
    key = idempotency_key(order)
    with _translated_errors("create a Checkout Session", order_id=order.pk):
        session = _client().v1.checkout.sessions.create(
            params=params,  # type: ignore[arg-type]
            options={"idempotency_key": key},
        )
    return _to_checkout_session(session.to_dict())


def idempotency_key(order: Order, attempt: int | None = None) -> str:
    attempt = order.checkout_attempt if attempt is None else attempt
    return f"{settings.STRIPE_IDEMPOTENCY_PREFIX}-checkout-{order.checkout_key}-{attempt}"


def retrieve_checkout_session(session_id: str) -> CheckoutSession:
    with _translated_errors("retrieve a Checkout Session", session_id=session_id):
        session = _client().v1.checkout.sessions.retrieve(session_id)
    return _to_checkout_session(session.to_dict())


def expire_checkout_session(session_id: str) -> CheckoutSession:
    """End an open session. One that is no longer open is returned as Stripe now has it."""
    try:
        with _translated_errors("expire a Checkout Session", session_id=session_id):
            session = _client().v1.checkout.sessions.expire(session_id)
    except PaymentRequestInvalid:
        # Stripe's answer for a session that is no longer open: completed or expired already.
        return retrieve_checkout_session(session_id)
    except (PaymentProviderUnavailable, CheckoutSessionNotFound):
        raise
    except PaymentProviderError:
        logger.error(
            "Stripe refused to expire session=%s; it stays open until it expires", session_id
        )
        raise
    return _to_checkout_session(session.to_dict())


def parse_webhook(payload: bytes, signature: str | None) -> WebhookEvent:
    """Verify and read a webhook. Anything not shaped like Stripe's events is InvalidWebhook."""
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise InvalidWebhook("STRIPE_WEBHOOK_SECRET is not set, so no webhook can be verified.")
    if not signature or not signature.isascii():
        # The library's constant-time compare raises TypeError on non-ASCII text.
        raise InvalidWebhook("Bad signature: the Stripe-Signature header is missing or not ASCII.")
    try:
        stripe.WebhookSignature.verify_header(
            payload, signature, secret, stripe.Webhook.DEFAULT_TOLERANCE
        )
        body = json.loads(payload)
    except stripe.SignatureVerificationError as error:
        raise InvalidWebhook(f"Bad signature: {error.user_message or error}") from None
    except ValueError as error:
        raise InvalidWebhook(f"Malformed body: {error}") from None
    return _to_webhook_event(body)


def _to_webhook_event(body: Any) -> WebhookEvent:
    if not isinstance(body, dict):
        raise InvalidWebhook("Malformed body: an event is a JSON object.")
    event_id, event_type = body.get("id"), body.get("type")
    if not isinstance(event_id, str) or not EVENT_ID.fullmatch(event_id):
        raise InvalidWebhook("Malformed body: the event has no valid id.")
    if not isinstance(event_type, str) or not event_type:
        raise InvalidWebhook("Malformed body: the event has no type.")
    session = None
    if event_type.startswith(CHECKOUT_EVENT_PREFIX):
        data = body.get("data")
        session_data = data.get("object") if isinstance(data, dict) else None
        if not isinstance(session_data, dict) or not is_checkout_session_id(session_data.get("id")):
            raise InvalidWebhook("Malformed body: the event names no Checkout Session.")
        session = _to_checkout_session(session_data)
    return WebhookEvent(id=event_id, type=event_type, session=session)


def is_checkout_session_id(value: Any) -> bool:
    return isinstance(value, str) and CHECKOUT_SESSION_ID.fullmatch(value) is not None


class _LookedUpConnection(HTTPConnection):
    """Connects to the address `resolve` found, both within the connect timeout: the system
    resolver keeps no deadline, and urllib3's connect timeout starts after it. Only the socket's
    destination changes; the Host header, SNI and the certificate check keep the name."""

    def _new_conn(self) -> socket.socket:
        deadline = time.monotonic() + CONNECT_TIMEOUT_SECONDS
        try:
            address = resolve(self._dns_host, self.port, CONNECT_TIMEOUT_SECONDS)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            return create_connection(
                (address, self.port),
                remaining,
                source_address=self.source_address,
                socket_options=self.socket_options,
            )
        except NameNotResolved as error:
            raise NewConnectionError(self, f"Failed to look up the host: {error}") from error
        except TimeoutError as error:
            raise ConnectTimeoutError(
                self, f"Connection to {self.host} timed out ({CONNECT_TIMEOUT_SECONDS:g} s)"
            ) from error
        except OSError as error:
            raise NewConnectionError(self, f"Failed to establish a connection: {error}") from error


class _LookedUpHTTPSConnection(_LookedUpConnection, HTTPSConnection):
    pass


class _LookedUpHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _LookedUpConnection


class _LookedUpHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _LookedUpHTTPSConnection


class _LookedUpAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _LookedUpHTTPConnectionPool,
            "https": _LookedUpHTTPSConnectionPool,
        }


class _LookedUpRequestsClient(stripe.RequestsClient):
    """The library's requests client, each thread's session connecting through `resolve`."""

    def _request_internal(self, *args: Any, **kwargs: Any) -> Any:
        if getattr(self._thread_local, "session", None) is None:
            session = requests.Session()
            session.mount("http://", _LookedUpAdapter())
            session.mount("https://", _LookedUpAdapter())
            self._thread_local.session = session
        return super()._request_internal(*args, **kwargs)

    def _handle_request_error(self, e: Exception) -> NoReturn:
        cause: BaseException | None = e
        while cause is not None and not isinstance(cause, NameNotResolved):
            cause = cause.__cause__ or cause.__context__
        if cause is not None:
            # No request went out, so the next try reuses the key. Not at once: that would wait
            # on the same lookup if it still runs, and a name that just failed rarely resolves.
            raise stripe.APIConnectionError(str(cause), should_retry=False) from e
        super()._handle_request_error(e)


@lru_cache(maxsize=4)
def _build_client(api_key: str, api_base: str) -> stripe.StripeClient:
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base},
        max_network_retries=MAX_NETWORK_RETRIES,
        http_client=_LookedUpRequestsClient(
            timeout=(CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS)
        ),
    )


def _client() -> stripe.StripeClient:
    if not settings.STRIPE_SECRET_KEY:
        logger.error("STRIPE_SECRET_KEY is not set; payments cannot start")
        raise PaymentProviderError("Payments are not configured on this shop yet.")
    return _build_client(settings.STRIPE_SECRET_KEY, settings.STRIPE_API_BASE)


@contextmanager
def _translated_errors(action: str, **context: object) -> Iterator[None]:
    """Turn the library's errors into ours, logging the details the buyer is not told."""
    try:
        yield
    except stripe.StripeError as error:
        logger.warning(
            "Stripe failed to %s (%s): %s %s request_id=%s",
            action,
            " ".join(f"{name}={value}" for name, value in context.items()),
            type(error).__name__,
            error.user_message or error,
            error.request_id,
        )
        raise _translate(error) from error


def _translate(error: stripe.StripeError) -> PaymentProviderError:
    if error.http_status == HTTPStatus.CONFLICT:
        # Another request with this key is still running at Stripe: the key must stay.
        return PaymentProviderUnavailable(TRY_AGAIN)
    if isinstance(error, stripe.IdempotencyError):
        return PaymentProviderError(
            "We could not start the payment. Nothing was charged; please try again.",
            needs_new_idempotency_key=True,
        )
    if isinstance(error, stripe.APIConnectionError | stripe.RateLimitError):
        return PaymentProviderUnavailable(TRY_AGAIN)
    if isinstance(error, stripe.APIError):
        # Stripe saved this 5xx under the idempotency key and would replay it.
        return PaymentProviderUnavailable(TRY_AGAIN, needs_new_idempotency_key=True)
    if isinstance(error, stripe.InvalidRequestError) and error.http_status == 404:
        return CheckoutSessionNotFound("We could not find that payment.")
    if isinstance(error, stripe.InvalidRequestError) and error.http_status == 400:
        return PaymentRequestInvalid(
            "Our payment provider refused the request. Nothing was charged; please try again later."
        )
    if isinstance(error, stripe.AuthenticationError | stripe.PermissionError):
        logger.error("Stripe refused our API key; check STRIPE_SECRET_KEY")
    return PaymentProviderError(
        "Our payment provider refused the request. Nothing was charged; please try again later."
    )


def _to_checkout_session(session: Mapping[str, Any]) -> CheckoutSession:
    """Stripe's session (an API answer or a webhook's object) as plain values of known types."""
    metadata = session.get("metadata")
    payment_intent = session.get("payment_intent")
    if isinstance(payment_intent, Mapping):
        payment_intent = payment_intent.get("id")
    return CheckoutSession(
        id=session["id"],
        status=_text(session.get("status")) or "",
        payment_status=_text(session.get("payment_status")) or "",
        amount_total=_whole_number(session.get("amount_total")),
        currency=_text(session.get("currency")),
        client_reference_id=_text(session.get("client_reference_id")),
        metadata_order_id=(
            _text(metadata.get("order_id")) if isinstance(metadata, Mapping) else None
        ),
        payment_intent_id=_text(payment_intent),
        url=_text(session.get("url")),
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _whole_number(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
