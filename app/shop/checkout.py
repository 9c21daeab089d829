"""Payment services. Each order moves from pending to exactly one final state, exactly once.

Stripe is the only source of truth for payment: the success page, the webhook and the
reconcile command all hand Stripe's own view of a Checkout Session to `fulfil`.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from shop import stripe_gateway
from shop.models import Order, OrderStatus, Product
from shop.stripe_gateway import CheckoutSession, PaymentRequestInvalid

# Handed on, so that the views tell Stripe's answers apart without knowing the gateway.
from shop.stripe_gateway import CheckoutSessionNotFound as CheckoutSessionNotFound
from shop.stripe_gateway import PaymentProviderError as PaymentProviderError
from shop.stripe_gateway import PaymentProviderUnavailable as PaymentProviderUnavailable

logger = logging.getLogger(__name__)

# Stripe refuses an expires_at less than 30 minutes ahead; fifteen spare minutes absorb clock
# skew and a retry some minutes later under the same idempotency key.
CHECKOUT_LIFETIME = timedelta(minutes=45)
THROTTLE_WINDOW = timedelta(minutes=1)
CANCEL_SALT = "shop.cancel-link"
# An order id as we write it, within a bigint: `isdigit()` also accepts "²", which int() refuses.
ORDER_ID = re.compile(r"[1-9][0-9]{0,17}")


class CheckoutRefused(Exception):
    """The submitted form cannot become a payment; the message tells the buyer why."""


class CheckoutThrottled(Exception):
    """Too many new orders from this visitor or address in the last minute."""


class CheckoutFailed(Exception):
    """Stripe refused to open a checkout for the order even afresh: the same form won't help."""


def start_checkout(
    *,
    product: Product,
    quantity: int,
    form_token: uuid.UUID,
    visitor: str,
    site_url: str,
    client_address: str | None = None,
) -> Order:
    """Turn one submitted Buy form into one order with one open Checkout Session.

    The same form posted again (double click, refresh, back button, a racing request)
    finds the same order and so the same session.
    """
    order = Order.objects.filter(form_token=form_token).first() or _new_order(
        product, quantity, form_token, visitor, site_url, client_address
    )
    if order.visitor != visitor or (order.product_id, order.quantity) != (product.pk, quantity):
        raise CheckoutRefused(
            "This form was already used for another order. Please choose again below."
        )
    if order.status != OrderStatus.PENDING:
        return order
    if order.stripe_session_id and order.checkout_expires_at <= timezone.now():
        # A page kept open past the session's life: let Stripe say it expired.
        session = stripe_gateway.retrieve_checkout_session(order.stripe_session_id)
        return sync_from_stripe(session) or order
    return open_checkout_session(order, site_url)


def is_checkout_session_id(session_id: str) -> bool:
    return stripe_gateway.is_checkout_session_id(session_id)


def order_for_session(session_id: str, visitor: str | None) -> Order | None:
    if not visitor:
        return None
    return Order.objects.filter(stripe_session_id=session_id, visitor=visitor).first()


def confirm_payment(session_id: str) -> Order | None:
    """The buyer came back from Checkout: ask Stripe how it went, never the query string."""
    return sync_from_stripe(stripe_gateway.retrieve_checkout_session(session_id))


def fulfil(session: CheckoutSession) -> Order | None:
    """Mark the order paid. The only code that does; repeating it changes nothing."""
    order = _order_named_by(session)
    if order is None:
        return None
    if not session.is_paid:
        return order
    if session.amount_total != order.amount_cents or session.currency != order.currency:
        if _transition(order, OrderStatus.NEEDS_REVIEW):
            _log_change(
                order,
                OrderStatus.NEEDS_REVIEW,
                session.id,
                session.payment_intent_id,
                f": Stripe charged {session.amount_total} {session.currency}, "
                f"the order is {order.amount_cents} {order.currency}",
                level=logging.ERROR,
            )
            order.refresh_from_db()
        return order
    # Racing callers (webhook, success page, duplicates): exactly one of them sees a row change.
    changed = _transition(
        order,
        OrderStatus.PAID,
        paid_at=timezone.now(),
        stripe_payment_intent_id=session.payment_intent_id or "",
    )
    order.refresh_from_db()
    if changed:
        _log_change(order, OrderStatus.PAID, session.id, session.payment_intent_id)
    elif not order.paid:
        logger.error(
            "Stripe took payment for order=%s session=%s, but the order is %s: refund it",
            order.pk,
            session.id,
            order.status,
        )
    return order


