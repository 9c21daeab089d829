from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import F, Q

MAX_QUANTITY = 10


def new_checkout_key() -> str:
    return secrets.token_hex(16)


class Product(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=300)
    price_cents = models.PositiveIntegerField()
    active = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(price_cents__gt=0), name="product_price_positive"),
        ]

    def __str__(self) -> str:
        return self.name


class OrderStatus(models.TextChoices):
    PENDING = "pending", "Awaiting payment"
    PAID = "paid", "Paid"
    CANCELED = "canceled", "Canceled"
    EXPIRED = "expired", "Expired"
    FAILED = "failed", "Payment failed"
    # Stripe took money that does not match the order, or no longer knows its session:
    # final, until a person looks.
    NEEDS_REVIEW = "needs_review", "Needs review"


class Order(models.Model):
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="orders")
    quantity = models.PositiveSmallIntegerField()
    unit_price_cents = models.PositiveIntegerField()
    amount_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, default="usd")
    status = models.CharField(
        max_length=16, choices=OrderStatus.choices, default=OrderStatus.PENDING
    )
    # The browser session that placed the order: My Orders shows only these.
    visitor = models.CharField(max_length=64)
    # Where the order came from, for throttling order creation per address.
    client_address = models.GenericIPAddressField(null=True, blank=True)
    # One rendered Buy form, one order: the unique index is the exactly-once guard.
    form_token = models.UUIDField(unique=True)
    stripe_session_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    stripe_session_url = models.CharField(max_length=2000, blank=True)
    stripe_payment_intent_id = models.CharField(max_length=255, blank=True)
    # Fixed at creation so that a retried create sends Stripe identical parameters.
    checkout_expires_at = models.DateTimeField()
    # Where Stripe sends the buyer back, so reconcile_orders can replay the very same create.
    checkout_site_url = models.CharField(max_length=200, blank=True)
    # Names the order in its idempotency keys. Random, never the id: ids repeat after a wipe,
    # a restore or a sequence reset, while Stripe keeps a key's answer for 24 hours.
    checkout_key = models.CharField(
        max_length=32, unique=True, default=new_checkout_key, editable=False
    )
    # Bumped only when Stripe saved a failure under the previous idempotency key.
    checkout_attempt = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["visitor", "-created_at"], name="order_visitor_recent"),
            models.Index(fields=["status", "created_at"], name="order_status_age"),
            models.Index(fields=["client_address", "created_at"], name="order_address_recent"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gte=1, quantity__lte=MAX_QUANTITY),
                name="order_quantity_in_range",
            ),
            models.CheckConstraint(
                condition=Q(unit_price_cents__gt=0), name="order_unit_price_positive"
            ),
            models.CheckConstraint(
                condition=Q(amount_cents=F("unit_price_cents") * F("quantity")),
                name="order_amount_is_price_times_quantity",
            ),
            models.CheckConstraint(
                condition=Q(status__in=OrderStatus.values),
                name="order_status_known",
            ),
            models.CheckConstraint(
                condition=~Q(status="paid") | Q(paid_at__isnull=False),
                name="order_paid_has_paid_at",
            ),
        ]

    def __str__(self) -> str:
        return f"Order #{self.pk} ({self.quantity} x {self.product_id}, {self.status})"

    @property
    def paid(self) -> bool:
        return self.status == OrderStatus.PAID


class ProcessedStripeEvent(models.Model):
    """A webhook event already handled: Stripe delivers at least once, we act at most once."""

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class LoginFailure(models.Model):
    """One wrong password at the admin login, counted to throttle guessing; kept for a window."""

    username = models.CharField(max_length=150)
    address = models.GenericIPAddressField(null=True, blank=True)
    failed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["username", "address", "failed_at"], name="login_failure_pair"),
            models.Index(fields=["address", "failed_at"], name="login_failure_address"),
        ]

    def __str__(self) -> str:
        return f"{self.username} from {self.address} at {self.failed_at}"


class StaffSession(models.Model):
    """A signed-in session, known on the server, so that logging out ends every copy of it."""

    token = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"session of user {self.user_id} until {self.expires_at}"
