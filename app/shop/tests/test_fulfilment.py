"""One way to be paid: `fulfil`, fed Stripe's own answer, from the success page or a webhook."""

from __future__ import annotations

import copy
import dataclasses
import logging
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus

import pytest
import stripe
from django.db import connections
from django.test import Client

from shop import checkout, stripe_gateway
from shop.models import Order, Product
from shop.tests.helpers import (
    SIMULATOR_KEY,
    buy,
    cancel_path,
    flashes,
    requires_postgres,
    session_id_of,
)
from shop.tests.stack import Simulator

pytestmark = pytest.mark.django_db


def paid_order(client: Client, simulator: Simulator, product: Product) -> tuple[Order, str]:
    session_id = session_id_of(buy(client, product, quantity=2))
    simulator.pay(session_id)
    return Order.objects.get(stripe_session_id=session_id), session_id


def test_returning_from_checkout_marks_the_order_paid_and_shows_it(
    client: Client, simulator: Simulator, product: Product
) -> None:
    order, session_id = paid_order(client, simulator, product)

    response = client.get(f"/checkout/success/?session_id={session_id}")

    assert response.status_code == HTTPStatus.SEE_OTHER and response["Location"] == "/"
    order.refresh_from_db()
    assert order.status == "paid" and order.paid_at is not None
    assert order.stripe_payment_intent_id.startswith("pi_")
    page = client.get("/")
    assert f"Thank you! Order #{order.pk} is paid." in flashes(page)
    html = page.content.decode()
    assert f'data-order-id="{order.pk}" data-status="paid"' in html
    assert "$30.00" in html


def test_revisiting_the_success_url_changes_nothing(
    client: Client, simulator: Simulator, product: Product
) -> None:
    order, session_id = paid_order(client, simulator, product)
    client.get(f"/checkout/success/?session_id={session_id}")
    first = Order.objects.get(pk=order.pk)

    for _ in range(3):
        response = client.get(f"/checkout/success/?session_id={session_id}")
        assert response.status_code == HTTPStatus.SEE_OTHER

    again = Order.objects.get(pk=order.pk)
    assert (again.status, again.paid_at, again.updated_at) == (
        "paid",
        first.paid_at,
        first.updated_at,
    )
    assert Order.objects.count() == 1


def test_the_success_page_before_payment_leaves_the_order_pending(
    client: Client, simulator: Simulator, product: Product
) -> None:
    session_id = session_id_of(buy(client, product))
    client.get(f"/checkout/success/?session_id={session_id}")
    order = Order.objects.get()
    assert order.status == "pending"
    assert f"Order #{order.pk} is awaiting payment." in " ".join(flashes(client.get("/")))


def test_another_visitors_success_url_reveals_nothing(
    client: Client, simulator: Simulator, product: Product
) -> None:
    _, session_id = paid_order(client, simulator, product)
    stranger = Client()
    response = stranger.get(f"/checkout/success/?session_id={session_id}")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "We could not find that payment." in flashes(response)
    assert 'data-testid="order-row"' not in response.content.decode()


@pytest.mark.parametrize("whose", ["made-up", "another-visitors"])
def test_the_success_page_asks_stripe_only_about_the_visitors_own_sessions(
    client: Client, simulator: Simulator, product: Product, whose: str
) -> None:
    session_id = session_id_of(buy(client, product))
    simulator.pay(session_id)
    if whose == "made-up":
        session_id = "cs_test_" + "a" * 58
    stranger = Client()
    stranger.get("/")

    for _ in range(5):
        response = stranger.get(f"/checkout/success/?session_id={session_id}")
        assert response.status_code == HTTPStatus.BAD_REQUEST
        assert "We could not find that payment." in flashes(response)

    assert simulator.requests(method="GET", path=f"/v1/checkout/sessions/{session_id}") == []
    assert Order.objects.get().status == "pending"


