from __future__ import annotations

import re
import uuid
from importlib import import_module

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from shop.models import Order, Product

seed = import_module("shop.migrations.0002_seed_products")


@pytest.mark.django_db
def test_migrate_alone_seeds_exactly_three_products_with_prices_in_cents() -> None:
    products = list(Product.objects.values_list("name", "price_cents", "active"))
    assert products == [
        ("Field Notebook", 1000, True),
        ("Enamel Camp Mug", 1500, True),
        ("Canvas Tote", 2000, True),
    ]


@pytest.mark.django_db
def test_running_the_seed_again_adds_no_product() -> None:
    seed.seed_products(apps, schema_editor=None)
    seed.seed_products(apps, schema_editor=None)
    assert Product.objects.count() == 3


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_seed_migration_reverses_and_applies_again() -> None:
    call_command("migrate", "shop", "0001", verbosity=0)
    assert Product.objects.count() == 0
    call_command("migrate", "shop", verbosity=0)
    assert Product.objects.count() == 3


@pytest.mark.django_db
def test_models_and_migrations_agree() -> None:
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_orders_from_before_checkout_keys_each_get_their_own() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate([("shop", "0005_client_address")])
    old_apps = executor.loader.project_state([("shop", "0005_client_address")]).apps
    OldOrder = old_apps.get_model("shop", "Order")
    product = old_apps.get_model("shop", "Product").objects.first()
    for token in (uuid.uuid4(), uuid.uuid4()):
        OldOrder.objects.create(
            product=product,
            quantity=1,
            unit_price_cents=product.price_cents,
            amount_cents=product.price_cents,
            visitor="v",
            form_token=token,
            checkout_expires_at=timezone.now(),
        )

    call_command("migrate", "shop", verbosity=0)

    keys = list(Order.objects.values_list("checkout_key", flat=True))
    assert len(keys) == len(set(keys)) == 2
    assert all(re.fullmatch(r"[0-9a-f]{32}", key) for key in keys)
    Order.objects.all().delete()
