from __future__ import annotations

import logging
from datetime import datetime
from http import HTTPStatus

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, HttpResponseServerError
from django.template import loader
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST, require_safe

from shop import cache_headers, catalog, checkout, pages
from shop.client_address import client_address
from shop.csrf_token import get_token
from shop.forms import BuyForm, new_visitor_id
from shop.models import Order, OrderStatus, Product
from shop.my_orders import recent_order_rows
from shop.pages import ProductCard
from shop.responses import expected

logger = logging.getLogger(__name__)

VISITOR_SESSION_KEY = "visitor"
PLAIN_SERVER_ERROR = (
    "<!doctype html><title>Something went wrong</title>"
    "<h1>Something went wrong on our side.</h1>"
    "<p>Nothing was charged twice; please try again in a moment.</p>"
    '<p><a href="/">Back to the shop</a></p>'
)
ALREADY_DONE = {
    OrderStatus.PAID: "That order is already paid. Thank you!",
    OrderStatus.CANCELED: "That order was canceled. Choose again below to start a new one.",
    OrderStatus.EXPIRED: "That checkout expired. Choose again below to start a new order.",
    OrderStatus.FAILED: "The payment for that order failed. Choose again below to retry.",
    OrderStatus.NEEDS_REVIEW: "The payment we received does not match the order, so we are "
    "reviewing it. We will be in touch; please do not pay again.",
}

# Why a Buy form did not become a checkout -> the answer's status, and whether the form keeps its
# token: a throttled form was not used, and after an outage the next click retries this order.
REFUSALS: dict[type[Exception], tuple[HTTPStatus, bool]] = {
    checkout.CheckoutThrottled: (HTTPStatus.TOO_MANY_REQUESTS, True),
    checkout.CheckoutRefused: (HTTPStatus.CONFLICT, False),
    checkout.CheckoutFailed: (HTTPStatus.BAD_GATEWAY, False),
    checkout.PaymentProviderError: (HTTPStatus.SERVICE_UNAVAILABLE, True),
}

# What the cancel page says follows the order's real state once Stripe has answered.
CANCEL_OUTCOMES = {
    OrderStatus.CANCELED: "Order #{pk} was canceled. You were not charged.",
    OrderStatus.PAID: "Order #{pk} was already paid. Thank you!",
    # Completed with a delayed method (a bank debit): Stripe can no longer cancel it.
    OrderStatus.PENDING: "The payment for order #{pk} is being processed and can no longer be "
    "canceled. It will show as paid or failed once it clears.",
    OrderStatus.EXPIRED: "The checkout for order #{pk} had already expired. You were not charged.",
    OrderStatus.FAILED: "The payment for order #{pk} failed. You were not charged.",
    OrderStatus.NEEDS_REVIEW: "The payment for order #{pk} does not match the order, so we are "
    "reviewing it. We will be in touch.",
}


@require_safe
def storefront(request: HttpRequest) -> HttpResponse:
    return render_storefront(request)


@require_safe
def my_orders(request: HttpRequest) -> HttpResponse:
    """My Orders alone, polled by the page while an order awaits Stripe's confirmation."""
    return cache_headers.never_cache(
        HttpResponse(pages.my_orders(recent_order_rows(_visitor(request))))
    )


@require_POST
def start_checkout(request: HttpRequest) -> HttpResponse:
    visitor = _visitor(request)
    form = BuyForm(request.POST, visitor=visitor)
    if not form.is_valid() or visitor is None:
        errors = " ".join(str(error) for errors in form.errors.values() for error in errors)
        return _refuse_form(request, form, errors, status=HTTPStatus.BAD_REQUEST)
    try:
        order = checkout.start_checkout(
            product=form.product,
            quantity=form.cleaned_data["quantity"],
            form_token=form.cleaned_data["form_token"],
            visitor=visitor,
            site_url=request.build_absolute_uri("/").rstrip("/"),
            client_address=client_address(request),
        )
    except tuple(REFUSALS) as refusal:
        return _refuse_checkout(request, form, refusal)
    if order.status == OrderStatus.PENDING:
        return _see_other(order.stripe_session_url)
    messages.info(request, ALREADY_DONE[OrderStatus(order.status)])
    return _see_other(reverse("storefront"))


@require_GET
def checkout_success(request: HttpRequest) -> HttpResponse:
    session_id = request.GET.get("session_id", "")
    if not checkout.is_checkout_session_id(session_id):
        return _refuse(request, "That payment link is not valid.")
    # Only our own sessions reach Stripe: made-up ids must not spend its rate limit.
    order = checkout.order_for_session(session_id, _visitor(request))
    if order is None:
        return _refuse(request, "We could not find that payment.")
    try:
        order = checkout.confirm_payment(session_id)
    except checkout.CheckoutSessionNotFound:
        return _refuse(request, "We could not find that payment.")
    except checkout.PaymentProviderError:
        messages.info(
            request,
            "We are confirming your payment with Stripe. Your order will show as paid shortly.",
        )
        return _see_other(reverse("storefront"))
    if order is None or order.visitor != _visitor(request):
        return _refuse(request, "We could not find that payment.")
    if order.paid:
        messages.success(request, f"Thank you! Order #{order.pk} is paid.")
    elif order.status == OrderStatus.PENDING:
        messages.info(
            request,
            f"Order #{order.pk} is awaiting payment. It will show as paid once Stripe confirms it.",
        )
    else:
        messages.warning(request, ALREADY_DONE[OrderStatus(order.status)])
    return _see_other(reverse("storefront"))


