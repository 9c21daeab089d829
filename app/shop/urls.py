from django.urls import path

from shop import views, webhooks

urlpatterns = [
    path("", views.storefront, name="storefront"),
    path("orders/", views.my_orders, name="my-orders"),
    path("checkout/", views.start_checkout, name="checkout"),
    path("checkout/success/", views.checkout_success, name="checkout-success"),
    path("checkout/cancel/<str:token>/", views.checkout_cancel, name="checkout-cancel"),
    path("stripe/webhook/", webhooks.stripe_webhook, name="stripe-webhook"),
]
