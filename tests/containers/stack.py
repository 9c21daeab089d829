"""The running container stack, seen from the host as a buyer and an operator see it: HTTP
through nginx, the simulator's published port, and `docker compose` for exec and restarts.

`make up` starts the stack; these helpers never start or build anything themselves.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import re
import shlex
import socket
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from config.test_settings import TEST_SECRET_KEY

REPO_DIR = Path(__file__).resolve().parents[2]
BASE_URL = os.environ.get("SHOP_URL", "http://127.0.0.1:8080")
HTTPS_URL = os.environ.get("SHOP_HTTPS_URL", "https://127.0.0.1:8443")
SIMULATOR_URL = os.environ.get("STRIPE_SIM_URL", "http://127.0.0.1:12111")
COMPOSE = shlex.split(os.environ.get("COMPOSE", "docker compose"))
READY_TIMEOUT_SECONDS = 120.0
HTTP_TIMEOUT_SECONDS = 15.0
SESSION_ID = re.compile(r"/c/pay/(cs_test_\w+)")
FORM_FIELDS = re.compile(r'name="(\w+)"[^>]*?value="([^"]*)"', re.DOTALL)
ORDER_ROW = re.compile(r'<tr data-testid="order-row".*?</tr>', re.DOTALL)
# Under nginx's 5 s body timeout, so a held request stays in progress.
TRICKLE_SECONDS = 2.0
HELD_REQUESTS_ARRIVE_SECONDS = 3.0
# On every response, whoever wrote it: Django on its pages, nginx on its own; never both.
SECURITY_HEADERS = (
    "Content-Security-Policy",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "Cross-Origin-Opener-Policy",
    "Permissions-Policy",
)


@dataclass(frozen=True)
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header_values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    def header(self, name: str) -> str:
        (value,) = self.header_values(name)
        return value

    @property
    def text(self) -> str:
        return self.body.decode()


def assert_each_header_once(response: Response, names: tuple[str, ...] = SECURITY_HEADERS) -> None:
    """Each header in `names` sent exactly once, whoever wrote the response."""
    counts = {name: len(response.header_values(name)) for name in names}
    assert counts == dict.fromkeys(names, 1), (response.status, counts)


def fetch(
    url: str,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """One request, no redirects followed, every header as sent (repeats included).

    HTTPS trusts the certificate in TLS_CERT_DIR, the one the production overlay serves.
    """
    parts = urlsplit(url)
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(
            parts.netloc, timeout=HTTP_TIMEOUT_SECONDS, context=served_certificate()
        )
    else:
        connection = http.client.HTTPConnection(parts.netloc, timeout=HTTP_TIMEOUT_SECONDS)
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return Response(response.status, response.getheaders(), response.read())
    finally:
        connection.close()


@dataclass
class Buyer:
    """A browser reduced to what the shop sees: its cookies and the forms it was served.

    `headers` go with every request (a load balancer's X-Forwarded-For, say)."""

    cookies: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    base_url: str = BASE_URL

    def request(
        self, path: str, *, method: str = "GET", form: dict[str, str] | None = None
    ) -> tuple[str, Response]:
        request_id = f"test-{uuid.uuid4().hex}"
        headers = {**self.headers, "X-Request-ID": request_id, "Cookie": self.cookie_header()}
        body = None
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        response = fetch(self.base_url + path, method=method, body=body, headers=headers)
        for cookie in response.header_values("Set-Cookie"):
            name, _, rest = cookie.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return request_id, response

    def cookie_header(self) -> str:
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())

    def buy_form(self, storefront: Response | None = None) -> dict[str, str]:
        """The first card's form, from the storefront given or one fetched now."""
        response = storefront or self.request("/")[1]
        card = re.search(r'data-product-id="\d+".*?</form>', response.text, flags=re.DOTALL)
        assert card, "the storefront shows no product card"
        return dict(FORM_FIELDS.findall(card.group(0)))

    def buy_now(self) -> str:
        """Press Buy Now on the first card; the Checkout Session id it was sent to."""
        _, redirect = self.request("/checkout/", method="POST", form=self.buy_form())
        assert redirect.status == HTTPStatus.SEE_OTHER, redirect.status
        session = SESSION_ID.search(redirect.header("Location"))
        assert session, redirect.header("Location")
        return session.group(1)

    def my_orders(self) -> list[str]:
        """The rows of My Orders, as this visitor sees them."""
        _, response = self.request("/orders/")
        assert response.status == HTTPStatus.OK
        return ORDER_ROW.findall(response.text)


