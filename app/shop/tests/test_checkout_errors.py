"""Bad input and a failing Stripe: a clear message, a 4xx or 503, never a 500, no half-writes."""

from __future__ import annotations

import itertools
import logging
import re
import time
from collections.abc import Callable
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.db.models import F
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st
from stripe._http_client import HTTPClient

from shop import stripe_gateway
from shop.models import Order, Product
from shop.stripe_gateway import (
    CONNECT_TIMEOUT_SECONDS,
    MAX_NETWORK_RETRIES,
    READ_TIMEOUT_SECONDS,
)
from shop.tests.factories import make_order
from shop.tests.helpers import (
    PROPERTY_SETTINGS,
    SIMULATOR_KEY,
    buy,
    buy_form,
    flashes,
    session_id_of,
)
from shop.tests.stack import Simulator

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("quantity", "message"),
    [
        ("0", "Choose a quantity from 1 to 10."),
        ("-1", "Choose a quantity from 1 to 10."),
        ("11", "You can buy at most 10 at a time."),
        ("2.5", "Choose a quantity from 1 to 10."),
        ("two", "Choose a quantity from 1 to 10."),
        ("", "Choose a quantity from 1 to 10."),
    ],
)
def test_a_bad_quantity_is_refused_beside_the_product(
    client: Client, simulator: Simulator, product: Product, quantity: str, message: str
) -> None:
    response = buy(client, product, quantity=quantity)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    card = re.search(
        rf'data-product-id="{product.pk}".*?</article>', response.content.decode(), re.DOTALL
    )
    assert card and f'data-testid="flash">{message}</div>' in card.group(0)
    assert Order.objects.count() == 0
    assert simulator.requests() == []


def test_a_missing_quantity_is_refused(
    client: Client, simulator: Simulator, product: Product
) -> None:
    form = buy_form(client, product)
    del form["quantity"]
    response = client.post("/checkout/", form)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Choose a quantity from 1 to 10." in flashes(response)
    assert Order.objects.count() == 0 and simulator.requests() == []


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        ({"token": ""}, "This form is not valid. Please try again."),
        ({"token": "forged:token:value"}, "This form is not valid. Please try again."),
        ({"product_id": "999999"}, "That product is not for sale."),
        ({"product_id": "abc"}, "That product is not for sale."),
        ({"product_id": "9" * 30}, "That product is not for sale."),
        ({"product_id": ""}, "Choose a product to buy."),
    ],
    ids=[
        "no-token",
        "forged-token",
        "unknown-product",
        "non-numeric-product",
        "out-of-range-product",
        "no-product",
    ],
)
def test_tampered_fields_are_refused(
    client: Client, simulator: Simulator, product: Product, tamper: dict, message: str
) -> None:
    form = {**buy_form(client, product), **tamper}
    response = client.post("/checkout/", form)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert message in " ".join(flashes(response))
    assert Order.objects.count() == 0 and simulator.requests() == []


def test_a_token_issued_for_another_product_is_refused(
    client: Client, simulator: Simulator, product: Product
) -> None:
    other = Product.objects.exclude(pk=product.pk).first()
    assert other is not None
    form = {**buy_form(client, product), "product_id": str(other.pk)}
    response = client.post("/checkout/", form)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "This form is not valid. Please try again." in " ".join(flashes(response))
    assert Order.objects.count() == 0


def test_an_inactive_product_cannot_be_bought(
    client: Client, simulator: Simulator, product: Product
) -> None:
    form = buy_form(client, product)
    Product.objects.filter(pk=product.pk).update(active=False)
    response = client.post("/checkout/", form)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "That product is not for sale." in " ".join(flashes(response))
    assert Order.objects.count() == 0


def test_a_post_without_the_csrf_token_is_refused_with_the_storefront(
    simulator: Simulator, product: Product
) -> None:
    client = Client(enforce_csrf_checks=True)
    form = buy_form(client, product)
    del form["csrfmiddlewaretoken"]
    response = client.post("/checkout/", form)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Your session expired before the form was sent." in " ".join(flashes(response))
    assert 'data-testid="product-card"' in response.content.decode()
    assert Order.objects.count() == 0


def test_checkout_answers_get_with_405(client: Client) -> None:
    assert client.get("/checkout/").status_code == HTTPStatus.METHOD_NOT_ALLOWED


