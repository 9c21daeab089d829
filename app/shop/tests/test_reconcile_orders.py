"""reconcile_orders: the safety net when both the webhook and the buyer's browser are lost."""

from __future__ import annotations

import logging
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from shop.models import Order, Product
from shop.tests.conftest import Simulator, buy, session_id_of

pytestmark = pytest.mark.django_db


def age(session_id: str | None = None, minutes: int = 10) -> None:
    orders = Order.objects.filter(stripe_session_id=session_id) if session_id else Order.objects
    orders.update(created_at=timezone.now() - timedelta(minutes=minutes))


def reconcile() -> str:
    out = StringIO()
    call_command("reconcile_orders", stdout=out)
    return out.getvalue()


def test_it_settles_stale_orders_from_what_stripe_says(
    client: Client, simulator: Simulator, product: Product
) -> None:
    paid, expired, still_open, young = (session_id_of(buy(client, product)) for _ in range(4))
    simulator.pay(paid)
    simulator.expire(expired)
    for session_id in (paid, expired, still_open):
        age(session_id)

    output = reconcile()

    statuses = dict(Order.objects.values_list("stripe_session_id", "status"))
    assert statuses == {
        paid: "paid",
        expired: "expired",
        still_open: "pending",
        young: "pending",
    }
    assert "expired: 1, paid: 1, waiting: 1" in output
    assert reconcile().endswith("waiting: 1\n")


def test_an_order_whose_checkout_never_opened_expires_after_its_window(
    client: Client, simulator: Simulator, product: Product
) -> None:
    simulator.fault(method="POST", path="/v1/checkout/sessions", status=429)
    buy(client, product)
    Order.objects.update(
        created_at=timezone.now() - timedelta(hours=1),
        checkout_expires_at=timezone.now() - timedelta(minutes=5),
    )
    reconcile()
    assert Order.objects.get().status == "expired"


def test_stripe_being_down_leaves_orders_pending_and_says_so(
    client: Client, simulator: Simulator, product: Product
) -> None:
    session_id_of(buy(client, product))
    age()
    simulator.fault(method="GET", path="/v1/checkout/sessions/", status=503, times=3)
    assert "unreachable: 1" in reconcile()
    assert Order.objects.get().status == "pending"


def test_a_wrong_amount_is_counted_for_review(
    client: Client, simulator: Simulator, product: Product
) -> None:
    session_id = session_id_of(buy(client, product))
    simulator.pay(session_id, amount_total=1)
    age()
    assert "needs_review: 1" in reconcile()
    assert Order.objects.get().status == "needs_review"
    assert reconcile().endswith("none\n")


def test_an_order_whose_session_stripe_no_longer_knows_stops_being_pending(
    client: Client, simulator: Simulator, product: Product, caplog: pytest.LogCaptureFixture
) -> None:
    session_id = session_id_of(buy(client, product))
    age()
    simulator.reset()  # Stripe forgets every session: a 404 from now on

    with caplog.at_level(logging.ERROR):
        assert "needs_review: 1" in reconcile()

    assert Order.objects.get().status == "needs_review"
    assert any(session_id in r.getMessage() for r in caplog.records)
    assert reconcile().endswith("none\n")
