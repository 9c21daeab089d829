"""Rows made directly, for tests about what the code does with an order in a given state."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.utils import timezone

from shop.models import Order, Product


def make_order(product: Product, **overrides: object) -> Order:
    fields: dict[str, object] = {
        "product": product,
        "quantity": 2,
        "unit_price_cents": product.price_cents,
        "amount_cents": product.price_cents * 2,
        "visitor": "v1",
        "form_token": uuid.uuid4(),
        "checkout_expires_at": timezone.now() + timedelta(minutes=31),
    }
    fields.update(overrides)
    return Order.objects.create(**fields)
