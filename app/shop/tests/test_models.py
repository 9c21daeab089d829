from __future__ import annotations

import uuid

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from shop.models import Order, OrderStatus, Product
from shop.tests.factories import make_order


@pytest.mark.django_db
@pytest.mark.parametrize(
    "overrides",
    [
        {"quantity": 0, "amount_cents": 0},
        {"quantity": 11, "amount_cents": 1500 * 11},
        {"amount_cents": 1},
        {"status": "refunded"},
        {"status": "paid"},
    ],
    ids=[
        "quantity-0",
        "quantity-11",
        "amount-not-price-times-quantity",
        "unknown-status",
        "paid-without-paid-at",
    ],
)
def test_the_database_refuses_an_order_that_breaks_an_invariant(
    product: Product, overrides: dict
) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        make_order(product, **overrides)
    assert Order.objects.count() == 0


@pytest.mark.django_db
def test_the_database_refuses_a_second_order_for_one_form_token(product: Product) -> None:
    token = uuid.uuid4()
    make_order(product, form_token=token)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_order(product, form_token=token)
    assert Order.objects.count() == 1


@pytest.mark.django_db
def test_the_database_refuses_a_free_product() -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Product.objects.create(name="Free", description="-", price_cents=0)


@pytest.mark.django_db
def test_paid_reads_from_the_status(product: Product) -> None:
    order = make_order(product)
    assert not order.paid
    order.status, order.paid_at = OrderStatus.PAID, timezone.now()
    order.save()
    assert Order.objects.get(pk=order.pk).paid
