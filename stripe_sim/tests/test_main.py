"""The command line: the startup line, configuration from flags and environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import stripe

from stripe_sim.tests.helpers import API_KEY, Sim, session_params

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_briefly(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stripe_sim", *args],
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )


def test_it_will_not_start_beside_the_real_stripe():
    result = run_briefly("--port", "0", env={"STRIPE_API_BASE": "https://api.stripe.com/"})

    assert result.returncode == 2
    assert "STRIPE_API_BASE is Stripe's" in result.stderr
    assert result.stdout == ""


def test_the_first_stdout_line_names_the_listening_address(sim_server):
    assert sim_server.base_url.startswith("http://127.0.0.1:")
    assert sim_server.port > 0


def test_an_invalid_webhook_secret_stops_the_start_with_a_sentence():
    result = run_briefly("--port", "0", "--webhook-secret", "secret")

    assert result.returncode == 2
    assert "webhook_secret must be a string starting with 'whsec_'" in result.stderr
    assert result.stdout == ""


def test_environment_variables_provide_the_webhook_defaults(tmp_path):
    env = {
        **os.environ,
        "STRIPE_SIM_WEBHOOK_URL": "http://127.0.0.1:9/hook",
        "STRIPE_WEBHOOK_SECRET": "whsec_env",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "stripe_sim", "--port", "0", "--public-url", "http://sim.test:1/"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    try:
        line = process.stdout.readline()
        base_url = line.removeprefix("stripe_sim listening on ").strip()
        sim = Sim(base_url)
        config = sim.get("/_sim/config")
        client = stripe.StripeClient(API_KEY, base_addresses={"api": base_url})
        session = client.v1.checkout.sessions.create(params=session_params())  # type: ignore[arg-type]
        sim.post(f"/_sim/sessions/{session.id}/pay")
        events = sim.get("/_sim/events")
    finally:
        process.terminate()
        process.wait(timeout=5)

    assert config["webhook_url"] == "http://127.0.0.1:9/hook"
    [event] = events
    stripe.WebhookSignature.verify_header(event["payload"], event["signature"], "whsec_env", 300)
    assert config["public_url"] == "http://sim.test:1"
