"""The products for sale, kept in each process for a short while.

Products change only by migration or in the admin, yet every page view lists them: reading
them once per PRODUCT_CACHE_SECONDS saves a query on every page. A save or delete in this
process forgets them at once; other replicas see the change within PRODUCT_CACHE_SECONDS.
What a buyer is charged never comes from here: the Buy form reads its product, and so its
price, from the database.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings

from shop.models import Product


@dataclass(frozen=True)
class _Snapshot:
    products: tuple[Product, ...]
    read_at: float


# Replaced whole, never changed in place, so threads share it without a lock.
_snapshot: _Snapshot | None = None


def products_for_sale() -> tuple[Product, ...]:
    global _snapshot
    snapshot = _snapshot
    now = time.monotonic()
    if snapshot is None or now - snapshot.read_at >= settings.PRODUCT_CACHE_SECONDS:
        snapshot = _snapshot = _Snapshot(tuple(Product.objects.filter(active=True)), now)
    return snapshot.products


def forget_products(**_signal: object) -> None:
    """Read the products anew on the next call (connected to Product's save and delete)."""
    global _snapshot
    _snapshot = None