@pytest.mark.parametrize(
    "overrides",
    [{"amount_total": 100}, {"currency": "eur"}],
    ids=["wrong-amount", "wrong-currency"],
)
def test_a_payment_for_the_wrong_amount_is_held_for_review_and_logged_once(
    client: Client,
    simulator: Simulator,
    product: Product,
    overrides: dict,
    caplog: pytest.LogCaptureFixture,
) -> None:
    session_id = session_id_of(buy(client, product))
    simulator.pay(session_id, **overrides)
    [event] = simulator.events("checkout.session.completed")

    with caplog.at_level(logging.INFO):
        client.get(f"/checkout/success/?session_id={session_id}")
        page = client.get("/")
        client.get(f"/checkout/success/?session_id={session_id}")
        Client().post(
            "/stripe/webhook/",
            event["payload"],
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=event["signature"],
        )

    order = Order.objects.get()
    assert order.status == "needs_review" and order.paid_at is None
    assert any("does not match the order" in text for text in flashes(page))
    assert f'data-order-id="{order.pk}" data-status="needs_review"' in page.content.decode()
    assert "Needs review" in page.content.decode()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and session_id in errors[0].getMessage()


def test_a_delayed_payment_waits_until_stripe_says_paid(
    client: Client, simulator: Simulator, product: Product
) -> None:
    session_id = session_id_of(buy(client, product))
    simulator.pay(session_id, payment_status="unpaid")
    client.get(f"/checkout/success/?session_id={session_id}")
    assert Order.objects.get().status == "pending"

    simulator.settle_async(session_id, "succeeded")
    client.get(f"/checkout/success/?session_id={session_id}")
    assert Order.objects.get().status == "paid"


def test_a_paid_session_that_is_not_the_orders_own_pays_nothing(
    client: Client, simulator: Simulator, product: Product
) -> None:
    session_id_of(buy(client, product))
    order = Order.objects.get()
    # Someone creates a session naming our order, for the right amount, outside our flow.
    rogue = stripe.StripeClient(SIMULATOR_KEY, base_addresses={"api": simulator.base_url})
    session = rogue.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "line_items": [
                {
                    "price_data": {
                        "currency": "usd",
                        "unit_amount": order.unit_price_cents,
                        "product_data": {"name": "x"},
                    },
                    "quantity": order.quantity,
                }
            ],
            "success_url": "http://testserver/checkout/success/?session_id={CHECKOUT_SESSION_ID}",
            "client_reference_id": str(order.pk),
            "metadata": {"order_id": str(order.pk)},
        }
    )
    simulator.pay(session.id)
    assert checkout.fulfil(stripe_gateway.retrieve_checkout_session(session.id)) is None
    assert Order.objects.get().status == "pending"


def test_paid_stays_paid_whatever_comes_after(
    client: Client, simulator: Simulator, product: Product
) -> None:
    order, session_id = paid_order(client, simulator, product)
    client.get(f"/checkout/success/?session_id={session_id}")
    session = stripe_gateway.retrieve_checkout_session(session_id)
    expired = dataclasses.replace(session, status="expired")

    checkout.expire(expired)
    checkout.fail(session)
    client.get(cancel_path(simulator, order))

    assert Order.objects.get().status == "paid"


@requires_postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_racing_confirmations_make_exactly_one_paid_transition(
    simulator: Simulator, product: Product, caplog: pytest.LogCaptureFixture
) -> None:
    client = Client()
    order, session_id = paid_order(client, simulator, product)
    session = stripe_gateway.retrieve_checkout_session(session_id)

    def confirm(index: int) -> str | None:
        try:
            if index % 2:
                buyer = Client()
                buyer.cookies = copy.deepcopy(client.cookies)
                return buyer.get(f"/checkout/success/?session_id={session_id}")["Location"]
            settled = checkout.fulfil(session)
            return settled.status if settled else None
        finally:
            connections.close_all()

    with (
        caplog.at_level(logging.INFO, logger="shop.checkout"),
        ThreadPoolExecutor(max_workers=10) as pool,
    ):
        answers = list(pool.map(confirm, range(20)))

    assert set(answers) == {"/", "paid"}
    transitions = [r for r in caplog.records if f"paid session={session_id} " in r.getMessage()]
    assert len(transitions) == 1
    assert Order.objects.get(pk=order.pk).status == "paid"
