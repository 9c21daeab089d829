"""POST /stripe/webhook/: verified, recorded once, idempotent on the order."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from typing import Any

import pytest
from django.db import connections
from django.test import Client

from shop.models import Order, ProcessedStripeEvent, Product
from shop.tests.conftest import WEBHOOK_SECRET, Simulator, buy, requires_postgres, session_id_of

pytestmark = pytest.mark.django_db


def deliver(event: dict[str, Any], signature: str | None = None) -> Any:
    headers = {} if signature == "" else {"Stripe-Signature": signature or event["signature"]}
    return Client().post(
        "/stripe/webhook/", event["payload"], content_type="application/json", headers=headers
    )


def sign(payload: str, secret: str = WEBHOOK_SECRET) -> str:
    """Stripe's documented scheme, computed here independently of the simulator."""
    timestamp = int(time.time())
    digest = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


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
