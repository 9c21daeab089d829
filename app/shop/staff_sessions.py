"""Signed-in sessions are checked against the server, so that logging out ends every copy.

Sessions are signed cookies, which cost the storefront no query. A visitor's cookie carries
no user and is never looked up; a signed-in one carries a token that must name a live row,
which logout deletes. A row lives STAFF_SESSION_HOURS past the last request.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from shop.models import StaffSession

TOKEN_SESSION_KEY = "staff_session"  # noqa: S105 (a session key's name, not a secret)
# A busy admin's requests rewrite the row and the cookie at most this often.
RENEW_EVERY = timedelta(minutes=5)


def open_session(sender: object, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    """`user_logged_in`: a new server-side row for the session the login just started."""
    now = timezone.now()
    StaffSession.objects.filter(expires_at__lte=now).delete()
    token = secrets.token_urlsafe(32)
    StaffSession.objects.create(token=token, user=user, expires_at=now + _lifetime())
    request.session[TOKEN_SESSION_KEY] = token
    request.session.set_expiry(_lifetime())


def close_session(sender: object, request: HttpRequest | None, **kwargs: Any) -> None:
    """`user_logged_out`: the row goes, so a copy of the cookie signs nobody in any more."""
    if request is not None and (token := request.session.get(TOKEN_SESSION_KEY)):
        StaffSession.objects.filter(token=token).delete()


class StaffSessionMiddleware:
    """After AuthenticationMiddleware: a signed-in cookie without a live row is signed out."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if SESSION_KEY in request.session:
            self._check(request)
        return self.get_response(request)

    def _check(self, request: HttpRequest) -> None:
        token = request.session.get(TOKEN_SESSION_KEY)
        now = timezone.now()
        live = token and StaffSession.objects.filter(token=token, expires_at__gt=now).first()
        if not live:
            request.session.flush()
            request.user = AnonymousUser()
            return
        if live.expires_at - now < _lifetime() - RENEW_EVERY:
            StaffSession.objects.filter(pk=live.pk).update(expires_at=now + _lifetime())
            request.session.set_expiry(_lifetime())


def _lifetime() -> timedelta:
    return timedelta(hours=settings.STAFF_SESSION_HOURS)
