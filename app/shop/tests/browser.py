"""Driving Chromium through the storefront and the simulator's checkout page.

Shared by the browser suite (gunicorn on loopback) and the container suite (through nginx).
"""

from __future__ import annotations

import re
import shutil
import time
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, Playwright, expect

from shop.tests.stack import Simulator

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium calls home for updates and sync; the tests stay on loopback.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SESSION_ID = re.compile(r"/c/pay/(cs_test_\w+)$")
WAIT_SECONDS = 10.0


def launch_chromium(playwright: Playwright, **options: Any) -> Browser:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail(
            "The browser tests need Chromium on the PATH (Debian: apt-get install chromium)."
        )
    return playwright.chromium.launch(
        executable_path=chromium, headless=True, args=CHROMIUM_ARGS, **options
    )


def product_card(page: Page, name: str) -> Locator:
    return page.get_by_test_id("product-card").filter(
        has=page.get_by_role("heading", name=name, exact=True)
    )


def press_buy_now(page: Page, checkout_url: str, name: str, *, quantity: int) -> str:
    """Buy from the storefront; returns the id of the Checkout Session the browser lands on."""
    card = product_card(page, name)
    card.get_by_label("Quantity").fill(str(quantity))
    card.get_by_role("button", name="Buy Now").click()
    page.wait_for_url(re.compile(re.escape(checkout_url) + SESSION_ID.pattern))
    match = SESSION_ID.search(page.url)
    assert match is not None
    return match.group(1)


def expect_one_order(page: Page, status: str, amount: str) -> int:
    """My Orders shows exactly one row, in this state; returns its order id."""
    row = page.get_by_test_id("order-row")
    expect(row).to_have_count(1)
    expect(row).to_have_attribute("data-status", status)
    expect(row.get_by_test_id("order-amount")).to_have_text(amount)
    return int(row.get_attribute("data-order-id") or 0)


def webhook_statuses(simulator: Simulator, event_type: str) -> list[int | None]:
    """The shop's answers to the deliveries of the one event of this type."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        (event,) = simulator.events(event_type)
        # The simulator delivers in the background, so the delivery may still be on its way.
        if event["deliveries"] or time.monotonic() > deadline:
            return [delivery["status"] for delivery in event["deliveries"]]
        time.sleep(0.1)
