"""Releases on the local stack: nginx follows web wherever its replicas are, without a reload.

Run by `make test-containers` after `make up`.
"""

from __future__ import annotations

import subprocess
import time
from http import HTTPStatus

import pytest

from tests.containers.stack import (
    BASE_URL,
    compose,
    docker,
    fetch,
    replica_address,
)

pytestmark = pytest.mark.containers

# nginx re-resolves web every 2 s; the bound leaves room for the reload and a slow machine.
FOLLOW_BOUND_SECONDS = 15.0
STEADY_REQUESTS = 20


def status_of(path: str) -> int | None:
    try:
        return fetch(BASE_URL + path).status
    except OSError:
        return None


def test_nginx_follows_a_recreated_web_to_its_new_address_without_a_reload() -> None:
    (old,) = compose("ps", "--quiet", "web").split()
    old_address = replica_address(old)
    networks = docker("inspect", old)[0]["NetworkSettings"]["Networks"]
    (network,) = [name for name in networks if name.endswith("_frontend")]
    image = compose("images", "--quiet", "web").split()[0]
    compose("rm", "--stop", "--force", "web")
    # Another container takes the old address, so that it answers nothing nginx wants.
    squatter = docker_run("--network", network, "--entrypoint", "sleep", image, "300")
    try:
        assert replica_address(squatter) == old_address
        compose("up", "--detach", "--no-deps", "--wait", "web")
        recreated = time.monotonic()
        (new,) = compose("ps", "--quiet", "web").split()
        assert replica_address(new) != old_address
        while time.monotonic() - recreated < FOLLOW_BOUND_SECONDS:
            if status_of("/") == HTTPStatus.OK:
                break
            time.sleep(0.5)
        followed_after = time.monotonic() - recreated
        statuses = [status_of("/") for _ in range(STEADY_REQUESTS)]
    finally:
        subprocess.run(["docker", "rm", "--force", squatter], capture_output=True, check=False)

    print(f"nginx served the recreated web {followed_after:.1f} s after it was healthy")
    assert followed_after < FOLLOW_BOUND_SECONDS
    assert statuses == [HTTPStatus.OK] * STEADY_REQUESTS
    assert f"web is at {replica_address(new)}" in compose("logs", "--no-color", "nginx")


def docker_run(*args: str) -> str:
    started = subprocess.run(
        ["docker", "run", "--detach", "--rm", *args], capture_output=True, text=True, check=True
    )
    return started.stdout.strip()
