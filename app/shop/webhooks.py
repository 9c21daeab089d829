"""Stripe webhooks: verify the signature, record the event once, hand it to its handler."""

from __future__ import annotations

import logging
from collections.abc import Callable
from http import HTTPStatus

from django.db import DatabaseError, transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from shop import checkout, stripe_gateway
from shop.models import Order, ProcessedStripeEvent
from shop.responses import expected
from shop.stripe_gateway import CheckoutSession, WebhookEvent

logger = logging.getLogger(__name__)

# One payment can yield several of these; each handler is idempotent on the order too.
HANDLERS: dict[str, Callable[[CheckoutSession], Order | None]] = {
    "checkout.session.completed": checkout.fulfil,
    "checkout.session.async_payment_succeeded": checkout.fulfil,
    "checkout.session.async_payment_failed": checkout.fail,
    "checkout.session.expired": checkout.expire,
}


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> JsonResponse:
    try:
        event = stripe_gateway.parse_webhook(request.body, request.headers.get("Stripe-Signature"))
    except stripe_gateway.InvalidWebhook as error:
        logger.warning("Rejected a webhook: %s", error)
        return JsonResponse({"error": str(error)}, status=HTTPStatus.BAD_REQUEST)
    try:
        outcome = process(event)
    except DatabaseError as error:
        # Stripe retries a failed delivery for days; nothing was recorded, so the retry counts.
        logger.warning("Could not process event=%s, Stripe will retry: %s", event.id, error)
        return expected(
            JsonResponse({"error": "Try again later."}, status=HTTPStatus.SERVICE_UNAVAILABLE)
        )
    logger.info("event=%s type=%s %s", event.id, event.type, outcome)
    return JsonResponse({"received": True, "outcome": outcome})


def process(event: WebhookEvent) -> str:
    handler = HANDLERS.get(event.type)
    if handler is None or event.session is None:
        return "ignored"
    with transaction.atomic():
        # A duplicate delivery racing this one waits on the unique index, then finds the row.
        _, created = ProcessedStripeEvent.objects.get_or_create(
            event_id=event.id, defaults={"type": event.type}
        )
        if not created:
            return "duplicate"
        handler(event.session)
    return "processed"
