"""Several web replicas behind one nginx act as one shop (`WEB_REPLICAS=3 make up`).

nginx follows the replicas that Docker's DNS lists for `web` and takes them in turn; which
replica served a request is read from nginx's access log by the request id the test sent.
Exactly-once rests on PostgreSQL, never on a replica's memory, so races spread over replicas
still make one order.
Run by `make test-replicas`; scripts/test-stack.sh runs it between the local and production
stacks, with a checkout rate limit high enough for the races.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus

import pytest

from shop.tests.stack import Simulator
from tests.containers.stack import (
    ORDER_ROW,
    SESSION_ID,
    Buyer,
    Response,
    compose,
    container_env,
    docker,
    order_count,
    replica_address,
    served_by,
    sql,
)

pytestmark = pytest.mark.containers_replicas

REPLICAS = 3
RACERS = 20
BUYERS = 10
RESTART_TIMEOUT_SECONDS = 90.0
# nginx re-resolves web every 2 s (nginx/follow-web.sh), so it finds a new address well within this.
FOLLOW_SECONDS = 15.0


@pytest.fixture(scope="module")
def replicas() -> dict[str, str]:
    """Each running web replica's address on the network it shares with nginx, by container."""
    ids = compose("ps", "--quiet", "web").split()
    assert len(ids) == REPLICAS, f"expected {REPLICAS} web replicas: run WEB_REPLICAS=3 make up"
    return {container: replica_address(container) for container in ids}


def test_nginx_spreads_requests_over_every_replica(replicas: dict[str, str]) -> None:
    buyer = Buyer()
    request_ids = [buyer.request("/readyz")[0] for _ in range(REPLICAS * 4)]

    assert set(served_by(request_ids).values()) == set(replicas.values())


def test_racing_posts_of_one_form_across_replicas_make_one_order_and_one_session(
    simulator: Simulator,
) -> None:
    buyer = Buyer()
    form = buyer.buy_form()
    orders_before, creates_before = order_count(), len(simulator.requests())
    start = threading.Barrier(RACERS)

    def post(_: int) -> tuple[str, Response]:
        start.wait()
        return buyer.request("/checkout/", method="POST", form=form)

    with ThreadPoolExecutor(max_workers=RACERS) as pool:
        answers = list(pool.map(post, range(RACERS)))

    spread = Counter(served_by([request_id for request_id, _ in answers]).values())
    print(f"{RACERS} racing posts by replica: {dict(spread)}")
    assert {response.status for _, response in answers} == {HTTPStatus.SEE_OTHER}
    assert len({response.header("Location") for _, response in answers}) == 1
    assert len(spread) > 1
    assert order_count() == orders_before + 1
    assert len(simulator.requests()) == creates_before + 1


def test_paying_on_one_replica_and_the_webhook_on_another_pay_the_order_once(
    simulator: Simulator, replicas: dict[str, str]
) -> None:
    buyer = Buyer()
    _, redirect = buyer.request("/checkout/", method="POST", form=buyer.buy_form())
    session_id = SESSION_ID.search(redirect.header("Location")).group(1)  # type: ignore[union-attr]
    event_id = simulator.pay(session_id)["event_id"]

    # Refresh-safe: the success page, reloaded, lands on every replica in turn, while the
    # simulator's webhook reaches whichever replica Docker's DNS gave it. Three rounds, since
    # nginx's healthcheck takes its own turns in the same rotation now and then.
    visits = [
        buyer.request(f"/checkout/success/?session_id={session_id}") for _ in range(REPLICAS * 3)
    ]

    assert {response.status for _, response in visits} == {HTTPStatus.SEE_OTHER}
    assert set(served_by([request_id for request_id, _ in visits]).values()) == set(
        replicas.values()
    )
    assert wait_for_deliveries(simulator, event_id) == [HTTPStatus.OK]
    assert sql(f"SELECT status FROM shop_order WHERE stripe_session_id = '{session_id}'") == [  # noqa: S608
        ["paid"]
    ]
    assert sql(
        f"SELECT count(*) FROM shop_processedstripeevent WHERE event_id = '{event_id}'"  # noqa: S608
    ) == [["1"]]


def wait_for_deliveries(simulator: Simulator, event_id: str) -> list[int | None]:
    deadline = time.monotonic() + 10
    while True:
        (event,) = [e for e in simulator.events() if e["id"] == event_id]
        if event["deliveries"] or time.monotonic() > deadline:
            return [delivery["status"] for delivery in event["deliveries"]]
        time.sleep(0.2)


def test_my_orders_is_the_same_whichever_replica_answers(replicas: dict[str, str]) -> None:
    buyer = Buyer()
    buyer.request("/checkout/", method="POST", form=buyer.buy_form())

    pages = [buyer.request("/") for _ in range(REPLICAS * 2)]

    assert set(served_by([request_id for request_id, _ in pages]).values()) == set(
        replicas.values()
    )
    order_lists = {tuple(ORDER_ROW.findall(response.text)) for _, response in pages}
    assert len(order_lists) == 1
    assert len(next(iter(order_lists))) == 1


