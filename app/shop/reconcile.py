"""Reconciliation: the safety net when both the webhook and the buyer's browser are lost.

It asks Stripe about stale pending orders and hands the answers to the checkout services,
which alone change an order's state.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

from shop import checkout, stripe_gateway
from shop.models import Order, OrderStatus
from shop.stripe_gateway import CheckoutSession, CheckoutSessionNotFound, PaymentProviderError

logger = logging.getLogger(__name__)

# Cron runs reconcile_orders every five minutes; a run stops starting work before the next.
RECONCILE_BUDGET = timedelta(minutes=4)
# Any fixed number of our own, the same in every process: pg_try_advisory_lock's key.
RECONCILE_LOCK_ID = 8_240_517


def reconcile(
    *, older_than: timedelta, budget: timedelta = RECONCILE_BUDGET, concurrency: int = 4
) -> Counter[str]:
    """Settle pending orders whose webhook may have been lost. Returns a count per outcome.

    Overlapping runs (a slow run still going when cron starts the next) never work the same
    orders: the second one finds the lock taken and stops. A run asks Stripe about several
    orders at once and starts no new one after its time budget, so a Stripe outage cannot
    make runs pile up; what it left is the next run's.
    """
    with _reconcile_lock() as locked:
        if not locked:
            logger.warning("reconcile: another run holds the lock; this one does nothing")
            return Counter({"skipped, another run is working": 1})
        now = timezone.now()
        deadline = time.monotonic() + budget.total_seconds()
        stale = Order.objects.filter(status=OrderStatus.PENDING, created_at__lt=now - older_than)
        orders = list(stale.order_by("pk"))
        outcomes: Counter[str] = Counter()
        # Only the calls to Stripe run in the pool; the database work stays on this thread.
        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            answers = {
                order.pk: pool.submit(_ask_stripe, order.stripe_session_id, deadline)
                for order in orders
                if order.stripe_session_id
            }
            for order in orders:
                if order.pk in answers:
                    outcomes[_settle_from(order, answers[order.pk].result())] += 1
                elif time.monotonic() > deadline:
                    outcomes["deferred"] += 1
                else:
                    outcomes[_reopen_or_expire(order, now)] += 1
        return outcomes


@contextmanager
def _reconcile_lock() -> Iterator[bool]:
    """A PostgreSQL advisory lock for the run's length. SQLite (`make run`) has no such lock
    and serves one machine, where cron's runs do not overlap in practice."""
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [RECONCILE_LOCK_ID])
        locked = cursor.fetchone()[0]
    try:
        yield locked
    finally:
        if locked:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [RECONCILE_LOCK_ID])


def _ask_stripe(session_id: str, deadline: float) -> CheckoutSession | PaymentProviderError | None:
    if time.monotonic() > deadline:
        return None
    try:
        return stripe_gateway.retrieve_checkout_session(session_id)
    except PaymentProviderError as error:
        return error


def _settle_from(order: Order, answer: CheckoutSession | PaymentProviderError | None) -> str:
    if answer is None:
        return "deferred"
    if isinstance(answer, CheckoutSessionNotFound):
        return OrderStatus.NEEDS_REVIEW if checkout.review_lost_session(order) else "waiting"
    if isinstance(answer, PaymentProviderError):
        return "unreachable"
    settled = checkout.sync_from_stripe(answer)
    return settled.status if settled and settled.status != OrderStatus.PENDING else "waiting"


def _reopen_or_expire(order: Order, now: datetime) -> str:
    """An order whose session id was never saved: the worker may have died after Stripe
    created the session. The create is replayed under the same key and parameters, so
    Stripe answers with that session; once the window has passed nothing can be paid."""
    if order.checkout_expires_at < now:
        return OrderStatus.EXPIRED if checkout.expire_unopened(order) else "waiting"
    if not order.checkout_site_url:
        return "waiting"
    try:
        reopened = checkout.open_checkout_session(order, order.checkout_site_url)
    except (PaymentProviderError, checkout.CheckoutFailed):
        return "unreachable"
    return "reopened" if reopened.stripe_session_id else "waiting"
