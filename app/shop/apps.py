from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "shop"
    verbose_name = "Shop"

    def ready(self) -> None:
        from django.conf import settings
        from django.db.models.signals import post_delete, post_save

        from shop import catalog, stripe_gateway
        from shop.models import Product

        stripe_gateway.refuse_live_keys(settings.STRIPE_SECRET_KEY)
        post_save.connect(catalog.forget_products, sender=Product)
        post_delete.connect(catalog.forget_products, sender=Product)
