"""The production overlay (docker-compose.prod.yml) as it runs on one host: it refuses to start
without its secrets, serves HTTPS with its certificate and redirects plain HTTP, its containers
run unprivileged on read-only root filesystems within their memory, and no client can kill or
starve nginx.

Run by `make test-containers` when COMPOSE_FILE names the overlay, after `make up`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus

import pytest

from tests.containers.stack import (
    BASE_URL,
    COMPOSE,
    HTTPS_URL,
    REPO_DIR,
    SECURITY_HEADERS,
    answer_while_web_is_down,
    assert_each_header_once,
    compose,
    container_env,
    container_state,
    fetch,
    held_requests,
    one_request_too_many,
    proxy_written_responses,
    status_from_another_address,
)

pytestmark = pytest.mark.containers_prod

REQUIRED_SECRETS = (
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "POSTGRES_PASSWORD",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "TLS_CERT_DIR",
)
RUNNING_SERVICES = ("db", "web", "reconcile", "nginx")
BACKUP_TIMEOUT_SECONDS = 60.0
HTTPS_HEADERS = (*SECURITY_HEADERS, "Strict-Transport-Security")
# nginx from inside the stack's network, as a client at an address other than the host's.
NGINX_HTTPS_INSIDE = "https://nginx:8443/"
UPLOADS = 120
NEAR_THE_CAP = b"x" * 60_000
SLOW_BODIES = 200
SLOW_HEADERS = 300
WEB_FILLER = "/tmp/filler"  # noqa: S108 - the tmpfs under test, inside the container
NGINX_FILLER = "/var/cache/nginx/filler"
MEMORY_UNITS = {"k": 2**10, "m": 2**20, "g": 2**30}
SECRETS = {
    "web": ("SECRET_KEY", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"),
    "db": ("POSTGRES_PASSWORD",),
}


def restarts_and_oom(service: str) -> tuple[int, bool]:
    state = container_state(service)
    return state["RestartCount"], state["State"]["OOMKilled"]


def another_address_gets_the_shop() -> int:
    return status_from_another_address(NGINX_HTTPS_INSIDE, host="localhost:8443")


def fill(service: str, path: str) -> subprocess.CompletedProcess[str]:
    """Write zeros to path inside the service's container until its filesystem is full."""
    return subprocess.run(
        [*COMPOSE, "exec", "-T", service, "dd", "if=/dev/zero", f"of={path}", "bs=1M", "count=200"],
        cwd=REPO_DIR, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def size_in_bytes(text: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kmg]?)", text.lower()).groups()  # type: ignore[union-attr]
    return int(number) * MEMORY_UNITS.get(unit, 1)


@pytest.fixture
def nginx_survives() -> Iterator[None]:
    before = restarts_and_oom("nginx")
    yield
    assert restarts_and_oom("nginx") == before


