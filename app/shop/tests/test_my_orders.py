"""My Orders: the visitor's own orders, newest first, bounded, at a constant query cost."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.test import Client
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries

from shop.models import Order, Product
from shop.my_orders import RECENT_ORDERS_SHOWN
from shop.tests.factories import make_order
from shop.tests.helpers import buy
from shop.tests.stack import Simulator

pytestmark = pytest.mark.django_db


def order_rows(html: str) -> list[tuple[int, str]]:
    return [
        (int(pk), status)
        for pk, status in re.findall(
            r'data-testid="order-row" data-order-id="(\d+)" data-status="(\w+)"', html
        )
    ]


def visitor_of(client: Client) -> str:
    return client.session["visitor"]


def test_a_second_browser_sees_none_of_the_first_ones_orders(
    client: Client, simulator: Simulator, product: Product
) -> None:
    buy(client, product)
    assert len(order_rows(client.get("/").content.decode())) == 1
    assert order_rows(Client().get("/").content.decode()) == []
    assert order_rows(Client().get("/orders/").content.decode()) == []


def test_orders_show_newest_first_with_product_quantity_amount_and_status(
    client: Client, simulator: Simulator, product: Product
) -> None:
    buy(client, product, quantity=1)
    buy(client, product, quantity=3)
    html = client.get("/").content.decode()
    first, second = Order.objects.order_by("pk")
    assert order_rows(html) == [(second.pk, "pending"), (first.pk, "pending")]
    assert "$45.00" in html and "$15.00" in html
    assert html.count("Awaiting payment") == 2
    assert "Continue to payment" in html


def test_every_status_has_its_own_data_status(
    client: Client, simulator: Simulator, product: Product
) -> None:
    buy(client, product)
    visitor = visitor_of(client)
    for status in ["canceled", "expired", "failed"]:
        make_order(product, visitor=visitor, status=status)
    statuses = {status for _, status in order_rows(client.get("/").content.decode())}
    assert statuses == {"pending", "canceled", "expired", "failed"}


def test_the_list_is_bounded_and_costs_one_query_however_many_orders(
    client: Client,
    simulator: Simulator,
    product: Product,
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    buy(client, product)
    visitor = visitor_of(client)
    for _ in range(30):
        make_order(product, visitor=visitor, form_token=uuid.uuid4())
    for _ in range(30):
        make_order(product, visitor=uuid.uuid4().hex, form_token=uuid.uuid4())
    client.get("/")

    with django_assert_num_queries(1):
        html = client.get("/").content.decode()
    with django_assert_num_queries(1):
        fragment = client.get("/orders/").content.decode()

    assert len(order_rows(html)) == len(order_rows(fragment)) == RECENT_ORDERS_SHOWN


def test_a_row_shows_the_order_as_placed_and_links_to_an_open_checkout_only(
    client: Client, simulator: Simulator, product: Product
) -> None:
    buy(client, product, quantity=3)
    order = Order.objects.get()
    make_order(
        product,
        visitor=visitor_of(client),
        quantity=1,
        amount_cents=product.price_cents,
        stripe_session_url="https://checkout.example/stale",
        checkout_expires_at=timezone.now() - timedelta(minutes=1),
    )
    html = client.get("/").content.decode()

    placed = order.created_at
    assert f'<time datetime="{placed.isoformat()}">' in html
    assert f"{placed:%b} {placed.day}, {placed:%Y, %H:%M} UTC</time>" in html
    assert '<span class="badge text-bg-warning">Awaiting payment</span>' in html
    assert html.count("Continue to payment") == 1
    assert f'href="{order.stripe_session_url}"' in html
    assert "https://checkout.example/stale" not in html


def test_the_orders_fragment_polls_only_while_an_order_awaits_payment(
    client: Client, simulator: Simulator, product: Product
) -> None:
    buy(client, product)
    fragment = client.get("/orders/")
    assert fragment.status_code == HTTPStatus.OK
    assert 'data-poll-url="/orders/"' in fragment.content.decode()
    assert "no-cache" in fragment["Cache-Control"]

    Order.objects.update(status="canceled")
    assert "data-poll-url" not in client.get("/orders/").content.decode()
