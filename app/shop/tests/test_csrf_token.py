"""The storefront's cheaper CSRF mask makes Django's token: same secret, same check, new mask."""

from __future__ import annotations

import re
from collections.abc import Callable
from http import HTTPStatus

import pytest
from django.middleware import csrf
from django.test import Client

from shop.csrf_token import masked, new_secret

pytestmark = pytest.mark.django_db
# What CsrfViewMiddleware compares with the cookie's secret; the stubs leave it out.
unmask: Callable[[str], str] = csrf._unmask_cipher_token  # type: ignore[attr-defined]
TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def test_a_masked_token_unmasks_to_its_secret_and_every_mask_is_new() -> None:
    secret = csrf._get_new_csrf_string()
    tokens = {masked(secret) for _ in range(200)}
    assert len(tokens) == 200
    for token in tokens:
        assert len(token) == csrf.CSRF_TOKEN_LENGTH
        assert set(token) <= set(csrf.CSRF_ALLOWED_CHARS)
        assert unmask(token) == secret


def test_a_new_secret_is_in_djangos_format_and_drawn_from_every_character() -> None:
    secrets = {new_secret() for _ in range(500)}
    assert len(secrets) == 500
    for secret in secrets:
        assert len(secret) == csrf.CSRF_SECRET_LENGTH
        assert set(secret) <= set(csrf.CSRF_ALLOWED_CHARS)
    assert set("".join(secrets)) == set(csrf.CSRF_ALLOWED_CHARS)


def test_the_pages_token_passes_djangos_check_and_a_stale_cookie_does_not() -> None:
    buyer = Client(enforce_csrf_checks=True)
    page = buyer.get("/").content.decode()
    token = TOKEN.search(page)
    assert token is not None
    secret = buyer.cookies["csrftoken"].value
    assert unmask(token.group(1)) == secret
    # The same visitor's second page keeps the cookie's secret under a fresh mask.
    again = TOKEN.search(buyer.get("/").content.decode())
    assert again is not None and again.group(1) != token.group(1)
    assert unmask(again.group(1)) == secret
    # Past the CSRF check, an empty Buy form is refused for what it lacks.
    accepted = buyer.post("/checkout/", {"csrfmiddlewaretoken": token.group(1)})
    assert "Choose a product to buy." in accepted.content.decode()
    buyer.cookies["csrftoken"] = csrf._get_new_csrf_string()
    refused = buyer.post("/checkout/", {"csrfmiddlewaretoken": token.group(1)})
    assert refused.status_code == HTTPStatus.BAD_REQUEST
    assert "Choose a product to buy." not in refused.content.decode()
