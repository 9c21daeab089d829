"""Test code shared by the suites: how a buyer, Stripe's webhooks and the simulator are driven.

Fixtures live in conftest.py; this module holds plain functions and constants, imported by name.
"""

from __future__ import annotations

import hashlib
import hmac
import http.cookiejar
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import hypothesis
import pytest
from django.db import connection
from django.test import Client

from shop.models import Order, Product
from shop.tests.stack import Simulator

APP_DIR = Path(__file__).resolve().parents[2]
WEBHOOK_SECRET = "whsec_test_secret_for_the_simulator"
requires_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="races need PostgreSQL's row locks: set DATABASE_URL as CI does",
)
SIMULATOR_KEY = "sk_test_simulator"
# The same examples every run, so a red run is reproducible and a green one means the same.
PROPERTY_SETTINGS = hypothesis.settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        hypothesis.HealthCheck.function_scoped_fixture,
        hypothesis.HealthCheck.too_slow,
    ],
)


def buy_form(client: Client, product: Product) -> dict[str, str]:
    """The Buy form's fields exactly as the storefront rendered them for this product."""
    html = client.get("/").content.decode()
    card = re.search(rf'data-product-id="{product.pk}".*?</form>', html, flags=re.DOTALL)
    assert card, f"no card for product {product.pk}"
    fields = dict(re.findall(r'name="(\w+)"[^>]*?value="([^"]*)"', card.group(0), re.DOTALL))
    return {
        "csrfmiddlewaretoken": fields["csrfmiddlewaretoken"],
        "product_id": fields["product_id"],
        "token": fields["token"],
        "quantity": fields["quantity"],
    }


def buy(client: Client, product: Product, quantity: int | str = 2, **extra: str) -> Any:
    """Render the storefront, then press Buy Now on the product's card."""
    form = buy_form(client, product)
    return client.post("/checkout/", {**form, "quantity": str(quantity), **extra})


def session_id_of(response: Any) -> str:
    match = re.search(r"/c/pay/(cs_test_\w+)", response["Location"])
    assert match, f"not a Checkout redirect: {response['Location']}"
    return match.group(1)


def cancel_path(simulator: Simulator, order: Order) -> str:
    """Where Stripe sends the buyer who leaves Checkout: the cancel_url the shop gave it."""
    [session] = [s for s in simulator.sessions() if s["id"] == order.stripe_session_id]
    return urlsplit(session["cancel_url"]).path


def flashes(response: Any) -> list[str]:
    html = response.content.decode()
    return [
        re.sub(r"\s+", " ", text).strip()
        for text in re.findall(r'data-testid="flash">(.*?)</div>', html, re.DOTALL)
    ]


def deliver(event: dict[str, Any], signature: str | None = None) -> Any:
    headers = {} if signature == "" else {"Stripe-Signature": signature or event["signature"]}
    return Client().post(
        "/stripe/webhook/", event["payload"], content_type="application/json", headers=headers
    )


def sign(payload: str, secret: str = WEBHOOK_SECRET) -> str:
    """Stripe's documented scheme, computed here independently of the simulator."""
    timestamp = int(time.time())
    digest = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Buyer:
    """A browser of its own: cookies kept, redirects not followed."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
            NoRedirects,
        )
        page = self.opener.open(base_url + "/", timeout=20).read().decode()
        form = re.search(r'<form method="post" action="/checkout/".*?</form>', page, re.DOTALL)
        assert form
        self.form = dict(re.findall(r'name="(\w+)"[^>]*?value="([^"]*)"', form.group(0), re.DOTALL))

    def press_buy_now(self) -> int:
        body = urllib.parse.urlencode(self.form).encode()
        try:
            with self.opener.open(self.base_url + "/checkout/", data=body, timeout=30) as answer:
                return answer.status
        except urllib.error.HTTPError as error:
            return error.code


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """manage.py in a process of its own, with the settings production runs and `env` on top."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=APP_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def run_without_database(script: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Python in a process of its own, with the production settings and a database that never
    answers: what a page or a probe does while PostgreSQL is gone."""
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=APP_DIR,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": "postgres://postgres@127.0.0.1:9/unreachable",
            "DEBUG": "false",
            "SECRET_KEY": "x" * 50,
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
