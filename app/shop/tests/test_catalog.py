"""The products for sale, kept per process: read once, read again after a change."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from pytest_django import DjangoAssertNumQueries, Settings

from shop import catalog
from shop.models import Product

pytestmark = pytest.mark.django_db


def prices(client: Client) -> list[str]:
    return re.findall(r'data-testid="price">([^<]+)<', client.get("/").content.decode())


def test_the_products_are_read_once_and_kept(
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    with django_assert_num_queries(1):
        first = catalog.products_for_sale()
    with django_assert_num_queries(0):
        assert catalog.products_for_sale() is first
    assert [product.name for product in first] == list(
        Product.objects.filter(active=True).values_list("name", flat=True)
    )


def test_a_change_saved_in_this_process_shows_on_the_next_page(client: Client) -> None:
    assert prices(client) == ["$10.00", "$15.00", "$20.00"]
    product = Product.objects.get(price_cents=1500)
    product.price_cents = 1750
    product.save()
    assert prices(client) == ["$10.00", "$17.50", "$20.00"]

    product.active = False
    product.save()
    assert prices(client) == ["$10.00", "$20.00"]


def test_a_change_made_elsewhere_shows_once_the_cache_time_has_passed(
    client: Client, settings: Settings
) -> None:
    assert prices(client) == ["$10.00", "$15.00", "$20.00"]
    # An update() sends no signal, as a change made by another replica reaches none here.
    Product.objects.filter(price_cents=1000).update(price_cents=1100)
    assert prices(client) == ["$10.00", "$15.00", "$20.00"]

    settings.PRODUCT_CACHE_SECONDS = 0
    assert prices(client) == ["$11.00", "$15.00", "$20.00"]


def test_a_deleted_product_leaves_the_page_at_once(client: Client) -> None:
    prices(client)
    Product.objects.get(price_cents=2000).delete()
    assert prices(client) == ["$10.00", "$15.00"]
