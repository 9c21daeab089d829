"""Leaving Checkout cancels the order, and ends its session at Stripe so it can never be paid."""

from __future__ import annotations

import logging
import urllib.error
from http import HTTPStatus

import pytest
from django.test import Client

from shop.models import Order, Product
from shop.tests.helpers import buy, cancel_path, flashes, session_id_of
from shop.tests.stack import Simulator

pytestmark = pytest.mark.django_db


def session_status(simulator: Simulator, session_id: str) -> str:
    return next(s["status"] for s in simulator.sessions() if s["id"] == session_id)


def test_cancel_ends_the_session_at_stripe_and_cancels_the_order(
    client: Client, simulator: Simulator, product: Product
) -> None:
    session_id = session_id_of(buy(client, product))
    order = Order.objects.get()

    response = client.get(cancel_path(simulator, order))

    assert response.status_code == HTTPStatus.SEE_OTHER and response["Location"] == "/"
    assert Order.objects.get().status == "canceled"
    assert session_status(simulator, session_id) == "expired"
    page = client.get("/")
    assert f"Order #{order.pk} was canceled. You were not charged." in flashes(page)
    assert f'data-order-id="{order.pk}" data-status="canceled"' in page.content.decode()


def test_a_canceled_order_can_never_be_paid_later(
    client: Client, simulator: Simulator, product: Product
) -> None:
    session_id = session_id_of(buy(client, product))
    client.get(cancel_path(simulator, Order.objects.get()))

    with pytest.raises(urllib.error.HTTPError) as refused:
        simulator.pay(session_id)
    assert 400 <= refused.value.code < 500
    client.get(f"/checkout/success/?session_id={session_id}")
    assert Order.objects.get().status == "canceled"


def test_cancel_after_paying_in_another_tab_keeps_the_order_paid(
    client: Client, simulator: Simulator, product: Product
) -> None:
    session_id = session_id_of(buy(client, product))
    simulator.pay(session_id)
    order = Order.objects.get()

    client.get(cancel_path(simulator, order))

    assert Order.objects.get().status == "paid"
    assert f"Order #{order.pk} was already paid. Thank you!" in flashes(client.get("/"))


def test_cancel_again_changes_nothing(
    client: Client, simulator: Simulator, product: Product
) -> None:
    buy(client, product)
    order = Order.objects.get()
    client.get(cancel_path(simulator, order))
    updated_at = Order.objects.get().updated_at
    client.get(cancel_path(simulator, order))
    assert Order.objects.get().updated_at == updated_at
    assert (
        len(simulator.requests(path=f"/v1/checkout/sessions/{order.stripe_session_id}/expire")) == 1
    )


def test_cancel_while_stripe_is_unreachable_keeps_the_order_pending(
    client: Client, simulator: Simulator, product: Product
) -> None:
    buy(client, product)
    order = Order.objects.get()
    simulator.fault(method="POST", path="/v1/checkout/sessions/", status=503, times=3)

    response = client.get(cancel_path(simulator, order))

    assert response.status_code == HTTPStatus.SEE_OTHER
    assert Order.objects.get().status == "pending"
    assert "We could not reach Stripe to cancel" in " ".join(flashes(client.get("/")))


def test_no_visitor_can_cancel_another_visitors_order(
    client: Client, simulator: Simulator, product: Product
) -> None:
    buy(client, product)
    order = Order.objects.get()
    stranger = Client()
    buy(stranger, product)

    response = stranger.get(cancel_path(simulator, order))

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert "We could not find that order." in flashes(response)
    assert Order.objects.get(pk=order.pk).status == "pending"


@pytest.mark.parametrize(
    "path",
    [
        "/checkout/cancel/{pk}/",
        "/checkout/cancel/{pk}:forged/",
        "/checkout/cancel/{other}/",
        f"/checkout/cancel/{'9' * 30}/",
        "/checkout/cancel/%C2%B2/",
    ],
    ids=["bare-order-id", "forged-signature", "another-orders-link", "out-of-range", "not-ascii"],
)
def test_a_cancel_link_that_is_not_the_one_stripe_got_cancels_nothing(
    client: Client, simulator: Simulator, product: Product, path: str
) -> None:
    buy(client, product)
    order = Order.objects.get()
    buy(client, product)
    other = Order.objects.exclude(pk=order.pk).get()
    # The other order's signature under this order's id.
    other_signature = cancel_path(simulator, other).split("/")[-2].partition(":")[2]

    response = client.get(path.format(pk=order.pk, other=f"{order.pk}:{other_signature}"))

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert "We could not find that order." in flashes(response)
    assert set(Order.objects.values_list("status", flat=True)) == {"pending"}
    assert simulator.requests(path=f"/v1/checkout/sessions/{order.stripe_session_id}/expire") == []


def test_the_cancel_link_stripe_gets_is_unguessable_from_the_order_id(
    client: Client, simulator: Simulator, product: Product
) -> None:
    buy(client, product)
    order = Order.objects.get()
    link = cancel_path(simulator, order)
    assert link != f"/checkout/cancel/{order.pk}/"
    # The signature, not the id, is what a cross-site page would have to guess.
    assert len(link.split("/")[-2]) > len(str(order.pk)) + 20


def test_cancel_after_a_delayed_payment_began_says_it_is_being_processed(
    client: Client, simulator: Simulator, product: Product
) -> None:
    session_id = session_id_of(buy(client, product))
    simulator.pay(session_id, payment_status="unpaid")  # a bank debit: complete, not yet paid
    order = Order.objects.get()

    client.get(cancel_path(simulator, order))

    messages = " ".join(flashes(client.get("/")))
    assert f"The payment for order #{order.pk} is being processed" in messages
    assert "not charged" not in messages and "was canceled" not in messages
    assert Order.objects.get().status == "pending"
    simulator.settle_async(session_id, "succeeded")
    client.get(f"/checkout/success/?session_id={session_id}")
    assert Order.objects.get().status == "paid"


@pytest.mark.parametrize("status", [401, 403])
def test_cancel_that_stripe_refuses_says_so_and_leaves_the_order_pending(
    client: Client,
    simulator: Simulator,
    product: Product,
    status: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    session_id = session_id_of(buy(client, product))
    order = Order.objects.get()
    simulator.fault(method="POST", path=f"/v1/checkout/sessions/{session_id}/expire", status=status)

    with caplog.at_level(logging.INFO):
        response = client.get(cancel_path(simulator, order))

    assert response.status_code == HTTPStatus.SEE_OTHER
    messages = " ".join(flashes(client.get("/")))
    assert f"We could not cancel order #{order.pk}" in messages
    assert "it will expire by itself" in messages and "not charged" not in messages
    assert Order.objects.get().status == "pending"
    assert session_status(simulator, session_id) == "open"
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any(session_id in message for message in errors), errors
