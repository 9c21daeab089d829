"""Transport-neutral request and response values, and regex route tables."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from email.message import Message
from http import HTTPStatus
from typing import Any


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: str
    # The HTTP server's own header object: its lookups ignore case, as HTTP requires.
    headers: Message
    body: bytes
    request_id: str

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


@dataclass(frozen=True)
class Response:
    status: HTTPStatus
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    # Close the connection without answering: what a client sees when a response is lost.
    drop: bool = False

    def with_headers(self, *pairs: tuple[str, str]) -> Response:
        return replace(self, headers=self.headers + pairs)


DROPPED = Response(HTTPStatus.OK, drop=True)


def json_response(status: HTTPStatus, payload: Any) -> Response:
    body = (json.dumps(payload, indent=2) + "\n").encode()
    return Response(status, body, (("Content-Type", "application/json"),))


def html_response(status: HTTPStatus, html: str) -> Response:
    return Response(status, html.encode(), (("Content-Type", "text/html; charset=utf-8"),))


def redirect(location: str) -> Response:
    return Response(HTTPStatus.SEE_OTHER, headers=(("Location", location),))


Handler = Callable[..., Response]
Route = tuple[str, "re.Pattern[str]", Handler]


def route(method: str, pattern: str, handler: Handler) -> Route:
    return (method, re.compile(f"^{pattern}$"), handler)


def match(
    routes: tuple[Route, ...], method: str, path: str
) -> tuple[Handler, dict[str, str]] | None:
    for route_method, pattern, handler in routes:
        found = pattern.match(path)
        if found and route_method == method:
            return handler, found.groupdict()
    return None
