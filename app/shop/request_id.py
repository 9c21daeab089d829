"""One id per request, from nginx's X-Request-ID (or made here), in every log line and Sentry event.

The id goes back in the response's X-Request-ID, which is where gunicorn's access log reads it.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar

import sentry_sdk
from django.http import HttpRequest, HttpResponse

HEADER = "X-Request-ID"
# Read from the WSGI environ directly: `request.headers` would first copy every header.
ENVIRON_KEY = "HTTP_X_REQUEST_ID"
# What nginx's $request_id and common tracing ids look like; anything else is replaced, so a
# client cannot write arbitrary text into our logs.
ACCEPTED = re.compile(r"[A-Za-z0-9._:-]{8,128}")
NO_REQUEST = "-"

_current: ContextVar[str] = ContextVar("request_id", default=NO_REQUEST)


def current() -> str:
    return _current.get()


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        sent = request.META.get(ENVIRON_KEY, "")
        request_id = sent if ACCEPTED.fullmatch(sent) else uuid.uuid4().hex
        token = _current.set(request_id)
        sentry_sdk.set_tag("request_id", request_id)
        try:
            response = self.get_response(request)
        finally:
            _current.reset(token)
        response[HEADER] = request_id
        return response


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record, so formatters can show it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current()
        return True
