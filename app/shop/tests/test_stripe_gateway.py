"""The gateway: the real `stripe` library over HTTP, its errors turned into ours."""

from __future__ import annotations

import json
import logging
import re
import socket
import ssl
import threading
from collections.abc import Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import stripe
import trustme
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from shop import stripe_gateway
from shop.models import Order, Product
from shop.stripe_gateway import (
    CheckoutSessionNotFound,
    PaymentProviderError,
    PaymentProviderUnavailable,
)
from shop.tests.helpers import buy, run_manage, session_id_of
from shop.tests.stack import Simulator
from tests.support import servers

pytestmark = pytest.mark.django_db

# A name no resolver knows: the `api_name` fixture answers it with 127.0.0.1, as a hosts file would.
API_NAME = "stripe-api.test"


@pytest.fixture
def api_name(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """API_NAME resolves to 127.0.0.1; every name the process looks up is recorded in order."""
    real = socket.getaddrinfo
    asked: list[str] = []

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        asked.append(host)
        return real("127.0.0.1" if host == API_NAME else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    # Each test starts without a kept-alive connection, which would need no lookup.
    stripe_gateway._build_client.cache_clear()
    yield asked
    stripe_gateway._build_client.cache_clear()


@pytest.mark.parametrize("key", ["sk_live_123", "rk_live_123"])
def test_live_keys_are_refused(key: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="only runs in Stripe test mode"):
        stripe_gateway.refuse_live_keys(key)


def test_test_keys_are_accepted() -> None:
    stripe_gateway.refuse_live_keys("sk_test_123")
    stripe_gateway.refuse_live_keys("")


def test_the_librarys_retries_keep_the_idempotency_key(
    client: Client, simulator: Simulator, product: Product
) -> None:
    simulator.fault(method="POST", path="/v1/checkout/sessions", drop=True, times=2)
    session_id_of(buy(client, product))
    order = Order.objects.get()
    keys = [r["idempotency_key"] for r in simulator.requests()]
    assert keys == [stripe_gateway.idempotency_key(order, 0)] * 3
    assert len(simulator.sessions()) == 1


def test_other_parameters_under_a_used_key_need_a_new_key(
    client: Client, simulator: Simulator, product: Product
) -> None:
    buy(client, product)
    order = Order.objects.select_related("product").get()
    order.quantity = 3
    with pytest.raises(PaymentProviderError) as refused:
        stripe_gateway.create_checkout_session(
            order, success_url="http://testserver/s", cancel_url="http://testserver/c"
        )
    assert refused.value.needs_new_idempotency_key
    assert not isinstance(refused.value, PaymentProviderUnavailable)


def test_an_unknown_session_is_not_found(simulator: Simulator) -> None:
    with pytest.raises(CheckoutSessionNotFound):
        stripe_gateway.retrieve_checkout_session("cs_test_missing")


def test_a_rejected_api_key_is_a_plain_error(simulator: Simulator, settings) -> None:
    settings.STRIPE_SECRET_KEY = "pk_test_not_a_secret_key"
    with pytest.raises(PaymentProviderError) as refused:
        stripe_gateway.retrieve_checkout_session("cs_test_any")
    assert "refused the request" in str(refused.value)


def test_expiring_a_session_that_was_paid_returns_it_as_stripe_has_it(
    client: Client, simulator: Simulator, product: Product
) -> None:
    session_id = session_id_of(buy(client, product))
    simulator.pay(session_id)
    session = stripe_gateway.expire_checkout_session(session_id)
    assert (session.status, session.payment_status) == ("complete", "paid")


def test_sessions_come_back_as_plain_values(
    client: Client, simulator: Simulator, product: Product
) -> None:
    session_id = session_id_of(buy(client, product, quantity=4))
    simulator.pay(session_id)
    session = stripe_gateway.retrieve_checkout_session(session_id)
    order = Order.objects.get()
    assert session.id == session_id
    assert (session.status, session.payment_status) == ("complete", "paid")
    assert (session.amount_total, session.currency) == (6000, "usd")
    assert session.client_reference_id == session.metadata_order_id == str(order.pk)
    assert session.payment_intent_id and session.payment_intent_id.startswith("pi_")


def test_two_deployments_sharing_one_stripe_account_never_share_a_key(
    client: Client, simulator: Simulator, product: Product, settings
) -> None:
    buy(client, product)
    order = Order.objects.select_related("product").get()
    # Another environment's order with the same id, for another amount, on the same account.
    settings.STRIPE_IDEMPOTENCY_PREFIX = "staging"
    order.quantity, order.amount_cents = 3, order.unit_price_cents * 3

    other = stripe_gateway.create_checkout_session(
        order, success_url="http://staging/s", cancel_url="http://staging/c"
    )

    assert other.amount_total == order.unit_price_cents * 3
    keys = [r["idempotency_key"] for r in simulator.requests()]
    assert len(set(keys)) == 2 and keys[1] == f"staging-checkout-{order.checkout_key}-0"


@pytest.mark.parametrize(
    ("secret_keys", "same"),
    [(("a" * 50, "a" * 50), True), (("a" * 50, "b" * 50), False)],
    ids=["one-deployment", "two-deployments"],
)
def test_the_default_key_prefix_is_one_per_deployment(
    secret_keys: tuple[str, str], same: bool
) -> None:
    prefixes = {
        run_django_print("settings.STRIPE_IDEMPOTENCY_PREFIX", SECRET_KEY=key, DEBUG="false")
        for key in secret_keys
    }
    assert len(prefixes) == (1 if same else 2)
    assert all(re.fullmatch(r"shop-[0-9a-f]{12}", prefix) for prefix in prefixes)


def run_django_print(expression: str, **env: str) -> str:
    code = f"from django.conf import settings; print({expression})"
    result = run_manage("shell", "-c", code, **{"STRIPE_IDEMPOTENCY_PREFIX": "", **env})
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_a_call_looks_the_api_host_up_once_and_connects_to_that_address(
    client: Client, simulator: Simulator, product: Product, settings, api_name: list[str]
) -> None:
    settings.STRIPE_API_BASE = simulator.base_url.replace("127.0.0.1", API_NAME)

    session_id = session_id_of(buy(client, product))

    assert api_name.count(API_NAME) == 1
    assert [s["id"] for s in simulator.sessions()] == [session_id]
    assert Order.objects.get().stripe_session_id == session_id


def test_each_retry_on_a_new_connection_looks_the_name_up_once_under_the_same_key(
    client: Client, simulator: Simulator, product: Product, settings, api_name: list[str]
) -> None:
    settings.STRIPE_API_BASE = simulator.base_url.replace("127.0.0.1", API_NAME)
    simulator.fault(method="POST", path="/v1/checkout/sessions", drop=True, times=2)

    session_id_of(buy(client, product))

    keys = [r["idempotency_key"] for r in simulator.requests()]
    assert keys == [stripe_gateway.idempotency_key(Order.objects.get(), 0)] * 3
    assert api_name.count(API_NAME) == 3


def test_a_refused_connection_is_retried_each_try_looking_the_name_up_once(
    simulator: Simulator, settings, api_name: list[str]
) -> None:
    settings.STRIPE_API_BASE = f"http://{API_NAME}:{servers.free_port()}"

    with pytest.raises(PaymentProviderUnavailable):
        stripe_gateway.retrieve_checkout_session("cs_test_refused")

    assert api_name.count(API_NAME) == 1 + stripe_gateway.MAX_NETWORK_RETRIES


class TLSServer(ThreadingHTTPServer):
    """Stripe's API on 127.0.0.1 over TLS, answering any session id with an open session."""

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), TLSHandler)
        self.server_names: list[str | None] = []
        self.host_headers: list[str | None] = []
        context.sni_callback = lambda _socket, name, _context: self.server_names.append(name)
        self.socket = context.wrap_socket(self.socket, server_side=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class TLSHandler(BaseHTTPRequestHandler):
    server: TLSServer

    def do_GET(self) -> None:
        self.server.host_headers.append(self.headers["Host"])
        session_id = self.path.rsplit("/", 1)[-1]
        body = json.dumps({"id": session_id, "object": "checkout.session", "status": "open"})
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def tls_stripe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings, api_name: list[str]
) -> Iterator[tuple[trustme.CA, ssl.SSLContext, TLSServer]]:
    """A TLS server whose certificate is set per test; the library trusts only the test's CA."""
    ca = trustme.CA()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setattr(stripe, "ca_bundle_path", str(bundle))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server = TLSServer(context)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.STRIPE_SECRET_KEY = "sk_test_tls"
    settings.STRIPE_API_BASE = f"https://{API_NAME}:{server.port}"
    yield ca, context, server
    server.shutdown()
    server.server_close()
    thread.join()


