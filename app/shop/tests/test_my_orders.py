"""My Orders: the visitor's own orders, newest first, bounded, at a constant query cost."""

from __future__ import annotations

import re
import uuid
from http import HTTPStatus

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from shop.checkout import RECENT_ORDERS_SHOWN
from shop.models import Order, Product
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


def test_the_list_is_bounded_and_costs_the_same_queries_however_many_orders(
    client: Client, simulator: Simulator, product: Product
) -> None:
    buy(client, product)
    visitor = visitor_of(client)
    with CaptureQueriesContext(connection) as one_order:
        client.get("/")

    for _ in range(30):
        make_order(product, visitor=visitor, form_token=uuid.uuid4())
    with CaptureQueriesContext(connection) as many_orders:
        html = client.get("/").content.decode()

    assert len(order_rows(html)) == RECENT_ORDERS_SHOWN
    assert len(many_orders) == len(one_order) <= 3


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