@require_GET
def checkout_cancel(request: HttpRequest, token: str) -> HttpResponse:
    order_id = checkout.order_id_from_cancel_token(token)
    order = None
    if order_id is not None:
        order = Order.objects.filter(pk=order_id, visitor=_visitor(request) or "").first()
    if order is None:
        return _refuse(request, "We could not find that order.", status=HTTPStatus.NOT_FOUND)
    try:
        order = checkout.cancel(order)
    except checkout.PaymentProviderUnavailable:
        messages.warning(
            request,
            f"We could not reach Stripe to cancel order #{order.pk}; its checkout stays open "
            f"until it expires by itself at {_time_of_day(order.checkout_expires_at)}.",
        )
        return _see_other(reverse("storefront"))
    except checkout.PaymentProviderError:
        messages.warning(
            request,
            f"We could not cancel order #{order.pk}; it will expire by itself at "
            f"{_time_of_day(order.checkout_expires_at)}.",
        )
        return _see_other(reverse("storefront"))
    messages.info(request, CANCEL_OUTCOMES[OrderStatus(order.status)].format(pk=order.pk))
    return _see_other(reverse("storefront"))


def server_error(request: HttpRequest) -> HttpResponse:
    """The 500 page, which must not fail itself: no database, and a fallback without assets."""
    try:
        return HttpResponseServerError(loader.render_to_string("500.html"))
    except Exception:
        # Most likely the static manifest is missing, so even asset URLs cannot be made.
        logger.exception("The 500 page could not be rendered; sent the plain one")
        return HttpResponseServerError(PLAIN_SERVER_ERROR)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    logger.info("CSRF check failed: %s", reason)
    return _refuse(request, "Your session expired before the form was sent. Please try again.")


def render_storefront(
    request: HttpRequest, *, failed: ProductCard | None = None, status: int = HTTPStatus.OK
) -> HttpResponse:
    visitor = _visitor(request)
    # Read before a first-time visitor gets an id: they have no orders, so no query for them.
    orders = pages.my_orders(recent_order_rows(visitor))
    page = pages.storefront(
        catalog.products_for_sale(),
        visitor=visitor or _new_visitor(request),
        csrf_token=get_token(request),
        flash=pages.flash(list(messages.get_messages(request))),
        orders=orders,
        failed=failed,
        simulated=settings.STRIPE_SIMULATED,
    )
    # Revalidate on every visit, yet let the back button restore the page with its tokens.
    return cache_headers.revalidate(HttpResponse(page, status=status))


def _refuse_checkout(request: HttpRequest, form: BuyForm, refusal: Exception) -> HttpResponse:
    kind = next(kind for kind in type(refusal).__mro__ if kind in REFUSALS)
    status, keep_token = REFUSALS[kind]
    response = _refuse_form(request, form, str(refusal), status=status, keep_token=keep_token)
    if isinstance(refusal, checkout.CheckoutThrottled):
        response["Retry-After"] = str(int(checkout.THROTTLE_WINDOW.total_seconds()))
    # Stripe out of reach is a 503 we chose, not a fault to report; Stripe's refusal (502) is.
    return expected(response) if status == HTTPStatus.SERVICE_UNAVAILABLE else response


def _refuse_form(
    request: HttpRequest, form: BuyForm, message: str, *, status: int, keep_token: bool = False
) -> HttpResponse:
    """Re-render the storefront with the message beside the product the buyer tried to buy."""
    product = form.cleaned_data.get("product_id")
    if not isinstance(product, Product):
        return _refuse(request, message, status=status)
    failed = ProductCard(
        product,
        token=form.data["token"] if keep_token else None,
        quantity=form.data.get("quantity", ""),
        error=message,
    )
    return render_storefront(request, failed=failed, status=status)


def _refuse(
    request: HttpRequest, message: str, *, status: int = HTTPStatus.BAD_REQUEST
) -> HttpResponse:
    messages.error(request, message)
    return render_storefront(request, status=status)


def _visitor(request: HttpRequest) -> str | None:
    return request.session.get(VISITOR_SESSION_KEY)


def _new_visitor(request: HttpRequest) -> str:
    """The browser's visitor id, given on its first page view: a signed cookie, no row.

    Every form on that page is bound to it, so racing first clicks are one buyer.
    """
    visitor = request.session[VISITOR_SESSION_KEY] = new_visitor_id()
    return visitor


def _time_of_day(moment: datetime) -> str:
    return f"{moment:%H:%M} UTC"


def _see_other(url: str) -> HttpResponseRedirect:
    response = HttpResponseRedirect(url)
    response.status_code = HTTPStatus.SEE_OTHER
    return response
