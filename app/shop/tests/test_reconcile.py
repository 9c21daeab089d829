"""Reconciliation and its command, reconcile_orders: the safety net for a lost webhook."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from contextlib import closing
from datetime import timedelta
from io import StringIO
from typing import IO

import psycopg2
import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from shop import reconcile
from shop.models import Order, Product
from shop.tests.helpers import (
    APP_DIR,
    SIMULATOR_KEY,
    buy,
    requires_postgres,
    session_id_of,
)
from shop.tests.stack import Simulator

pytestmark = pytest.mark.django_db


def age(session_id: str | None = None, minutes: int = 10) -> None:
    orders = Order.objects.filter(stripe_session_id=session_id) if session_id else Order.objects
    orders.update(created_at=timezone.now() - timedelta(minutes=minutes))


def reconcile_orders() -> str:
    out = StringIO()
    call_command("reconcile_orders", stdout=out)
    return out.getvalue()


def test_it_settles_stale_orders_from_what_stripe_says(
    client: Client, simulator: Simulator, product: Product
) -> None:
    paid, expired, still_open, young = (session_id_of(buy(client, product)) for _ in range(4))
    simulator.pay(paid)
    simulator.expire(expired)
    for session_id in (paid, expired, still_open):
        age(session_id)

    output = reconcile_orders()

    statuses = dict(Order.objects.values_list("stripe_session_id", "status"))
    assert statuses == {
        paid: "paid",
        expired: "expired",
        still_open: "pending",
        young: "pending",
    }
    assert "expired: 1, paid: 1, waiting: 1" in output
    assert reconcile_orders().endswith("waiting: 1\n")


def test_an_order_whose_checkout_never_opened_expires_after_its_window(
    client: Client, simulator: Simulator, product: Product
) -> None:
    simulator.fault(method="POST", path="/v1/checkout/sessions", status=429)
    buy(client, product)
    Order.objects.update(
        created_at=timezone.now() - timedelta(hours=1),
        checkout_expires_at=timezone.now() - timedelta(minutes=5),
    )
    reconcile_orders()
    assert Order.objects.get().status == "expired"


def test_stripe_being_down_leaves_orders_pending_and_says_so(
    client: Client, simulator: Simulator, product: Product
) -> None:
    session_id_of(buy(client, product))
    age()
    simulator.fault(method="GET", path="/v1/checkout/sessions/", status=503, times=3)
    assert "unreachable: 1" in reconcile_orders()
    assert Order.objects.get().status == "pending"


def test_a_wrong_amount_is_counted_for_review(
    client: Client, simulator: Simulator, product: Product
) -> None:
    session_id = session_id_of(buy(client, product))
    simulator.pay(session_id, amount_total=1)
    age()
    assert "needs_review: 1" in reconcile_orders()
    assert Order.objects.get().status == "needs_review"
    assert reconcile_orders().endswith("none\n")


def test_an_order_whose_session_stripe_no_longer_knows_stops_being_pending(
    client: Client, simulator: Simulator, product: Product, caplog: pytest.LogCaptureFixture
) -> None:
    session_id = session_id_of(buy(client, product))
    age()
    simulator.reset()  # Stripe forgets every session: a 404 from now on

    with caplog.at_level(logging.ERROR):
        assert "needs_review: 1" in reconcile_orders()

    assert Order.objects.get().status == "needs_review"
    assert any(session_id in r.getMessage() for r in caplog.records)
    assert reconcile_orders().endswith("none\n")


@requires_postgres
def test_a_run_that_overlaps_another_works_no_orders(
    client: Client, simulator: Simulator, product: Product
) -> None:
    session_id = session_id_of(buy(client, product))
    simulator.pay(session_id)
    age()
    db = connection.settings_dict
    # Another run, in another process, holds the lock.
    with (
        closing(
            psycopg2.connect(dbname=db["NAME"], user=db["USER"], host=db["HOST"], port=db["PORT"])
        ) as other_run,
        other_run.cursor() as cursor,
    ):
        cursor.execute("SELECT pg_advisory_lock(%s)", [reconcile.RECONCILE_LOCK_ID])
        output = reconcile_orders()
        # Released here rather than by closing: the server ends a closed session a bit later.
        cursor.execute("SELECT pg_advisory_unlock(%s)", [reconcile.RECONCILE_LOCK_ID])

    assert "skipped, another run is working: 1" in output
    assert simulator.requests(method="GET", path=f"/v1/checkout/sessions/{session_id}") == []
    assert Order.objects.get().status == "pending"
    assert "paid: 1" in reconcile_orders()


def stripe_reads(simulator: Simulator) -> list[dict]:
    return [r for r in simulator.get("/_sim/requests") if r["method"] == "GET"]


def slow_stripe_reads(simulator: Simulator, seconds: float) -> None:
    # Answered, but only after `seconds`: under the client's read timeout, so no retries.
    simulator.fault(method="GET", path="/v1/checkout/sessions/", delay=seconds, times=100)


def test_a_run_asks_stripe_about_several_orders_at_once(
    client: Client, simulator: Simulator, product: Product
) -> None:
    for _ in range(4):
        simulator.pay(session_id_of(buy(client, product)))
    age()
    delay = 2.0
    slow_stripe_reads(simulator, delay)

    outcomes = reconcile.reconcile(older_than=timedelta(minutes=5), concurrency=4)

    assert outcomes == {"paid": 4}
    arrivals = sorted(r["received_at"] for r in stripe_reads(simulator))
    # The last question reached Stripe before the first was answered.
    assert len(arrivals) == 4 and arrivals[-1] - arrivals[0] < delay


def test_a_run_starts_no_new_order_after_its_time_budget(
    client: Client, simulator: Simulator, product: Product
) -> None:
    for _ in range(6):
        session_id_of(buy(client, product))
    age()
    slow_stripe_reads(simulator, 2.0)

    outcomes = reconcile.reconcile(
        older_than=timedelta(minutes=5), budget=timedelta(seconds=1), concurrency=2
    )

    # Two questions fit in the first second; the answers take two, so the rest wait for the
    # next run.
    asked = stripe_reads(simulator)
    assert len(asked) <= 2 and outcomes["deferred"] == 6 - len(asked) >= 4
    assert Order.objects.filter(status="pending").count() == 6


@requires_postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_repeat_settles_what_a_later_run_finds_and_stops_at_once_on_sigterm(
    client: Client, simulator: Simulator, product: Product
) -> None:
    session_id = session_id_of(buy(client, product))
    age(session_id)
    db = connection.settings_dict
    run = subprocess.Popen(
        [sys.executable, "manage.py", "reconcile_orders", "--repeat"],
        cwd=APP_DIR,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "STRIPE_API_BASE": simulator.base_url,
            "STRIPE_SECRET_KEY": SIMULATOR_KEY,
            "RECONCILE_INTERVAL_SECONDS": "1",
        },
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert run.stdout is not None
        assert next_report(run.stdout) == "Reconciling every 1 s until stopped."
        assert next_report(run.stdout).endswith("waiting: 1")
        # Paid while no webhook reaches the shop: the next run finds it.
        simulator.pay(session_id)
        assert next_report(run.stdout).endswith("paid: 1")
        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=5) == 0
    finally:
        run.kill()
        run.wait()

    assert Order.objects.get().status == "paid"


def next_report(stdout: IO[str]) -> str:
    """The command's next line of its own, past the JSON log lines that share its output."""
    for line in stdout:
        if not line.startswith("{"):
            return line.rstrip("\n")
    raise AssertionError("the command ended without reporting")
