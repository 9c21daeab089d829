"""The parameter check: Stripe's error codes, and agreement with the library's typed params."""

from __future__ import annotations

import sys
import time
import typing
from typing import Any

import pytest
import stripe
from stripe.params.checkout import SessionCreateParams

from stripe_sim.forms import decode_form
from stripe_sim.params import HASH, SESSION_CREATE, VALUE, ParamError, parse_session_create
from stripe_sim.tests.helpers import form_encode, session_params

NOW = 1_800_000_000


def test_every_accepted_parameter_exists_in_the_library_typed_params():
    checked = _assert_schema_matches(SESSION_CREATE, SessionCreateParams, "")

    assert {"line_items[0][price_data][product_data][name]", "metadata", "mode"} <= checked


def test_parameters_the_library_requires_are_required_here_too():
    price_data = _resolve(_resolve(SessionCreateParams, "line_items"), "price_data")
    product_data = _resolve(price_data, "product_data")
    assert "currency" in price_data.__required_keys__
    assert "name" in product_data.__required_keys__

    for param, remove in [
        ("line_items[0][price_data][currency]", lambda p: _price(p).pop("currency")),
        ("line_items[0][price_data][product_data][name]", lambda p: _product(p).pop("name")),
    ]:
        params = session_params()
        remove(params)
        with pytest.raises(ParamError) as error:
            _parse(params)
        assert (error.value.param, error.value.code) == (param, "parameter_missing")


def test_payment_method_types_is_unknown_because_the_library_no_longer_has_it():
    assert "payment_method_types" not in SessionCreateParams.__annotations__

    with pytest.raises(ParamError) as error:
        _parse(session_params(payment_method_types=["card"]))

    assert error.value.code == "parameter_unknown"


def test_a_valid_request_parses_into_typed_values():
    parsed = _parse(
        session_params(
            expires_at=NOW + 3600,
            customer_email="ada@example.com",
            allowed_payment_method_types=["card"],
            metadata={"order_id": "42", "dropped": ""},
        )
    )

    assert parsed.line_items[0].unit_amount == 1250
    assert parsed.line_items[0].quantity == 2
    assert parsed.expires_at == NOW + 3600
    assert parsed.payment_method_types == ("card",)
    assert parsed.metadata == {"order_id": "42"}


@pytest.mark.parametrize(
    ("change", "param", "code"),
    [
        (lambda p: p.pop("mode"), "mode", "parameter_missing"),
        (lambda p: p.pop("line_items"), "line_items", "parameter_missing"),
        (lambda p: p.pop("success_url"), "success_url", "parameter_missing"),
        (lambda p: p.update(mode=""), "mode", "parameter_invalid_empty"),
        (lambda p: p.update(mode="subscription"), "mode", None),
        (lambda p: p.update(success_url="/relative"), "success_url", "url_invalid"),
        (lambda p: p.update(customer_email="nope"), "customer_email", "email_invalid"),
        (lambda p: p.update(submit_type="buy"), "submit_type", None),
        (lambda p: _item(p).update(quantity=0), "line_items[0][quantity]", None),
        (
            lambda p: _item(p).update(quantity="two"),
            "line_items[0][quantity]",
            "parameter_invalid_integer",
        ),
        (
            lambda p: _price(p).update(unit_amount=0),
            "line_items[0][price_data][unit_amount]",
            None,
        ),
        (
            lambda p: _price(p).update(currency="EUR"),
            "line_items[0][price_data][currency]",
            None,
        ),
        (
            lambda p: _price(p).update(foo="bar"),
            "line_items[0][price_data][foo]",
            "parameter_unknown",
        ),
        (lambda p: p.update(line_items="x"), "line_items", None),
        (lambda p: p.update(metadata="x"), "metadata", None),
        (lambda p: p.update(expires_at=NOW + 29 * 60), "expires_at", None),
        (lambda p: p.update(expires_at=NOW + 25 * 3600), "expires_at", None),
    ],
)
def test_invalid_requests_name_the_offending_param(change, param, code):
    params = session_params()
    change(params)

    with pytest.raises(ParamError) as error:
        _parse(params)

    assert (error.value.param, error.value.code) == (param, code)


def test_line_items_must_share_one_currency():
    params = session_params()
    params["line_items"].append(
        {
            "price_data": {"currency": "usd", "unit_amount": 100, "product_data": {"name": "Pen"}},
            "quantity": 1,
        }
    )

    with pytest.raises(ParamError) as error:
        _parse(params)

    assert error.value.param == "line_items[1][price_data][currency]"


def test_the_api_reports_an_unknown_nested_parameter_like_stripe(client):
    params = session_params()
    _price(params)["foo"] = "bar"

    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.checkout.sessions.create(params=params)

    assert error.value.http_status == 400
    assert error.value.param == "line_items[0][price_data][foo]"
    assert error.value.code == "parameter_unknown"
    assert error.value.user_message == "Received unknown parameter: line_items[0][price_data][foo]"


def test_the_api_rejects_an_expiry_under_thirty_minutes(client):
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.checkout.sessions.create(params=session_params(expires_at=int(time.time()) + 60))

    assert error.value.param == "expires_at"


def _parse(params: dict[str, Any]):
    """Encode as the library does, then decode and validate as the server does."""
    return parse_session_create(decode_form(form_encode(params)), NOW)


def _item(params: dict[str, Any]) -> dict[str, Any]:
    return params["line_items"][0]


def _price(params: dict[str, Any]) -> dict[str, Any]:
    return params["line_items"][0]["price_data"]


def _product(params: dict[str, Any]) -> dict[str, Any]:
    return params["line_items"][0]["price_data"]["product_data"]


def _assert_schema_matches(schema: dict[str, Any], typed_dict: type, prefix: str) -> set[str]:
    """Walk the simulator's schema beside the library's TypedDicts, reading their annotations."""
    checked = set()
    for name, node in schema.items():
        assert name in typed_dict.__annotations__, f"{prefix}{name} is not a Stripe parameter"
        path = f"{prefix}[{name}]" if prefix else name
        checked.add(path)
        if isinstance(node, list):
            path += "[0]"
            node = node[0]
        if node not in (VALUE, HASH):
            checked |= _assert_schema_matches(node, _resolve(typed_dict, name), path)
    return checked


def _resolve(typed_dict: Any, name: str) -> Any:
    """The TypedDict behind `name`, seen through NotRequired[...] and List[...]."""
    annotation = typed_dict.__annotations__[name]
    while typing.get_args(annotation):
        annotation = typing.get_args(annotation)[0]
    if isinstance(annotation, typing.ForwardRef):
        annotation = annotation.__forward_arg__
    module = sys.modules[typed_dict.__module__]
    return getattr(module, annotation) if isinstance(annotation, str) else annotation
