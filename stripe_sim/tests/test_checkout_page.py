"""The hosted payment page: what the customer sees, and where Pay and Cancel lead."""

from __future__ import annotations

import json
from http import HTTPStatus

from stripe_sim.checkout_page import format_amount
from stripe_sim.tests.helpers import session_params


def test_the_page_shows_items_total_buttons_and_the_simulator_note(client, sim):
    session = client.v1.checkout.sessions.create(params=session_params())

    page = sim.request("GET", f"/c/pay/{session.id}")

    html = page.body.decode()
    assert page.status == HTTPStatus.OK
    assert page.headers["content-type"].startswith("text/html")
    assert "Mug" in html and "Blue, 300 ml" in html and "&times; 2" in html
    assert 'data-testid="sim-total"><strong>25.00 EUR' in html
    assert f'action="/c/pay/{session.id}/pay"' in html and 'data-testid="sim-pay"' in html
    assert f'action="/c/pay/{session.id}/cancel"' in html and 'data-testid="sim-cancel"' in html
    assert "no card is charged" in html
    assert "<script" not in html


def test_product_names_are_escaped(client, sim):
    params = session_params()
    params["line_items"][0]["price_data"]["product_data"]["name"] = "<b>Mug</b>"
    session = client.v1.checkout.sessions.create(params=params)

    html = sim.request("GET", f"/c/pay/{session.id}").body.decode()

    assert "&lt;b&gt;Mug&lt;/b&gt;" in html and "<b>Mug" not in html


def test_pay_completes_the_session_and_redirects_to_the_success_url(client, sim):
    session = client.v1.checkout.sessions.create(params=session_params())

    response = sim.request("POST", f"/c/pay/{session.id}/pay")

    assert response.status == HTTPStatus.SEE_OTHER
    assert response.headers["location"] == f"http://shop.test/success?session_id={session.id}"
    paid = client.v1.checkout.sessions.retrieve(session.id)
    assert (paid.status, paid.payment_status, paid.url) == ("complete", "paid", None)
    assert paid.payment_intent.startswith("pi_")
    [event] = sim.get("/_sim/events")
    assert event["type"] == "checkout.session.completed"
    assert json.loads(event["payload"])["data"]["object"]["payment_intent"] == paid.payment_intent


def test_cancel_redirects_to_the_cancel_url_and_leaves_the_session_open(client, sim):
    session = client.v1.checkout.sessions.create(params=session_params())

    response = sim.request("POST", f"/c/pay/{session.id}/cancel")

    assert response.status == HTTPStatus.SEE_OTHER
    assert response.headers["location"] == "http://shop.test/cancel"
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"
    assert sim.get("/_sim/events") == []


def test_paying_twice_shows_a_closed_page_without_redirect(client, sim):
    session = client.v1.checkout.sessions.create(params=session_params())
    sim.request("POST", f"/c/pay/{session.id}/pay")

    again = sim.request("POST", f"/c/pay/{session.id}/pay")

    assert again.status == HTTPStatus.CONFLICT
    assert "location" not in again.headers
    assert "no longer active" in again.body.decode()
    assert len(sim.get("/_sim/events")) == 1


def test_an_expired_session_cannot_be_paid(client, sim):
    session = client.v1.checkout.sessions.create(params=session_params())
    client.v1.checkout.sessions.expire(session.id)

    page = sim.request("GET", f"/c/pay/{session.id}")
    payment = sim.request("POST", f"/c/pay/{session.id}/pay")

    assert page.status == payment.status == HTTPStatus.CONFLICT
    assert client.v1.checkout.sessions.retrieve(session.id).status == "expired"


def test_an_unknown_session_page_is_not_found(sim):
    assert sim.request("GET", "/c/pay/cs_test_missing").status == HTTPStatus.NOT_FOUND


def test_amounts_are_formatted_in_major_units_except_zero_decimal_currencies():
    assert format_amount(123456, "eur") == "1,234.56 EUR"
    assert format_amount(500, "jpy") == "500 JPY"
