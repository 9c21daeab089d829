"""The database disappears or hangs while gunicorn serves the shop, then comes back."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import urlsplit

import pytest

from shop import health
from shop.tests.helpers import requires_postgres
from shop.tests.stack import DatabaseProxy, Stack, running_stack
from shop.tests.test_webhooks import sign
from tests.support.servers import LOCAL_OPENER, WEBHOOK_SECRET

pytestmark = requires_postgres
# What a container runtime gives a liveness probe before it counts a failure.
PROBE_TIMEOUT_SECONDS = 2.0
RECOVERY_LIMIT_SECONDS = 15.0


@dataclass(frozen=True)
class Answer:
    status: int
    body: str
    seconds: float


def fetch(
    url: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 20,
) -> Answer:
    request = urllib.request.Request(url, data=body, headers=headers or {})
    started = time.monotonic()
    try:
        with LOCAL_OPENER.open(request, timeout=timeout) as response:
            status, content = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, content = error.code, error.read()
    return Answer(status, content.decode(), time.monotonic() - started)


@pytest.fixture(scope="module")
def proxy() -> Iterator[DatabaseProxy]:
    target = urlsplit(os.environ["DATABASE_URL"])
    proxy = DatabaseProxy(target.hostname or "127.0.0.1", target.port or 5432)
    yield proxy
    proxy.close()


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory, proxy: DatabaseProxy) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("outage"), proxy.route) as stack:
        yield stack


@pytest.fixture(autouse=True)
def database_back(proxy: DatabaseProxy, shop: Stack) -> Iterator[None]:
    proxy.set_mode("up")
    yield
    proxy.set_mode("up")
    print(f"--- gunicorn.log ---\n{shop.logs[0].read_text()[-4000:]}")


def signed_event() -> tuple[bytes, dict[str, str]]:
    payload = json.dumps(
        {
            "id": "evt_during_outage",
            "type": "checkout.session.completed",
            "data": {"object": {"id": "cs_test_outage", "object": "checkout.session"}},
        }
    )
    return payload.encode(), {
        "Content-Type": "application/json",
        "Stripe-Signature": sign(payload, WEBHOOK_SECRET),
    }


def returning_visitor(shop: Stack) -> dict[str, str]:
    """The session cookie of a visitor who has seen the page: their page reads their orders.

    A first-time visitor's page may need no query at all, its products cached in the worker.
    """
    with LOCAL_OPENER.open(shop.base_url + "/", timeout=20) as response:
        cookies = response.headers.get_all("Set-Cookie") or []
    session = next(cookie for cookie in cookies if cookie.startswith("sessionid="))
    return {"Cookie": session.split(";", 1)[0]}


def eventually(shop: Stack, path: str, status: int) -> Answer:
    deadline = time.monotonic() + health.READINESS_CACHE_SECONDS + RECOVERY_LIMIT_SECONDS
    while (answer := fetch(shop.base_url + path)).status != status:
        assert time.monotonic() < deadline, f"{path} never answered {status}"
        time.sleep(0.1)
    return answer


def recovers(shop: Stack) -> float:
    """Seconds until the storefront and readiness first answer 200; no restart between.

    It then waits until every worker process has certainly let go of the outage: each one
    holds it for OUTAGE_HOLD_SECONDS after its last failure, and keeps a readiness result
    for READINESS_CACHE_SECONDS, both counted from before the database came back.
    """
    started = time.monotonic()
    while not all(fetch(shop.base_url + path).status == HTTPStatus.OK for path in ("/", "/readyz")):
        assert time.monotonic() - started < RECOVERY_LIMIT_SECONDS, "the shop did not recover"
        time.sleep(0.1)
    recovered = time.monotonic() - started
    settled = max(health.OUTAGE_HOLD_SECONDS, health.READINESS_CACHE_SECONDS) + 0.2
    time.sleep(max(0.0, settled - recovered))
    return recovered


def test_while_the_database_is_down_pages_are_a_friendly_503_and_probes_tell_apart(
    shop: Stack, proxy: DatabaseProxy
) -> None:
    visitor = returning_visitor(shop)
    assert fetch(shop.base_url + "/", headers=visitor).status == HTTPStatus.OK
    log_start = shop.logs[0].stat().st_size
    proxy.set_mode("down")

    for _ in range(3):
        page = fetch(shop.base_url + "/", headers=visitor)
        assert page.status == HTTPStatus.SERVICE_UNAVAILABLE
        assert "The shop is unavailable for a moment." in page.body
        assert "Traceback" not in page.body
    # A worker that checked just before may answer from its cached result for a moment.
    ready = eventually(shop, "/readyz", HTTPStatus.SERVICE_UNAVAILABLE)
    assert json.loads(ready.body)["failed"] == "database"
    alive = fetch(shop.base_url + "/healthz", timeout=PROBE_TIMEOUT_SECONDS)
    assert alive.status == HTTPStatus.OK
    body, headers = signed_event()
    # Stripe retries a 503 for days, so the event is not lost.
    assert fetch(shop.base_url + "/stripe/webhook/", body=body, headers=headers).status == 503

    # An outage is an incident to see in the logs, not a flood of errors with tracebacks.
    with shop.logs[0].open() as log:
        log.seek(log_start)
        during = log.read()
    assert "The database is unavailable" in during
    assert " ERROR " not in during and "Traceback" not in during

    proxy.set_mode("up")
    recovery = recovers(shop)

    print(f"recovered {recovery:.2f} s after the database came back")
    assert all(fetch(shop.base_url + "/readyz").status == HTTPStatus.OK for _ in range(10))
    assert fetch(shop.base_url + "/stripe/webhook/", body=body, headers=headers).status == 200


def test_while_the_database_hangs_liveness_answers_within_the_probe_timeout(
    shop: Stack, proxy: DatabaseProxy
) -> None:
    visitor = returning_visitor(shop)
    proxy.set_mode("hang")

    with ThreadPoolExecutor(max_workers=12) as pool:
        pages = [pool.submit(fetch, shop.base_url + "/", headers=visitor) for _ in range(12)]
        probes = []
        for _ in range(10):
            probes.append(fetch(shop.base_url + "/healthz", timeout=PROBE_TIMEOUT_SECONDS))
            time.sleep(0.2)
        answers = [page.result() for page in pages]

    assert all(probe.status == HTTPStatus.OK for probe in probes)
    assert {answer.status for answer in answers} == {HTTPStatus.SERVICE_UNAVAILABLE}
    ready = fetch(shop.base_url + "/readyz")
    assert ready.status == HTTPStatus.SERVICE_UNAVAILABLE
    slowest = max(answer.seconds for answer in answers)
    print(f"slowest page while hung {slowest:.2f} s; readyz {ready.seconds:.2f} s")

    proxy.set_mode("up")
    print(f"recovered {recovers(shop):.2f} s after the database came back")


def test_no_request_fails_on_a_connection_a_database_restart_cut(
    shop: Stack, proxy: DatabaseProxy
) -> None:
    visitor = returning_visitor(shop)

    def pages() -> list[int]:
        # More requests at once than gunicorn has threads, so every thread holds a connection.
        with ThreadPoolExecutor(max_workers=16) as pool:
            answers = pool.map(lambda _: fetch(shop.base_url + "/", headers=visitor), range(64))
            return [answer.status for answer in answers]

    assert set(pages()) == {HTTPStatus.OK}
    # Cut every connection and accept new ones at once, as a restarted database does.
    proxy.set_mode("down")
    proxy.set_mode("up")
    assert set(pages()) == {HTTPStatus.OK}