def test_a_replica_killed_during_a_burst_of_purchases_loses_and_doubles_no_order(
    simulator: Simulator, replicas: dict[str, str]
) -> None:
    buyers = [Buyer() for _ in range(BUYERS)]
    forms = [buyer.buy_form() for buyer in buyers]
    orders_before, sessions_before = order_count(), len(simulator.sessions())
    victim = next(iter(replicas))

    def purchase(n: int) -> int:
        return buyers[n].request("/checkout/", method="POST", form=forms[n])[1].status

    with ThreadPoolExecutor(max_workers=BUYERS + 1) as pool:
        first = pool.map(purchase, range(BUYERS))
        crash(victim)
        first_answers = list(first)
    # A buyer whose click failed clicks again, with the same form.
    retries = [purchase(n) for n in range(BUYERS)]

    print(f"{BUYERS} purchases while a replica was killed: {dict(Counter(first_answers))}")
    assert set(first_answers) <= {HTTPStatus.SEE_OTHER, HTTPStatus.BAD_GATEWAY}
    assert retries == [HTTPStatus.SEE_OTHER] * BUYERS
    assert order_count() == orders_before + BUYERS
    # A create the killed replica sent but never saw answered is sent again under the same
    # idempotency key, and Stripe answers with the session it made: one session per order.
    assert len(simulator.sessions()) == sessions_before + BUYERS
    wait_until_restarted(victim)
    assert len(compose("ps", "--quiet", "--status", "running", "web").split()) == REPLICAS
    # The restarted replica may have a new address: nginx follows it by itself, no reload.
    addresses = {replica_address(container) for container in replicas}
    buyer = Buyer()
    deadline = time.monotonic() + FOLLOW_SECONDS
    while True:
        request_ids = [buyer.request("/readyz")[0] for _ in range(REPLICAS * 4)]
        served = set(served_by(request_ids).values())
        if served == addresses or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert served == addresses


def crash(container: str) -> None:
    """SIGKILL the replica's gunicorn from outside, as the kernel's OOM killer would.

    `docker kill` would count as stopping it on purpose, and no restart policy brings back a
    container its operator stopped.
    """
    pid = docker("inspect", container)[0]["State"]["Pid"]
    subprocess.run(["kill", "-KILL", str(pid)], check=True)


def wait_until_restarted(container: str) -> None:
    deadline = time.monotonic() + RESTART_TIMEOUT_SECONDS
    while True:
        state = docker("inspect", container)[0]["State"]
        if state["Running"] and state["Health"]["Status"] == "healthy":
            return
        assert time.monotonic() < deadline, f"{container} did not come back: {state}"
        time.sleep(1)


def test_migrations_ran_once_for_the_whole_deployment() -> None:
    migrations = compose("ps", "--all", "--format", "json", "migrate")
    runs = [json.loads(line) for line in migrations.splitlines() if line.strip()]

    assert len(runs) == 1
    assert runs[0]["ExitCode"] == 0
    assert "Applying " not in compose("logs", "--no-color", "web")


def test_a_replica_on_an_unmigrated_database_stays_unready() -> None:
    database_url = container_env("web", "DATABASE_URL")
    empty_url = database_url.rsplit("/", 1)[0] + "/shop_unmigrated"
    sql("DROP DATABASE IF EXISTS shop_unmigrated")
    sql("CREATE DATABASE shop_unmigrated")
    container = (
        compose("run", "--detach", "--no-deps", "--env", f"DATABASE_URL={empty_url}", "web")
        .strip()
        .splitlines()[-1]
    )
    try:
        readiness = wait_for_answer(container)
    finally:
        subprocess.run(["docker", "rm", "--force", container], capture_output=True, check=False)
        sql("DROP DATABASE IF EXISTS shop_unmigrated")

    assert readiness == {"status": "unavailable", "failed": "migrations"}


def wait_for_answer(container: str) -> dict[str, object]:
    """The /readyz answer of a replica that serves but may never be ready."""
    probe = (
        "import json, urllib.request, urllib.error\n"
        "try:\n"
        "    r = urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2)\n"
        "except urllib.error.HTTPError as e:\n"
        "    r = e\n"
        "print(r.status, r.read().decode())\n"
    )
    deadline = time.monotonic() + 60
    while True:
        result = subprocess.run(
            ["docker", "exec", container, "python", "-c", probe],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if result.returncode == 0:
            status, _, body = result.stdout.strip().partition(" ")
            assert status == str(HTTPStatus.SERVICE_UNAVAILABLE.value), result.stdout
            return json.loads(body)
        assert time.monotonic() < deadline, result.stderr
        time.sleep(1)
