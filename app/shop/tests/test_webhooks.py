"""POST /stripe/webhook/: verified, recorded once, idempotent on the order."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from typing import Any

import pytest
from django.db import connections
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from shop.models import Order, ProcessedStripeEvent, Product
from shop.tests.helpers import (
    PROPERTY_SETTINGS,
    buy,
    deliver,
    requires_postgres,
    session_id_of,
    sign,
)
from shop.tests.stack import Simulator
from shop.webhooks import HANDLERS

pytestmark = pytest.mark.django_db


def pending_session(client: Client, product: Product) -> str:
    return session_id_of(buy(client, product))


def delayed_payment_events(
    client: Client, simulator: Simulator, product: Product, outcome: str
) -> list[dict[str, Any]]:
    """checkout.session.completed while unpaid, then the delayed method's verdict."""
    session_id = pending_session(client, product)
    simulator.pay(session_id, payment_status="unpaid")
    simulator.settle_async(session_id, outcome)
    return simulator.events()


def test_a_completed_event_pays_the_order_once(
    client: Client, simulator: Simulator, product: Product
) -> None:
    session_id = pending_session(client, product)
    simulator.pay(session_id)
    [event] = simulator.events("checkout.session.completed")

    first = deliver(event)
    duplicate = deliver(event)

    assert first.status_code == HTTPStatus.OK and first.json()["outcome"] == "processed"
    assert duplicate.status_code == HTTPStatus.OK and duplicate.json()["outcome"] == "duplicate"
    order = Order.objects.get()
    assert order.status == "paid" and order.paid_at is not None
    assert list(ProcessedStripeEvent.objects.values_list("event_id", "type")) == [
        (event["id"], "checkout.session.completed")
    ]


@pytest.mark.parametrize(
    "signature",
    ["", "t=1,v1=deadbeef", sign("{}", secret="whsec_someone_else"), "garbage"],
    ids=["missing", "stale-and-wrong", "other-secret", "garbage"],
)
def test_a_bad_signature_gets_400_and_changes_nothing(
    client: Client, simulator: Simulator, product: Product, signature: str
) -> None:
    simulator.pay(pending_session(client, product))
    [event] = simulator.events("checkout.session.completed")
    response = deliver(event, signature=signature)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert Order.objects.get().status == "pending"
    assert ProcessedStripeEvent.objects.count() == 0


def test_a_tampered_body_gets_400(client: Client, simulator: Simulator, product: Product) -> None:
    simulator.pay(pending_session(client, product), payment_status="unpaid")
    [event] = simulator.events("checkout.session.completed")
    tampered = {**event, "payload": event["payload"].replace('"unpaid"', '"paid"')}
    assert deliver(tampered).status_code == HTTPStatus.BAD_REQUEST
    assert Order.objects.get().status == "pending"


def test_a_correctly_signed_malformed_body_gets_400(simulator: Simulator) -> None:
    payload = "{not json"
    response = deliver({"payload": payload, "signature": sign(payload)})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert ProcessedStripeEvent.objects.count() == 0


def test_the_webhook_answers_only_post(client: Client) -> None:
    assert client.get("/stripe/webhook/").status_code == HTTPStatus.METHOD_NOT_ALLOWED


def test_event_types_we_do_not_handle_are_acknowledged_and_ignored(simulator: Simulator) -> None:
    payload = json.dumps(
        {
            "id": "evt_other",
            "object": "event",
            "type": "payment_intent.created",
            "data": {"object": {"id": "pi_1", "object": "payment_intent"}},
        }
    )
    response = deliver({"payload": payload, "signature": sign(payload)})
    assert response.status_code == HTTPStatus.OK and response.json()["outcome"] == "ignored"
    assert ProcessedStripeEvent.objects.count() == 0


def test_a_checkout_event_naming_none_of_our_orders_changes_nothing(
    client: Client, simulator: Simulator, product: Product
) -> None:
    session_id = pending_session(client, product)
    simulator.pay(session_id)
    [event] = simulator.events("checkout.session.completed")
    body = json.loads(event["payload"])
    body["data"]["object"].update(client_reference_id=None, metadata={})
    payload = json.dumps(body)
    response = deliver({"payload": payload, "signature": sign(payload)})
    assert response.status_code == HTTPStatus.OK
    assert Order.objects.get().status == "pending"


