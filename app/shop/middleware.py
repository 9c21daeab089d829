"""Middleware of our own: refusing an unknown Host plainly."""

from __future__ import annotations

import logging
from collections.abc import Callable
from http import HTTPStatus

from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse
from django.template import loader

logger = logging.getLogger(__name__)


class AllowedHostMiddleware:
    """Refuse a Host outside ALLOWED_HOSTS with our 400 page and a WARNING.

    Left to Django, the refusal is logged at ERROR with a traceback, and the middleware
    that sets CSP and X-Frame-Options never sees the response. Scanners send such
    requests all day: they are expected, not errors.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            request.get_host()
        except DisallowedHost as refusal:
            logger.warning("Refused a request: %s", refusal)
            return HttpResponse(loader.render_to_string("400.html"), status=HTTPStatus.BAD_REQUEST)
        return self.get_response(request)
