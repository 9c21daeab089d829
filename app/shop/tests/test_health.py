from __future__ import annotations

from http import HTTPStatus

import pytest
from django.core.management import call_command
from django.test import Client

from shop import health
from shop.tests.helpers import run_without_database


def test_liveness_answers_without_touching_the_database(client: Client) -> None:
    # No django_db mark: any query here would raise.
    response = client.get("/healthz")
    assert response.status_code == HTTPStatus.OK
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readiness_is_ok_when_the_database_answers_and_is_migrated(client: Client) -> None:
    response = client.get("/readyz")
    assert response.status_code == HTTPStatus.OK
    assert response.json()["status"] == "ok"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_readiness_fails_while_a_migration_is_unapplied(client: Client, monkeypatch) -> None:
    monkeypatch.setattr(health, "_migrations_applied", False)
    call_command("migrate", "shop", "0001", verbosity=0)
    try:
        response = client.get("/readyz")
    finally:
        call_command("migrate", "shop", verbosity=0)
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json() == {"status": "unavailable", "failed": "migrations"}


def test_readiness_fails_naming_the_database_when_it_is_unreachable() -> None:
    script = (
        "import django; django.setup(); from django.test import Client; "
        "r = Client().get('/readyz'); print(r.status_code, r.content.decode())"
    )
    result = run_without_database(script)
    assert result.returncode == 0, result.stderr
    # Logs share stdout; the probe's answer is the last line.
    assert result.stdout.splitlines()[-1] == '503 {"status": "unavailable", "failed": "database"}'


@pytest.mark.django_db
def test_probes_answer_a_host_outside_allowed_hosts(client: Client, settings) -> None:
    settings.ALLOWED_HOSTS = ["shop.example.com"]
    assert client.get("/", HTTP_HOST="10.1.2.3:8000").status_code == HTTPStatus.BAD_REQUEST
    assert client.get("/healthz", HTTP_HOST="10.1.2.3:8000").status_code == HTTPStatus.OK
    assert client.get("/readyz", HTTP_HOST="10.1.2.3:8000").status_code == HTTPStatus.OK


@pytest.mark.django_db
def test_probes_answer_over_plain_http_when_https_is_enforced(client: Client, settings) -> None:
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/").status_code == HTTPStatus.MOVED_PERMANENTLY
    assert client.get("/healthz").status_code == HTTPStatus.OK
    assert client.get("/readyz").status_code == HTTPStatus.OK
