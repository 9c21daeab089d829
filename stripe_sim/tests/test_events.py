"""Webhook events: signed as Stripe signs them, delivered, duplicated, held and reordered."""

from __future__ import annotations

import json
import queue
import time
from http import HTTPStatus

import pytest
import stripe

from stripe_sim.events import signature_header
from stripe_sim.tests.helpers import WEBHOOK_SECRET, session_params


def pay(sim, session_id: str, **overrides) -> str:
    return sim.post(f"/_sim/sessions/{session_id}/pay", overrides)["event_id"]


def test_the_signature_matches_the_librarys_own_signer():
    payload = '{"id": "evt_1", "object": "event"}'

    header = signature_header(payload, WEBHOOK_SECRET, timestamp=1_700_000_000)

    expected = stripe.WebhookSignature.generate_signature_header(
        payload, WEBHOOK_SECRET, timestamp=1_700_000_000
    )
    assert header == expected


def test_construct_event_accepts_the_simulators_signature(client, sim):
    session = client.v1.checkout.sessions.create(params=session_params())
    pay(sim, session.id)

    [event] = sim.get("/_sim/events")
    parsed = stripe.Webhook.construct_event(event["payload"], event["signature"], WEBHOOK_SECRET)

    assert parsed.type == "checkout.session.completed"
    assert parsed.data.object.id == session.id
    assert parsed.data.object.payment_status == "paid"
    assert (parsed.livemode, parsed.pending_webhooks, parsed.request.id) == (False, 1, None)


def test_a_tampered_body_or_another_secret_is_rejected(client, sim):
    session = client.v1.checkout.sessions.create(params=session_params())
    pay(sim, session.id)
    [event] = sim.get("/_sim/events")
    tampered = event["payload"].replace('"amount_total": 2500', '"amount_total": 1')
    assert tampered != event["payload"]

    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(tampered, event["signature"], WEBHOOK_SECRET)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(event["payload"], event["signature"], "whsec_other")


def test_events_are_delivered_signed_to_the_webhook_url(client, sim, webhook_receiver):
    session = client.v1.checkout.sessions.create(params=session_params())
    event_id = pay(sim, session.id)

    received = webhook_receiver.next()

    assert received.headers["Content-Type"].startswith("application/json")
    event = stripe.Webhook.construct_event(
        received.body, received.headers["Stripe-Signature"], WEBHOOK_SECRET
    )
    assert event.id == event_id
    assert event.data.object.status == "complete"
    [stored] = sim.get("/_sim/events")
    assert stored["payload"] == received.body
    _wait_until(
        lambda: sim.get("/_sim/events")[0]["deliveries"] == [{"status": 200, "error": None}]
    )


def test_duplicate_deliveries_send_the_same_event_several_times(client, sim, webhook_receiver):
    sim.post("/_sim/config", {"duplicate_deliveries": 3})
    session = client.v1.checkout.sessions.create(params=session_params())
    pay(sim, session.id)

    bodies = [webhook_receiver.next().body for _ in range(3)]

    assert len(set(bodies)) == 1
    assert json.loads(bodies[0])["type"] == "checkout.session.completed"
    with pytest.raises(queue.Empty):
        webhook_receiver.next(timeout=0.2)


def test_a_failing_endpoint_is_retried_until_it_answers_2xx(client, sim, webhook_receiver):
    webhook_receiver.statuses = [HTTPStatus.INTERNAL_SERVER_ERROR]
    session = client.v1.checkout.sessions.create(params=session_params())
    pay(sim, session.id)

    first, second = webhook_receiver.next(), webhook_receiver.next(timeout=30)

    assert first.body == second.body
    _wait_until(
        lambda: [d["status"] for d in sim.get("/_sim/events")[0]["deliveries"]] == [500, 200]
    )


def test_an_unreachable_endpoint_records_the_error(client, sim):
    sim.post("/_sim/config", {"webhook_url": "http://127.0.0.1:9/unreachable"})
    session = client.v1.checkout.sessions.create(params=session_params())
    event_id = pay(sim, session.id)

    result = sim.post(f"/_sim/events/{event_id}/deliver")

    assert result["status"] is None
    assert result["error"]


def test_held_events_are_flushed_in_reverse_order(client, sim, webhook_receiver):
    sim.post("/_sim/config", {"hold_events": True})
    session = client.v1.checkout.sessions.create(params=session_params())
    completed = pay(sim, session.id, payment_status="unpaid")
    succeeded = sim.post(f"/_sim/sessions/{session.id}/async", {"outcome": "succeeded"})["event_id"]
    with pytest.raises(queue.Empty):
        webhook_receiver.next(timeout=0.2)

    result = sim.post("/_sim/events/flush", {"order": "reverse"})

    assert [(d["event_id"], d["status"]) for d in result["deliveries"]] == [
        (succeeded, 200),
        (completed, 200),
    ]
    received = [json.loads(webhook_receiver.next().body)["id"] for _ in range(2)]
    assert received == [succeeded, completed]
    assert sim.post("/_sim/events/flush")["deliveries"] == []


def test_an_event_can_be_redelivered_on_demand(client, sim, webhook_receiver):
    session = client.v1.checkout.sessions.create(params=session_params())
    event_id = pay(sim, session.id)
    first = webhook_receiver.next()

    result = sim.post(f"/_sim/events/{event_id}/deliver")

    assert result == {
        "event_id": event_id,
        "type": "checkout.session.completed",
        "status": 200,
        "error": None,
    }
    assert webhook_receiver.next().body == first.body


def test_without_a_webhook_url_events_are_only_stored(client, sim):
    session = client.v1.checkout.sessions.create(params=session_params())
    pay(sim, session.id)
    time.sleep(0.1)

    [event] = sim.get("/_sim/events")
    assert event["deliveries"] == []


def _wait_until(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.05)
