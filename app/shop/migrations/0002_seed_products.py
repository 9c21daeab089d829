from django.db import migrations

PRODUCTS = [
    {
        "name": "Field Notebook",
        "description": "A5 dot-grid notebook: 120 pages of fountain-pen-friendly paper.",
        "price_cents": 1000,
        "position": 1,
    },
    {
        "name": "Enamel Camp Mug",
        "description": "A 12 oz enamel mug that survives the campfire and the dishwasher.",
        "price_cents": 1500,
        "position": 2,
    },
    {
        "name": "Canvas Tote",
        "description": "Heavy cotton canvas tote with an inside pocket for your keys.",
        "price_cents": 2000,
        "position": 3,
    },
]


def seed_products(apps, schema_editor):
    Product = apps.get_model("shop", "Product")
    for product in PRODUCTS:
        Product.objects.get_or_create(name=product["name"], defaults=product)


def remove_products(apps, schema_editor):
    Product = apps.get_model("shop", "Product")
    # Products that were sold stay: their orders still point at them.
    Product.objects.filter(
        name__in=[product["name"] for product in PRODUCTS], orders__isnull=True
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]

    operations = [migrations.RunPython(seed_products, remove_products)]
