"""The pages' caching headers are the ones Django's helpers write."""

from __future__ import annotations

from unittest import mock

from django.http import HttpResponse
from django.utils.cache import add_never_cache_headers, patch_cache_control

from shop import cache_headers

NOW = 1_800_000_000.75


def test_never_cache_writes_djangos_headers() -> None:
    with mock.patch("time.time", return_value=NOW):
        ours = cache_headers.never_cache(HttpResponse())
        djangos = HttpResponse()
        add_never_cache_headers(djangos)

    assert dict(ours.headers) == dict(djangos.headers)
    assert ours["Expires"] == "Fri, 15 Jan 2027 08:00:00 GMT"


def test_revalidate_writes_djangos_headers() -> None:
    djangos = HttpResponse()
    patch_cache_control(djangos, private=True, no_cache=True)

    assert dict(cache_headers.revalidate(HttpResponse()).headers) == dict(djangos.headers)
