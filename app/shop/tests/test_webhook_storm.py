"""A webhook storm: hundreds of signed, duplicated events in random order, all at once."""

from __future__ import annotations

import logging
import random
import re
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from typing import Any

import pytest
from django.db import connections
from django.test import Client

from shop.models import Order, Product
from shop.tests.helpers import buy, deliver, requires_postgres, session_id_of
from shop.tests.stack import Simulator

ORDERS = 40
# Each order's fate, and the state it must end in whatever order its events come in.
FATES = {
    "card": "paid",
    "bank-debit-succeeds": "paid",
    "bank-debit-fails": "failed",
    "abandoned": "expired",
}


def settle(simulator: Simulator, session_id: str, fate: str) -> None:
    if fate == "card":
        simulator.pay(session_id)
    elif fate == "abandoned":
        simulator.expire(session_id)
    else:
        simulator.pay(session_id, payment_status="unpaid")
        simulator.settle_async(session_id, "succeeded" if fate.endswith("succeeds") else "failed")


@requires_postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_storm_of_duplicated_events_in_random_order_settles_every_order_once(
    simulator: Simulator, product: Product, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.ORDERS_PER_MINUTE_PER_VISITOR = settings.ORDERS_PER_MINUTE_PER_ADDRESS = ORDERS
    buyer = Client()
    fates: dict[int, str] = {}
    for index in range(ORDERS):
        session_id = session_id_of(buy(buyer, product, quantity=1))
        fate = list(FATES)[index % len(FATES)]
        settle(simulator, session_id, fate)
        fates[Order.objects.get(stripe_session_id=session_id).pk] = fate
    events = simulator.events()
    # 200 deliveries: every event at least twice, some once more.
    copies, extra = divmod(200, len(events))
    assert copies >= 2
    storm = events * copies + random.Random(8).sample(events, extra)
    random.Random(42).shuffle(storm)

    def send(event: dict[str, Any]) -> int:
        try:
            return deliver(event).status_code
        finally:
            connections.close_all()

    started = time.monotonic()
    with caplog.at_level(logging.INFO, logger="shop"), ThreadPoolExecutor(max_workers=8) as pool:
        statuses = Counter(pool.map(send, storm))
    seconds = time.monotonic() - started

    print(f"{len(storm)} events for {ORDERS} orders in {seconds:.2f} s")
    assert len(storm) == 200
    assert statuses == Counter({HTTPStatus.OK: 200})
    final = dict(Order.objects.values_list("pk", "status"))
    assert final == {pk: FATES[fate] for pk, fate in fates.items()}
    changes = Counter(
        int(match.group(1))
        for record in caplog.records
        if (match := re.match(r"order=(\d+) (paid|failed|expired) ", record.getMessage()))
    )
    assert changes == Counter(dict.fromkeys(fates, 1))