def fail(session: CheckoutSession) -> Order | None:
    """A delayed payment method (a bank debit, say) failed after Checkout completed."""
    return _finish_unpaid(session, OrderStatus.FAILED)


def expire(session: CheckoutSession) -> Order | None:
    if not session.is_expired:
        return _order_named_by(session)
    return _finish_unpaid(session, OrderStatus.EXPIRED)


def sync_from_stripe(session: CheckoutSession) -> Order | None:
    """Apply whatever Stripe says about a session we asked it for."""
    if session.is_expired:
        return expire(session)
    return fulfil(session)


def review_lost_session(order: Order) -> bool:
    """Stripe no longer knows the order's session: nobody can pay it, nor can we prove it was
    not paid, so a person looks. True when this call moved the order."""
    if not _transition(order, OrderStatus.NEEDS_REVIEW):
        return False
    _log_change(
        order,
        OrderStatus.NEEDS_REVIEW,
        order.stripe_session_id,
        None,
        ": Stripe no longer knows the session",
        level=logging.ERROR,
    )
    return True


def expire_unopened(order: Order) -> bool:
    """The order's checkout never opened and its window has passed. True when this call moved it."""
    if not _transition(order, OrderStatus.EXPIRED):
        return False
    _log_change(order, OrderStatus.EXPIRED, None, None, ": its checkout never opened")
    return True


def cancel(order: Order) -> Order:
    """The buyer left Checkout. End the session at Stripe first, so it can never be paid later."""
    with _locked_while_asking_stripe(order) as locked:
        if locked.status != OrderStatus.PENDING:
            return locked
        if locked.stripe_session_id:
            session = stripe_gateway.expire_checkout_session(locked.stripe_session_id)
            if not session.is_expired:
                # Paid in another tab before the buyer landed here: Stripe's word wins.
                return sync_from_stripe(session) or locked
        # Conditional, since without a row lock (SQLite) the expiry webhook may be first.
        if _transition(locked, OrderStatus.CANCELED):
            _log_change(
                locked, OrderStatus.CANCELED, locked.stripe_session_id, None, " by the buyer"
            )
        locked.refresh_from_db()
        return locked


def cancel_token(order: Order) -> str:
    """The order's id, signed: the cancel link is a GET that no other site can forge."""
    # Deterministic, so a retried create sends Stripe the very same cancel_url.
    return signing.Signer(salt=CANCEL_SALT).sign(str(order.pk))


def order_id_from_cancel_token(token: str) -> int | None:
    try:
        return int(signing.Signer(salt=CANCEL_SALT).unsign(token))
    except signing.BadSignature:
        return None


def _new_order(
    product: Product,
    quantity: int,
    form_token: uuid.UUID,
    visitor: str,
    site_url: str,
    client_address: str | None,
) -> Order:
    """The order for a form seen for the first time, unless its sender creates too many."""
    _refuse_if_too_many(visitor, client_address)
    try:
        with transaction.atomic():
            return Order.objects.create(
                product=product,
                quantity=quantity,
                unit_price_cents=product.price_cents,
                amount_cents=product.price_cents * quantity,
                visitor=visitor,
                form_token=form_token,
                checkout_expires_at=timezone.now() + CHECKOUT_LIFETIME,
                checkout_site_url=site_url,
                client_address=client_address,
            )
    except IntegrityError:
        # A racing insert of the same token waits on the unique index, then lands here.
        existing = Order.objects.filter(form_token=form_token).first()
        if existing is None:
            raise
        return existing


def _refuse_if_too_many(visitor: str, client_address: str | None) -> None:
    recent = Order.objects.filter(created_at__gte=timezone.now() - THROTTLE_WINDOW)
    if recent.filter(visitor=visitor).count() >= settings.ORDERS_PER_MINUTE_PER_VISITOR or (
        client_address
        and recent.filter(client_address=client_address).count()
        >= settings.ORDERS_PER_MINUTE_PER_ADDRESS
    ):
        logger.warning("Throttled a new order from visitor=%s address=%s", visitor, client_address)
        raise CheckoutThrottled(
            "You are placing orders too quickly. Please wait a minute and try again."
        )


