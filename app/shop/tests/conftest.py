"""Shared fixtures: a real Stripe simulator process, the app wired to it, a product.

Plain helpers are in helpers.py and factories.py, imported by name.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings

from shop import catalog, health
from shop.models import Product
from shop.tests.helpers import SIMULATOR_KEY, WEBHOOK_SECRET
from shop.tests.stack import Simulator
from tests.support import servers


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


@pytest.fixture(autouse=True)
def fresh_products() -> None:
    """Each test reads the products anew: a rolled-back test leaves no product in the cache."""
    catalog.forget_products()


@pytest.fixture(scope="session")
def simulator_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("simulator") / "stripe_sim.log"
    with servers.simulator(log, webhook_url=None, webhook_secret=WEBHOOK_SECRET) as base_url:
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
