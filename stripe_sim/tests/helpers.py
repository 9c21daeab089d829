"""Helpers shared by the simulator tests: raw HTTP access, valid params, a webhook endpoint."""

from __future__ import annotations

import http.client
import json
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode, urlsplit

WEBHOOK_SECRET = "whsec_test_secret_for_the_sim_suite"
API_KEY = "sk_test_sim_suite"


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Sim:
    """Plain HTTP access to the running simulator (no retries, no redirects followed)."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        if parts.hostname is None:
            raise ValueError(f"Not a simulator URL: {base_url!r}")
        self.base_url = base_url
        self.host, self.port = parts.hostname, parts.port

    def request(
        self,
        method: str,
        path: str,
        body: bytes | str = b"",
        headers: dict[str, str] | None = None,
    ) -> RawResponse:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return RawResponse(
                response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
            )
        finally:
            connection.close()

    def get(self, path: str) -> Any:
        response = self.request("GET", path)
        assert response.status == HTTPStatus.OK, response.body
        return response.json()

    def post(self, path: str, payload: dict[str, Any] | None = None) -> Any:
        response = self.control("POST", path, payload)
        assert response.status == HTTPStatus.OK, response.body
        return response.json()

    def control(self, method: str, path: str, payload: dict[str, Any] | None = None) -> RawResponse:
        body = json.dumps(payload or {})
        return self.request(method, path, body, {"Content-Type": "application/json"})

    def api(self, method: str, path: str, form: str = "", **headers: str) -> RawResponse:
        """A raw Stripe API call, for what the library hides (headers, exact bytes)."""
        all_headers = {
            "Authorization": f"Bearer {API_KEY}",
            "Content-Type": "application/x-www-form-urlencoded",
            **{name.replace("_", "-"): value for name, value in headers.items()},
        }
        return self.request(method, path, form, all_headers)


def session_params(**overrides: Any) -> dict[str, Any]:
    """A valid create request for two mugs at 12.50 EUR, as the shop sends it."""
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [
            {
                "price_data": {
                    "currency": "eur",
                    "unit_amount": 1250,
                    "product_data": {"name": "Mug", "description": "Blue, 300 ml"},
                },
                "quantity": 2,
            }
        ],
        "success_url": "http://shop.test/success?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://shop.test/cancel",
        "client_reference_id": "order-42",
        "metadata": {"order_id": "42"},
    }
    params.update(overrides)
    return params


def form_encode(params: dict[str, Any]) -> str:
    """Stripe's form encoding, as the library writes it: `a[b][0][c]=v`, arrays indexed."""
    return urlencode(list(_flatten(params, "")))


def _flatten(value: Any, key: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for name, item in value.items():
            yield from _flatten(item, f"{key}[{name}]" if key else name)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _flatten(item, f"{key}[{index}]")
    else:
        yield key, str(value)


@dataclass(frozen=True)
class ReceivedWebhook:
    headers: dict[str, str]
    body: str


class WebhookReceiver:
    """A tiny HTTP endpoint that records what the simulator POSTs to it."""

    def __init__(self) -> None:
        self.received: queue.Queue[ReceivedWebhook] = queue.Queue()
        self.statuses: list[int] = []  # answers to give, in order; then 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                receiver.received.put(ReceivedWebhook(dict(self.headers), body))
                status = receiver.statuses.pop(0) if receiver.statuses else HTTPStatus.OK
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/stripe"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def next(self, timeout: float = 30) -> ReceivedWebhook:
        return self.received.get(timeout=timeout)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
