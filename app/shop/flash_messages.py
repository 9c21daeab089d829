"""Django's messages (a signed cookie, then the session), with their per-request setup made once.

MessageMiddleware builds the storage for every request, the pages that never show a message
too: it looked the storage class up by name, and the cookie storage made a new signer, its
key hashed anew. The class is looked up once per process here, and the signer is kept per
process for the settings that make it (a pure function of them). Messages are stored, signed
and read exactly as Django's FallbackStorage does.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.messages import middleware
from django.contrib.messages.storage import cookie, fallback, session
from django.contrib.messages.storage.base import BaseStorage
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string


class CookieStorage(cookie.CookieStorage):
    def __init__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        # Django's own __init__ only adds the signer, which is kept instead.
        BaseStorage.__init__(self, request, *args, **kwargs)
        self.signer = _cookie_signer(
            settings.SIGNING_BACKEND, settings.SECRET_KEY, tuple(settings.SECRET_KEY_FALLBACKS)
        )


class FallbackStorage(fallback.FallbackStorage):
    storage_classes = (CookieStorage, session.SessionStorage)


class MessageMiddleware(middleware.MessageMiddleware):
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        super().__init__(get_response)
        self.storage_class = import_string(settings.MESSAGE_STORAGE)

    def process_request(self, request: HttpRequest) -> None:
        request._messages = self.storage_class(request)  # type: ignore[attr-defined]


@functools.lru_cache(maxsize=4)
def _cookie_signer(backend: str, key: str, fallback_keys: tuple[str, ...]) -> signing.Signer:
    """Django's cookie signer for messages; the arguments are the settings it is made from."""
    signer = signing.get_cookie_signer(salt=CookieStorage.key_salt)  # type: ignore[attr-defined]
    # Django hands the fallback keys over as a one-shot iterator: a kept signer needs a list.
    signer.fallback_keys = list(signer.fallback_keys)
    return signer
