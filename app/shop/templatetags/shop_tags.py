from __future__ import annotations

from django import template

register = template.Library()

STATUS_BADGES = {
    "pending": "text-bg-warning",
    "paid": "text-bg-success",
    "canceled": "text-bg-secondary",
    "expired": "text-bg-secondary",
    "failed": "text-bg-danger",
    "needs_review": "text-bg-danger",
}


@register.filter
def dollars(cents: int) -> str:
    """Integer cents as `$1,234.50`: money stays whole numbers until it is shown."""
    return f"${cents // 100:,}.{cents % 100:02d}"


@register.filter
def status_badge(status: str) -> str:
    return STATUS_BADGES.get(status, "text-bg-light")
