"""Idempotency keys behave as Stripe documents them, seen through the real library."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus

import pytest
import stripe

from stripe_sim.tests.helpers import form_encode, session_params

CREATE = "/v1/checkout/sessions"


def test_same_key_and_params_replays_the_first_session(client, sim):
    first = client.v1.checkout.sessions.create(
        params=session_params(), options={"idempotency_key": "order-42-attempt-1"}
    )
    second = client.v1.checkout.sessions.create(
        params=session_params(), options={"idempotency_key": "order-42-attempt-1"}
    )

    assert second.id == first.id
    assert len(sim.get("/_sim/sessions")) == 1
    log = [(r["idempotency_key"], r["status"], r["replayed"]) for r in sim.get("/_sim/requests")]
    assert log == [("order-42-attempt-1", 200, False), ("order-42-attempt-1", 200, True)]


def test_a_replay_is_byte_for_byte_with_the_replayed_header(sim):
    body = form_encode(session_params())
    first = sim.api("POST", CREATE, body, Idempotency_Key="k-bytes")
    replay = sim.api("POST", CREATE, body, Idempotency_Key="k-bytes")

    assert replay.body == first.body
    assert replay.status == first.status == HTTPStatus.OK
    assert "idempotent-replayed" not in first.headers
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.headers["original-request"] == first.headers["request-id"]
    assert replay.headers["request-id"] != first.headers["request-id"]


def test_parameter_order_does_not_make_a_different_request(sim):
    params = session_params()
    reordered = dict(reversed(list(params.items())))
    first = sim.api("POST", CREATE, form_encode(params), Idempotency_Key="k-order")
    second = sim.api("POST", CREATE, form_encode(reordered), Idempotency_Key="k-order")

    assert second.headers.get("idempotent-replayed") == "true"
    assert second.body == first.body


def test_same_key_with_other_params_is_an_idempotency_error(client, sim):
    client.v1.checkout.sessions.create(params=session_params(), options={"idempotency_key": "k1"})

    with pytest.raises(stripe.IdempotencyError) as error:
        client.v1.checkout.sessions.create(
            params=session_params(client_reference_id="order-43"),
            options={"idempotency_key": "k1"},
        )

    assert error.value.http_status == HTTPStatus.BAD_REQUEST
    assert "same parameters" in error.value.user_message
    assert len(sim.get("/_sim/sessions")) == 1


def test_same_key_on_another_endpoint_is_an_idempotency_error(client):
    session = client.v1.checkout.sessions.create(
        params=session_params(), options={"idempotency_key": "k-endpoint"}
    )

    with pytest.raises(stripe.IdempotencyError) as error:
        client.v1.checkout.sessions.expire(session.id, options={"idempotency_key": "k-endpoint"})

    assert "same endpoint" in error.value.user_message
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"


def test_keys_are_scoped_to_the_api_key(make_client, sim):
    params = session_params()
    one = make_client(api_key="sk_test_one").v1.checkout.sessions.create(
        params=params, options={"idempotency_key": "shared"}
    )
    other = make_client(api_key="sk_test_other").v1.checkout.sessions.create(
        params=params, options={"idempotency_key": "shared"}
    )

    assert one.id != other.id


def test_a_request_that_failed_validation_saves_nothing_for_its_key(client, sim):
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.checkout.sessions.create(
            params=session_params(mode="setup"), options={"idempotency_key": "k-fix"}
        )

    fixed = client.v1.checkout.sessions.create(
        params=session_params(), options={"idempotency_key": "k-fix"}
    )

    assert fixed.status == "open"
    assert [r["replayed"] for r in sim.get("/_sim/requests")] == [False, False]


def test_concurrent_requests_with_one_key_create_one_session(make_client, sim):
    # Hold the first request inside the simulator so the others arrive while it is in flight.
    sim.post("/_sim/faults", {"method": "POST", "path": CREATE, "delay": 0.3})
    barrier = threading.Barrier(6)

    def create(_: int) -> str:
        client = make_client(max_network_retries=3)
        barrier.wait()
        return client.v1.checkout.sessions.create(
            params=session_params(), options={"idempotency_key": "k-race"}
        ).id

    with ThreadPoolExecutor(max_workers=6) as pool:
        ids = set(pool.map(create, range(6)))

    assert len(ids) == 1
    assert [s["id"] for s in sim.get("/_sim/sessions")] == list(ids)
    statuses = [r["status"] for r in sim.get("/_sim/requests")]
    assert HTTPStatus.CONFLICT in statuses
    assert statuses.count(HTTPStatus.OK) == 6


def test_a_request_in_flight_makes_the_same_key_conflict(sim):
    # Long enough that the second request lands inside it however busy the machine is.
    sim.post("/_sim/faults", {"method": "POST", "path": CREATE, "delay": 3.0})
    body = form_encode(session_params())
    slow = threading.Thread(
        target=sim.api, args=("POST", CREATE, body), kwargs={"Idempotency_Key": "k-busy"}
    )
    slow.start()
    time.sleep(0.5)  # the slow request has claimed the key and sits in its delay
    conflict = sim.api("POST", CREATE, body, Idempotency_Key="k-busy")
    slow.join()

    assert conflict.status == HTTPStatus.CONFLICT
    error = conflict.json()["error"]
    assert (error["type"], error["code"]) == ("idempotency_error", "idempotency_key_in_use")
    assert conflict.headers["stripe-should-retry"] == "true"
    assert len(sim.get("/_sim/sessions")) == 1