@pytest.mark.parametrize("missing", REQUIRED_SECRETS)
def test_the_overlay_refuses_to_start_without_a_required_secret(missing: str) -> None:
    env = {key: value for key, value in os.environ.items() if key != missing}
    result = subprocess.run(
        # An empty env file, so that a developer's .env cannot supply what the test removed.
        [*COMPOSE, "--env-file", os.devnull, "up", "--no-build", "--no-start"],
        cwd=REPO_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode != 0
    assert f"required variable {missing} is missing a value: Set {missing}" in result.stderr


def test_https_serves_the_shop_with_hsts_and_secure_cookies() -> None:
    response = fetch(HTTPS_URL + "/")

    assert response.status == HTTPStatus.OK
    assert response.text.count('data-testid="product-card"') == 3
    assert len(response.header_values("Strict-Transport-Security")) == 1
    assert "max-age=31536000" in response.header("Strict-Transport-Security")
    assert all("Secure" in cookie for cookie in response.header_values("Set-Cookie"))


def test_plain_http_is_redirected_to_https_but_nginx_health_is_not() -> None:
    page = fetch(BASE_URL + "/")
    health = fetch(BASE_URL + "/nginx-health")
    web_health = fetch(BASE_URL + "/nginx-health/web")

    assert page.status == HTTPStatus.MOVED_PERMANENTLY
    assert page.header("Location") == HTTPS_URL + "/"
    assert "served over HTTPS" in page.text
    assert "nginx" not in page.text.lower()
    assert_each_header_once(page)
    assert health.status == HTTPStatus.OK
    assert web_health.status == HTTPStatus.OK


@pytest.mark.parametrize("host", ["web", "web:8000", "shop.example.net"])
def test_a_host_the_site_is_not_gets_400(host: str) -> None:
    response = fetch(HTTPS_URL + "/", headers={"Host": host})

    assert response.status == HTTPStatus.BAD_REQUEST
    assert_each_header_once(response, HTTPS_HEADERS)


@pytest.mark.parametrize("host", ["web", "web:8000", "shop.example.net"])
def test_plain_http_for_a_host_the_site_is_not_gets_400_not_a_redirect(host: str) -> None:
    response = fetch(BASE_URL + "/", headers={"Host": host})

    assert response.status == HTTPStatus.BAD_REQUEST
    assert response.header_values("Location") == []
    assert "nginx" not in response.text.lower()
    assert_each_header_once(response)


def test_what_nginx_refuses_itself_over_https_carries_each_header_once() -> None:
    limit = int(container_env("nginx", "NGINX_CONNECTIONS_PER_ADDRESS"))
    responses = proxy_written_responses(HTTPS_URL)
    with held_requests(HTTPS_URL, limit):
        responses["one request too many"] = one_request_too_many(HTTPS_URL)

    assert [response.status for response in responses.values()] == [
        HTTPStatus.BAD_REQUEST,
        HTTPStatus.METHOD_NOT_ALLOWED,
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        HTTPStatus.REQUEST_URI_TOO_LONG,
        HTTPStatus.TOO_MANY_REQUESTS,
    ]
    for response in responses.values():
        assert_each_header_once(response, HTTPS_HEADERS)
        assert "nginx" not in response.text.lower()
    assert int(responses["one request too many"].header("Retry-After")) > 0
    assert "Too many connections from your address" in responses["one request too many"].text
    assert_each_header_once(fetch(HTTPS_URL + "/checkout/"), HTTPS_HEADERS)


def test_while_web_is_down_https_gets_nginx_page_with_each_header_once() -> None:
    response = answer_while_web_is_down(HTTPS_URL)

    assert response.status in {HTTPStatus.BAD_GATEWAY, HTTPStatus.GATEWAY_TIMEOUT}
    assert_each_header_once(response, HTTPS_HEADERS)
    assert "Tiny Shop" in response.text


def test_probes_answer_over_https() -> None:
    for path in ("/nginx-health", "/healthz", "/readyz"):
        assert fetch(HTTPS_URL + path).status == HTTPStatus.OK


@pytest.mark.parametrize("service", RUNNING_SERVICES)
def test_each_container_runs_unprivileged_on_a_read_only_root(service: str) -> None:
    (container_id,) = compose("ps", "--quiet", service).split()
    (inspected,) = json.loads(
        subprocess.run(
            ["docker", "inspect", container_id], capture_output=True, text=True, check=True
        ).stdout
    )

    assert compose("exec", "-T", service, "id", "-u").strip() != "0"
    assert inspected["HostConfig"]["ReadonlyRootfs"] is True
    assert inspected["HostConfig"]["CapDrop"] == ["ALL"]
    assert "no-new-privileges:true" in inspected["HostConfig"]["SecurityOpt"]
    write = subprocess.run(
        [*COMPOSE, "exec", "-T", service, "touch", "/written-at-run-time"],
        cwd=REPO_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    assert write.returncode != 0
    assert "Read-only file system" in write.stderr


def test_the_simulator_does_not_run_in_production() -> None:
    assert compose("ps", "--quiet", "stripe-sim").split() == []


def test_the_backup_service_keeps_the_newest_dumps_each_readable_by_pg_restore() -> None:
    # test-stack.sh runs the overlay with dumps seconds apart, so that several have been made.
    keep = int(container_env("backup", "BACKUP_KEEP"))
    interval = float(container_env("backup", "BACKUP_INTERVAL_HOURS")) * 3600
    assert interval * (keep + 2) < BACKUP_TIMEOUT_SECONDS, "set a short BACKUP_INTERVAL_HOURS"
    deadline = time.monotonic() + BACKUP_TIMEOUT_SECONDS
    time.sleep(interval * (keep + 1))
    while True:
        found = compose("exec", "-T", "backup", "find", "/backups", "-name", "shop-*.dump")
        dumps = sorted(found.split())
        if len(dumps) == keep or time.monotonic() > deadline:
            break
        time.sleep(1)

    assert len(dumps) == keep, dumps
    # Made by the postgres user, not by the root the container starts as.
    owners = compose("exec", "-T", "backup", "stat", "-c", "%u", "/backups", *dumps).split()
    assert set(owners) == {"999"}
    contents = compose("exec", "-T", "backup", "pg_restore", "--list", dumps[-1])
    assert "TABLE DATA public shop_order" in contents
    compose("exec", "-T", "backup", "/usr/local/bin/scheduled-backup", "--check")
    # The image's data folder is a tmpfs here, not an anonymous volume left behind.
    mounts = [mount["Destination"] for mount in container_state("backup")["Mounts"]]
    assert sorted(mounts) == ["/backups", "/usr/local/bin/scheduled-backup"]


def test_every_tmpfs_has_a_size_inside_its_containers_memory_limit() -> None:
    services = json.loads(compose("config", "--format", "json"))["services"]
    sized = 0
    for name, service in services.items():
        if not service.get("tmpfs"):
            continue
        limit = size_in_bytes(str(service["deploy"]["resources"]["limits"]["memory"]))
        sizes = []
        for mount in service["tmpfs"]:
            options = dict(o.partition("=")[::2] for o in mount.partition(":")[2].split(","))
            assert "size" in options, f"{name}: tmpfs {mount} has no size="
            sizes.append(size_in_bytes(options["size"]))
        assert sum(sizes) <= limit // 2, f"{name}: tmpfs {sizes} against {limit}"
        sized += 1
    assert sized >= len(RUNNING_SERVICES)


def test_filling_webs_tmp_fails_the_write_and_web_serves_on() -> None:
    before = restarts_and_oom("web")
    filled = fill("web", WEB_FILLER)
    compose("exec", "-T", "web", "rm", "-f", WEB_FILLER)

    assert filled.returncode != 0
    assert "No space left on device" in filled.stderr
    assert restarts_and_oom("web") == before
    assert fetch(HTTPS_URL + "/readyz").status == HTTPStatus.OK


def test_a_full_nginx_temp_area_fails_one_upload_and_nginx_serves_on(nginx_survives: None) -> None:
    filled = fill("nginx", NGINX_FILLER)
    try:
        upload = fetch(HTTPS_URL + "/stripe/webhook/", method="POST", body=NEAR_THE_CAP)
        during = fetch(HTTPS_URL + "/")
    finally:
        compose("exec", "-T", "nginx", "rm", "-f", NGINX_FILLER)

    assert "No space left on device" in filled.stderr
    assert upload.status == HTTPStatus.INTERNAL_SERVER_ERROR
    assert "nginx" not in upload.text.lower()
    assert during.status == HTTPStatus.OK


def test_a_burst_of_large_webhook_uploads_neither_kills_nor_starves_nginx(
    nginx_survives: None,
) -> None:
    bodies = [NEAR_THE_CAP if n % 3 else NEAR_THE_CAP * 20 for n in range(UPLOADS)]
    json_type = {"Content-Type": "application/json"}

    def upload(body: bytes) -> int:
        url = HTTPS_URL + "/stripe/webhook/"
        try:
            return fetch(url, method="POST", body=body, headers=json_type).status
        except OSError:
            # nginx may close a connection once it has refused the body (413) mid-upload.
            return HTTPStatus.REQUEST_ENTITY_TOO_LARGE

    with ThreadPoolExecutor(max_workers=40) as pool:
        uploads = pool.map(upload, bodies)
        elsewhere = [another_address_gets_the_shop() for _ in range(2)]
        statuses = Counter(uploads)

    # Unsigned bodies reach Django, which refuses them; too large or too many, nginx does.
    assert set(statuses) <= {
        HTTPStatus.BAD_REQUEST,
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        HTTPStatus.TOO_MANY_REQUESTS,
    }, statuses
    assert statuses[HTTPStatus.REQUEST_ENTITY_TOO_LARGE] == UPLOADS // 3
    assert elsewhere == [HTTPStatus.OK, HTTPStatus.OK]


def test_one_address_holding_hundreds_of_slow_connections_does_not_stop_another(
    nginx_survives: None,
) -> None:
    limit = int(container_env("nginx", "NGINX_CONNECTIONS_PER_ADDRESS"))

    with (
        held_requests(BASE_URL, SLOW_HEADERS, headers_complete=False),
        held_requests(HTTPS_URL, SLOW_BODIES),
    ):
        own = one_request_too_many(HTTPS_URL)
        elsewhere = another_address_gets_the_shop()

    assert limit < SLOW_BODIES
    assert own.status == HTTPStatus.TOO_MANY_REQUESTS
    assert elsewhere == HTTPStatus.OK
    assert fetch(HTTPS_URL + "/").status == HTTPStatus.OK


def test_no_container_log_holds_a_secrets_value() -> None:
    values = {
        f"{service} {name}": container_env(service, name)
        for service, names in SECRETS.items()
        for name in names
    }
    logs = compose("logs", "--no-color")

    assert all(len(value) >= 8 for value in values.values()), values.keys()
    assert [name for name, value in values.items() if value in logs] == []
