"""Buying in a real browser (Chromium) from gunicorn, paying on the Stripe simulator's page.

Each test opens fresh browser contexts, so new visitors with no orders; gunicorn, its
database and the simulator live for the whole module. Set SHOP_SCREENSHOT to a file path
to save the storefront after a paid order (docs/storefront.png is made that way).
"""

from __future__ import annotations

import json
import os
import re
import urllib.request
from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path
from typing import Any, Protocol

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    ViewportSize,
    expect,
    sync_playwright,
)

from shop.tests.browser import (
    SESSION_ID,
    expect_one_order,
    launch_chromium,
    press_buy_now,
    product_card,
    webhook_statuses,
)
from shop.tests.stack import Stack, running_stack

pytestmark = pytest.mark.browser

# Playwright turns Chromium's back/forward cache off unless told otherwise.
BACK_FORWARD_CACHE_OFF = "--disable-back-forward-cache"
VIEWPORT: ViewportSize = {"width": 1280, "height": 900}
TIMEOUT_MS = 10_000


class NewVisitor(Protocol):
    def __call__(self, in_browser: Browser | None = None) -> Page: ...


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("shop")) as stack:
        yield stack


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Chromium as buyers run it: with its back/forward cache."""
    browser = launch_chromium(playwright, ignore_default_args=[BACK_FORWARD_CACHE_OFF])
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def browser_without_back_forward_cache(playwright: Playwright) -> Iterator[Browser]:
    """Chromium that cannot keep a page for the back button, as when the cache evicts it."""
    browser = launch_chromium(playwright)
    yield browser
    browser.close()


@pytest.fixture(autouse=True)
def fresh_simulator(shop: Stack) -> None:
    shop.simulator.reset()


@pytest.fixture(autouse=True)
def server_output(shop: Stack) -> Iterator[None]:
    """Print what the servers logged during the test: pytest shows it when the test fails."""
    offsets = [log.stat().st_size for log in shop.logs]
    yield
    for log, offset in zip(shop.logs, offsets, strict=True):
        with log.open() as output:
            output.seek(offset)
            print(f"--- {log.name} ---\n{output.read()}")


@pytest.fixture
def new_visitor(browser: Browser, shop: Stack) -> Iterator[NewVisitor]:
    """Open a page as a new visitor: its own context, so its own cookies and cache."""
    contexts: list[BrowserContext] = []

    def open_page(in_browser: Browser | None = None) -> Page:
        context = (in_browser or browser).new_context(base_url=shop.base_url, viewport=VIEWPORT)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_visitor: NewVisitor) -> Page:
    return new_visitor()


def test_buying_two_mugs_pays_one_order_that_only_its_buyer_sees(
    shop: Stack, page: Page, new_visitor: NewVisitor
) -> None:
    page.goto("/")
    expect(page.get_by_test_id("simulator-banner")).to_be_visible()
    expect(page.get_by_test_id("product-card")).to_have_count(3)

    session_id = press_buy_now(page, shop.simulator.base_url, "Enamel Camp Mug", quantity=2)
    expect(page.get_by_test_id("sim-total")).to_have_text("30.00 USD")
    page.get_by_test_id("sim-pay").click()

    page.wait_for_url(f"{shop.base_url}/")
    expect(page.get_by_test_id("flash")).to_have_text(re.compile(r"Order #\d+ is paid"))
    expect_one_order(page, "paid", "$30.00")
    save_screenshot(page)
    page.reload()
    expect(page.get_by_test_id("flash")).to_have_count(0)
    order_id = expect_one_order(page, "paid", "$30.00")

    assert len(shop.simulator.requests()) == 1
    assert order_in_database(shop, order_id) == {
        "status": "paid",
        "quantity": 2,
        "amount_cents": 3000,
        "stripe_session_id": session_id,
    }
    assert webhook_statuses(shop.simulator, "checkout.session.completed") == [HTTPStatus.OK]

    stranger = new_visitor()
    stranger.goto("/")
    expect(stranger.get_by_test_id("order-row")).to_have_count(0)
    expect(stranger.get_by_test_id("orders-empty")).to_contain_text("You have no orders yet.")


def test_double_click_on_buy_now_opens_one_checkout_session(shop: Stack, page: Page) -> None:
    page.goto("/")
    orders_before = len(shop.database.orders())

    product_card(page, "Field Notebook").get_by_role("button", name="Buy Now").dblclick()
    page.wait_for_url(SESSION_ID)
    page.goto("/")

    expect_one_order(page, "pending", "$10.00")
    assert len(shop.simulator.sessions()) == 1
    assert len(shop.simulator.requests()) == 1
    assert len(shop.database.orders()) == orders_before + 1


def test_racing_posts_of_one_form_open_one_checkout_session(shop: Stack, page: Page) -> None:
    page.goto("/")
    orders_before = len(shop.database.orders())
    card = product_card(page, "Field Notebook")

    # Two posts in flight at once, past the script that disables the button after one click.
    answers = card.locator("form").evaluate(
        """form => Promise.all([1, 2].map(() => fetch(form.action, {
            method: "POST", body: new FormData(form), redirect: "manual",
        }).then(response => response.type)))"""
    )
    page.goto("/")

    assert answers == ["opaqueredirect", "opaqueredirect"]
    expect_one_order(page, "pending", "$10.00")
    assert len(shop.simulator.sessions()) == 1
    # Without a row lock (SQLite) both may ask; the shared idempotency key keeps one session.
    assert len({post["idempotency_key"] for post in shop.simulator.requests()}) == 1
    assert len(shop.database.orders()) == orders_before + 1


def test_back_from_checkout_restores_the_page_so_buy_now_resumes_the_same_session(
    shop: Stack, page: Page
) -> None:
    page.goto("/")
    token = form_token(page, "Canvas Tote")
    first_session = press_buy_now(page, shop.simulator.base_url, "Canvas Tote", quantity=3)

    # Chromium restores the page from its back/forward cache: the same document, the same
    # form tokens, no request to the shop. A restored page fires no load event.
    page.go_back(wait_until="commit")
    expect(page).to_have_url(f"{shop.base_url}/")
    assert form_token(page, "Canvas Tote") == token
    second_session = press_buy_now(page, shop.simulator.base_url, "Canvas Tote", quantity=3)
    page.get_by_test_id("sim-pay").click()
    page.wait_for_url(f"{shop.base_url}/")

    assert second_session == first_session
    order_id = expect_one_order(page, "paid", "$60.00")
    assert order_in_database(shop, order_id)["stripe_session_id"] == first_session
    assert len(shop.simulator.sessions()) == 1
    assert len(shop.simulator.requests()) == 1


def test_back_from_checkout_to_a_refetched_page_starts_a_second_order_paid_once(
    shop: Stack, new_visitor: NewVisitor, browser_without_back_forward_cache: Browser
) -> None:
    page = new_visitor(browser_without_back_forward_cache)
    page.goto("/")
    token = form_token(page, "Canvas Tote")
    first_session = press_buy_now(page, shop.simulator.base_url, "Canvas Tote", quantity=3)

    # Without the back/forward cache Chromium turns to its HTTP cache, but the page varies on
    # Cookie and this visitor had no cookies when it was first served, so it comes from the
    # shop again: new tokens, and the first order listed as pending with a way back to it.
    page.go_back()
    expect(page).to_have_url(f"{shop.base_url}/")
    assert form_token(page, "Canvas Tote") != token
    first_order_id = expect_one_order(page, "pending", "$60.00")
    continue_link = page.get_by_role("link", name="Continue to payment")
    expect(continue_link).to_have_attribute("href", re.compile(f"{first_session}$"))
    second_session = press_buy_now(page, shop.simulator.base_url, "Canvas Tote", quantity=3)
    page.get_by_test_id("sim-pay").click()
    page.wait_for_url(f"{shop.base_url}/")

    assert second_session != first_session
    rows = page.get_by_test_id("order-row")
    expect(rows).to_have_count(2)
    expect(rows.and_(page.locator('[data-status="paid"]'))).to_have_count(1)
    expect(page.locator(f'[data-order-id="{first_order_id}"]')).to_have_attribute(
        "data-status", "pending"
    )
    orders = {o["stripe_session_id"]: o for o in shop.database.orders()}
    assert orders[first_session]["status"] == "pending"
    assert orders[second_session]["status"] == "paid"
    assert orders[first_session]["id"] == first_order_id != orders[second_session]["id"]
    statuses = {s["id"]: s["status"] for s in shop.simulator.sessions()}
    assert statuses == {first_session: "open", second_session: "complete"}


def test_cancel_on_checkout_cancels_the_order_and_expires_its_session(
    shop: Stack, page: Page
) -> None:
    page.goto("/")
    session_id = press_buy_now(page, shop.simulator.base_url, "Canvas Tote", quantity=1)
    page.get_by_test_id("sim-cancel").click()

    page.wait_for_url(f"{shop.base_url}/")
    expect(page.get_by_test_id("flash")).to_have_text(re.compile(r"Order #\d+ was canceled"))
    order_id = expect_one_order(page, "canceled", "$20.00")
    assert order_in_database(shop, order_id)["status"] == "canceled"
    assert [s["status"] for s in shop.simulator.sessions()] == ["expired"]

    page.goto(f"{shop.simulator.base_url}/c/pay/{session_id}")
    expect(page.get_by_test_id("sim-status")).to_contain_text("expired")
    expect(page.get_by_test_id("sim-pay")).to_have_count(0)


def test_a_quantity_over_ten_is_refused_beside_its_product(shop: Stack, page: Page) -> None:
    page.goto("/")
    orders_before = len(shop.database.orders())
    card = product_card(page, "Enamel Camp Mug")
    # The browser's own validation would stop the form; the server must refuse it as well.
    quantity_input = f"#quantity-{card.get_attribute('data-product-id')}"
    page.eval_on_selector(quantity_input, "input => input.removeAttribute('max')")
    card.get_by_label("Quantity").fill("11")
    with page.expect_response(re.compile(r"/checkout/$")) as answer:
        card.get_by_role("button", name="Buy Now").click()

    assert answer.value.status == HTTPStatus.BAD_REQUEST
    expect(card.get_by_test_id("flash")).to_have_text("You can buy at most 10 at a time.")
    expect(card.get_by_label("Quantity")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_test_id("flash")).to_have_count(1)
    expect(page.get_by_test_id("order-row")).to_have_count(0)
    assert len(shop.database.orders()) == orders_before
    assert shop.simulator.requests() == []


def test_a_late_webhook_turns_the_order_paid_without_a_reload(shop: Stack, page: Page) -> None:
    # Events wait at the simulator and Stripe fails while the buyer comes back from paying:
    # only the webhook, delivered afterwards, can tell the shop the order is paid.
    shop.simulator.post("/_sim/config", {"hold_events": True})
    page.goto("/")
    press_buy_now(page, shop.simulator.base_url, "Field Notebook", quantity=1)
    retrieve = {"method": "GET", "path": "/v1/checkout/sessions/", "times": 3}
    shop.simulator.post("/_sim/faults", {**retrieve, "status": HTTPStatus.SERVICE_UNAVAILABLE})
    page.get_by_test_id("sim-pay").click()
    page.wait_for_url(f"{shop.base_url}/")
    expect(page.get_by_test_id("flash")).to_contain_text("We are confirming your payment")
    expect_one_order(page, "pending", "$10.00")
    page.evaluate("window.sameDocument = true")

    shop.simulator.post("/_sim/events/flush")

    row = page.get_by_test_id("order-row")
    expect(row).to_have_attribute("data-status", "paid", timeout=TIMEOUT_MS)
    assert page.evaluate("window.sameDocument") is True
    assert webhook_statuses(shop.simulator, "checkout.session.completed") == [HTTPStatus.OK]


def form_token(page: Page, name: str) -> str:
    return product_card(page, name).locator('input[name="token"]').input_value()


def order_in_database(shop: Stack, order_id: int) -> dict[str, Any]:
    (order,) = [order for order in shop.database.orders() if order["id"] == order_id]
    return {key: order[key] for key in ("status", "quantity", "amount_cents", "stripe_session_id")}


def save_screenshot(page: Page) -> None:
    path = os.environ.get("SHOP_SCREENSHOT")
    if path:
        page.screenshot(path=Path(path))


def test_probes_answer_through_gunicorn_but_stay_out_of_its_access_log(
    shop: Stack, page: Page
) -> None:
    page.goto("/")
    for probe in ("/healthz", "/readyz"):
        with urllib.request.urlopen(shop.base_url + probe, timeout=5) as response:
            assert response.status == HTTPStatus.OK

    lines = [json.loads(line) for line in shop.logs[0].read_text().splitlines() if line[:1] == "{"]
    access = [
        (r["method"], r["path"], r["status"]) for r in lines if r["logger"] == "gunicorn.access"
    ]
    assert ("GET", "/", "200") in access
    # The stack itself polled /readyz until gunicorn was ready, and we just called both.
    assert not {path for _, path, _ in access} & {"/healthz", "/readyz"}
    assert "/healthz" not in shop.logs[0].read_text()
