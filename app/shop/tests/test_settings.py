"""Start-up refuses a bad configuration with one sentence naming the variable."""

from __future__ import annotations

import re

import pytest

from shop.tests.helpers import APP_DIR, run_manage

REPO = APP_DIR.parent
# Every file that reads the shop's environment, and how it names a variable there.
READERS = {
    "app/config/settings.py": r"\benv_[a-z]+\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']",
    "deploy/gunicorn.conf.py": r"os\.environ\.get\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']",
    "deploy/wait_for_database.py": r"os\.environ\.get\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']",
}

PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "k7#vQ2!pZ9@rT4$wX1^mN8&bL3*cF6(hJ0)sD5-gY2+eR7=uI4",
    "ALLOWED_HOSTS": "shop.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://shop.example.com",
    "SECURE_SSL_REDIRECT": "true",
    "STRIPE_SECRET_KEY": "sk_test_123",
}


def test_start_up_refuses_a_missing_secret_key_when_debug_is_off() -> None:
    result = run_manage("check", DEBUG="false", SECRET_KEY="")
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is false." in result.stderr


@pytest.mark.parametrize("value", ["maybe", "2", "enabled"])
def test_start_up_refuses_a_malformed_boolean(value: str) -> None:
    result = run_manage("check", DEBUG=value)
    assert result.returncode != 0
    assert f"DEBUG must be a boolean (one of 1/0, true/false, yes/no, on/off), not '{value}'." in (
        result.stderr
    )


@pytest.mark.parametrize("value", ["0", "false", "no", "off", "False"])
def test_false_words_turn_debug_off(value: str) -> None:
    result = run_manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.DEBUG)",
        DEBUG=value,
        SECRET_KEY="x" * 50,
    )
    assert result.stdout.strip().endswith("False"), result.stderr


@pytest.mark.parametrize("key", ["sk_live_abc123", "rk_live_abc123"])
def test_start_up_refuses_a_live_stripe_key(key: str) -> None:
    result = run_manage("check", **{**PRODUCTION_ENV, "STRIPE_SECRET_KEY": key})
    assert result.returncode != 0
    assert "STRIPE_SECRET_KEY is a live-mode key" in result.stderr


def test_deploy_checks_pass_with_a_production_environment() -> None:
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def checkout_origin(**env: str) -> str:
    result = run_manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.STRIPE_CHECKOUT_ORIGIN)",
        **{**PRODUCTION_ENV, **env},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_a_simulator_serves_checkout_where_browsers_reach_it() -> None:
    simulated = {"STRIPE_API_BASE": "http://stripe-sim:12111"}
    assert checkout_origin(**simulated, STRIPE_CHECKOUT_ORIGIN="") == "http://stripe-sim:12111"
    assert (
        checkout_origin(**simulated, STRIPE_CHECKOUT_ORIGIN="http://localhost:12111/")
        == "http://localhost:12111"
    )


def test_stripes_own_api_always_checks_out_on_stripes_checkout_origin() -> None:
    # A simulator origin left over in .env must not block the redirect to Stripe's Checkout.
    assert (
        checkout_origin(
            STRIPE_API_BASE="https://api.stripe.com",
            STRIPE_CHECKOUT_ORIGIN="http://localhost:12111",
        )
        == "https://checkout.stripe.com"
    )


def test_every_variable_read_is_documented_once_in_env_example() -> None:
    read = {
        name
        for path, pattern in READERS.items()
        for name in re.findall(pattern, (REPO / path).read_text())
    }
    documented = re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", (REPO / ".env.example").read_text(), re.M)
    assert len(read) > 30
    assert sorted(read - set(documented)) == []
    assert sorted({name for name in documented if documented.count(name) > 1}) == []


def test_an_empty_variable_means_the_settings_default() -> None:
    result = run_manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.LOG_LEVEL, settings.STRIPE_API_BASE)",
        **{**PRODUCTION_ENV, "LOG_LEVEL": "", "STRIPE_API_BASE": ""},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "INFO https://api.stripe.com"
