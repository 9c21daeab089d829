"""The local stack (`make up`) as a buyer and an operator meet it: through nginx on 127.0.0.1,
the app container behind it, PostgreSQL in its own container and the containerised simulator.

Run by `make test-containers` after `make up`; .ci/run does both inside a private engine.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from shop.tests.browser import expect_one_order, launch_chromium, press_buy_now
from shop.tests.helpers import Buyer
from shop.tests.stack import Simulator
from tests.containers.stack import (
    BASE_URL,
    REPO_DIR,
    Response,
    answer_while_web_is_down,
    assert_each_header_once,
    compose,
    container_env,
    fetch,
    operator_env,
    order_count,
    proxy_written_responses,
    refused_login,
    signed_webhook,
    sql,
    wait_until_ready,
)
from tests.containers.stack import Buyer as FormBuyer

pytestmark = pytest.mark.containers

ONE_YEAR_SECONDS = 365 * 24 * 60 * 60
HASHED_STATIC = re.compile(r'href="(/static/shop/shop\.[0-9a-f]{12}\.css)"')
BURST = 40
# The app's promises: 503 at once while the database is out, and with Stripe's name gone,
# within the 2 s connect timeout, which is not retried (plus a margin for the way there).
DATABASE_DOWN_BOUND_SECONDS = 2.5
STRIPE_NAME_GONE_BOUND_SECONDS = 3.0
OUTAGE_HOLD_SECONDS = 2.1


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(base_url=BASE_URL)
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def unhandled_event(n: int) -> dict[str, object]:
    """A correctly signed event of a type the shop acknowledges and ignores."""
    return {
        "id": f"evt_burst_{n}",
        "object": "event",
        "type": "payment_intent.created",
        "data": {"object": {"id": f"pi_burst_{n}", "object": "payment_intent"}},
    }


def assert_a_page_of_the_shops_own(response: Response) -> None:
    assert_each_header_once(response)
    assert "Tiny Shop" in response.text
    assert "nginx" not in response.text.lower()


@pytest.mark.parametrize("path", ["/nginx-health", "/healthz", "/readyz"])
def test_probes_answer_through_nginx(path: str) -> None:
    assert fetch(BASE_URL + path).status == HTTPStatus.OK


def test_the_storefront_lists_the_three_products_from_postgres() -> None:
    response = fetch(BASE_URL + "/")

    assert response.status == HTTPStatus.OK
    assert response.text.count('data-testid="product-card"') == 3
    assert sql("SELECT count(*) FROM shop_product") == [["3"]]


def test_each_security_header_is_sent_exactly_once() -> None:
    response = fetch(BASE_URL + "/")

    assert_each_header_once(response)
    assert re.fullmatch(r"[0-9a-f]{32}", response.header("X-Request-ID"))
    assert "nginx/" not in response.header("Server")


def test_what_nginx_refuses_itself_carries_each_security_header_once() -> None:
    responses = {**proxy_written_responses(BASE_URL), "login flood": refused_login(BASE_URL)}

    assert {cause: response.status for cause, response in responses.items()} == {
        "huge header": HTTPStatus.BAD_REQUEST,
        "TRACE": HTTPStatus.METHOD_NOT_ALLOWED,
        "2 MB body": HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        "long address": HTTPStatus.REQUEST_URI_TOO_LONG,
        "login flood": HTTPStatus.TOO_MANY_REQUESTS,
    }
    for response in responses.values():
        assert_a_page_of_the_shops_own(response)
    assert int(responses["login flood"].header("Retry-After")) > 0
    assert "Too many requests from your address" in responses["login flood"].text


def test_what_django_refuses_carries_each_security_header_once() -> None:
    response = fetch(BASE_URL + "/checkout/")

    assert response.status == HTTPStatus.METHOD_NOT_ALLOWED
    assert_each_header_once(response)


@pytest.mark.parametrize(
    "header", ["X-Forwarded-Ssl: on", "X-Forwarded-Protocol: ssl", "Front-End-Https: on"]
)
def test_a_clients_own_scheme_header_never_reaches_gunicorn(header: str) -> None:
    name, _, value = header.partition(": ")
    response = fetch(BASE_URL + "/", headers={name: value})

    # gunicorn would have answered its raw "Contradictory scheme headers" 400.
    assert response.status == HTTPStatus.OK
    assert response.text.count('data-testid="product-card"') == 3


def test_a_clients_own_forwarded_for_changes_nothing_without_trusted_proxies() -> None:
    honest = FormBuyer()
    spoofing = FormBuyer(headers={"X-Forwarded-For": "203.0.113.9"})
    for buyer in (honest, spoofing):
        _, response = buyer.request("/checkout/", method="POST", form=buyer.buy_form())
        assert response.status == HTTPStatus.SEE_OTHER, response.text

    rows = sql("SELECT client_address FROM shop_order ORDER BY id DESC LIMIT 2")
    assert rows[0] == rows[1]
    assert rows[0] != ["203.0.113.9"]


def test_a_clients_request_id_is_kept_and_a_malformed_one_replaced() -> None:
    kept = fetch(BASE_URL + "/healthz", headers={"X-Request-ID": "lb-4f2a9c1e-trace"})
    replaced = fetch(BASE_URL + "/healthz", headers={"X-Request-ID": "bad id\twith spaces"})

    assert kept.header("X-Request-ID") == "lb-4f2a9c1e-trace"
    assert re.fullmatch(r"[0-9a-f]{32}", replaced.header("X-Request-ID"))


def test_hashed_static_files_are_gzipped_and_cached_for_a_year_as_immutable() -> None:
    match = HASHED_STATIC.search(fetch(BASE_URL + "/").text)
    assert match, "the storefront links no hashed stylesheet"

    response = fetch(BASE_URL + match.group(1), headers={"Accept-Encoding": "gzip"})

    assert response.status == HTTPStatus.OK
    assert response.header("Content-Encoding") == "gzip"
    cache_control = response.header("Cache-Control")
    assert "immutable" in cache_control
    max_age = int(re.search(r"max-age=(\d+)", cache_control).group(1))  # type: ignore[union-attr]
    assert max_age >= ONE_YEAR_SECONDS


def test_a_two_megabyte_post_is_refused_by_nginx_with_413() -> None:
    orders_before = order_count()

    response = fetch(
        BASE_URL + "/checkout/",
        method="POST",
        body=b"quantity=1&" + b"x" * (2 * 1024 * 1024),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert response.status == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert order_count() == orders_before


def test_a_purchase_in_chromium_goes_through_nginx_and_the_containerised_simulator(
    page: Page, simulator: Simulator
) -> None:
    checkout_origin = container_env("web", "STRIPE_CHECKOUT_ORIGIN")
    page.goto("/")
    expect(page.get_by_test_id("product-card")).to_have_count(3)

    session_id = press_buy_now(page, checkout_origin, "Enamel Camp Mug", quantity=2)
    expect(page.get_by_test_id("sim-total")).to_have_text("30.00 USD")
    page.get_by_test_id("sim-pay").click()

    page.wait_for_url(f"{BASE_URL}/")
    expect(page.get_by_test_id("flash")).to_have_text(re.compile(r"Order #\d+ is paid"))
    order_id = expect_one_order(page, "paid", "$30.00")
    orders = sql("SELECT id, status, quantity, amount_cents, stripe_session_id FROM shop_order")
    assert [str(order_id), "paid", "2", "3000", session_id] in orders
    # The simulator container reached the web container by its service name.
    completed = [
        event
        for event in simulator.events("checkout.session.completed")
        if json.loads(event["payload"])["data"]["object"]["id"] == session_id
    ]
    assert len(completed) == 1
    assert [delivery["status"] for delivery in completed[0]["deliveries"]] == [HTTPStatus.OK]


def test_while_web_is_down_nginx_answers_its_own_page_with_each_security_header_once() -> None:
    response = answer_while_web_is_down(BASE_URL)

    assert response.status in {HTTPStatus.BAD_GATEWAY, HTTPStatus.GATEWAY_TIMEOUT}
    assert_a_page_of_the_shops_own(response)


def test_orders_survive_a_restart_of_the_web_container() -> None:
    orders = sql("SELECT id, status, amount_cents FROM shop_order ORDER BY id")
    assert orders, "the purchase test leaves at least one order"

    compose("restart", "web")
    wait_until_ready()

    assert sql("SELECT id, status, amount_cents FROM shop_order ORDER BY id") == orders


def test_orders_survive_make_down_and_make_up() -> None:
    orders = sql("SELECT id, status, amount_cents FROM shop_order ORDER BY id")
    assert orders, "the purchase test leaves at least one order"

    for target in ("down", "up"):
        result = subprocess.run(
            ["make", target],
            cwd=REPO_DIR,
            env=operator_env(),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert result.returncode == 0, f"make {target}:\n{result.stdout}\n{result.stderr}"

    assert "The shop is up: http://127.0.0.1:" in result.stdout
    assert sql("SELECT id, status, amount_cents FROM shop_order ORDER BY id") == orders


def test_after_the_orders_are_wiped_a_new_order_gets_a_new_session_at_the_first_click(
    simulator: Simulator,
) -> None:
    first = Buyer(BASE_URL)
    assert first.press_buy_now() == HTTPStatus.SEE_OTHER
    [[before_id, before_session]] = sql(
        "SELECT id, stripe_session_id FROM shop_order ORDER BY id DESC LIMIT 1"
    )
    # A wiped database counts order ids from 1 again; the simulator keeps every key it saw.
    sql("TRUNCATE shop_order RESTART IDENTITY")
    sql(f"ALTER SEQUENCE shop_order_id_seq RESTART WITH {before_id}")

    assert Buyer(BASE_URL).press_buy_now() == HTTPStatus.SEE_OTHER

    [[after_id, after_session]] = sql("SELECT id, stripe_session_id FROM shop_order")
    assert after_id == before_id and after_session != before_session
    assert {before_session, after_session} <= {s["id"] for s in simulator.sessions()}


def test_with_the_database_stopped_pages_and_probes_answer_within_their_bound() -> None:
    compose("stop", "db")
    try:
        # Twice each, the second past the outage hold, so a fresh connect looks the name up.
        for _ in range(2):
            time.sleep(OUTAGE_HOLD_SECONDS)
            for path in ("/readyz", "/", "/orders/"):
                started = time.monotonic()
                status = fetch(BASE_URL + path).status
                seconds = time.monotonic() - started
                print(f"db stopped: {path} {status} in {seconds:.2f} s")
                assert status in (HTTPStatus.OK, HTTPStatus.SERVICE_UNAVAILABLE), path
                assert seconds < DATABASE_DOWN_BOUND_SECONDS, path
    finally:
        compose("start", "db")
    wait_until_ready()
    # Every worker has found its connection broken and made a new one: pages serve again.
    wait_for(lambda: all(fetch(BASE_URL + "/").status == HTTPStatus.OK for _ in range(8)))


def test_with_the_simulators_name_gone_checkout_answers_503_in_time_and_the_form_goes_on(
    simulator: Simulator,
) -> None:
    buyer = Buyer(BASE_URL)
    compose("stop", "stripe-sim")
    try:
        started = time.monotonic()
        status = buyer.press_buy_now()
        seconds = time.monotonic() - started
    finally:
        compose("start", "stripe-sim")
    print(f"simulator's name gone: POST /checkout/ {status} in {seconds:.2f} s")
    assert status == HTTPStatus.SERVICE_UNAVAILABLE
    assert seconds < STRIPE_NAME_GONE_BOUND_SECONDS
    wait_for(lambda: simulator.get("/_sim/health") == {"status": "ok"})

    assert buyer.press_buy_now() == HTTPStatus.SEE_OTHER

    [[key, session_id]] = sql(
        "SELECT checkout_key, stripe_session_id FROM shop_order ORDER BY id DESC LIMIT 1"
    )
    [create] = simulator.requests()
    assert create["idempotency_key"].endswith(f"-checkout-{key}-0")
    assert [session["id"] for session in simulator.sessions()] == [session_id]


def wait_for(condition: Callable[[], bool], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if condition():
                return
        except OSError:
            pass
        assert time.monotonic() < deadline, "the condition did not hold in time"
        time.sleep(0.5)


def test_a_burst_of_checkout_posts_is_limited_while_a_webhook_burst_all_gets_through() -> None:
    # Last in this module: it spends the checkout allowance of the test client's address.
    secret = container_env("web", "STRIPE_WEBHOOK_SECRET")
    webhooks = [signed_webhook(unhandled_event(n), secret) for n in range(BURST)]
    form = {"Content-Type": "application/x-www-form-urlencoded"}

    def checkout(_: int) -> int:
        return fetch(BASE_URL + "/checkout/", method="POST", body=b"x=1", headers=form).status

    def webhook(n: int) -> int:
        body, headers = webhooks[n]
        url = BASE_URL + "/stripe/webhook/"
        return fetch(url, method="POST", body=body, headers=headers).status

    with ThreadPoolExecutor(max_workers=16) as pool:
        checkouts = pool.map(checkout, range(BURST))
        deliveries = pool.map(webhook, range(BURST))
        checkout_statuses, webhook_answers = Counter(checkouts), Counter(deliveries)

    assert checkout_statuses[HTTPStatus.TOO_MANY_REQUESTS] >= BURST // 4, checkout_statuses
    # The rest reached Django, which refuses a form post without its CSRF token.
    assert set(checkout_statuses) <= {HTTPStatus.TOO_MANY_REQUESTS, HTTPStatus.BAD_REQUEST}
    assert webhook_answers == Counter({HTTPStatus.OK: BURST})
