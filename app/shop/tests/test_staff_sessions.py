"""A signed-in session ends everywhere at logout, and by itself after a working day idle."""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from shop.models import StaffSession

pytestmark = pytest.mark.django_db

PASSWORD = "right horse battery staple"


@pytest.fixture
def admin_client(client: Client) -> Client:
    User.objects.create_superuser("admin", "admin@example.com", PASSWORD)
    response = client.post("/admin/login/", {"username": "admin", "password": PASSWORD})
    assert response.status_code == HTTPStatus.FOUND
    return client


def replay(cookie: str) -> Any:
    """A request from elsewhere carrying a copy of the admin's session cookie."""
    thief = Client()
    thief.cookies[settings.SESSION_COOKIE_NAME] = cookie
    return thief.get("/admin/shop/order/")


def test_a_copied_cookie_replayed_after_logout_is_sent_to_the_login_page(
    admin_client: Client,
) -> None:
    cookie = admin_client.cookies[settings.SESSION_COOKIE_NAME].value
    assert replay(cookie).status_code == HTTPStatus.OK

    assert admin_client.post("/admin/logout/").status_code == HTTPStatus.OK

    response = replay(cookie)
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"].startswith("/admin/login/")
    assert not StaffSession.objects.exists()


def test_a_session_idle_past_its_lifetime_is_signed_out(admin_client: Client) -> None:
    StaffSession.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = admin_client.get("/admin/shop/order/")

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"].startswith("/admin/login/")


def test_working_renews_the_session_and_its_cookie(admin_client: Client) -> None:
    lifetime = timedelta(hours=settings.STAFF_SESSION_HOURS)
    StaffSession.objects.update(expires_at=timezone.now() + timedelta(minutes=30))

    assert admin_client.get("/admin/shop/order/").status_code == HTTPStatus.OK

    session = StaffSession.objects.get()
    assert session.expires_at > timezone.now() + lifetime - timedelta(minutes=1)
    cookie = admin_client.cookies[settings.SESSION_COOKIE_NAME]
    assert int(cookie["max-age"]) > (lifetime - timedelta(minutes=1)).total_seconds()


def test_a_visitors_pages_never_look_up_a_session(client: Client) -> None:
    client.get("/")
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/").status_code == HTTPStatus.OK
        assert client.get("/orders/").status_code == HTTPStatus.OK
    assert not [q for q in queries if StaffSession._meta.db_table in q["sql"]]
