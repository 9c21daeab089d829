"""Messages are stored and read as Django's storage does, with the cookie's signer kept."""

from __future__ import annotations

from django.conf import settings
from django.contrib.messages import constants
from django.contrib.messages.storage.cookie import CookieStorage as DjangosCookieStorage
from django.http import HttpResponse
from django.test import RequestFactory, override_settings

from shop.flash_messages import CookieStorage


def messages_cookie(storage_class: type[DjangosCookieStorage], text: str) -> str:
    storage = storage_class(RequestFactory().get("/"))
    storage.add(constants.INFO, text)
    response = HttpResponse()
    storage.update(response)
    return response.cookies[storage.cookie_name].value


def read(storage_class: type[DjangosCookieStorage], cookie: str) -> list[str]:
    request = RequestFactory().get("/")
    request.COOKIES[DjangosCookieStorage.cookie_name] = cookie
    return [str(message) for message in storage_class(request)]


def test_reads_what_djangos_storage_writes_and_djangos_reads_ours() -> None:
    assert read(CookieStorage, messages_cookie(DjangosCookieStorage, "from Django")) == [
        "from Django"
    ]
    assert read(DjangosCookieStorage, messages_cookie(CookieStorage, "from ours")) == ["from ours"]


def test_the_kept_signer_accepts_a_retired_key_on_every_request_and_refuses_a_dropped_one() -> None:
    old_cookie = messages_cookie(CookieStorage, "signed with the old key")
    with override_settings(
        SECRET_KEY="a-new-key-" + "x" * 50, SECRET_KEY_FALLBACKS=[settings.SECRET_KEY]
    ):
        for _ in range(3):
            assert read(CookieStorage, old_cookie) == ["signed with the old key"]
    with override_settings(SECRET_KEY="a-new-key-" + "x" * 50):
        assert read(CookieStorage, old_cookie) == []
