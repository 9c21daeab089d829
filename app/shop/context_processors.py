from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def payments(request: HttpRequest) -> dict[str, bool]:
    return {"payments_simulated": settings.STRIPE_SIMULATED}
