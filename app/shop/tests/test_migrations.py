from __future__ import annotations

from importlib import import_module

import pytest
from django.apps import apps
from django.core.management import call_command

from shop.models import Product

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
