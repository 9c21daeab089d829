"""The `/_sim/` control API tests use to drive payments and inspect state."""

from __future__ import annotations

import json
import time
from http import HTTPStatus

import pytest
import stripe

from stripe_sim.tests.helpers import session_params


def test_health(sim):
    assert sim.get("/_sim/health") == {"status": "ok"}


def test_pay_with_overrides_simulates_a_mismatched_amount(client, sim):
    session = client.v1.checkout.sessions.create(params=session_params())

    result = sim.post(f"/_sim/sessions/{session.id}/pay", {"amount_total": 1, "currency": "usd"})

    assert (result["session"]["amount_total"], result["session"]["currency"]) == (1, "usd")
    retrieved = client.v1.checkout.sessions.retrieve(session.id)
    assert (retrieved.status, retrieved.payment_status, retrieved.amount_total) == (
        "complete",
        "paid",
        1,
    )
    [event] = sim.get("/_sim/events")
    assert event["id"] == result["event_id"]
    assert json.loads(event["payload"])["data"]["object"]["amount_total"] == 1


@pytest.mark.parametrize(
    ("outcome", "event_type", "payment_status"),
    [
        ("succeeded", "checkout.session.async_payment_succeeded", "paid"),
        ("failed", "checkout.session.async_payment_failed", "unpaid"),
    ],
)
def test_a_delayed_payment_settles_later(client, sim, outcome, event_type, payment_status):
    session = client.v1.checkout.sessions.create(params=session_params())
    sim.post(f"/_sim/sessions/{session.id}/pay", {"payment_status": "unpaid"})
    assert client.v1.checkout.sessions.retrieve(session.id).payment_status == "unpaid"

    sim.post(f"/_sim/sessions/{session.id}/async", {"outcome": outcome})

    assert client.v1.checkout.sessions.retrieve(session.id).payment_status == payment_status
    types = [event["type"] for event in sim.get("/_sim/events")]
    assert types == ["checkout.session.completed", event_type]


def test_only_a_complete_unpaid_session_can_settle(client, sim):
    session = client.v1.checkout.sessions.create(params=session_params())
    sim.post(f"/_sim/sessions/{session.id}/pay")

    response = sim.control("POST", f"/_sim/sessions/{session.id}/async", {"outcome": "succeeded"})

    assert response.status == HTTPStatus.BAD_REQUEST
    assert len(sim.get("/_sim/events")) == 1


def test_expire_runs_the_clock_out(client, sim):
    session = client.v1.checkout.sessions.create(params=session_params())

    sim.post(f"/_sim/sessions/{session.id}/expire")

    assert client.v1.checkout.sessions.retrieve(session.id).status == "expired"
    assert [event["type"] for event in sim.get("/_sim/events")] == ["checkout.session.expired"]


def test_unknown_sessions_are_not_found(sim):
    response = sim.control("POST", "/_sim/sessions/cs_test_missing/pay")

    assert response.status == HTTPStatus.NOT_FOUND


def test_reset_forgets_state_but_keeps_config(client, sim):
    sim.post("/_sim/config", {"duplicate_deliveries": 2})
    session = client.v1.checkout.sessions.create(
        params=session_params(), options={"idempotency_key": "k"}
    )
    sim.post(f"/_sim/sessions/{session.id}/pay")
    sim.post("/_sim/faults", {"method": "GET", "path": "/v1/", "status": 500})

    sim.post("/_sim/reset")

    assert sim.get("/_sim/sessions") == []
    assert sim.get("/_sim/events") == []
    assert sim.get("/_sim/requests") == []
    assert sim.get("/_sim/config")["duplicate_deliveries"] == 2
    again = client.v1.checkout.sessions.create(
        params=session_params(), options={"idempotency_key": "k"}
    )
    assert again.id != session.id
    assert client.v1.checkout.sessions.retrieve(again.id).id == again.id


def test_config_round_trips_and_rejects_bad_values(sim):
    updated = sim.post("/_sim/config", {"webhook_url": "http://127.0.0.1:8000/webhooks/stripe"})

    assert updated["webhook_url"] == "http://127.0.0.1:8000/webhooks/stripe"
    assert sim.get("/_sim/config") == updated
    assert updated["public_url"] == sim.base_url
    for bad in [
        {"webhook_secret": "not-whsec"},
        {"webhook_url": "ftp://example.com"},
        {"duplicate_deliveries": 0},
        {"hold_events": "yes"},
        {"clock_offset": "soon"},
        {"clock_offset": 30 * 24 * 3600},
        {"colour": "blue"},
    ]:
        assert sim.control("POST", "/_sim/config", bad).status == HTTPStatus.BAD_REQUEST
    assert sim.get("/_sim/config") == updated


def test_the_request_log_lists_api_calls_only(client, sim):
    session = client.v1.checkout.sessions.create(params=session_params())
    client.v1.checkout.sessions.retrieve(session.id)
    sim.get("/_sim/sessions")

    log = sim.get("/_sim/requests")

    assert [(r["method"], r["path"], r["status"]) for r in log] == [
        ("POST", "/v1/checkout/sessions", 200),
        ("GET", f"/v1/checkout/sessions/{session.id}", 200),
    ]
    assert log[0]["idempotency_key"] and log[1]["idempotency_key"] is None


def test_malformed_json_is_a_bad_request(sim):
    response = sim.request("POST", "/_sim/config", "{nope", {"Content-Type": "application/json"})

    assert response.status == HTTPStatus.BAD_REQUEST


def test_a_clock_offset_moves_stripes_clock_for_new_sessions(client, sim):
    sim.post("/_sim/config", {"clock_offset": 3600})
    now = int(time.time())

    session = client.v1.checkout.sessions.create(params=session_params())

    assert now + 3600 <= session.created <= int(time.time()) + 3600
    # Forty-five minutes ahead by our clock is fifteen minutes in Stripe's past.
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.checkout.sessions.create(params=session_params(expires_at=now + 45 * 60))
    assert refused.value.param == "expires_at"


def test_the_config_never_shows_the_webhook_secret(sim):
    sim.post("/_sim/config", {"webhook_secret": "whsec_changed_by_a_test"})

    shown = sim.control("GET", "/_sim/config").body.decode()

    assert "webhook_secret" not in json.loads(shown) and "whsec_" not in shown


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ('{"payment_status": "paid"}', "text/plain"),
        ("payment_status=paid", "application/x-www-form-urlencoded"),
    ],
    ids=["text-plain", "form"],
)
def test_a_control_post_that_is_not_json_changes_nothing(client, sim, body, content_type):
    session = client.v1.checkout.sessions.create(params=session_params())

    response = sim.request(
        "POST", f"/_sim/sessions/{session.id}/pay", body, {"Content-Type": content_type}
    )

    assert response.status == HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"


def test_a_foreign_origin_may_not_control_the_simulator(client, sim):
    session = client.v1.checkout.sessions.create(params=session_params())
    headers = {"Content-Type": "application/json", "Origin": "http://attacker.example"}

    response = sim.request("POST", f"/_sim/sessions/{session.id}/pay", "{}", headers)

    assert response.status == HTTPStatus.FORBIDDEN
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"
    assert sim.request("GET", "/_sim/events", "", {"Origin": "null"}).status == 403
    own = {"Content-Type": "application/json", "Origin": sim.base_url}
    assert sim.request("POST", f"/_sim/sessions/{session.id}/pay", "{}", own).status == 200
