"""Injected faults make the real library see what it would see from a struggling Stripe."""

from __future__ import annotations

import time
from http import HTTPStatus

import pytest
import stripe

from stripe_sim.tests.helpers import session_params

CREATE = "/v1/checkout/sessions"


def arm(sim, **fault):
    sim.post("/_sim/faults", {"method": "POST", "path": CREATE, **fault})


def error_type(error: stripe.StripeError) -> str:
    """The `type` of the error body Stripe sent, as the library received it."""
    assert isinstance(error.json_body, dict)
    return error.json_body["error"]["type"]


def test_an_executed_500_is_saved_and_replayed_for_its_key(make_client, sim):
    arm(sim, status=500, execute=True)
    client = make_client(max_network_retries=2)

    with pytest.raises(stripe.APIError) as first:
        client.v1.checkout.sessions.create(
            params=session_params(), options={"idempotency_key": "k500"}
        )
    with pytest.raises(stripe.APIError) as replay:
        client.v1.checkout.sessions.create(
            params=session_params(), options={"idempotency_key": "k500"}
        )

    assert first.value.http_status == HTTPStatus.INTERNAL_SERVER_ERROR
    assert error_type(first.value) == "api_error"
    assert replay.value.http_body == first.value.http_body
    assert replay.value.headers is not None
    assert replay.value.headers["Idempotent-Replayed"] == "true"
    # The session really was created, and Stripe-Should-Retry: false stopped the library's retries.
    assert len(sim.get("/_sim/sessions")) == 1
    log = [(r["status"], r["replayed"]) for r in sim.get("/_sim/requests")]
    assert log == [(500, False), (500, True)]


def test_a_500_before_executing_is_retried_by_the_library_and_then_succeeds(make_client, sim):
    arm(sim, status=500)

    session = make_client(max_network_retries=2).v1.checkout.sessions.create(
        params=session_params()
    )

    assert session.status == "open"
    log = [(r["status"], r["idempotency_key"]) for r in sim.get("/_sim/requests")]
    assert [status for status, _ in log] == [500, 200]
    assert log[0][1] == log[1][1]


def test_429_is_a_rate_limit_error_and_saves_nothing(make_client, sim):
    arm(sim, status=429)
    client = make_client(max_network_retries=2)

    with pytest.raises(stripe.RateLimitError) as error:
        client.v1.checkout.sessions.create(
            params=session_params(), options={"idempotency_key": "k429"}
        )
    session = client.v1.checkout.sessions.create(
        params=session_params(), options={"idempotency_key": "k429"}
    )

    assert error.value.http_status == HTTPStatus.TOO_MANY_REQUESTS
    assert error_type(error.value) == "rate_limit_error"
    assert session.status == "open"
    assert [r["replayed"] for r in sim.get("/_sim/requests")] == [False, False]


def test_a_delay_beyond_the_client_timeout_is_a_connection_error_yet_the_session_exists(
    make_client, sim
):
    delay = 3.0
    arm(sim, delay=delay)
    client = make_client(timeout=0.3)

    started = time.monotonic()
    with pytest.raises(stripe.APIConnectionError):
        client.v1.checkout.sessions.create(
            params=session_params(), options={"idempotency_key": "k-slow"}
        )
    # The client gave up before the answer existed: ten times its timeout is a loose backstop.
    assert time.monotonic() - started < delay

    _wait_for_requests(sim, 1)
    [created] = sim.get("/_sim/sessions")
    again = client.v1.checkout.sessions.create(
        params=session_params(), options={"idempotency_key": "k-slow"}
    )
    assert again.id == created["id"]


def test_a_dropped_connection_is_retried_with_the_same_key(make_client, sim):
    arm(sim, drop=True)

    session = make_client(max_network_retries=2).v1.checkout.sessions.create(
        params=session_params()
    )

    log = sim.get("/_sim/requests")
    assert [r["status"] for r in log] == [None, 200]
    assert log[0]["idempotency_key"] == log[1]["idempotency_key"] is not None
    assert [s["id"] for s in sim.get("/_sim/sessions")] == [session.id]


def test_a_response_lost_after_executing_is_replayed_on_retry(make_client, sim):
    arm(sim, drop=True, execute=True)

    session = make_client(max_network_retries=2).v1.checkout.sessions.create(
        params=session_params()
    )

    assert [(r["status"], r["replayed"]) for r in sim.get("/_sim/requests")] == [
        (None, False),
        (200, True),
    ]
    assert [s["id"] for s in sim.get("/_sim/sessions")] == [session.id]


def test_a_fault_applies_only_to_matching_requests_and_only_times_times(client, sim):
    sim.post(
        "/_sim/faults",
        {"method": "GET", "path": "/v1/checkout/sessions/", "status": 503, "times": 2},
    )
    session = client.v1.checkout.sessions.create(params=session_params())

    for _ in range(2):
        with pytest.raises(stripe.APIError):
            client.v1.checkout.sessions.retrieve(session.id)
    assert client.v1.checkout.sessions.retrieve(session.id).id == session.id


def test_an_invalid_fault_is_refused(sim):
    response = sim.control("POST", "/_sim/faults", {"path": CREATE, "status": 200})

    assert response.status == HTTPStatus.BAD_REQUEST
    assert "status" in response.json()["error"]


def _wait_for_requests(sim, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while len(sim.get("/_sim/requests")) < count:
        assert time.monotonic() < deadline, "the delayed request never finished"
        time.sleep(0.05)
