from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from shop.models import Order, ProcessedStripeEvent, Product


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["name", "price_cents", "active", "position"]
    list_editable = ["active", "position"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows that change only through the payment flow."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = ["id", "product", "quantity", "amount_cents", "status", "created_at", "paid_at"]
    list_filter = ["status", "product"]
    search_fields = ["=id", "stripe_session_id", "stripe_payment_intent_id"]
    list_select_related = ["product"]


@admin.register(ProcessedStripeEvent)
class ProcessedStripeEventAdmin(ReadOnlyAdmin):
    list_display = ["event_id", "type", "received_at"]
    search_fields = ["=event_id"]
