"""The admin on the local stack, through nginx: guesses are logged, logout ends the session."""

from __future__ import annotations

import http.cookiejar
import re
import secrets
import urllib.error
import urllib.parse
import urllib.request
from http import HTTPStatus

import pytest

from shop.tests.helpers import NoRedirects
from tests.containers.stack import BASE_URL, compose

pytestmark = pytest.mark.containers

CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class AdminBrowser:
    """Cookies kept, redirects not followed, the CSRF token of the page it last read."""

    def __init__(self) -> None:
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),
            urllib.request.HTTPCookieProcessor(self.cookies),
            NoRedirects,
        )

    def open(
        self, path: str, form: dict[str, str] | None = None, **headers: str
    ) -> tuple[int, str]:
        data = None
        if form is not None:
            _, page = self.open(path if path != "/admin/logout/" else "/admin/")
            token = CSRF_FIELD.search(page)
            assert token, f"no CSRF token on the page before POST {path}"
            data = urllib.parse.urlencode({"csrfmiddlewaretoken": token.group(1), **form}).encode()
        request = urllib.request.Request(BASE_URL + path, data=data, headers=headers)
        try:
            with self.opener.open(request, timeout=15) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get("Location", "")

    def session_cookie(self) -> str:
        return next(cookie.value or "" for cookie in self.cookies if cookie.name == "sessionid")


def test_a_failed_login_is_one_log_line_naming_user_address_and_request_id() -> None:
    username, password = f"guesser-{secrets.token_hex(4)}", f"pw-{secrets.token_hex(8)}"
    request_id = f"admin-guess-{secrets.token_hex(8)}"

    status, _ = AdminBrowser().open(
        "/admin/login/",
        {"username": username, "password": password},
        **{"X-Request-ID": request_id},
    )

    assert status == HTTPStatus.OK
    logs = compose("logs", "--no-color", "web")
    lines = [line for line in logs.splitlines() if username in line]
    assert len(lines) == 1 and "Failed admin login" in lines[0], lines
    assert request_id in lines[0] and "address=" in lines[0]
    assert password not in logs


def test_a_copied_admin_cookie_replayed_after_logout_is_sent_to_the_login_page() -> None:
    username, password = f"admin-{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    compose(
        "exec", "-T", "-e", f"DJANGO_SUPERUSER_PASSWORD={password}", "web",
        "python", "manage.py", "createsuperuser", "--noinput",
        f"--username={username}", f"--email={username}@example.com",
    )  # fmt: skip
    admin = AdminBrowser()
    form = {"username": username, "password": password, "next": "/admin/"}
    status, location = admin.open("/admin/login/", form)
    assert (status, location) == (HTTPStatus.FOUND, "/admin/")
    copied = admin.session_cookie()

    assert admin.open("/admin/logout/", {})[0] == HTTPStatus.OK

    thief = AdminBrowser()
    status, location = thief.open("/admin/shop/order/", Cookie=f"sessionid={copied}")
    assert status == HTTPStatus.FOUND and location.startswith("/admin/login/")
