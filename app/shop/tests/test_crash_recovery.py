"""A worker killed between Stripe creating the session and our saving its id loses nothing."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from shop.tests.helpers import Buyer
from shop.tests.stack import Stack, running_stack

WAIT_SECONDS = 30


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("crash")) as stack:
        yield stack


def wait_for(condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def press_and_lose_the_answer(buyer: Buyer) -> None:
    # The worker dies mid-request, so the browser sees its connection cut.
    with contextlib.suppress(OSError):
        buyer.press_buy_now()


def test_reconcile_replays_the_create_and_stores_the_session_stripe_made(shop: Stack) -> None:
    buyer = Buyer(shop.base_url)
    # Stripe creates the session, then takes its time to answer: the window we crash in.
    shop.simulator.fault(method="POST", path="/v1/checkout/sessions", delay=2)
    threading.Thread(target=press_and_lose_the_answer, args=(buyer,), daemon=True).start()
    wait_for(shop.simulator.sessions, "Stripe never created the session")

    shop.kill_workers()
    # Stripe finishes the request it was running and keeps its answer under the key.
    wait_for(shop.simulator.requests, "Stripe never finished the create")

    [order] = shop.database.orders()
    assert order["status"] == "pending" and order["stripe_session_id"] is None
    output = shop.manage("reconcile_orders", "--older-than-minutes", "0")

    [session] = shop.simulator.sessions()
    [order] = shop.database.orders()
    assert order["stripe_session_id"] == session["id"]
    assert "reopened: 1" in output
    creates = shop.simulator.requests()
    # The replay came from Stripe's idempotency store: the very session, not a second one.
    assert len({r["idempotency_key"] for r in creates}) == 1
    assert [r["replayed"] for r in creates if r["status"] == 200][-1] is True
