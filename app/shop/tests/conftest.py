"""Shared fixtures: a real Stripe simulator process, and buyers who go through the real views."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import hypothesis
import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from shop import health
from shop.models import Order, Product
from shop.tests.stack import Simulator, running_simulator

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


def pytest_report_header(config: pytest.Config) -> str:
    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    if engine == "sqlite3":
        return "database: SQLite (set DATABASE_URL to a PostgreSQL URL to test as CI does)"
    return f"database: {engine} at {settings.DATABASES['default']['HOST']}"


@pytest.fixture(autouse=True)
def fresh_database_health() -> None:
    """Each test starts with no outage seen and no readiness result cached."""
    health.database_outage.clear()
    health._last_readiness = None


@pytest.fixture(scope="session")
def simulator_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("simulator") / "stripe_sim.log"
    with running_simulator(log, webhook_url=None, webhook_secret=WEBHOOK_SECRET) as base_url:
        yield base_url


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
