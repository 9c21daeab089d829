"""Marking a response as an expected refusal, so it is not logged or reported as an error."""

from __future__ import annotations

from typing import TypeVar

from django.http import HttpResponse

R = TypeVar("R", bound=HttpResponse)


def expected(response: R) -> R:
    """Django logs every 5xx at ERROR, which Sentry reports; a 503 we chose is no error.

    The caller logs it at WARNING itself. `_has_been_logged` is how Django marks a response
    that its handler must not log again.
    """
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response
