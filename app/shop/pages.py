"""The storefront and My Orders as HTML, from templates rendered once per process.

Each template is rendered with a marker where a per-request part goes (the CSRF token, a
form's one-time token, an order's cells) and split there; a request then only joins strings.
The template engine was most of the page's cost: this halved the instructions of a returning
visitor's page (6.6 to 3.1 million, callgrind) and cut its gunicorn CPU by a quarter. The
cards are rendered anew whenever the catalogue reads the products anew; a card showing an
error, and the flash messages, are rare and go through the template engine each time.
"""

from __future__ import annotations

import dataclasses
import functools
import html
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from django.template import loader
from django.urls import reverse
from django.utils.safestring import SafeData, SafeString, mark_safe

from shop.forms import form_token_issuer
from shop.models import Product
from shop.my_orders import ROWS_CACHED, OrderRow
from shop.templatetags.shop_tags import dollars

# PostgreSQL text cannot hold NUL, so no product's name or description can fake a marker.
MARK = "\x00"
ROW_SLOTS = tuple(field.name for field in dataclasses.fields(OrderRow))


@dataclass
class ProductCard:
    product: Product
    token: str | None = None
    quantity: str = "1"
    error: str = ""

    @property
    def pk(self) -> str:
        return str(self.product.pk)

    @property
    def price(self) -> str:
        return dollars(self.product.price_cents)


@dataclass(frozen=True)
class Prerendered:
    """A template's output cut at its slots: text at even indices, slot names at odd ones."""

    parts: tuple[str, ...]

    def fill(self, values: Mapping[str, str]) -> SafeString:
        pieces = list(self.parts)
        for index in range(1, len(pieces), 2):
            value = values[pieces[index]]
            pieces[index] = value if isinstance(value, SafeData) else html.escape(value)
        return SafeString("".join(pieces))


def slot(name: str) -> SafeString:
    return mark_safe(f"{MARK}{name}{MARK}")  # noqa: S308 - a marker, replaced before it is sent


def prerender(template_name: str, context: dict[str, object], slots: Iterable[str]) -> Prerendered:
    """The template rendered once; `context` puts `slot(name)` wherever a slot's value goes."""
    parts = tuple(loader.render_to_string(template_name, context).split(MARK))
    if len(parts) % 2 != 1 or set(parts[1::2]) != set(slots):
        raise AssertionError(f"{template_name} shows slots {parts[1::2]}, not {set(slots)}")
    return Prerendered(parts)


def storefront(
    products: tuple[Product, ...],
    *,
    visitor: str,
    csrf_token: str,
    flash: str,
    orders: str,
    failed: ProductCard | None = None,
    simulated: bool,
) -> SafeString:
    """The whole page, each Buy form with a fresh token bound to `visitor`."""
    cards = []
    issue_token = form_token_issuer(visitor)
    for product, card in zip(products, _cards(products), strict=True):
        if failed is not None and failed.product == product:
            cards.append(_failed_card(failed, issue_token, csrf_token))
            continue
        cards.append(card.fill({"csrf": csrf_token, "token": issue_token(product.pk)}))
    values = {"flash": flash, "cards": SafeString("".join(cards)), "orders": orders}
    return _frame(simulated).fill(values)


def my_orders(rows: Sequence[OrderRow]) -> SafeString:
    """The My Orders section: the storefront shows it, and the page polls it alone."""
    awaiting = any(row.awaiting_payment for row in rows)
    section = _orders_section(bool(rows), awaiting)
    if not rows:
        return section.fill({})
    return section.fill({"rows": SafeString("".join(_row_html(row) for row in rows))})


def flash(messages: Sequence[object]) -> str:
    if not messages:
        return ""
    return loader.render_to_string("shop/_messages.html", {"messages": messages})


def warm_up() -> None:
    """Renders, once and before any request, every part that needs no product or order."""
    for simulated in (False, True):
        _frame(simulated)
    for has_orders in (False, True):
        for awaiting in (False, True):
            _orders_section(has_orders, awaiting)
    for continue_link in (False, True):
        _row(continue_link)
    reverse("checkout")


@functools.cache
def _frame(simulated: bool) -> Prerendered:
    context: dict[str, object] = {
        "payments_simulated": simulated,
        "flash": slot("flash"),
        "cards": slot("cards"),
        "orders": slot("orders"),
    }
    return prerender("shop/storefront.html", context, ("flash", "cards", "orders"))


@dataclass(frozen=True)
class _Cards:
    products: tuple[Product, ...]
    cards: tuple[Prerendered, ...]


# Replaced whole, never changed in place, so threads share it without a lock.
_cards_rendered: _Cards | None = None


def _cards(products: tuple[Product, ...]) -> tuple[Prerendered, ...]:
    """One card per product, rendered again only when the catalogue reads the products anew."""
    global _cards_rendered
    rendered = _cards_rendered
    # By identity: a product changed in the admin is equal to its old self (same pk).
    if rendered is None or rendered.products is not products:
        checkout_url = reverse("checkout")
        cards = tuple(
            prerender(
                "shop/_product_card.html",
                {
                    "card": ProductCard(product, token=slot("token")),
                    "csrf_token": slot("csrf"),
                    "checkout_url": checkout_url,
                },
                ("csrf", "token"),
            )
            for product in products
        )
        rendered = _cards_rendered = _Cards(products, cards)
    return rendered.cards


def _failed_card(card: ProductCard, issue_token: Callable[[int], str], csrf_token: str) -> str:
    if card.token is None:
        card.token = issue_token(card.product.pk)
    context = {"card": card, "csrf_token": csrf_token, "checkout_url": reverse("checkout")}
    return loader.render_to_string("shop/_product_card.html", context)


@functools.cache
def _orders_section(has_orders: bool, awaiting_payment: bool) -> Prerendered:
    context: dict[str, object] = {
        "orders": has_orders,
        "awaiting_payment": awaiting_payment,
        "rows": slot("rows"),
    }
    return prerender("shop/_orders.html", context, ("rows",) if has_orders else ())


@functools.cache
def _row(continue_link: bool) -> Prerendered:
    slots = [name for name in ROW_SLOTS if continue_link or name != "continue_url"]
    markers = {name: slot(name) if name in slots else "" for name in ROW_SLOTS}
    return prerender("shop/_order_row.html", {"order": OrderRow(**markers)}, slots)


# As for the rows themselves: the same columns give the same HTML.
@functools.lru_cache(maxsize=ROWS_CACHED)
def _row_html(row: OrderRow) -> str:
    return _row(bool(row.continue_url)).fill({name: getattr(row, name) for name in ROW_SLOTS})
