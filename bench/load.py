"""The load: wrk runs and their figures, and buyers that go through the shop as a browser does."""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import threading
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode, urlsplit

WRK_THREADS = 2
WRK_CONNECTIONS = 32
# Wait for a slow answer well past the p99 target rather than count it as a timeout.
WRK_TIMEOUT = "5s"
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
CHECKOUT_PATH = "/checkout/"


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int
    # Filled in by the caller, who knows which processes served the requests.
    server_cpu_ms_per_request: float = 0.0
    worker_restarts: int = 0

    @property
    def failed(self) -> int:
        return self.non_2xx + self.socket_errors


def wrk(url: str, seconds: float, cookie: str | None = None) -> WrkResult:
    args = [
        "wrk",
        f"--threads={WRK_THREADS}",
        f"--connections={WRK_CONNECTIONS}",
        f"--duration={seconds:g}s",
        f"--timeout={WRK_TIMEOUT}",
        "--latency",
    ]
    if cookie:
        args += ["--header", f"Cookie: {cookie}"]
    result = subprocess.run([*args, url], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"wrk failed on {url}:\n{result.stdout}{result.stderr}")
    return parse_wrk(result.stdout)


def parse_wrk(output: str) -> WrkResult:
    def number(pattern: str) -> str:
        match = re.search(pattern, output)
        if match is None:
            raise ValueError(f"wrk printed no {pattern!r}:\n{output}")
        return match.group(1)

    def latency(percentile: str) -> float:
        match = re.search(rf"^\s*{percentile}%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.MULTILINE)
        if match is None:
            raise ValueError(f"wrk printed no {percentile}th percentile:\n{output}")
        return float(match.group(1)) * UNITS[match.group(2)]

    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    # wrk counts 3xx with 2xx; the harness checks each URL answers 200 before loading it.
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return WrkResult(
        requests_per_second=float(number(r"Requests/sec:\s+([\d.]+)")),
        p50_ms=latency("50"),
        p99_ms=latency("99"),
        requests=int(number(r"(\d+) requests in")),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
    )


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: str


@dataclass
class Browser:
    """Cookies and plain HTTP/1.1 from one loopback source address, as one buyer's browser."""

    base_url: str
    source_address: str = "127.0.0.1"
    cookies: dict[str, str] = field(default_factory=dict)

    def get(self, path: str) -> Response:
        return self._request("GET", path)

    def post(self, path: str, form: dict[str, str]) -> Response:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return self._request("POST", path, urlencode(form).encode(), headers)

    def cookie_header(self) -> str:
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())

    def _request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        parts = urlsplit(self.base_url)
        connection = http.client.HTTPConnection(
            parts.hostname or "127.0.0.1",
            parts.port,
            timeout=30,
            source_address=(self.source_address, 0),
        )
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = self.cookie_header()
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read().decode(errors="replace")
            for header in response.headers.get_all("Set-Cookie") or []:
                name, _, rest = header.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
            return Response(response.status, dict(response.headers.items()), text)
        finally:
            connection.close()


class _BuyForms(HTMLParser):
    """Every form that posts to the checkout, with its inputs' names and values."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, str]] = []
        self._open: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form" and values.get("action") == CHECKOUT_PATH:
            self._open = {}
        elif tag == "input" and self._open is not None and values.get("name"):
            self._open[values["name"]] = values.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._open is not None:
            self.forms.append(self._open)
            self._open = None


def buy_forms(page: str) -> list[dict[str, str]]:
    parser = _BuyForms()
    parser.feed(page)
    if not parser.forms:
        raise RuntimeError("The storefront shows no Buy form posting to /checkout/.")
    return parser.forms


def session_id_from(location: str) -> str:
    """The Checkout Session id at the end of the hosted page's URL the shop redirected to."""
    return urlsplit(location).path.rstrip("/").rsplit("/", 1)[-1]


def json_call(base_url: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        payload = None if body is None else json.dumps(body).encode()
        connection.request(method, path, body=payload, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        data = response.read()
        if response.status != HTTPStatus.OK:
            raise RuntimeError(f"{method} {path} answered {response.status}: {data!r}")
        return json.loads(data or b"null")
    finally:
        connection.close()


@dataclass(frozen=True)
class RaceResult:
    statuses: list[int]
    session_ids_per_buyer: list[set[str]]


def race(base_url: str, buyers: int, posts_per_buyer: int) -> RaceResult:
    """Each buyer loads the page, then fires the same Buy form several times at once.

    Each buyer comes from a loopback address of its own, as buyers on the internet come from
    addresses of their own: nginx limits checkout POSTs per address.
    """
    browsers = [Browser(base_url, source_address=f"127.0.1.{index + 1}") for index in range(buyers)]
    forms = []
    for browser in browsers:
        page = browser.get("/")
        if page.status != HTTPStatus.OK:
            raise RuntimeError(f"GET / answered {page.status} before the race.")
        forms.append(buy_forms(page.body)[0])
    barrier = threading.Barrier(buyers * posts_per_buyer)
    results: list[list[Response | None]] = [[None] * posts_per_buyer for _ in browsers]

    def post(buyer: int, attempt: int) -> None:
        # Copies of the cookies: both tabs of one buyer send what the page left them.
        browser = Browser(base_url, browsers[buyer].source_address, dict(browsers[buyer].cookies))
        barrier.wait()
        results[buyer][attempt] = browser.post(CHECKOUT_PATH, forms[buyer])

    threads = [
        threading.Thread(target=post, args=(buyer, attempt))
        for buyer in range(buyers)
        for attempt in range(posts_per_buyer)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses, sessions = [], []
    for responses in results:
        ids = set()
        for response in responses:
            assert response is not None, "every racing POST got an answer or raised"
            statuses.append(response.status)
            if response.status == HTTPStatus.SEE_OTHER:
                ids.add(session_id_from(response.headers.get("Location", "")))
        sessions.append(ids)
    return RaceResult(statuses=statuses, session_ids_per_buyer=sessions)
