"""The admin shows orders but cannot change them: they move only through the payment flow."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.contrib.auth.models import User
from django.test import Client

from shop.models import Order, Product
from shop.tests.factories import make_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client: Client) -> Client:
    client.force_login(User.objects.create_superuser("admin", "admin@example.com", "pw"))
    return client


def test_orders_are_listed_and_viewable_but_not_editable(staff: Client, product: Product) -> None:
    order = make_order(product)
    listing = staff.get("/admin/shop/order/")
    assert listing.status_code == HTTPStatus.OK
    assert f"/admin/shop/order/{order.pk}/change/" in listing.content.decode()

    page = staff.get(f"/admin/shop/order/{order.pk}/change/")
    assert page.status_code == HTTPStatus.OK
    assert 'name="_save"' not in page.content.decode()

    staff.post(f"/admin/shop/order/{order.pk}/change/", {"status": "paid", "quantity": 9})
    assert Order.objects.get(pk=order.pk).status == "pending"
    assert staff.get("/admin/shop/order/add/").status_code == HTTPStatus.FORBIDDEN
    assert staff.post(f"/admin/shop/order/{order.pk}/delete/").status_code == HTTPStatus.FORBIDDEN


def test_the_admin_lives_at_admin_url(staff: Client, settings) -> None:
    assert settings.ADMIN_URL == "admin/"
    assert staff.get("/admin/").status_code == HTTPStatus.OK
