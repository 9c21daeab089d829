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
import shlex
import ssl
import subprocess
import time
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from urllib.parse import urlsplit

import pytest

REPO_DIR = Path(__file__).resolve().parents[2]
BASE_URL = os.environ.get("SHOP_URL", "http://127.0.0.1:8080")
HTTPS_URL = os.environ.get("SHOP_HTTPS_URL", "https://127.0.0.1:8443")
SIMULATOR_URL = os.environ.get("STRIPE_SIM_URL", "http://127.0.0.1:12111")
COMPOSE = shlex.split(os.environ.get("COMPOSE", "docker compose"))
READY_TIMEOUT_SECONDS = 120.0
HTTP_TIMEOUT_SECONDS = 15.0


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


def served_certificate() -> ssl.SSLContext:
    cert_dir = os.environ.get("TLS_CERT_DIR")
    if not cert_dir:
        pytest.fail("TLS_CERT_DIR must name the certificate folder the production overlay serves.")
    return ssl.create_default_context(cafile=Path(cert_dir) / "fullchain.pem")


def compose(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    result = subprocess.run(
        [*COMPOSE, *args],
        cwd=REPO_DIR,
        env=env if env is not None else os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
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
