"""Shared fixtures: a real Stripe simulator process, and buyers who go through the real views."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from shop.models import Product

REPO_DIR = Path(__file__).resolve().parents[3]
WEBHOOK_SECRET = "whsec_test_secret_for_the_simulator"
requires_postgres = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="races need PostgreSQL's row locks: set DATABASE_URL as CI does",
)
SIMULATOR_KEY = "sk_test_simulator"


def pytest_report_header(config: pytest.Config) -> str:
    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    if engine == "sqlite3":
        return "database: SQLite (set DATABASE_URL to a PostgreSQL URL to test as CI does)"
    return f"database: {engine} at {settings.DATABASES['default']['HOST']}"


class Simulator:
    """A client for the simulator's own control API (the app never uses it)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body or {}).encode() if method == "POST" else None
        request = urllib.request.Request(
            self.base_url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")

    def reset(self) -> None:
        self.call("POST", "/_sim/reset")
        self.call(
            "POST",
            "/_sim/config",
            {
                "webhook_url": None,
                "webhook_secret": WEBHOOK_SECRET,
                "duplicate_deliveries": 1,
                "hold_events": False,
            },
        )

    def fault(self, **fault: Any) -> None:
        self.call("POST", "/_sim/faults", fault)

    def requests(self, method: str = "POST", path: str = "/v1/checkout/sessions") -> list[dict]:
        return [
            entry
            for entry in self.call("GET", "/_sim/requests")
            if entry["method"] == method and entry["path"] == path
        ]

    def sessions(self) -> list[dict]:
        return self.call("GET", "/_sim/sessions")

    def pay(self, session_id: str, **overrides: Any) -> dict:
        return self.call("POST", f"/_sim/sessions/{session_id}/pay", overrides)

    def settle_async(self, session_id: str, outcome: str) -> dict:
        return self.call("POST", f"/_sim/sessions/{session_id}/async", {"outcome": outcome})

    def expire(self, session_id: str) -> dict:
        return self.call("POST", f"/_sim/sessions/{session_id}/expire")

    def events(self, type_: str | None = None) -> list[dict]:
        return [e for e in self.call("GET", "/_sim/events") if type_ in (None, e["type"])]


@pytest.fixture(scope="session")
def simulator_process() -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "stripe_sim", "--port", "0", "--webhook-secret", WEBHOOK_SECRET],
        cwd=REPO_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "STRIPE_SIM_WEBHOOK_URL": ""},
    )
    assert process.stdout is not None
    match = re.search(r"http://127\.0\.0\.1:\d+", process.stdout.readline())
    assert match, "the simulator did not say where it listens"
    yield match.group(0)
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def simulator(simulator_process: str, settings: Any) -> Simulator:
    """The app wired to a clean simulator, exactly as STRIPE_API_BASE wires it to Stripe."""
    settings.STRIPE_API_BASE = simulator_process
    settings.STRIPE_SECRET_KEY = SIMULATOR_KEY
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    sim = Simulator(simulator_process)
    sim.reset()
    return sim


@pytest.fixture
def product(db: None) -> Product:
    return Product.objects.get(name="Enamel Camp Mug")


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


def flashes(response: Any) -> list[str]:
    html = response.content.decode()
    return [
        re.sub(r"\s+", " ", text).strip()
        for text in re.findall(r'data-testid="flash">(.*?)</div>', html, re.DOTALL)
    ]
