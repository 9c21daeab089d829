"""The admin login: each wrong password is logged, and guessing is refused before it costs CPU."""

from __future__ import annotations

import logging
from datetime import timedelta
from http import HTTPStatus
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from shop.models import LoginFailure

pytestmark = pytest.mark.django_db

PASSWORD = "right horse battery staple"
GUESSER, ADMIN_DESK = "203.0.113.7", "198.51.100.1"


@pytest.fixture
def admin_user() -> User:
    return User.objects.create_superuser("admin", "admin@example.com", PASSWORD)


def log_in(client: Client, username: str, password: str) -> Any:
    return client.post("/admin/login/", {"username": username, "password": password})


def test_a_failed_login_leaves_one_warning_naming_user_address_and_request(
    admin_user: User, caplog: pytest.LogCaptureFixture
) -> None:
    client = Client(REMOTE_ADDR=GUESSER, HTTP_X_REQUEST_ID="req-guess-0001")
    with caplog.at_level(logging.INFO):
        response = log_in(client, "admin", "wrong-secret-guess")

    assert response.status_code == HTTPStatus.OK
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    [line] = warnings
    assert "username='admin'" in line.getMessage() and GUESSER in line.getMessage()
    assert getattr(line, "request_id", None) == "req-guess-0001"
    assert not any("wrong-secret-guess" in r.getMessage() for r in caplog.records)
    assert LoginFailure.objects.get().address == GUESSER


def test_a_guesser_is_refused_with_429_but_the_admin_elsewhere_still_logs_in(
    admin_user: User, settings
) -> None:
    guesser = Client(REMOTE_ADDR=GUESSER)
    for attempt in range(settings.ADMIN_LOGIN_FAILURES_ALLOWED):
        assert log_in(guesser, "admin", f"guess-{attempt}").status_code == HTTPStatus.OK

    refused = log_in(guesser, "admin", PASSWORD)

    assert refused.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert 0 < int(refused["Retry-After"]) <= settings.ADMIN_LOGIN_LOCKOUT_MINUTES * 60
    assert "Too many failed logins" in refused.content.decode()
    assert "_auth_user_id" not in guesser.session
    admin_desk = Client(REMOTE_ADDR=ADMIN_DESK)
    assert log_in(admin_desk, "admin", PASSWORD).status_code == HTTPStatus.FOUND
    assert admin_desk.get("/admin/").status_code == HTTPStatus.OK


def test_the_refusal_ends_when_the_failures_age_out_of_the_window(
    admin_user: User, settings
) -> None:
    guesser = Client(REMOTE_ADDR=GUESSER)
    for attempt in range(settings.ADMIN_LOGIN_FAILURES_ALLOWED):
        log_in(guesser, "admin", f"guess-{attempt}")
    assert log_in(guesser, "admin", PASSWORD).status_code == HTTPStatus.TOO_MANY_REQUESTS

    window = timedelta(minutes=settings.ADMIN_LOGIN_LOCKOUT_MINUTES)
    LoginFailure.objects.update(failed_at=timezone.now() - window - timedelta(seconds=1))

    assert log_in(guesser, "admin", PASSWORD).status_code == HTTPStatus.FOUND


def test_one_address_spraying_usernames_is_refused_too(admin_user: User, settings) -> None:
    settings.ADMIN_LOGIN_FAILURES_ALLOWED = 2
    sprayer = Client(REMOTE_ADDR=GUESSER)
    for name in ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"):
        assert log_in(sprayer, name, "guess").status_code == HTTPStatus.OK

    assert log_in(sprayer, "admin", PASSWORD).status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert log_in(Client(REMOTE_ADDR=ADMIN_DESK), "admin", PASSWORD).status_code == (
        HTTPStatus.FOUND
    )