@pytest.mark.parametrize(
    "fault",
    # `times` covers the library's own retries: it retries 5xx and dropped connections
    # (a saved 500 is replayed without a fault), never a 429.
    [
        {"status": 500, "execute": True, "times": 1},
        {"status": 503, "times": 3},
        {"status": 429, "times": 1},
        {"drop": True, "times": 3},
    ],
    ids=["500-saved-by-stripe", "503", "429", "dropped-connection"],
)
def test_stripe_failing_keeps_the_pending_order_and_the_next_click_works(
    client: Client, simulator: Simulator, product: Product, fault: dict
) -> None:
    simulator.fault(method="POST", path="/v1/checkout/sessions", **fault)
    form = buy_form(client, product)

    failed = client.post("/checkout/", form)

    assert failed.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert "Nothing was charged; please try again." in " ".join(flashes(failed))
    order = Order.objects.get()
    assert order.status == "pending" and not order.stripe_session_id
    # The re-rendered form keeps its token, so the next click retries this very order.
    assert f'value="{form["token"]}"' in failed.content.decode()

    retried = client.post("/checkout/", form)

    assert retried.status_code == HTTPStatus.SEE_OTHER
    order.refresh_from_db()
    assert retried["Location"] == order.stripe_session_url
    assert Order.objects.count() == 1


def test_a_failure_stripe_saved_is_retried_under_a_new_key_and_a_passing_one_under_the_same(
    client: Client, simulator: Simulator, product: Product
) -> None:
    simulator.fault(method="POST", path="/v1/checkout/sessions", status=500, execute=True)
    form = buy_form(client, product)
    client.post("/checkout/", form)
    client.post("/checkout/", form)
    order = Order.objects.get()
    keys = [r["idempotency_key"] for r in simulator.requests()]
    assert keys[0] == stripe_gateway.idempotency_key(order, 0)
    assert keys[-1] == stripe_gateway.idempotency_key(order, 1)
    assert order.checkout_attempt == 1

    simulator.reset()
    simulator.fault(method="POST", path="/v1/checkout/sessions", status=429)
    form = buy_form(client, product)
    client.post("/checkout/", form)
    client.post("/checkout/", form)
    retried_keys = {r["idempotency_key"] for r in simulator.requests()}
    assert retried_keys == {stripe_gateway.idempotency_key(Order.objects.latest("pk"), 0)}


def test_a_stalled_stripe_holds_the_buyer_less_than_ten_seconds(
    client: Client, simulator: Simulator, product: Product
) -> None:
    # Every attempt, the library's two retries included, hangs past the read timeout.
    simulator.fault(method="POST", path="/v1/checkout/sessions", delay=5, drop=True, times=3)
    started = time.monotonic()
    response = buy(client, product)
    waited = time.monotonic() - started

    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert Order.objects.get().status == "pending"
    # The budget follows from the configuration, not from how busy this machine is: the
    # client's timeouts, its retry count and the library's longest backoff before each retry.
    http_client = stripe_gateway._build_client(SIMULATOR_KEY, simulator.base_url)._requestor
    timeouts = http_client._client._timeout  # type: ignore[union-attr]
    assert timeouts == (CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS)
    # The simulator logs a request once its delay is over, well after the client gave up.
    wait_until(lambda: len(simulator.requests()) > MAX_NETWORK_RETRIES)
    attempts = [r["received_at"] for r in simulator.requests()]
    assert len(attempts) == MAX_NETWORK_RETRIES + 1
    initial, ceiling = HTTPClient.INITIAL_DELAY, HTTPClient.MAX_DELAY
    retries = range(1, MAX_NETWORK_RETRIES + 1)
    longest_backoffs = [max(initial, min(initial * 2 ** (n - 1), ceiling)) for n in retries]
    assert len(attempts) * READ_TIMEOUT_SECONDS + sum(longest_backoffs) < 10
    # Each retry came only once the attempt before it had timed out, so none was cut short.
    gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)]
    assert all(gap >= READ_TIMEOUT_SECONDS for gap in gaps), gaps
    # A generous backstop only: far above the budget, far below a hang.
    assert waited < 30, f"the buyer waited {waited:.1f} s"