def served_certificate() -> ssl.SSLContext:
    cert_dir = os.environ.get("TLS_CERT_DIR")
    if not cert_dir:
        pytest.fail("TLS_CERT_DIR must name the certificate folder the production overlay serves.")
    return ssl.create_default_context(cafile=Path(cert_dir) / "fullchain.pem")


def operator_env(**overrides: str) -> dict[str, str]:
    """The environment the stack was started with, for compose and make: this process's, less
    the key the suite's Django settings put there (the stack's web would get it on a recreate)."""
    env = {name: value for name, value in os.environ.items() if value != TEST_SECRET_KEY}
    return {**env, **overrides}


def compose(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    result = subprocess.run(
        [*COMPOSE, *args],
        cwd=REPO_DIR,
        env=env if env is not None else operator_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def replica_address(container: str) -> str:
    """A container's address on the network it shares with nginx."""
    inspected = docker("inspect", container)[0]
    networks = inspected["NetworkSettings"]["Networks"]
    (address,) = [net["IPAddress"] for name, net in networks.items() if name.endswith("_frontend")]
    return address


def docker(*args: str) -> list[dict[str, Any]]:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def served_by(request_ids: list[str]) -> dict[str, str]:
    """The replica address nginx proxied each of these requests to, from its access log."""
    log = compose("logs", "--no-color", "--no-log-prefix", "nginx")
    by_id = {
        request_id: address
        for address, request_id in re.findall(r"upstream=([\d.]+):\d+ request_id=(\S+)", log)
    }
    return {request_id: by_id[request_id] for request_id in request_ids if request_id in by_id}


def order_count() -> int:
    return int(sql("SELECT count(*) FROM shop_order")[0][0])


def make(*args: str, env: dict[str, str] | None = None) -> str:
    """A make target as an operator runs it; its output, once it has succeeded."""
    result = subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=REPO_DIR,
        env=env if env is not None else operator_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"make {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def sql(query: str) -> list[list[str]]:
    """Rows from the stack's own database, read with psql inside the db container."""
    output = compose(
        "exec", "-T", "db", "psql", "--username=shop", "--dbname=shop",
        "--no-align", "--tuples-only", "--field-separator=\t", "--command", query,
    )  # fmt: skip
    return [line.split("\t") for line in output.splitlines() if line]


def container_env(service: str, name: str) -> str:
    return compose("exec", "-T", service, "printenv", name).strip()


def require_stack(url: str = BASE_URL) -> None:
    try:
        status = fetch(f"{url}/nginx-health").status
    except OSError as error:
        pytest.fail(f"No container stack answers at {url} ({error}): run `make up` first.")
    assert status == HTTPStatus.OK


def wait_until_ready(url: str = BASE_URL) -> None:
    """Poll readiness through nginx: after a restart, until the app serves again."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while True:
        try:
            if fetch(f"{url}/readyz").status == HTTPStatus.OK:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{url}/readyz did not answer 200 within {READY_TIMEOUT_SECONDS:g} s")
        time.sleep(0.5)


def signed_webhook(event: dict[str, object], secret: str) -> tuple[bytes, dict[str, str]]:
    """An event body and its Stripe-Signature header, signed as Stripe signs them."""
    payload = json.dumps(event).encode()
    timestamp = int(time.time())
    signature = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256)
    return payload, {
        "Content-Type": "application/json",
        "Stripe-Signature": f"t={timestamp},v1={signature.hexdigest()}",
    }


def container_state(service: str) -> dict[str, Any]:
    """The one container of a service as `docker inspect` sees it (RestartCount, State...)."""
    (container_id,) = compose("ps", "--quiet", service).split()
    return docker("inspect", container_id)[0]


def network_subnet(network: str) -> str:
    """The address range of one of the stack's networks (`frontend`, `backend`)."""
    networks = container_state("nginx")["NetworkSettings"]["Networks"]
    (name,) = [name for name in networks if name.endswith(f"_{network}")]
    return docker("network", "inspect", name)[0]["IPAM"]["Config"][0]["Subnet"]


def status_from_another_address(url: str, *, host: str) -> int:
    """GET url from a one-off container on nginx's network: a client at an address of its own."""
    output = compose(
        "run", "--rm", "--no-deps", "-T", "--entrypoint", "curl", "nginx",
        "--silent", "--insecure", "--max-time", "10", "--output", "/dev/null",
        "--write-out", "%{http_code}", "--header", f"Host: {host}", url,
    )  # fmt: skip
    return int(output.strip())


@contextmanager
def held_requests(
    url: str, count: int, *, headers_complete: bool = True
) -> Iterator[list[socket.socket]]:
    """`count` slow requests from this address, held open while the block runs.

    With headers_complete, nginx has their headers and waits for a body that comes one byte
    every TRICKLE_SECONDS: requests in progress. Without, their headers never end: connections
    that are not requests yet, until nginx's header timeout closes them.
    """
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    head = f"POST /stripe/webhook/ HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Length: 1000\r\n"
    held: list[socket.socket] = []
    done = threading.Event()

    def trickle() -> None:
        while not done.wait(TRICKLE_SECONDS):
            for connection in held:
                with suppress(OSError):
                    connection.sendall(b"x" if headers_complete else b"X-Slow: 1\r\n")

    trickler = threading.Thread(target=trickle, daemon=True)
    trickler.start()
    try:
        for _ in range(count):
            connection = socket.create_connection((parts.hostname, port), HTTP_TIMEOUT_SECONDS)
            if parts.scheme == "https":
                connection = served_certificate().wrap_socket(
                    connection, server_hostname=parts.hostname
                )
            connection.sendall((head + "\r\n" if headers_complete else head).encode())
            held.append(connection)
        yield held
    finally:
        done.set()
        trickler.join()
        for connection in held:
            connection.close()


def answer_while_web_is_down(url: str) -> Response:
    """What nginx answers for / while the web container is stopped; web is started again."""
    compose("stop", "web")
    try:
        return fetch(url + "/")
    finally:
        compose("start", "web")
        wait_until_ready(url)


def proxy_written_responses(url: str) -> dict[str, Response]:
    """One response of each kind nginx writes itself but 429, by what provoked it."""
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    return {
        "huge header": fetch(url + "/", headers={"X-Padding": "x" * 20_000}),
        "TRACE": fetch(url + "/", method="TRACE"),
        "2 MB body": fetch(url + "/checkout/", method="POST", body=b"x" * 2**21, headers=form),
        "long address": fetch(url + "/" + "x" * 10_000),
    }


def refused_login(url: str) -> Response:
    """Admin login attempts from this address until nginx's limit refuses one (it spends this
    address's login allowance, which no other test needs)."""
    burst = int(container_env("nginx", "NGINX_LOGIN_BURST"))
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for _ in range(burst + 5):
        response = fetch(url + "/admin/login/", method="POST", body=b"x=1", headers=form)
        if response.status == HTTPStatus.TOO_MANY_REQUESTS:
            break
    return response


def one_request_too_many(url: str) -> Response:
    """A request over the per-address cap: asked again until nginx has the held requests
    (Docker's port proxy may still be passing the last of them on)."""
    deadline = time.monotonic() + HELD_REQUESTS_ARRIVE_SECONDS
    while True:
        response = fetch(url + "/")
        if response.status == HTTPStatus.TOO_MANY_REQUESTS or time.monotonic() > deadline:
            return response
        time.sleep(0.2)
