"""Releases on the local stack: nginx follows web wherever its replicas are, without a reload;
`make deploy` under load fails no request and charges no one twice; `make rollback` brings the
image before it back.

Run by `make test-containers` after `make up`.
"""

from __future__ import annotations

import itertools
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http import HTTPStatus

import pytest

from shop.tests.stack import Simulator
from tests.containers.stack import (
    BASE_URL,
    SESSION_ID,
    Buyer,
    compose,
    docker,
    fetch,
    make,
    operator_env,
    order_count,
    replica_address,
    served_by,
    sql,
)

pytestmark = pytest.mark.containers

# nginx re-resolves web every 2 s; the bound leaves room for the reload and a slow machine.
FOLLOW_BOUND_SECONDS = 15.0
STEADY_REQUESTS = 20
# The deploy's load: page views at this rate, plus one Buy Now a second (test-stack.sh raises
# the app's per-visitor order allowance for it).
PAGES_PER_SECOND = 20
LOAD_PATHS = ("/", "/orders/")
ORDERS_QUERY = "SELECT id, status, amount_cents, stripe_session_id FROM shop_order ORDER BY id"


def status_of(path: str) -> int | None:
    try:
        return fetch(BASE_URL + path).status
    except OSError:
        return None


def test_nginx_follows_a_recreated_web_to_its_new_address_without_a_reload() -> None:
    (old,) = compose("ps", "--quiet", "web").split()
    old_address = replica_address(old)
    networks = docker("inspect", old)[0]["NetworkSettings"]["Networks"]
    (network,) = [name for name in networks if name.endswith("_frontend")]
    image = compose("images", "--quiet", "web").split()[0]
    compose("rm", "--stop", "--force", "web")
    # Another container takes the old address, so that it answers nothing nginx wants.
    squatter = docker_run("--network", network, "--entrypoint", "sleep", image, "300")
    try:
        assert replica_address(squatter) == old_address
        compose("up", "--detach", "--no-deps", "--wait", "web")
        recreated = time.monotonic()
        (new,) = compose("ps", "--quiet", "web").split()
        assert replica_address(new) != old_address
        while time.monotonic() - recreated < FOLLOW_BOUND_SECONDS:
            if status_of("/") == HTTPStatus.OK:
                break
            time.sleep(0.5)
        followed_after = time.monotonic() - recreated
        statuses = [status_of("/") for _ in range(STEADY_REQUESTS)]
    finally:
        subprocess.run(["docker", "rm", "--force", squatter], capture_output=True, check=False)

    print(f"nginx served the recreated web {followed_after:.1f} s after it was healthy")
    assert followed_after < FOLLOW_BOUND_SECONDS
    assert statuses == [HTTPStatus.OK] * STEADY_REQUESTS
    assert f"web is at {replica_address(new)}" in compose("logs", "--no-color", "nginx")


def docker_run(*args: str) -> str:
    started = subprocess.run(
        ["docker", "run", "--detach", "--rm", *args], capture_output=True, text=True, check=True
    )
    return started.stdout.strip()


@dataclass
class Load:
    """Page views at a steady rate and one buyer's Buy Now every second, until stopped."""

    pages: Counter[str] = field(default_factory=Counter)
    purchases: Counter[str] = field(default_factory=Counter)
    sessions: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run_pages(self) -> None:
        paths = itertools.cycle(LOAD_PATHS)
        with ThreadPoolExecutor(max_workers=8) as pool:
            while not self.stop.wait(1 / PAGES_PER_SECOND):
                pool.submit(self.view, next(paths))

    def view(self, path: str) -> None:
        self.pages[outcome(lambda: fetch(BASE_URL + path).status)] += 1

    def run_purchases(self) -> None:
        buyer = Buyer()
        while not self.stop.wait(1.0):
            self.purchases[outcome(lambda: self.buy(buyer))] += 1

    def buy(self, buyer: Buyer) -> int:
        _, page = buyer.request("/")
        if page.status != HTTPStatus.OK:
            return page.status
        _, answer = buyer.request("/checkout/", method="POST", form=buyer.buy_form(page))
        if answer.status == HTTPStatus.SEE_OTHER:
            session = SESSION_ID.search(answer.header("Location"))
            self.sessions.append(session.group(1) if session else answer.header("Location"))
        return answer.status


def outcome(request: Callable[[], int]) -> str:
    try:
        return str(request())
    except OSError as error:
        return f"connection error: {type(error).__name__}"


@pytest.fixture(scope="module")
def first_image() -> str:
    """The image web ran before this module's deploy: the one a rollback serves again."""
    (image,) = set(web_images())
    return image


def web_images() -> list[str]:
    return [docker("inspect", c)[0]["Image"] for c in compose("ps", "--quiet", "web").split()]


def test_a_deploy_under_load_fails_no_request_and_each_buy_now_is_one_order(
    simulator: Simulator, first_image: str
) -> None:
    orders_before, sessions_before = order_count(), len(simulator.sessions())
    load = Load()
    workers = [threading.Thread(target=load.run_pages), threading.Thread(target=load.run_purchases)]
    for worker in workers:
        worker.start()
    started = time.monotonic()
    try:
        deployed = make("deploy", env=operator_env(GIT_REVISION="deploy-under-load"))
    finally:
        load.stop.set()
        for worker in workers:
            worker.join()
    took = time.monotonic() - started

    print(f"make deploy took {took:.0f} s under load; pages: {dict(load.pages)}; "
          f"Buy Now: {dict(load.purchases)}; sessions: {len(load.sessions)}")  # fmt: skip
    assert "make rollback" in deployed
    assert set(web_images()) - {first_image}, "the deploy left the old image serving"
    assert set(load.pages) == {str(HTTPStatus.OK)}, load.pages
    assert set(load.purchases) == {str(HTTPStatus.SEE_OTHER)}, load.purchases
    assert sum(load.pages.values()) >= PAGES_PER_SECOND * took / 2
    bought = len(load.sessions)
    assert bought == load.purchases[str(HTTPStatus.SEE_OTHER)]
    assert len(set(load.sessions)) == bought
    assert order_count() == orders_before + bought
    assert len(simulator.sessions()) == sessions_before + bought


def test_a_rollback_serves_the_image_before_the_deploy_with_every_order_kept(
    first_image: str,
) -> None:
    orders = sql(ORDERS_QUERY)

    rolled_back = make("rollback")

    assert "rolling back" in rolled_back
    assert web_images() == [first_image]
    buyer = Buyer()
    request_ids = [buyer.request("/")[0] for _ in range(4)]
    (replica,) = compose("ps", "--quiet", "web").split()
    assert set(served_by(request_ids).values()) == {replica_address(replica)}
    assert sql(
        "SELECT id, status, amount_cents, stripe_session_id FROM shop_order ORDER BY id"
    ) == (orders)
