"""The storefront page: products, the Buy forms, My Orders, headers, and what a GET must not do."""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from pytest_django import DjangoAssertNumQueries

from shop.models import Order, Product
from shop.tests.helpers import run_without_database

pytestmark = pytest.mark.django_db


def test_the_page_shows_the_three_products_with_formatted_prices(client: Client) -> None:
    response = client.get("/")
    html = response.content.decode()
    assert response.status_code == HTTPStatus.OK
    cards = re.findall(r'data-testid="product-card" data-product-id="(\d+)"', html)
    assert [int(pk) for pk in cards] == list(Product.objects.values_list("pk", flat=True))
    prices = re.findall(r'data-testid="price">([^<]+)<', html)
    assert prices == ["$10.00", "$15.00", "$20.00"]
    assert "Field Notebook" in html and "A5 dot-grid notebook" in html


def test_each_card_has_a_labelled_quantity_input_and_a_buy_now_post_form(client: Client) -> None:
    html = client.get("/").content.decode()
    for product in Product.objects.all():
        assert f'<label class="form-label" for="quantity-{product.pk}">Quantity</label>' in html
        field = re.search(rf'<input[^>]*id="quantity-{product.pk}"[^>]*>', html, re.DOTALL)
        assert field and 'min="1"' in field.group(0) and 'max="10"' in field.group(0)
        assert 'value="1"' in field.group(0)
    assert html.count('<form method="post" action="/checkout/"') == 3
    assert html.count(">Buy Now</button>") == 3
    assert html.count('name="token"') == 3


def test_my_orders_is_on_the_page_and_says_when_it_is_empty(client: Client) -> None:
    html = client.get("/").content.decode()
    assert 'data-testid="orders"' in html
    assert "You have no orders yet." in html
    assert 'data-testid="order-row"' not in html


def test_showing_the_page_writes_nothing_and_gives_the_visitor_a_signed_cookie(
    client: Client,
) -> None:
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/")
    writes = [q["sql"] for q in queries if not q["sql"].lstrip().upper().startswith("SELECT")]
    assert writes == []
    assert Order.objects.count() == 0
    visitor = client.session["visitor"]
    # The cookie is the whole session: signed, so no row and no way to pick another's id.
    assert response.cookies["sessionid"]["httponly"]
    client.get("/")
    assert client.session["visitor"] == visitor


def test_every_render_carries_fresh_one_time_tokens(client: Client) -> None:
    tokens = re.findall(r'name="token" value="([^"]+)"', client.get("/").content.decode())
    again = re.findall(r'name="token" value="([^"]+)"', client.get("/").content.decode())
    assert len(set(tokens + again)) == 6


def test_the_page_uses_only_its_own_assets_under_a_strict_policy(client: Client, settings) -> None:
    response = client.get("/")
    html = response.content.decode()
    assert re.search(r'href="/static/shop/vendor/bootstrap[^"]*\.css"', html)
    assert "cdn" not in html.lower()
    assert "<script>" not in html and "style=" not in html
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert f"form-action 'self' {settings.STRIPE_CHECKOUT_ORIGIN}" in policy
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_simulator_banner_shows_only_when_payments_are_simulated(
    client: Client, settings
) -> None:
    settings.STRIPE_SIMULATED = False
    assert 'data-testid="simulator-banner"' not in client.get("/").content.decode()
    settings.STRIPE_SIMULATED = True
    assert 'data-testid="simulator-banner"' in client.get("/").content.decode()


def test_an_unknown_page_gets_the_shops_own_404(client: Client) -> None:
    response = client.get("/no-such-page/")
    assert response.status_code == HTTPStatus.NOT_FOUND
    html = response.content.decode()
    assert "We could not find that page." in html
    assert "Traceback" not in html and "urlpatterns" not in html


@pytest.mark.urls("shop.tests.failing_urls")
def test_a_crash_gets_the_shops_own_500_that_reveals_nothing(client: Client) -> None:
    client.raise_request_exception = False
    response = client.get("/boom/")
    assert response.status_code == HTTPStatus.INTERNAL_SERVER_ERROR
    html = response.content.decode()
    assert "Something went wrong on our side." in html
    assert "secret detail" not in html and "Traceback" not in html


@pytest.mark.parametrize("path", ["/", "/orders/"])
def test_head_answers_like_get(client: Client, path: str) -> None:
    got = client.get(path)
    head = client.head(path)
    assert head.status_code == got.status_code == HTTPStatus.OK
    assert head.content == b""
    for header in ("Content-Type", "Content-Security-Policy", "X-Frame-Options", "Cache-Control"):
        assert head.headers[header] == got.headers[header], header


def test_an_unknown_host_gets_400_with_the_security_headers_and_a_warning(
    client: Client, settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings.ALLOWED_HOSTS = ["shop.example.com"]
    good = client.get("/", HTTP_HOST="shop.example.com")
    with caplog.at_level(logging.INFO):
        response = client.get("/", HTTP_HOST="evil.example.net")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "evil.example.net" not in response.content.decode()
    for header in (
        "Content-Security-Policy",
        "X-Frame-Options",
        "X-Content-Type-Options",
        "Referrer-Policy",
    ):
        assert response.headers[header] == good.headers[header], header
    refusals = [r for r in caplog.records if "evil.example.net" in r.getMessage()]
    assert [(r.levelno, r.exc_info) for r in refusals] == [(logging.WARNING, None)]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_the_500_page_renders_without_the_static_manifest_or_the_database(
    tmp_path: Path,
) -> None:
    script = (
        "import django; django.setup(); "
        "from django.test import Client, override_settings; "
        "client = Client(raise_request_exception=False); "
        # An empty static root: no manifest, as when collectstatic never ran.
        f"override_settings(ROOT_URLCONF='shop.tests.failing_urls', STATIC_ROOT={str(tmp_path)!r})"
        ".enable(); "
        "r = client.get('/boom/'); "
        "print(r.status_code, 'Something went wrong on our side.' in r.content.decode())"
    )
    result = run_without_database(script, ALLOWED_HOSTS="testserver")
    assert result.stdout.splitlines()[-1:] == ["500 True"], result.stdout + result.stderr


def test_a_first_time_visitor_costs_no_query_once_the_products_are_cached(
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    with django_assert_num_queries(1):
        first = Client().get("/")
    with django_assert_num_queries(0):
        second = Client().get("/")
    cards = 'data-testid="product-card"'
    assert first.content.decode().count(cards) == second.content.decode().count(cards) == 3
    assert "You have no orders yet." in second.content.decode()
