from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "shop"
    verbose_name = "Shop"

    def ready(self) -> None:
        from django.conf import settings

        from shop import stripe_gateway

        stripe_gateway.refuse_live_keys(settings.STRIPE_SECRET_KEY)