def test_over_https_the_certificate_is_checked_against_the_name_not_the_address(
    tls_stripe: tuple[trustme.CA, ssl.SSLContext, TLSServer], api_name: list[str]
) -> None:
    ca, context, server = tls_stripe
    # Valid for the name only: a check against 127.0.0.1 would fail.
    ca.issue_cert(API_NAME).configure_cert(context)

    session = stripe_gateway.retrieve_checkout_session("cs_test_over_tls")

    assert (session.id, session.status) == ("cs_test_over_tls", "open")
    assert server.server_names == [API_NAME]
    assert server.host_headers == [f"{API_NAME}:{server.port}"]
    assert api_name.count(API_NAME) == 1


def test_over_https_a_certificate_for_another_name_is_refused_even_for_the_address(
    tls_stripe: tuple[trustme.CA, ssl.SSLContext, TLSServer], caplog: pytest.LogCaptureFixture
) -> None:
    ca, context, server = tls_stripe
    # Trusted, and valid for the very address connected to, but not for the name.
    ca.issue_cert("other.test", "127.0.0.1").configure_cert(context)

    with (
        caplog.at_level(logging.WARNING, logger="shop.stripe_gateway"),
        pytest.raises(PaymentProviderUnavailable),
    ):
        stripe_gateway.retrieve_checkout_session("cs_test_over_tls")

    assert server.server_names == [API_NAME]
    assert server.host_headers == []
    assert f"Hostname mismatch, certificate is not valid for '{API_NAME}'" in caplog.text
