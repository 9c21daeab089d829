"""The gateway's real calls (create, retrieve, expire a Checkout Session) against whatever
STRIPE_API_BASE names.

In CI on GitHub that is Stripe's own stripe-mock, which checks every request against Stripe's
published API schema and rejects a parameter it does not know or a value of the wrong type;
it keeps no state and answers with canned objects. Without STRIPE_API_BASE these tests start
our simulator instead. So the assertions stay to what both can answer: Stripe accepted each
request, and its answer reads as a Checkout Session.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from urllib.parse import urlsplit

import pytest
from pytest_django.fixtures import Settings

from shop import checkout, stripe_gateway
from shop.models import Order, Product
from shop.stripe_gateway import CheckoutSession

pytestmark = [pytest.mark.contract, pytest.mark.django_db]

# stripe-mock takes any key of the right shape; this one is from its README.
STRIPE_MOCK_KEY = "sk_test_123"
STARTUP_TIMEOUT_SECONDS = 30.0
SESSION_ID_PREFIX = "cs_"


@pytest.fixture
def stripe_api(request: pytest.FixtureRequest, settings: Settings) -> str:
    """The Stripe the gateway talks to: STRIPE_API_BASE when set, else the simulator."""
    base = os.environ.get("STRIPE_API_BASE", "").rstrip("/")
    if not base:
        return request.getfixturevalue("simulator").base_url
    key = os.environ.get("STRIPE_SECRET_KEY") or STRIPE_MOCK_KEY
    stripe_gateway.refuse_live_keys(key)
    _wait_until_listening(base)
    settings.STRIPE_API_BASE = base
    settings.STRIPE_SECRET_KEY = key
    return base


@pytest.fixture
def opened_order(stripe_api: str, product: Product) -> Order:
    """An order whose Checkout Session the checkout service opened, as a Buy click does."""
    return checkout.start_checkout(
        product=product,
        quantity=2,
        form_token=uuid.uuid4(),
        visitor="contract-tests",
        site_url="http://testserver",
    )


def test_creating_a_session_sends_a_request_stripe_accepts(
    opened_order: Order, caplog: pytest.LogCaptureFixture
) -> None:
    assert refusals(caplog) == []
    assert opened_order.stripe_session_id is not None
    assert opened_order.stripe_session_id.startswith(SESSION_ID_PREFIX)
    assert Order.objects.get(pk=opened_order.pk).stripe_session_id == opened_order.stripe_session_id


def test_retrieving_a_session_reads_stripes_answer(
    opened_order: Order, caplog: pytest.LogCaptureFixture
) -> None:
    assert opened_order.stripe_session_id is not None
    session = stripe_gateway.retrieve_checkout_session(opened_order.stripe_session_id)
    assert refusals(caplog) == []
    assert_reads_as_a_session(session)


def test_expiring_a_session_sends_a_request_stripe_accepts(
    opened_order: Order, caplog: pytest.LogCaptureFixture
) -> None:
    assert opened_order.stripe_session_id is not None
    session = stripe_gateway.expire_checkout_session(opened_order.stripe_session_id)
    # The gateway falls back to a retrieve when Stripe refuses an expire: no warning, no refusal.
    assert refusals(caplog) == []
    assert_reads_as_a_session(session)


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the gateway logged about failed calls: it logs every error Stripe answers."""
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == stripe_gateway.__name__ and record.levelno >= logging.WARNING
    ]


def assert_reads_as_a_session(session: CheckoutSession) -> None:
    assert session.id.startswith(SESSION_ID_PREFIX)
    assert session.status in {"open", "complete", "expired"}
    assert session.payment_status in {"paid", "unpaid", "no_payment_required"}


def _wait_until_listening(base_url: str) -> None:
    """A service container may still be starting when the job's steps begin."""
    parts = urlsplit(base_url)
    address = (parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while True:
        try:
            with socket.create_connection(address, timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
