"""Who sent a request, for the limits and records that are kept per client address."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str | None:
    """The client's address: the proxy's word for it when the request came through the proxy."""
    address = request.META.get("REMOTE_ADDR", "")
    trusted = settings.TRUSTED_PROXIES
    forwarded = request.headers.get("X-Forwarded-For", "")
    if forwarded and ("*" in trusted or address in trusted):
        # The proxy appends the address it saw last; earlier entries are the client's to forge.
        address = forwarded.rsplit(",", 1)[-1].strip()
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None
