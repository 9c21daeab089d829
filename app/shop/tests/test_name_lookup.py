"""A host name that never answers costs a request its deadline, not the resolver's 10 s.

Nothing here can make a real DNS server hang, so the system resolver's hang is the one part
stood in for: `socket.getaddrinfo` waits, for the names given, as Docker's DNS does for a
stopped container's name. Everything else is real: the database, the stripe library over
HTTP to the simulator, the view.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

import psycopg2
import pytest
from django.db import connection
from django.test import Client

from shop import name_lookup
from shop.models import Order, Product
from shop.postgresql.base import LOOKUP_SECONDS, DatabaseWrapper
from shop.stripe_gateway import idempotency_key
from shop.tests.helpers import buy_form, requires_postgres, session_id_of
from shop.tests.stack import Simulator

HANG_SECONDS = 5.0


@pytest.fixture
def hanging_names(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[set[str], list[str]]]:
    """Names listed in the set hang on lookup until released; every lookup is recorded."""
    real = socket.getaddrinfo
    hanging: set[str] = set()
    asked: list[str] = []
    release = threading.Event()

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        asked.append(host)
        if host in hanging:
            release.wait(HANG_SECONDS)
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield hanging, asked
    release.set()


def test_a_hanging_name_fails_within_the_timeout_and_callers_share_one_lookup(
    hanging_names: tuple[set[str], list[str]],
) -> None:
    hanging, asked = hanging_names
    hanging.add("db.hangs.test")
    failures: list[Exception] = []

    def attempt() -> None:
        try:
            name_lookup.resolve("db.hangs.test", 5432, 0.3)
        except name_lookup.NameNotResolved as error:
            failures.append(error)

    started = time.monotonic()
    threads = [threading.Thread(target=attempt) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert time.monotonic() - started < 1.0
    assert len(failures) == 5 and "within 0.3 s" in str(failures[0])
    assert asked.count("db.hangs.test") == 1
    assert name_lookup.resolve("localhost", 5432, 1.0) in ("127.0.0.1", "::1")


def test_a_name_that_is_back_resolves_at_once_while_the_lookup_that_hung_goes_on(
    hanging_names: tuple[set[str], list[str]],
) -> None:
    hanging, asked = hanging_names
    hanging.add("localhost")
    with pytest.raises(name_lookup.NameNotResolved):
        name_lookup.resolve("localhost", 5432, 0.3)
    hanging.clear()

    started = time.monotonic()
    address = name_lookup.resolve("localhost", 5432, 0.3)

    assert time.monotonic() - started < 0.3
    assert address in ("127.0.0.1", "::1")
    # The first lookup still hangs; the second caller found it past its timeout and asked anew.
    assert asked.count("localhost") == 2


@requires_postgres
@pytest.mark.django_db
def test_the_database_host_is_looked_up_within_its_deadline(
    hanging_names: tuple[set[str], list[str]],
) -> None:
    hanging, _ = hanging_names
    hanging.add("db.hangs.test")
    params = connection.get_connection_params()
    wrapper = DatabaseWrapper(connection.settings_dict)
    wrapper.get_new_connection({**params, "host": "localhost"}).close()

    started = time.monotonic()
    with pytest.raises(psycopg2.OperationalError, match="look up the database host"):
        wrapper.get_new_connection({**params, "host": "db.hangs.test"})
    assert time.monotonic() - started < LOOKUP_SECONDS + 0.5


@pytest.mark.django_db
def test_checkout_with_stripes_name_hanging_answers_503_at_once_and_the_next_click_goes_on(
    client: Client,
    simulator: Simulator,
    product: Product,
    settings: Any,
    hanging_names: tuple[set[str], list[str]],
) -> None:
    hanging, _ = hanging_names
    settings.STRIPE_API_BASE = simulator.base_url.replace("127.0.0.1", "localhost")
    hanging.add("localhost")
    form = buy_form(client, product)

    started = time.monotonic()
    refused = client.post("/checkout/", form)

    assert time.monotonic() - started < 3.0
    assert refused.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert "could not reach our payment provider" in refused.content.decode()
    assert simulator.requests() == []
    hanging.clear()
    settings.STRIPE_API_BASE = simulator.base_url
    again = client.post("/checkout/", form)
    assert again.status_code == HTTPStatus.SEE_OTHER
    order = Order.objects.get()
    assert session_id_of(again) == order.stripe_session_id
    assert [r["idempotency_key"] for r in simulator.requests()] == [idempotency_key(order, 0)]
