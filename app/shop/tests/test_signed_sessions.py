"""A session cookie's signature is checked once per process; its age, on every request."""

from __future__ import annotations

import time
from unittest import mock

from django.conf import settings
from django.contrib.sessions.backends import signed_cookies
from django.test import override_settings

from shop import signed_sessions
from shop.signed_sessions import SessionStore


def cookie_for(data: dict[str, str]) -> str:
    """The cookie Django's own signed-cookie backend writes for `data`."""
    session = signed_cookies.SessionStore()
    session.update(data)
    session.save()
    assert session.session_key is not None
    return session.session_key


def test_reads_the_cookies_djangos_backend_signs_and_djangos_reads_its_own() -> None:
    cookie = cookie_for({"visitor": "v-1"})
    assert SessionStore(cookie)["visitor"] == "v-1"

    ours = SessionStore()
    ours["visitor"] = "v-2"
    ours.save()
    assert signed_cookies.SessionStore(ours.session_key)["visitor"] == "v-2"


def test_a_tampered_cookie_starts_an_empty_session_every_time() -> None:
    cookie = cookie_for({"visitor": "v-1"})
    forged = cookie_for({"visitor": "someone-else"}).rsplit(":", 1)[0] + ":" + cookie[-43:]

    for _ in range(2):
        session = SessionStore(forged)
        assert dict(session.items()) == {}
        assert session.modified


def test_a_cookie_checked_before_is_refused_once_it_is_too_old() -> None:
    cookie = cookie_for({"visitor": "v-1"})
    assert SessionStore(cookie)["visitor"] == "v-1"

    later = time.time() + settings.SESSION_COOKIE_AGE + 1
    with mock.patch.object(signed_sessions.time, "time", return_value=later):
        session = SessionStore(cookie)
        assert dict(session.items()) == {}
        assert session.modified


def test_a_cookie_checked_before_is_refused_once_its_key_is_retired() -> None:
    cookie = cookie_for({"visitor": "v-1"})
    assert SessionStore(cookie)["visitor"] == "v-1"

    new_key = "a-new-key-" + "x" * 50
    with override_settings(SECRET_KEY=new_key):
        assert dict(SessionStore(cookie).items()) == {}
    with override_settings(SECRET_KEY=new_key, SECRET_KEY_FALLBACKS=[settings.SECRET_KEY]):
        assert SessionStore(cookie)["visitor"] == "v-1"


def test_each_request_gets_its_own_copy_of_the_data() -> None:
    cookie = cookie_for({"visitor": "v-1"})
    first = SessionStore(cookie)
    first["visitor"] = "changed in one request"

    assert SessionStore(cookie)["visitor"] == "v-1"


def test_the_kept_checks_stay_bounded() -> None:
    for index in range(signed_sessions.COOKIES_KEPT + 10):
        SessionStore(cookie_for({"visitor": f"v-{index}"})).load()

    assert signed_sessions._verified.cache_info().currsize <= signed_sessions.COOKIES_KEPT
