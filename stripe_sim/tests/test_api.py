"""The Stripe API surface, driven through the real `stripe` library."""

from __future__ import annotations

import base64
import json
import time
from http import HTTPStatus

import pytest
import stripe

from stripe_sim.tests.helpers import form_encode, session_params


def test_created_session_parses_into_a_stripe_checkout_session(client, sim):
    before = int(time.time())

    session = client.v1.checkout.sessions.create(params=session_params())

    assert isinstance(session, stripe.checkout.Session)
    assert session.id.startswith("cs_test_")
    assert session.object == "checkout.session"
    assert (session.amount_subtotal, session.amount_total, session.currency) == (2500, 2500, "eur")
    assert (session.status, session.payment_status, session.payment_intent) == (
        "open",
        "unpaid",
        None,
    )
    assert session.client_reference_id == "order-42"
    assert session.metadata is not None
    assert session.metadata.to_dict() == {"order_id": "42"}
    assert session.url == f"{sim.base_url}/c/pay/{session.id}"
    assert session.success_url == "http://shop.test/success?session_id={CHECKOUT_SESSION_ID}"
    assert session.livemode is False
    assert session.customer_details is None
    assert before <= session.created <= session.expires_at - 24 * 3600 + 5


def test_retrieve_returns_the_same_session(client):
    created = client.v1.checkout.sessions.create(params=session_params())

    retrieved = client.v1.checkout.sessions.retrieve(created.id)

    assert retrieved.to_dict() == created.to_dict()


def test_retrieving_an_unknown_session_is_resource_missing(client):
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.checkout.sessions.retrieve("cs_test_nope")

    assert error.value.http_status == HTTPStatus.NOT_FOUND
    assert error.value.code == "resource_missing"
    assert error.value.param == "session"
    assert error.value.user_message == "No such checkout.session: 'cs_test_nope'"


@pytest.mark.parametrize("api_key", ["sk_live_abc123", "pk_test_abcdefghijkl", "nonsense"])
def test_keys_other_than_test_secret_keys_are_refused(make_client, sim, api_key):
    with pytest.raises(stripe.AuthenticationError) as error:
        make_client(api_key=api_key).v1.checkout.sessions.create(params=session_params())

    assert error.value.http_status == HTTPStatus.UNAUTHORIZED
    assert sim.get("/_sim/sessions") == []


def test_restricted_test_keys_are_accepted(make_client):
    session = make_client(api_key="rk_test_restricted").v1.checkout.sessions.create(
        params=session_params()
    )

    assert session.status == "open"


def test_basic_auth_with_the_key_as_user_name_works_like_curl_u(client, sim):
    session = client.v1.checkout.sessions.create(params=session_params())
    credentials = base64.b64encode(b"sk_test_curl:").decode()

    response = sim.request(
        "GET",
        f"/v1/checkout/sessions/{session.id}",
        headers={"Authorization": f"Basic {credentials}"},
    )

    assert response.status == HTTPStatus.OK
    assert response.json()["id"] == session.id


def test_a_missing_api_key_gets_stripes_error_shape_and_a_request_id(sim):
    response = sim.request("GET", "/v1/checkout/sessions/cs_test_x")

    assert response.status == HTTPStatus.UNAUTHORIZED
    assert response.headers["request-id"].startswith("req_")
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert "did not provide an API key" in error["message"]
    assert "code" not in error and "param" not in error


def test_every_api_response_carries_its_own_request_id(sim):
    created = sim.api("POST", "/v1/checkout/sessions", form_encode(session_params()))
    missing = sim.api("GET", "/v1/checkout/sessions/cs_test_missing")

    ids = {created.headers["request-id"], missing.headers["request-id"]}
    assert len(ids) == 2
    assert all(request_id.startswith("req_") for request_id in ids)


def test_an_unknown_url_is_unrecognized(sim):
    response = sim.api("GET", "/v1/charges")

    assert response.status == HTTPStatus.NOT_FOUND
    assert response.json()["error"]["message"].startswith("Unrecognized request URL (GET:")


def test_expire_closes_the_session_and_emits_an_event(client, sim):
    session = client.v1.checkout.sessions.create(params=session_params())

    expired = client.v1.checkout.sessions.expire(session.id)

    assert (expired.status, expired.url) == ("expired", None)
    [event] = sim.get("/_sim/events")
    payload = json.loads(event["payload"])
    assert payload["type"] == "checkout.session.expired"
    assert payload["data"]["object"]["status"] == "expired"
    assert payload["request"]["id"] is not None


def test_expiring_a_session_that_is_not_open_is_refused(client):
    session = client.v1.checkout.sessions.create(params=session_params())
    client.v1.checkout.sessions.expire(session.id)

    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.checkout.sessions.expire(session.id)

    assert error.value.http_status == HTTPStatus.BAD_REQUEST
    assert 'status in ["open"] can be expired' in error.value.user_message
    assert client.v1.checkout.sessions.retrieve(session.id).status == "expired"


def test_events_use_the_api_version_the_library_sent(make_client, sim):
    client = make_client(stripe_version="2025-03-31.basil")
    session = client.v1.checkout.sessions.create(params=session_params())
    client.v1.checkout.sessions.expire(session.id)

    [event] = sim.get("/_sim/events")

    assert json.loads(event["payload"])["api_version"] == "2025-03-31.basil"
