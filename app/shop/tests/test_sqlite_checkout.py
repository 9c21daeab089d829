"""SQLite (`make run`): a slow Stripe call for one buyer leaves the database free for others."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from shop.tests.helpers import Buyer
from shop.tests.stack import Stack, running_stack


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("sqlite"), sqlite=True) as stack:
        yield stack


def test_a_stalled_stripe_call_does_not_lock_other_buyers_out(shop: Stack) -> None:
    slow, other = Buyer(shop.base_url), Buyer(shop.base_url)
    # Every attempt of the first create hangs past the read timeout: about 9 s in all, longer
    # than SQLite's 5 s busy timeout.
    shop.simulator.fault(method="POST", path="/v1/checkout/sessions", delay=6, drop=True, times=3)
    statuses: dict[str, int] = {}
    stalled = threading.Thread(target=lambda: statuses.update(slow=slow.press_buy_now()))
    stalled.start()
    deadline = time.monotonic() + 10
    while not shop.database.orders():
        assert time.monotonic() < deadline, "the first order was never written"
        time.sleep(0.05)

    statuses["other"] = other.press_buy_now()
    stalled.join()

    assert statuses["other"] == 303
    # The stalls are the simulator's next three creates, whoever sends them: the slow buyer
    # may have had its last attempt answered.
    assert statuses["slow"] in (303, 503)
    gunicorn_log = shop.logs[0].read_text()
    assert "database is locked" not in gunicorn_log
    assert [order["status"] for order in shop.database.orders()] == ["pending", "pending"]