def test_a_session_created_after_the_buyer_gave_up_is_the_one_the_next_click_gets(
    client: Client, simulator: Simulator, product: Product
) -> None:
    # Stripe creates the session, then answers after the read timeout and after the library's
    # retries (at most 2.5 + 0.5 + 1.0 s in, each told 409 while the first runs) have given up.
    simulator.fault(method="POST", path="/v1/checkout/sessions", delay=7.0)
    form = buy_form(client, product)
    assert client.post("/checkout/", form).status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert Order.objects.get().checkout_attempt == 0

    # Stripe logs the slow request once it has saved its answer under the key.
    wait_until(lambda: HTTPStatus.OK in [r["status"] for r in simulator.requests()])
    retried = client.post("/checkout/", form)

    assert retried.status_code == HTTPStatus.SEE_OTHER
    [session] = simulator.sessions()
    assert session_id_of(retried) == session["id"]


def wait_until(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never became true"
        time.sleep(0.05)


def test_payments_without_a_stripe_key_say_so_plainly(
    client: Client, simulator: Simulator, product: Product, settings
) -> None:
    settings.STRIPE_SECRET_KEY = ""
    response = buy(client, product)
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert "Payments are not configured on this shop yet." in " ".join(flashes(response))


def test_the_success_page_refuses_a_missing_forged_or_unknown_session(
    client: Client, simulator: Simulator, product: Product
) -> None:
    session_id_of(buy(client, product))
    for query, message in [
        ("", "That payment link is not valid."),
        ("?session_id=<script>", "That payment link is not valid."),
        ("?session_id={CHECKOUT_SESSION_ID}", "That payment link is not valid."),
        ("?session_id=cs_test_unknown", "We could not find that payment."),
    ]:
        response = client.get(f"/checkout/success/{query}")
        assert response.status_code == HTTPStatus.BAD_REQUEST, query
        assert message in " ".join(flashes(response))
    assert Order.objects.get().status == "pending"


FIELD_TEXT = st.text(max_size=40) | st.sampled_from(["1", "10", "²", "9" * 30, "-0", " 3 "])


@PROPERTY_SETTINGS
@given(
    product_id=FIELD_TEXT | st.none(),
    quantity=FIELD_TEXT | st.none(),
    token=FIELD_TEXT | st.none() | st.just("real"),
)
def test_no_buy_form_fields_get_a_5xx(
    client: Client,
    simulator: Simulator,
    product: Product,
    product_id: str | None,
    quantity: str | None,
    token: str | None,
) -> None:
    form = buy_form(client, product)
    posted = {"product_id": product_id, "quantity": quantity, "token": token}
    if token == "real":
        posted["token"] = form["token"]
    fields = {name: value for name, value in posted.items() if value is not None}
    response = client.post("/checkout/", fields)
    # Many valid forms in a row are throttled: a 429 is one more refusal with a message.
    refusals = (HTTPStatus.BAD_REQUEST, HTTPStatus.TOO_MANY_REQUESTS)
    assert response.status_code in (HTTPStatus.SEE_OTHER, *refusals)
    if response.status_code in refusals:
        assert flashes(response)


def test_a_retry_after_a_long_outage_opens_checkout_under_a_fresh_expiry(
    client: Client, simulator: Simulator, product: Product
) -> None:
    simulator.fault(method="POST", path="/v1/checkout/sessions", status=503, times=3)
    form = buy_form(client, product)
    assert client.post("/checkout/", form).status_code == HTTPStatus.SERVICE_UNAVAILABLE
    order = Order.objects.get()
    # Twenty minutes pass before the buyer clicks again, and Stripe's clock is 2 minutes ahead.
    Order.objects.update(
        created_at=F("created_at") - timedelta(minutes=20),
        checkout_expires_at=F("checkout_expires_at") - timedelta(minutes=20),
    )
    simulator.run_clock_ahead(2 * 60)

    retried = client.post("/checkout/", form)

    assert retried.status_code == HTTPStatus.SEE_OTHER
    [session] = simulator.sessions()
    assert session_id_of(retried) == session["id"]
    assert session["expires_at"] - session["created"] >= 30 * 60
    keys = [(r["idempotency_key"], r["status"]) for r in simulator.requests()]

    def key(attempt: int) -> str:
        return stripe_gateway.idempotency_key(order, attempt)

    # A 5xx may have been saved, so the click after it takes the next key; that request is
    # refused for its stale expiry and executed nothing, so the fresh expiry takes another.
    assert keys == [(key(0), 503)] * 3 + [(key(1), 400), (key(2), 200)]
    order.refresh_from_db()
    assert order.checkout_attempt == 2
    assert int(order.checkout_expires_at.timestamp()) == session["expires_at"]


def test_a_stripe_clock_minutes_ahead_does_not_stop_checkout(
    client: Client, simulator: Simulator, product: Product
) -> None:
    simulator.run_clock_ahead(5 * 60)
    response = buy(client, product)
    assert response.status_code == HTTPStatus.SEE_OTHER
    assert [r["status"] for r in simulator.requests()] == [200]


def test_a_permanent_refusal_is_not_offered_as_try_again_with_the_same_form(
    client: Client, simulator: Simulator, product: Product
) -> None:
    simulator.run_clock_ahead(3 * 60 * 60)  # so far ahead that no expiry we send is valid
    form = buy_form(client, product)

    response = client.post("/checkout/", form)

    assert response.status_code == HTTPStatus.BAD_GATEWAY
    message = " ".join(flashes(response))
    assert "We could not start the payment" in message and "try again later" not in message
    assert f'value="{form["token"]}"' not in response.content.decode()
    assert [r["status"] for r in simulator.requests()] == [400, 400]
    assert Order.objects.get().status == "pending"


def test_stripe_being_unavailable_is_logged_as_a_warning_not_an_error(
    client: Client, simulator: Simulator, product: Product, caplog: pytest.LogCaptureFixture
) -> None:
    simulator.fault(method="POST", path="/v1/checkout/sessions", status=503, times=3)
    with caplog.at_level(logging.INFO):
        response = buy(client, product)
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert any(r.levelno == logging.WARNING for r in caplog.records)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_a_visitor_creating_orders_too_fast_gets_429_and_nothing_more_is_created(
    client: Client, simulator: Simulator, product: Product, settings
) -> None:
    for _ in range(settings.ORDERS_PER_MINUTE_PER_VISITOR):
        assert buy(client, product).status_code == HTTPStatus.SEE_OTHER
    created, asked = Order.objects.count(), len(simulator.requests())

    response = buy(client, product)

    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert "You are placing orders too quickly" in " ".join(flashes(response))
    assert (Order.objects.count(), len(simulator.requests())) == (created, asked)
    # A form already used is no new order: it still finds its own.
    assert Order.objects.filter(status="pending").exists()


def test_orders_from_one_address_are_throttled_across_visitors_and_replicas(
    simulator: Simulator, product: Product, settings
) -> None:
    settings.ORDERS_PER_MINUTE_PER_ADDRESS = 3
    # Orders another replica created from this address count too: the count is in the database.
    for visitor in ("replica-a", "replica-b"):
        make_order(product, visitor=visitor, client_address="203.0.113.7")
    first = Client(REMOTE_ADDR="203.0.113.7")
    assert buy(first, product).status_code == HTTPStatus.SEE_OTHER

    second = Client(REMOTE_ADDR="203.0.113.7")
    assert buy(second, product).status_code == HTTPStatus.TOO_MANY_REQUESTS
    elsewhere = Client(REMOTE_ADDR="198.51.100.1")
    assert buy(elsewhere, product).status_code == HTTPStatus.SEE_OTHER
    assert Order.objects.filter(client_address="203.0.113.7").count() == 3


def test_the_address_behind_a_trusted_proxy_is_the_forwarded_one(
    simulator: Simulator, product: Product, settings
) -> None:
    settings.ORDERS_PER_MINUTE_PER_ADDRESS = 1
    alice = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.7")
    bob = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert buy(alice, product).status_code == HTTPStatus.SEE_OTHER
    assert buy(bob, product).status_code == HTTPStatus.SEE_OTHER
    # Only the proxy may say where a request came from; anyone else's header is ignored.
    spoofer = Client(REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR="192.0.2.99")
    assert buy(spoofer, product).status_code == HTTPStatus.TOO_MANY_REQUESTS