def test_a_delayed_payment_is_paid_by_async_payment_succeeded(
    client: Client, simulator: Simulator, product: Product
) -> None:
    completed, succeeded = delayed_payment_events(client, simulator, product, "succeeded")

    assert deliver(completed).status_code == HTTPStatus.OK
    assert Order.objects.get().status == "pending"
    assert deliver(succeeded).status_code == HTTPStatus.OK
    assert Order.objects.get().status == "paid"


def test_out_of_order_events_still_pay_once(
    client: Client, simulator: Simulator, product: Product
) -> None:
    completed, succeeded = delayed_payment_events(client, simulator, product, "succeeded")

    assert deliver(succeeded).json()["outcome"] == "processed"
    paid_at = Order.objects.get().paid_at
    assert deliver(completed).json()["outcome"] == "processed"
    order = Order.objects.get()
    assert order.status == "paid" and order.paid_at == paid_at


def test_a_failed_delayed_payment_marks_the_order_failed(
    client: Client, simulator: Simulator, product: Product
) -> None:
    for event in delayed_payment_events(client, simulator, product, "failed"):
        deliver(event)
    assert Order.objects.get().status == "failed"
    assert 'data-status="failed"' in client.get("/").content.decode()


def test_an_expired_session_expires_its_pending_order_but_never_a_paid_one(
    client: Client, simulator: Simulator, product: Product
) -> None:
    expiring = pending_session(client, product)
    paying = pending_session(client, product)
    simulator.pay(paying)
    simulator.expire(expiring)
    for event in simulator.events():
        deliver(event)
    statuses = dict(Order.objects.values_list("stripe_session_id", "status"))
    assert statuses == {expiring: "expired", paying: "paid"}

    paid_session = json.loads(simulator.events("checkout.session.completed")[0]["payload"])
    paid_session["id"] = "evt_forged_expiry"
    paid_session["type"] = "checkout.session.expired"
    paid_session["data"]["object"]["status"] = "expired"
    payload = json.dumps(paid_session)
    deliver({"payload": payload, "signature": sign(payload)})
    assert Order.objects.get(stripe_session_id=paying).status == "paid"


@requires_postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_racing_duplicate_deliveries_record_one_event_and_pay_once(
    simulator: Simulator, product: Product
) -> None:
    session_id = pending_session(Client(), product)
    simulator.pay(session_id)
    [event] = simulator.events("checkout.session.completed")

    def post(_: int) -> tuple[int, str]:
        try:
            response = deliver(event)
            return response.status_code, response.json()["outcome"]
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(post, range(10)))

    assert sorted(answers) == [(200, "duplicate")] * 9 + [(200, "processed")]
    assert ProcessedStripeEvent.objects.count() == 1
    assert Order.objects.get().status == "paid"


def signed(body: Any) -> dict[str, str]:
    payload = body if isinstance(body, str) else json.dumps(body)
    return {"payload": payload, "signature": sign(payload)}


@pytest.mark.parametrize(
    "signature",
    ["t=1,v1=é", "t=²,v1=abc", "t=1,v1=\u00ff\u00fe"],
    ids=["accented", "superscript-timestamp", "latin-1-bytes"],
)
def test_a_signature_header_that_is_not_ascii_gets_400(
    simulator: Simulator, signature: str
) -> None:
    payload = json.dumps({"id": "evt_1", "type": "checkout.session.completed"})
    response = deliver({"payload": payload}, signature=signature)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert ProcessedStripeEvent.objects.count() == 0


