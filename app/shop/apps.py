from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "shop"
    verbose_name = "Shop"

    def ready(self) -> None:
        from django.conf import settings
        from django.contrib import admin
        from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
        from django.db.models.signals import post_delete, post_save

        from shop import catalog, login_throttle, request_signals, staff_sessions, stripe_gateway
        from shop.models import Product

        stripe_gateway.refuse_live_keys(settings.STRIPE_SECRET_KEY)
        post_save.connect(catalog.forget_products, sender=Product)
        post_delete.connect(catalog.forget_products, sender=Product)
        admin.site.login_form = login_throttle.ThrottledLoginForm
        user_login_failed.connect(login_throttle.record_failure)
        user_logged_in.connect(login_throttle.forget_failures)
        user_logged_in.connect(staff_sessions.open_session)
        user_logged_out.connect(staff_sessions.close_session)
        request_signals.drop_needless_receivers()
