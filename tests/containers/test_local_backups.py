"""Operations that lose nothing, on the local stack: a backup that restores after the volume is
gone, and the reconcile service settling a paid order whose webhook never arrived.

Run by `make test-containers` after `make up`, before the other modules (whose state it keeps:
the restored database has the products and every order the stack had).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from http import HTTPStatus
from typing import Any

import pytest

from shop.tests.stack import Simulator
from tests.containers.stack import (
    BASE_URL,
    REPO_DIR,
    Buyer,
    compose,
    container_env,
    fetch,
    make,
    operator_env,
    signed_webhook,
    sql,
)

pytestmark = pytest.mark.containers

ORDERS = 3
PAID_TIMEOUT_SECONDS = 15.0
# The reconcile service's schedule in its test: short, so the test waits seconds, not minutes.
RECONCILE_INTERVAL_SECONDS = 2
EVENTS_QUERY = "SELECT event_id, type, received_at FROM shop_processedstripeevent ORDER BY 1"
ORDERS_QUERY = "SELECT id, status, amount_cents, stripe_session_id FROM shop_order ORDER BY id"
LAST_ORDER_QUERY = "SELECT id, stripe_session_id FROM shop_order ORDER BY id DESC LIMIT 1"


def order_status(session_id: str) -> str:
    rows = sql(f"SELECT status FROM shop_order WHERE stripe_session_id = '{session_id}'")  # noqa: S608
    assert rows, f"no order has session {session_id}"
    return rows[0][0]


def wait_until_paid(session_id: str, timeout: float = PAID_TIMEOUT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while order_status(session_id) != "paid":
        assert time.monotonic() < deadline, f"{session_id} not paid within {timeout:g} s"
        time.sleep(0.5)


def completed_event(simulator: Simulator, session_id: str) -> dict[str, Any]:
    """The simulator's record of the session's checkout.session.completed: payload, deliveries."""
    (event,) = [
        event
        for event in simulator.events("checkout.session.completed")
        if json.loads(event["payload"])["data"]["object"]["id"] == session_id
    ]
    return event


def refused(*args: str, stdin: int | None = subprocess.DEVNULL) -> str:
    """A make target that must refuse: its message, once it has failed."""
    result = subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=REPO_DIR,
        env=operator_env(),
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0, result.stdout
    return result.stderr


def test_a_backup_restored_after_down_volumes_brings_back_the_orders_and_the_events(
    simulator: Simulator,
) -> None:
    buyer = Buyer()
    session_ids = [buyer.buy_now() for _ in range(ORDERS)]
    for session_id in session_ids:
        simulator.pay(session_id)
    for session_id in session_ids:
        wait_until_paid(session_id)
    replay = json.loads(completed_event(simulator, session_ids[0])["payload"])
    my_orders, orders, events = buyer.my_orders(), sql(ORDERS_QUERY), sql(EVENTS_QUERY)
    assert len(my_orders) == ORDERS
    assert all('data-status="paid"' in row for row in my_orders)

    written = make("backup")
    (backup,) = re.findall(r"Wrote (backups/shop-\d{8}T\d{6}Z\.dump)", written)
    assert backup in make("backups")
    compose("down", "--volumes")
    make("up")
    assert buyer.my_orders() == []
    assert sql("SELECT count(*) FROM shop_processedstripeevent") == [["0"]]

    assert "No backup at backups/none.dump" in refused("restore", "BACKUP=backups/none.dump")
    assert "without a confirmation" in refused("restore", f"BACKUP={backup}")
    assert sql("SELECT count(*) FROM shop_order") == [["0"]]
    make("restore", f"BACKUP={backup}", "YES=1")

    assert buyer.my_orders() == my_orders
    assert sql(ORDERS_QUERY) == orders
    assert sql(EVENTS_QUERY) == events
    # Stripe retries what it thinks was not received: after a restore, a 200 that changes nothing.
    body, headers = signed_webhook(replay, container_env("web", "STRIPE_WEBHOOK_SECRET"))
    answer = fetch(BASE_URL + "/stripe/webhook/", method="POST", body=body, headers=headers)
    assert answer.status == HTTPStatus.OK
    assert sql(ORDERS_QUERY) == orders
    assert sql(EVENTS_QUERY) == events


def test_after_an_older_backup_is_restored_a_new_order_gets_a_new_session_at_the_first_click(
    simulator: Simulator,
) -> None:
    buyer = Buyer()
    buyer.buy_now()
    (backup,) = re.findall(r"Wrote (backups/shop-\d{8}T\d{6}Z\.dump)", make("backup"))
    buyer.buy_now()
    [[lost_id, lost]] = sql(LAST_ORDER_QUERY)

    # Restored under the running simulator, which keeps every idempotency key it was sent.
    make("restore", f"BACKUP={backup}", "YES=1")
    assert lost not in "".join(buyer.my_orders())
    _, response = buyer.request("/checkout/", method="POST", form=buyer.buy_form())

    assert response.status == HTTPStatus.SEE_OTHER, response.text
    [[order_id, session_id]] = sql(LAST_ORDER_QUERY)
    assert order_id == lost_id
    assert session_id != lost
    assert {lost, session_id} <= {session["id"] for session in simulator.sessions()}


def test_with_webhooks_dropped_the_reconcile_service_settles_a_paid_order_by_itself(
    simulator: Simulator,
) -> None:
    schedule = {
        "RECONCILE_INTERVAL_SECONDS": str(RECONCILE_INTERVAL_SECONDS),
        "RECONCILE_OLDER_THAN_MINUTES": "0",
    }
    compose("up", "--detach", "--no-deps", "reconcile", env=operator_env(**schedule))
    simulator.post("/_sim/config", {"hold_events": True})
    try:
        session_id = Buyer().buy_now()
        simulator.pay(session_id)
        wait_until_paid(session_id, timeout=RECONCILE_INTERVAL_SECONDS * 5)
        event = completed_event(simulator, session_id)
        logged = compose("logs", "--no-color", "reconcile")
    finally:
        simulator.post("/_sim/config", {"hold_events": False})
        # Back to the stack's own schedule.
        compose("up", "--detach", "--no-deps", "reconcile")

    assert event["deliveries"] == []
    assert f"paid session={session_id}" in logged
