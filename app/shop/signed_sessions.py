"""Django's signed-cookie sessions, each cookie's signature checked once per process.

A returning visitor sends the same cookie on every request until the session changes, and
checking its signature (a key derivation and an HMAC) was about a twentieth of the page's
gunicorn CPU (py-spy). Whether a cookie is signed by our keys is a pure function of the cookie
and the keys, so it is kept per process, keyed by both; the cookie's age depends on the clock
and is checked on every request, as Django checks it. The data is decoded anew each time, so
no two requests share a mutable session.
"""

from __future__ import annotations

import functools
import time
from typing import Any

from django.conf import settings
from django.contrib.sessions.backends import signed_cookies
from django.core import signing

# Django's own salt, so cookies signed before and after this module are the same cookies.
SALT = "django.contrib.sessions.backends.signed_cookies"
# Cookies are at most 4 kB: a few MB per process at worst. Only valid cookies are kept.
COOKIES_KEPT = 1024


class SessionStore(signed_cookies.SessionStore):
    def load(self) -> dict[str, Any]:
        try:
            signed_at, payload = _verified(
                self.session_key, settings.SECRET_KEY, tuple(settings.SECRET_KEY_FALLBACKS)
            )
            if time.time() - signed_at > self.get_session_cookie_age():
                raise signing.SignatureExpired("The session cookie is too old.")
            data: dict[str, Any] = self.serializer().loads(payload)
            return data
        except Exception:
            # As Django does: a cookie that is forged, too old or unreadable starts afresh.
            self.create()
        return {}


class _Payload:
    """A serializer that leaves the verified payload as bytes, for the session's own."""

    def dumps(self, obj: bytes) -> bytes:
        return obj

    def loads(self, data: bytes) -> bytes:
        return data


@functools.lru_cache(maxsize=COOKIES_KEPT)
def _verified(cookie: str, key: str, fallback_keys: tuple[str, ...]) -> tuple[int, bytes]:
    """When the cookie was signed and its payload; BadSignature unless one of the keys signed it."""
    signer = signing.TimestampSigner(key=key, salt=SALT, fallback_keys=list(fallback_keys))
    # Without max_age the signer checks the signature alone: the age is the caller's to check.
    payload = signer.unsign_object(cookie, serializer=_Payload)
    _, timestamp, _ = cookie.rsplit(signer.sep, 2)
    return signing.b62_decode(timestamp), payload
