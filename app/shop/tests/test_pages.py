"""The pages' HTML filled in from templates rendered once is what the templates render each time."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import signing
from django.template import loader
from django.test import Client, override_settings
from django.utils import timezone
from django.utils.safestring import SafeString
from pytest_django import DjangoAssertNumQueries

from shop import catalog, forms, pages
from shop.models import OrderStatus, Product
from shop.my_orders import recent_order_rows
from shop.tests.factories import make_order

pytestmark = pytest.mark.django_db

AWKWARD = '<b>Tom\'s "best" & only</b>'


def test_a_prefilled_card_is_the_template_rendered_with_the_same_tokens() -> None:
    products = catalog.products_for_sale()
    for product, card in zip(products, pages._cards(products), strict=True):
        filled = card.fill({"csrf": "csrf-A<&>", "token": "1-abc:sig'"})
        context = {
            "card": pages.ProductCard(product, token="1-abc:sig'"),
            "csrf_token": "csrf-A<&>",
            "checkout_url": "/checkout/",
        }
        assert filled == loader.render_to_string("shop/_product_card.html", context)
        assert "csrf-A&lt;&amp;&gt;" in filled and "1-abc:sig&#x27;" in filled


@pytest.mark.parametrize("status", [OrderStatus.PENDING, OrderStatus.PAID])
def test_prefilled_order_rows_are_the_template_rendered_with_the_same_rows(status: str) -> None:
    product = Product.objects.first()
    assert product is not None
    product.name = AWKWARD
    product.save()
    paid_at = timezone.now() if status == OrderStatus.PAID else None
    make_order(
        product, status=status, paid_at=paid_at, stripe_session_url="https://pay.example/?a&b"
    )
    make_order(
        product,
        status=status,
        paid_at=paid_at,
        checkout_expires_at=timezone.now() - timedelta(minutes=1),
    )
    rows = recent_order_rows("v1")
    expected = loader.render_to_string(
        "shop/_orders.html",
        {
            "orders": rows,
            "awaiting_payment": status == OrderStatus.PENDING,
            "rows": SafeString(
                "".join(
                    loader.render_to_string("shop/_order_row.html", {"order": row}) for row in rows
                )
            ),
        },
    )
    assert pages.my_orders(rows) == expected
    assert "&lt;b&gt;Tom&#x27;s &quot;best&quot; &amp; only&lt;/b&gt;" in expected
    assert ("Continue to payment" in expected) is (status == OrderStatus.PENDING)


def test_no_orders_is_the_templates_empty_section() -> None:
    expected = loader.render_to_string("shop/_orders.html", {"orders": []})
    assert pages.my_orders([]) == expected
    assert "You have no orders yet." in expected


def test_a_template_without_a_slot_it_should_show_is_refused_at_once() -> None:
    with pytest.raises(AssertionError, match="slots"):
        pages.prerender("shop/_orders.html", {"orders": True, "rows": "none"}, ("rows",))


def test_the_cards_are_rendered_anew_when_the_products_are_read_anew(client: Client) -> None:
    client.get("/")
    kept = pages._cards(catalog.products_for_sale())
    assert pages._cards(catalog.products_for_sale()) is kept
    product = Product.objects.get(price_cents=1500)
    product.name = "Steel Camp Mug"
    product.save()
    names = re.findall(r'<h2 class="h5 card-title">([^<]+)<', client.get("/").content.decode())
    assert "Steel Camp Mug" in names and "Enamel Camp Mug" not in names
    assert pages._cards(catalog.products_for_sale()) is not kept


def test_a_pages_form_tokens_are_djangos_signatures_for_that_visitor() -> None:
    tokens = [forms.form_token_issuer("v1")(product_id) for product_id in (1, 2, 1)]
    assert len(set(tokens)) == 3
    django_signer = signing.TimestampSigner(salt=f"{forms.BUY_FORM_SALT}:v1")
    for token in tokens:
        value, timestamp, signature = token.rsplit(":", 2)
        assert django_signer.signature(f"{value}:{timestamp}") == signature
        assert django_signer.unsign(token, max_age=60) == value
    with pytest.raises(signing.BadSignature):
        signing.TimestampSigner(salt=f"{forms.BUY_FORM_SALT}:v2").unsign(tokens[0])


def test_a_visitors_kept_signer_signs_with_the_current_secret_key() -> None:
    before = forms.form_token_issuer("v1")(1)
    new_key = "another-secret-key-" + "x" * 40
    with override_settings(SECRET_KEY=new_key):
        after = forms.form_token_issuer("v1")(1)
        signing.TimestampSigner(salt=f"{forms.BUY_FORM_SALT}:v1").unsign(after)
        with pytest.raises(signing.BadSignature):
            signing.TimestampSigner(salt=f"{forms.BUY_FORM_SALT}:v1").unsign(before)


def test_the_warm_up_before_the_fork_touches_no_database(
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    # gunicorn's master runs it: a connection opened there would be shared by every worker.
    with django_assert_num_queries(0):
        pages.warm_up()


def test_a_kept_row_follows_its_order_as_it_changes() -> None:
    product = Product.objects.first()
    assert product is not None
    order = make_order(product, stripe_session_url="https://pay.example/s")
    [row] = recent_order_rows("v1")
    assert (row.status, row.continue_url) == (OrderStatus.PENDING, "https://pay.example/s")
    assert 'data-status="pending"' in pages.my_orders([row])
    order.checkout_expires_at = timezone.now() - timedelta(seconds=1)
    order.save()
    [expired] = recent_order_rows("v1")
    assert expired.continue_url == "" and "pay.example" not in pages.my_orders([expired])
    order.status, order.paid_at = OrderStatus.PAID, timezone.now()
    order.save()
    [paid] = recent_order_rows("v1")
    assert paid.status == OrderStatus.PAID and 'data-status="paid"' in pages.my_orders([paid])
