"""The gateway: the real `stripe` library over HTTP, its errors turned into ours."""

from __future__ import annotations

import re

import pytest
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

pytestmark = pytest.mark.django_db


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
