"""Runs the simulator as a real subprocess and talks to it over HTTP, as the app will."""

from __future__ import annotations

import os
import select
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import stripe

from stripe_sim.tests.helpers import API_KEY, WEBHOOK_SECRET, Sim, WebhookReceiver

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_SECONDS = 10
LISTENING_PREFIX = "stripe_sim listening on "


@pytest.fixture(scope="session")
def sim_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    log_path = tmp_path_factory.mktemp("stripe_sim") / "stderr.log"
    env = {k: v for k, v in os.environ.items() if k != "STRIPE_SIM_WEBHOOK_URL"}
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "stripe_sim", "--port", "0", "--webhook-secret", WEBHOOK_SECRET],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    assert process.stdout is not None
    try:
        ready, _, _ = select.select([process.stdout], [], [], STARTUP_TIMEOUT_SECONDS)
        line = process.stdout.readline() if ready else ""
        if not line.startswith(LISTENING_PREFIX):
            raise RuntimeError(f"stripe_sim did not start: {line!r}\n{log_path.read_text()}")
        yield Sim(line.removeprefix(LISTENING_PREFIX).strip())
    finally:
        process.terminate()
        process.wait(timeout=5)


@pytest.fixture
def sim(sim_server: Sim) -> Sim:
    sim_server.post("/_sim/reset")
    sim_server.post(
        "/_sim/config",
        {
            "webhook_url": None,
            "webhook_secret": WEBHOOK_SECRET,
            "duplicate_deliveries": 1,
            "hold_events": False,
            "clock_offset": 0,
        },
    )
    return sim_server


@pytest.fixture
def make_client(sim: Sim) -> Callable[..., stripe.StripeClient]:
    def make(
        api_key: str = API_KEY,
        max_network_retries: int = 0,
        timeout: float = 5,
        stripe_version: str | None = None,
    ) -> stripe.StripeClient:
        return stripe.StripeClient(
            api_key,
            base_addresses={"api": sim.base_url},
            max_network_retries=max_network_retries,
            http_client=stripe.RequestsClient(timeout=timeout),
            stripe_version=stripe_version,
        )

    return make


@pytest.fixture
def client(make_client: Callable[..., stripe.StripeClient]) -> stripe.StripeClient:
    return make_client()


@pytest.fixture
def webhook_receiver(sim: Sim) -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    sim.post("/_sim/config", {"webhook_url": receiver.url})
    yield receiver
    receiver.close()
