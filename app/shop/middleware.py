"""Middleware of our own: the Content-Security-Policy header, refusing an unknown Host
plainly, and a friendly 503 while the database is out."""

from __future__ import annotations

import logging
from collections.abc import Callable
from http import HTTPStatus

from csp.constants import HEADER as CSP_HEADER
from csp.utils import build_policy
from django.core.exceptions import DisallowedHost
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.template import loader

from shop.health import database_outage
from shop.responses import expected

logger = logging.getLogger(__name__)

OUTAGE_RETRY_AFTER_SECONDS = 5


class ContentSecurityPolicyMiddleware:
    """CONTENT_SECURITY_POLICY's header on every response, built from the settings once.

    The policy has no nonce, so it is the same on every response: django-csp's own middleware
    built it anew each time, some 330,000 instructions (callgrind), 0.09 ms of CPU on a busy
    machine, where this takes 0.002 ms.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.policy = build_policy()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if CSP_HEADER not in response:
            response[CSP_HEADER] = self.policy
        return response


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


class DatabaseOutageMiddleware:
    """While the database is out, every request gets a 503 page at once.

    A 503 makes Stripe retry a webhook and tells a load balancer to try elsewhere; once the
    hold has passed, the next request tries the database again, so the shop recovers by
    itself when it returns.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if database_outage.ongoing:
            return _outage_page()
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        database_outage.trip()
        logger.warning("The database is unavailable: %s", exception)
        return _outage_page()


def _outage_page() -> HttpResponse:
    response = HttpResponse(
        loader.render_to_string("503.html"), status=HTTPStatus.SERVICE_UNAVAILABLE
    )
    response["Retry-After"] = str(OUTAGE_RETRY_AFTER_SECONDS)
    return expected(response)
