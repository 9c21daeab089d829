"""Logs and error reports: JSON with a request id in production, plain lines for `make run`."""

from __future__ import annotations

import http.cookiejar
import importlib.util
import json
import logging
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from shop.tests.helpers import run_manage
from shop.tests.stack import Stack, running_stack
from tests.support.servers import GUNICORN_CONFIG

NGINX_REQUEST_ID = "0f3c9a1b2d4e5f60718293a4b5c6d7e8"


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def json_lines(log: Path) -> list[dict[str, Any]]:
    lines = []
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def gunicorn_config() -> Any:
    spec = importlib.util.spec_from_file_location("gunicorn_config", GUNICORN_CONFIG)
    assert spec is not None and spec.loader is not None
    config = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(config)
    return config


def test_the_access_lines_fast_path_writes_what_the_json_formatter_writes() -> None:
    config = gunicorn_config()
    fields = {"message": 'GET / "é"', "request_id": "r1", "status": "200", "duration_ms": 3}
    record = logging.makeLogRecord(
        {"name": "gunicorn.access", "levelno": logging.INFO, "levelname": "INFO", **fields}
    )
    record.msg = fields["message"]
    formatter = config.JsonFormatter(config.JSON_FIELDS, rename_fields=config.RENAMED_FIELDS)
    expected = formatter.format(record)
    written = config.json_line("gunicorn.access", fields, record.created)
    assert json.loads(written) == json.loads(expected)
    assert written == expected


def run_shell(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_manage("shell", "-c", code, **{"SECRET_KEY": "x" * 50, "SENTRY_DSN": "", **env})


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("sent", "kept"),
    [(NGINX_REQUEST_ID, True), (None, False), ("two words", False), ("x" * 300, False)],
    ids=["from-nginx", "none", "with-a-space", "too-long"],
)
def test_the_request_id_is_nginxs_or_a_new_one_and_goes_back_in_the_response(
    client: Client, sent: str | None, kept: bool
) -> None:
    headers = {} if sent is None else {"X-Request-ID": sent}
    returned = client.get("/", headers=headers)["X-Request-ID"]
    if kept:
        assert returned == sent
    else:
        assert re.fullmatch(r"[0-9a-f]{32}", returned)


@pytest.mark.parametrize(
    ("debug", "expected"),
    [("true", "plain"), ("false", "json")],
)
def test_logs_are_plain_for_make_run_and_json_in_production(debug: str, expected: str) -> None:
    result = run_shell("import logging; logging.getLogger('shop').warning('hello')", DEBUG=debug)
    line = result.stdout.strip().splitlines()[-1]
    if expected == "plain":
        assert re.fullmatch(r"\S+ \S+ WARNING shop hello", line), line
    else:
        record = json.loads(line)
        fields = (record["level"], record["logger"], record["message"])
        assert fields == ("WARNING", "shop", "hello")
        assert record["request_id"] == "-" and "time" in record


def test_sentry_starts_only_with_a_dsn_and_carries_environment_and_release() -> None:
    code = (
        "import sentry_sdk; c = sentry_sdk.get_client(); "
        "print(c.is_active(), c.options['environment'], c.options['release'])"
    )
    # A DSN on loopback that nothing listens on: nothing is reported from this test anyway.
    configured = run_shell(
        code,
        DEBUG="false",
        SENTRY_DSN="http://public@127.0.0.1:9/1",
        SENTRY_ENVIRONMENT="staging",
        SENTRY_RELEASE="3f2a1bc",
    )
    assert configured.stdout.strip().splitlines()[-1] == "True staging 3f2a1bc"
    unset = run_shell(code, DEBUG="false")
    assert unset.stdout.strip().splitlines()[-1].startswith("False")


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("logging")) as stack:
        yield stack


def test_one_purchase_logs_json_with_request_ids_and_one_line_per_state_change(
    shop: Stack,
) -> None:
    jar = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(jar), NoRedirects
    )
    page = browser.open(shop.base_url + "/", timeout=10).read().decode()
    form = re.search(r'<form method="post" action="/checkout/".*?</form>', page, re.DOTALL)
    assert form
    fields = dict(re.findall(r'name="(\w+)"[^>]*?value="([^"]*)"', form.group(0), re.DOTALL))
    request = urllib.request.Request(
        shop.base_url + "/checkout/",
        data=urllib.parse.urlencode(fields).encode(),
        headers={"X-Request-ID": NGINX_REQUEST_ID, "Referer": shop.base_url + "/"},
    )
    with pytest.raises(urllib.error.HTTPError) as redirect:
        browser.open(request, timeout=20)
    assert redirect.value.code == 303
    session_id = redirect.value.headers["Location"].rsplit("/", 1)[-1]
    shop.simulator.pay(session_id)
    deadline = time.monotonic() + 30
    while shop.database.orders()[-1]["status"] != "paid":
        assert time.monotonic() < deadline, "the webhook never paid the order"
        time.sleep(0.1)

    lines = json_lines(shop.logs[0])
    access = [r for r in lines if r["logger"] == "gunicorn.access" and r["path"] == "/checkout/"]
    assert [(r["request_id"], r["method"], r["status"]) for r in access] == [
        (NGINX_REQUEST_ID, "POST", "303")
    ]
    opened = [r for r in lines if "checkout session=" in r["message"]]
    assert [r["request_id"] for r in opened] == [NGINX_REQUEST_ID]
    [paid] = [r for r in lines if r.get("order_status") == "paid"]
    assert paid["session_id"] == session_id and paid["payment_intent_id"].startswith("pi_")
    assert paid["order_id"] == shop.database.orders()[-1]["id"]
    # The webhook came without an id, so the shop made one: still one id per request.
    assert re.fullmatch(r"[0-9a-f]{32}", paid["request_id"])
    assert "card" not in json.dumps(paid) and "whsec_" not in shop.logs[0].read_text()