def odd_session(**fields: Any) -> dict[str, Any]:
    session = {
        "id": "cs_test_odd",
        "object": "checkout.session",
        "status": "complete",
        "payment_status": "paid",
        "amount_total": 3000,
        "currency": "usd",
        "client_reference_id": "1",
        "metadata": {"order_id": "1"},
    }
    session.update(fields)
    return {"id": "evt_odd", "type": "checkout.session.completed", "data": {"object": session}}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ("[]", HTTPStatus.BAD_REQUEST),
        ('"an event"', HTTPStatus.BAD_REQUEST),
        ("42", HTTPStatus.BAD_REQUEST),
        ({"type": "checkout.session.completed"}, HTTPStatus.BAD_REQUEST),
        ({"id": "evt_no_type"}, HTTPStatus.BAD_REQUEST),
        ({"id": "evt_1", "type": "checkout.session.completed"}, HTTPStatus.BAD_REQUEST),
        ({**odd_session(), "data": {"object": {"object": "checkout.session"}}}, 400),
        (odd_session(client_reference_id="²", metadata={"order_id": "²"}), HTTPStatus.OK),
        (odd_session(client_reference_id="9" * 30, metadata={"order_id": "9" * 30}), 200),
        (odd_session(client_reference_id=str(2**63), metadata={"order_id": str(2**63)}), 200),
        (odd_session(metadata="order_id"), HTTPStatus.OK),
        (odd_session(metadata=["order_id"]), HTTPStatus.OK),
        (odd_session(metadata=7), HTTPStatus.OK),
        (odd_session(client_reference_id=7, amount_total="3000"), HTTPStatus.OK),
        (odd_session(payment_intent={"object": "payment_intent"}), HTTPStatus.OK),
        (odd_session(id="cs_test_\x00"), HTTPStatus.BAD_REQUEST),
        ({**odd_session(), "id": "evt_\x00"}, HTTPStatus.BAD_REQUEST),
    ],
    ids=[
        "array",
        "string",
        "number",
        "no-id",
        "no-type",
        "no-data",
        "object-without-id",
        "superscript-order-id",
        "order-id-past-bigint",
        "order-id-just-past-bigint",
        "metadata-string",
        "metadata-list",
        "metadata-number",
        "fields-of-other-types",
        "payment-intent-without-id",
        "session-id-with-nul",
        "event-id-with-nul",
    ],
)
def test_correctly_signed_odd_events_get_a_4xx_or_are_ignored(
    simulator: Simulator, body: Any, status: int
) -> None:
    response = deliver(signed(body))
    assert response.status_code == status
    assert not Order.objects.exclude(status="pending").exists()


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)
ODD_TEXT = st.text() | st.sampled_from(["²", "1", "0", "-1", str(2**63), "9" * 30, "1\n", "\u0661"])
ODD_VALUES = JSON_VALUES | ODD_TEXT
EVENTS = st.fixed_dictionaries(
    {},
    optional={
        "id": st.just("evt_prop") | ODD_VALUES,
        "type": st.sampled_from(sorted(HANDLERS)) | ODD_VALUES,
        "data": st.fixed_dictionaries(
            {},
            optional={
                "object": st.fixed_dictionaries(
                    {},
                    optional={
                        "id": st.just("cs_test_prop") | ODD_VALUES,
                        "status": st.sampled_from(["complete", "expired", "open"]) | ODD_VALUES,
                        "payment_status": st.sampled_from(["paid", "unpaid"]) | ODD_VALUES,
                        "amount_total": st.integers() | ODD_VALUES,
                        "currency": st.just("usd") | ODD_VALUES,
                        "client_reference_id": ODD_TEXT | ODD_VALUES,
                        "metadata": st.fixed_dictionaries({"order_id": ODD_TEXT}) | ODD_VALUES,
                        "payment_intent": ODD_VALUES,
                    },
                )
                | ODD_VALUES
            },
        )
        | ODD_VALUES,
    },
)


@PROPERTY_SETTINGS
@given(body=EVENTS | JSON_VALUES)
def test_no_correctly_signed_body_gets_a_5xx(simulator: Simulator, body: Any) -> None:
    response = deliver(signed(body))
    assert response.status_code in (HTTPStatus.OK, HTTPStatus.BAD_REQUEST)


@PROPERTY_SETTINGS
@given(payload=st.binary(max_size=200) | st.text(max_size=200), signature=st.text(max_size=80))
def test_no_body_or_signature_header_gets_a_5xx(
    simulator: Simulator, payload: bytes | str, signature: str
) -> None:
    # WSGI carries header values as latin-1 text, so any code point up to U+00FF can arrive.
    header = signature.encode("utf-8").decode("latin-1")
    response = Client().post(
        "/stripe/webhook/",
        payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=header,
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
