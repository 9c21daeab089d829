"""The admin login holds against guessing: wrong passwords are logged and, past a few, refused.

Failures count per username *and* address, so a guesser elsewhere cannot lock the real admin
out, and per address across usernames. Counted in the database, which every replica shares.
A refused attempt never reaches the password hasher, the costly part of a login.
"""

from __future__ import annotations

import logging
import math
from datetime import timedelta
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from shop.client_address import client_address
from shop.models import LoginFailure

logger = logging.getLogger(__name__)

# One address may try this many times the per-username allowance, spread over usernames.
ADDRESS_ALLOWANCE_FACTOR = 4
USERNAME_LENGTH = LoginFailure._meta.get_field("username").max_length or 150


def record_failure(
    sender: object, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    """`user_login_failed`: one WARNING line and one row per wrong password (never the password)."""
    username = str(credentials.get("username", ""))[:USERNAME_LENGTH]
    address = client_address(request) if request is not None else None
    logger.warning("Failed admin login for username=%r from address=%s", username, address or "-")
    cutoff = timezone.now() - _window()
    LoginFailure.objects.filter(failed_at__lt=cutoff).delete()
    LoginFailure.objects.create(username=username, address=address)


def forget_failures(sender: object, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    """`user_logged_in`: the right password clears this address's count for the user."""
    LoginFailure.objects.filter(
        username=user.get_username(), address=client_address(request)
    ).delete()


def seconds_until_allowed(username: str, address: str | None) -> int:
    """0 if a login may be tried now; else how long until the oldest counted failure ages out."""
    recent = LoginFailure.objects.filter(address=address, failed_at__gte=timezone.now() - _window())
    allowed = settings.ADMIN_LOGIN_FAILURES_ALLOWED
    for failures, limit in (
        (recent.filter(username=username[:USERNAME_LENGTH]), allowed),
        (recent, allowed * ADDRESS_ALLOWANCE_FACTOR),
    ):
        oldest = failures.order_by("-failed_at").values_list("failed_at", flat=True)[
            limit - 1 : limit
        ]
        if oldest:
            free_at = oldest[0] + _window()
            return max(1, math.ceil((free_at - timezone.now()).total_seconds()))
    return 0


class ThrottledLoginForm(AdminAuthenticationForm):
    """The admin's login form, refusing before the password is checked once too many failed."""

    retry_after = 0

    def clean(self) -> dict[str, Any]:
        username = str(self.cleaned_data.get("username") or "")
        address = client_address(self.request) if self.request is not None else None
        self.retry_after = seconds_until_allowed(username, address)
        if self.retry_after:
            logger.warning(
                "Refused admin login for username=%r from address=%s: too many failures",
                username,
                address or "-",
            )
            raise ValidationError(
                "Too many failed logins for this account from your address. "
                "Please try again in %(minutes)d minutes.",
                code="throttled",
                params={"minutes": math.ceil(self.retry_after / 60)},
            )
        return super().clean()


def admin_login(request: HttpRequest) -> HttpResponse:
    """The admin's own login view, answering 429 with Retry-After while refusing."""
    response = admin.site.login(request)
    form = (getattr(response, "context_data", None) or {}).get("form")
    if isinstance(form, ThrottledLoginForm) and form.retry_after:
        response.status_code = HTTPStatus.TOO_MANY_REQUESTS
        response["Retry-After"] = str(form.retry_after)
    return response


def _window() -> timedelta:
    return timedelta(minutes=settings.ADMIN_LOGIN_LOCKOUT_MINUTES)
