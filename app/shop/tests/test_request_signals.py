"""A production request checks its connections once, as it finishes, and skips the receivers
with nothing to do; DEBUG still clears its log."""

from __future__ import annotations

from http import HTTPStatus

from django.conf import settings
from django.test import Client
from django.urls import get_urlconf, resolve

from shop.tests.helpers import run_manage

RECEIVERS = (
    "from django.core import signals\n"
    "for signal in (signals.request_started, signals.request_finished):\n"
    "    print(sorted(receiver[1]().__name__ for receiver in signal.receivers))\n"
)


def receivers(debug: str) -> tuple[str, str]:
    result = run_manage("shell", "-c", RECEIVERS, DEBUG=debug, SECRET_KEY="x" * 50)
    assert result.returncode == 0, result.stderr
    started, finished = result.stdout.strip().splitlines()[-2:]
    return started, finished


def test_connections_are_checked_when_a_request_finishes_not_again_when_the_next_starts() -> None:
    started, finished = receivers(debug="false")

    assert "close_old_connections" in finished
    assert "close_old_connections" not in started
    assert "reset_queries" not in started
    assert "close_caches" not in finished
    assert "reset_urlconf" not in finished


def test_with_debug_each_request_starts_with_an_empty_query_log() -> None:
    started, _ = receivers(debug="true")

    assert "reset_queries" in started


def test_a_request_after_another_resolves_against_the_root_urlconf(client: Client) -> None:
    assert client.get("/healthz").status_code == HTTPStatus.OK

    assert get_urlconf() is None or get_urlconf() == settings.ROOT_URLCONF
    assert resolve("/orders/").url_name == "my-orders"