def open_checkout_session(order: Order, site_url: str) -> Order:
    """The order's Checkout Session, asked of Stripe once; a replay finds the same session."""
    try:
        with _locked_while_asking_stripe(order) as locked:
            if locked.status != OrderStatus.PENDING or locked.stripe_session_url:
                return locked
            try:
                session = _create_checkout_session(locked, site_url)
            except PaymentRequestInvalid:
                # A refused request executed nothing, so a new key may carry a fresh expiry:
                # after a long outage the first one is too close for Stripe to accept.
                locked.checkout_attempt += 1
                locked.checkout_expires_at = timezone.now() + CHECKOUT_LIFETIME
                locked.save(update_fields=["checkout_attempt", "checkout_expires_at"])
                session = _create_checkout_session(locked, site_url)
            # Racing creates under one key get the same session, so whichever saves it wins.
            Order.objects.filter(pk=locked.pk, stripe_session_id__isnull=True).update(
                stripe_session_id=session.id,
                stripe_session_url=session.url or "",
                updated_at=timezone.now(),
            )
            logger.info("order=%s checkout session=%s opened", locked.pk, session.id)
            locked.refresh_from_db()
            return locked
    except PaymentRequestInvalid as refusal:
        logger.error("Stripe refused to open a checkout for order=%s, even afresh", order.pk)
        raise CheckoutFailed(
            "We could not start the payment. Nothing was charged. Please choose again below."
        ) from refusal
    except PaymentProviderError as error:
        if error.needs_new_idempotency_key:
            Order.objects.filter(pk=order.pk).update(checkout_attempt=F("checkout_attempt") + 1)
        raise


@contextmanager
def _locked_while_asking_stripe(order: Order) -> Iterator[Order]:
    """The order, locked against racing requests while we ask Stripe about it.

    On PostgreSQL that is the order's row lock: racing posts of one form queue on it, so only
    the first asks Stripe for a session and the rest find it saved; the expiry webhook that a
    cancel triggers waits too. The gateway's timeouts bound the wait. SQLite has only one
    write lock for the whole database, and holding it across a slow Stripe call would lock
    every other buyer out; there the idempotency key keeps racing creates to one session,
    and every write is conditional.
    """
    if not connection.features.has_select_for_update:
        yield Order.objects.select_related("product").get(pk=order.pk)
        return
    with transaction.atomic():
        yield Order.objects.select_for_update().select_related("product").get(pk=order.pk)


def _create_checkout_session(order: Order, site_url: str) -> CheckoutSession:
    return stripe_gateway.create_checkout_session(
        order,
        success_url=site_url + reverse("checkout-success") + "?session_id={CHECKOUT_SESSION_ID}",
        cancel_url=site_url + reverse("checkout-cancel", args=[cancel_token(order)]),
    )


def _finish_unpaid(session: CheckoutSession, status: OrderStatus) -> Order | None:
    order = _order_named_by(session)
    if order is not None and _transition(order, status):
        _log_change(order, status, session.id, session.payment_intent_id)
        order.refresh_from_db()
    return order


def _transition(order: Order, status: OrderStatus, **fields: Any) -> bool:
    """The one way out of pending: a conditional UPDATE, so of any number of racing callers
    exactly one changes the row, and an order that left pending never moves again."""
    return bool(
        Order.objects.filter(pk=order.pk, status=OrderStatus.PENDING).update(
            status=status, updated_at=timezone.now(), **fields
        )
    )


def _log_change(
    order: Order,
    status: OrderStatus,
    session_id: str | None,
    payment_intent_id: str | None,
    detail: str = "",
    *,
    level: int = logging.INFO,
) -> None:
    """The one log line of an order's change of state: called only by the caller that made it."""
    logger.log(
        level,
        "order=%s %s session=%s payment_intent=%s%s",
        order.pk,
        status.value,
        session_id or "-",
        payment_intent_id or "-",
        detail,
        extra={
            "order_id": order.pk,
            "order_status": status.value,
            "session_id": session_id,
            "payment_intent_id": payment_intent_id,
        },
    )


def _order_named_by(session: CheckoutSession) -> Order | None:
    order_id = session.client_reference_id
    if not order_id or not ORDER_ID.fullmatch(order_id) or session.metadata_order_id != order_id:
        logger.info("session=%s names none of our orders", session.id)
        return None
    order = (
        Order.objects.select_related("product")
        .filter(pk=int(order_id), stripe_session_id=session.id)
        .first()
    )
    if order is None:
        logger.warning("session=%s names order=%s, which is not its order", session.id, order_id)
    return order
