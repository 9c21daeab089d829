"""The HTTP server: reads requests, routes them to the three surfaces, writes the answers."""

from __future__ import annotations

import logging
import socket
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from stripe_sim import api, checkout_page, control
from stripe_sim.ids import new_id
from stripe_sim.simulator import Simulator
from stripe_sim.web import Request, Response, json_response

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024


class SimulatorServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], sim: Simulator) -> None:
        super().__init__(address, RequestHandler)
        self.sim = sim


def dispatch(sim: Simulator, request: Request) -> Response:
    if request.path.startswith("/v1/"):
        return api.handle(sim, request)
    if request.path.startswith("/_sim/"):
        return control.handle(sim, request)
    if request.path.startswith("/c/pay/"):
        return checkout_page.handle(sim, request)
    return json_response(HTTPStatus.NOT_FOUND, {"error": f"Nothing at {request.path}"})


class RequestHandler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps connections alive, as the stripe library's pooled session expects.
    protocol_version = "HTTP/1.1"
    server: SimulatorServer

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _handle(self) -> None:
        request_id = new_id("req_", 14)
        length = self._content_length()
        if length is None:
            self.close_connection = True
            self._write(json_response(HTTPStatus.BAD_REQUEST, {"error": "bad body"}), request_id)
            return
        url = urlsplit(self.path)
        request = Request(
            self.command, url.path, url.query, self.headers, self.rfile.read(length), request_id
        )
        try:
            response = dispatch(self.server.sim, request)
        except Exception:
            logger.exception("%s %s failed", request.method, request.path)
            response = json_response(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "simulator bug"})
        outcome = self._send(response, request_id)
        logger.info(
            "%s %s -> %s %s%s",
            request.method,
            request.path,
            outcome,
            request_id,
            _idempotency_note(request, response),
        )

    def _send(self, response: Response, request_id: str) -> str:
        """Write (or drop) the response and say how that went, for the log line."""
        try:
            if response.drop:
                self._drop()
                return "dropped"
            self._write(response, request_id)
        except OSError:
            # Routine when a fault's delay outlasts the client's timeout: it stopped listening.
            self.close_connection = True
            return f"{int(response.status)} (client gone)"
        return str(int(response.status))

    def _content_length(self) -> int | None:
        """The body's length, or None when it is malformed or too large to read."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return None
        return length if 0 <= length <= MAX_BODY_BYTES else None

    def _write(self, response: Response, request_id: str) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Request-Id", request_id)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    def _drop(self) -> None:
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        """Silenced: `_handle` logs one richer line per request instead."""

    def log_message(self, format: str, *args: Any) -> None:
        logger.warning(format, *args)


def _idempotency_note(request: Request, response: Response) -> str:
    key = request.header("Idempotency-Key")
    if not key or request.method != "POST":
        return ""
    replayed = " replayed" if api.REPLAYED_HEADER in response.headers else ""
    return f" key={key}{replayed}"
