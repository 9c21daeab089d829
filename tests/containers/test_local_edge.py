"""nginx in front of the local stack as it runs behind a trusted load balancer: every limit keys
on the buyer the balancer names in X-Forwarded-For, and the admin opens to the allowed
addresses only.

The module restarts nginx with NGINX_REAL_IP_FROM (the network the test's requests arrive
from) and NGINX_ADMIN_ALLOW_FROM set, and restarts it as it was afterwards. Each client here is
one forwarded address, so no test spends the allowance of the host's own address.
Run by `make test-containers` after `make up`.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus

import pytest

from tests.containers.stack import (
    BASE_URL,
    Buyer,
    Response,
    assert_each_header_once,
    compose,
    fetch,
    network_subnet,
    operator_env,
    sql,
)

pytestmark = pytest.mark.containers

ADMIN_ADDRESS = "198.51.100.5"
FLOOD = 30
HEALTHZ_BOUND_SECONDS = 1.0


def restart_nginx(**environment: str) -> None:
    compose(
        "up", "--detach", "--wait", "--no-deps", "--force-recreate", "nginx",
        env=operator_env(**environment),
    )  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def behind_a_trusted_proxy() -> Iterator[None]:
    restart_nginx(
        NGINX_REAL_IP_FROM=network_subnet("frontend"), NGINX_ADMIN_ALLOW_FROM=f"{ADMIN_ADDRESS}/32"
    )
    yield
    restart_nginx()


def forwarded_for(address: str) -> dict[str, str]:
    # What a client would send to forge its address, then what the balancer appends.
    return {"X-Forwarded-For": f"203.0.113.66, {address}"}


def test_one_buyer_flooding_checkout_leaves_another_buyer_free_to_buy() -> None:
    flooder = forwarded_for("198.51.100.1")
    form = {"Content-Type": "application/x-www-form-urlencoded", **flooder}
    buyer = Buyer(headers=forwarded_for("198.51.100.2"))
    buy_form = buyer.buy_form()

    flood = Counter(
        fetch(BASE_URL + "/checkout/", method="POST", body=b"x=1", headers=form).status
        for _ in range(FLOOD)
    )
    _, response = buyer.request("/checkout/", method="POST", form=buy_form)

    assert flood[HTTPStatus.TOO_MANY_REQUESTS] >= FLOOD // 4, flood
    assert response.status == HTTPStatus.SEE_OTHER, response.text
    ((address,),) = sql("SELECT client_address FROM shop_order ORDER BY id DESC LIMIT 1")
    assert address == "198.51.100.2"


def test_a_login_flood_from_one_address_gets_429_soon_while_healthz_stays_fast() -> None:
    guesser = {"Content-Type": "application/x-www-form-urlencoded", **forwarded_for(ADMIN_ADDRESS)}
    body = b"username=admin&password=guess"

    def guess(_: int) -> Response:
        return fetch(BASE_URL + "/admin/login/", method="POST", body=body, headers=guesser)

    def healthz(_: int) -> float:
        started = time.monotonic()
        assert fetch(BASE_URL + "/healthz").status == HTTPStatus.OK
        return time.monotonic() - started

    with ThreadPoolExecutor(max_workers=8) as pool:
        probes = pool.map(healthz, range(10))
        guesses = list(pool.map(guess, range(FLOOD)))
        probe_seconds = list(probes)

    statuses = [response.status for response in guesses]
    assert HTTPStatus.TOO_MANY_REQUESTS in statuses[: FLOOD // 2], statuses
    limited = next(r for r in guesses if r.status == HTTPStatus.TOO_MANY_REQUESTS)
    assert int(limited.header("Retry-After")) > 0
    assert max(probe_seconds) < HEALTHZ_BOUND_SECONDS, probe_seconds


def test_the_admin_opens_to_the_allowed_address_only() -> None:
    allowed = fetch(BASE_URL + "/admin/", headers=forwarded_for(ADMIN_ADDRESS))
    refused = fetch(BASE_URL + "/admin/", headers=forwarded_for("198.51.100.6"))
    shop = fetch(BASE_URL + "/", headers=forwarded_for("198.51.100.6"))

    assert allowed.status == HTTPStatus.FOUND
    assert "/admin/login/" in allowed.header("Location")
    assert refused.status == HTTPStatus.FORBIDDEN
    assert "not open to your address" in refused.text
    assert "nginx" not in refused.text.lower()
    assert_each_header_once(refused)
    assert shop.status == HTTPStatus.OK
