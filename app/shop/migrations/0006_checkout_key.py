"""Each order gets a random checkout key, the name its idempotency keys carry instead of its id.

Django's recipe for a unique field on existing rows: add it nullable, fill each row, then
make it unique. An order already waiting on a create under the old key gets a new key; only a
create whose answer was never saved is replayed, and its buyer never saw that session's page.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations, models

import shop.models


def fill_checkout_keys(apps: Any, schema_editor: Any) -> None:
    Order = apps.get_model("shop", "Order")
    for order in Order.objects.filter(checkout_key__isnull=True).only("pk").iterator():
        Order.objects.filter(pk=order.pk).update(checkout_key=shop.models.new_checkout_key())


class Migration(migrations.Migration):
    dependencies = [
        ("shop", "0005_client_address"),
    ]

    operations = [
        migrations.AddField(
            model_name="order",
            name="checkout_key",
            field=models.CharField(max_length=32, null=True, editable=False),
        ),
        migrations.RunPython(fill_checkout_keys, migrations.RunPython.noop, elidable=True),
        migrations.AlterField(
            model_name="order",
            name="checkout_key",
            field=models.CharField(
                default=shop.models.new_checkout_key, editable=False, max_length=32, unique=True
            ),
        ),
    ]
