"""Validation of `POST /v1/checkout/sessions` parameters, with Stripe's error codes and wording.

The schema below is the whole list of parameters the simulator accepts; anything else is
rejected as unknown, as Stripe does, so the app cannot rely on a parameter Stripe would refuse.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

# Schema leaves: a single string value, or a free-form hash of strings (metadata).
VALUE = "value"
HASH = "hash"

PRODUCT_DATA = {"name": VALUE, "description": VALUE}
PRICE_DATA = {"currency": VALUE, "unit_amount": VALUE, "product_data": PRODUCT_DATA}
LINE_ITEM = {"price_data": PRICE_DATA, "quantity": VALUE}
SESSION_CREATE: dict[str, Any] = {
    "mode": VALUE,
    "line_items": [LINE_ITEM],
    "success_url": VALUE,
    "cancel_url": VALUE,
    "client_reference_id": VALUE,
    "metadata": HASH,
    "expires_at": VALUE,
    "customer_email": VALUE,
    "allowed_payment_method_types": [VALUE],
    "submit_type": VALUE,
    "locale": VALUE,
}

MIN_EXPIRY_SECONDS = 30 * 60
MAX_EXPIRY_SECONDS = 24 * 60 * 60
MAX_UNIT_AMOUNT = 99_999_999
MAX_LINE_ITEMS = 100
MAX_CLIENT_REFERENCE_ID_LENGTH = 200
MAX_METADATA_KEYS = 50
MAX_METADATA_KEY_LENGTH = 40
MAX_METADATA_VALUE_LENGTH = 500
SUBMIT_TYPES = ("auto", "book", "donate", "pay")
CURRENCY_PATTERN = re.compile(r"^[a-z]{3}$")
INTEGER_PATTERN = re.compile(r"^-?[0-9]+$")


class ParamError(ValueError):
    """A request Stripe would refuse before doing anything (400 invalid_request_error)."""

    def __init__(self, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.param = param
        self.code = code


@dataclass(frozen=True)
class LineItem:
    name: str
    description: str | None
    currency: str
    unit_amount: int
    quantity: int

    @property
    def amount(self) -> int:
        return self.unit_amount * self.quantity


@dataclass(frozen=True)
class SessionCreate:
    line_items: tuple[LineItem, ...]
    success_url: str
    cancel_url: str | None
    client_reference_id: str | None
    metadata: dict[str, str]
    expires_at: int | None
    customer_email: str | None
    payment_method_types: tuple[str, ...]
    submit_type: str | None
    locale: str | None


def reject_any(params: Mapping[str, Any]) -> None:
    """For endpoints that take no parameters at all."""
    if params:
        raise _unknown(next(iter(params)))


def parse_session_create(raw: Mapping[str, Any], now: int) -> SessionCreate:
    params = conform(raw, SESSION_CREATE, "")
    mode = _required(params, "mode")
    if mode != "payment":
        raise ParamError(
            f"Invalid mode: {mode}. This simulator only supports `payment` mode.", "mode"
        )
    line_items = _line_items(_required(params, "line_items"))
    _check_url(_required(params, "success_url"), "success_url")
    if "cancel_url" in params:
        _check_url(params["cancel_url"], "cancel_url")
    return SessionCreate(
        line_items=line_items,
        success_url=params["success_url"],
        cancel_url=params.get("cancel_url"),
        client_reference_id=_client_reference_id(params.get("client_reference_id")),
        metadata=_metadata(params.get("metadata", {}), "metadata"),
        expires_at=_expires_at(params.get("expires_at"), now),
        customer_email=_email(params.get("customer_email")),
        payment_method_types=tuple(params.get("allowed_payment_method_types") or ("card",)),
        submit_type=_choice(params.get("submit_type"), SUBMIT_TYPES, "submit_type"),
        locale=params.get("locale"),
    )


def conform(node: Any, schema: Any, param: str) -> Any:
    """Check `node` against `schema`, turning digit-keyed dicts into lists where arrays belong."""
    if schema == VALUE:
        if isinstance(node, dict):
            raise ParamError(f"Invalid string: {param} must be a single value, not a hash", param)
        return node
    if schema == HASH:
        return _conform_hash(node, param)
    if isinstance(schema, list):
        return [
            conform(item, schema[0], f"{param}[{index}]")
            for index, item in enumerate(_as_list(node, param))
        ]
    if not isinstance(node, dict):
        raise ParamError("Invalid hash", param)
    for name in node:
        if name not in schema:
            raise _unknown(_join(param, name))
    return {name: conform(value, schema[name], _join(param, name)) for name, value in node.items()}


def _conform_hash(node: Any, param: str) -> dict[str, str]:
    if not isinstance(node, dict):
        raise ParamError("Invalid hash", param)
    for name, value in node.items():
        if isinstance(value, dict):
            raise ParamError("Invalid string: hash values must be strings", _join(param, name))
    return node


def _as_list(node: Any, param: str) -> list[Any]:
    if not isinstance(node, dict) or set(node) != {str(index) for index in range(len(node))}:
        raise ParamError("Invalid array", param)
    return [node[str(index)] for index in range(len(node))]


def _join(param: str, name: str) -> str:
    return f"{param}[{name}]" if param else name


def _unknown(param: str) -> ParamError:
    return ParamError(f"Received unknown parameter: {param}", param, "parameter_unknown")


def _required(params: Mapping[str, Any], name: str, prefix: str = "") -> Any:
    param = _join(prefix, name)
    if name not in params:
        raise ParamError(f"Missing required param: {param}.", param, "parameter_missing")
    if params[name] == "":
        raise ParamError(
            f"You passed an empty string for '{param}'. We assume empty values are an attempt"
            f" to unset a parameter; however '{param}' cannot be unset. You should remove"
            f" '{param}' from your request or supply a non-empty value.",
            param,
            "parameter_invalid_empty",
        )
    return params[name]


def _line_items(items: list[dict[str, Any]]) -> tuple[LineItem, ...]:
    if not items or len(items) > MAX_LINE_ITEMS:
        raise ParamError(
            f"line_items must contain between 1 and {MAX_LINE_ITEMS} items.", "line_items"
        )
    parsed = tuple(_line_item(item, f"line_items[{index}]") for index, item in enumerate(items))
    for index, item in enumerate(parsed):
        if item.currency != parsed[0].currency:
            raise ParamError(
                "All line items must use the same currency.",
                f"line_items[{index}][price_data][currency]",
            )
    return parsed


def _line_item(item: dict[str, Any], prefix: str) -> LineItem:
    # Stripe also takes a saved `price` id; there is no catalogue here, so price_data is required.
    price_data = _required(item, "price_data", prefix)
    price_prefix = f"{prefix}[price_data]"
    product_data = _required(price_data, "product_data", price_prefix)
    product_prefix = f"{price_prefix}[product_data]"
    currency = _required(price_data, "currency", price_prefix)
    if not CURRENCY_PATTERN.match(currency):
        raise ParamError(
            f"Invalid currency: {currency}. Currencies are three lowercase letters (ISO 4217).",
            f"{price_prefix}[currency]",
        )
    return LineItem(
        name=_required(product_data, "name", product_prefix),
        description=product_data.get("description") or None,
        currency=currency,
        unit_amount=_integer(
            _required(price_data, "unit_amount", price_prefix),
            f"{price_prefix}[unit_amount]",
            minimum=1,
            maximum=MAX_UNIT_AMOUNT,
        ),
        quantity=_integer(_required(item, "quantity", prefix), f"{prefix}[quantity]", minimum=1),
    )


def _integer(value: str, param: str, minimum: int, maximum: int | None = None) -> int:
    if not INTEGER_PATTERN.match(value):
        raise ParamError(f"Invalid integer: {value}", param, "parameter_invalid_integer")
    number = int(value)
    if number < minimum:
        raise ParamError(f"This value must be greater than or equal to {minimum}.", param)
    if maximum is not None and number > maximum:
        raise ParamError(f"This value must be less than or equal to {maximum}.", param)
    return number


def _check_url(value: str, param: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ParamError("Not a valid URL", param, "url_invalid")


def _client_reference_id(value: str | None) -> str | None:
    if value is not None and len(value) > MAX_CLIENT_REFERENCE_ID_LENGTH:
        raise ParamError(
            f"client_reference_id must be at most {MAX_CLIENT_REFERENCE_ID_LENGTH} characters.",
            "client_reference_id",
        )
    return value or None


def _metadata(values: dict[str, str], param: str) -> dict[str, str]:
    # An empty value unsets a key in Stripe, so on creation it simply is not stored.
    kept = {key: value for key, value in values.items() if value != ""}
    if len(kept) > MAX_METADATA_KEYS:
        raise ParamError(f"You can specify up to {MAX_METADATA_KEYS} metadata keys.", param)
    for key, value in kept.items():
        if len(key) > MAX_METADATA_KEY_LENGTH:
            raise ParamError(
                f"Metadata keys can have up to {MAX_METADATA_KEY_LENGTH} characters.",
                _join(param, key),
            )
        if len(value) > MAX_METADATA_VALUE_LENGTH:
            raise ParamError(
                f"Metadata values can have up to {MAX_METADATA_VALUE_LENGTH} characters.",
                _join(param, key),
            )
    return kept


def _expires_at(value: str | None, now: int) -> int | None:
    if value is None:
        return None
    expires_at = _integer(value, "expires_at", minimum=0)
    if expires_at - now < MIN_EXPIRY_SECONDS:
        raise ParamError(
            "The `expires_at` timestamp must be at least 30 minutes from Checkout Session"
            " creation.",
            "expires_at",
        )
    if expires_at - now > MAX_EXPIRY_SECONDS:
        raise ParamError(
            "The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.",
            "expires_at",
        )
    return expires_at


def _email(value: str | None) -> str | None:
    if value is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
        raise ParamError(f"Invalid email address: {value}", "customer_email", "email_invalid")
    return value


def _choice(value: str | None, choices: tuple[str, ...], param: str) -> str | None:
    if value is not None and value not in choices:
        raise ParamError(f"Invalid {param}: must be one of {', '.join(choices)}", param)
    return value
