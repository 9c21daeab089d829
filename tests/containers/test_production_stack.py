"""The production overlay (docker-compose.prod.yml) as it runs on one host: it refuses to start
without its secrets, serves HTTPS with its certificate and redirects plain HTTP, and its
containers run unprivileged on read-only root filesystems.

Run by `make test-containers` when COMPOSE_FILE names the overlay, after `make up`.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from http import HTTPStatus

import pytest

from tests.containers.stack import (
    BASE_URL,
    COMPOSE,
    HTTPS_URL,
    REPO_DIR,
    compose,
    container_env,
    fetch,
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

    assert page.status == HTTPStatus.MOVED_PERMANENTLY
    assert page.header("Location").startswith("https://")
    assert health.status == HTTPStatus.OK


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
