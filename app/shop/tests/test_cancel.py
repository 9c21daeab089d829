"""Leaving Checkout cancels the order, and ends its session at Stripe so it can never be paid."""

from __future__ import annotations

import urllib.error
from http import HTTPStatus

import pytest
from django.test import Client

from shop.models import Order, Product
from shop.tests.conftest import Simulator, buy, flashes, session_id_of

pytestmark = pytest.mark.django_db


def session_status(simulator: Simulator, session_id: str) -> str:
    return next(s["status"] for s in simulator.sessions() if s["id"] == session_id)


def test_cancel_ends_the_session_at_stripe_and_cancels_the_order(
    client: Client, simulator: Simulator, product: Product
) -> None:
    session_id = session_id_of(buy(client, product))
    order = Order.objects.get()

    response = client.get(f"/checkout/cancel/{order.pk}/")

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
    client.get(f"/checkout/cancel/{Order.objects.get().pk}/")

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

    client.get(f"/checkout/cancel/{order.pk}/")

    assert Order.objects.get().status == "paid"
    assert f"Order #{order.pk} was already paid. Thank you!" in flashes(client.get("/"))


def test_cancel_again_changes_nothing(
    client: Client, simulator: Simulator, product: Product
) -> None:
    buy(client, product)
    order = Order.objects.get()
    client.get(f"/checkout/cancel/{order.pk}/")
    updated_at = Order.objects.get().updated_at
    client.get(f"/checkout/cancel/{order.pk}/")
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

    response = client.get(f"/checkout/cancel/{order.pk}/")

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

    response = stranger.get(f"/checkout/cancel/{order.pk}/")

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert "We could not find that order." in flashes(response)
    assert Order.objects.get(pk=order.pk).status == "pending"


def test_an_order_id_out_of_any_range_is_not_found(client: Client, simulator: Simulator) -> None:
    response = client.get(f"/checkout/cancel/{'9' * 30}/")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert "We could not find that order." in flashes(response)
