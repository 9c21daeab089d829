"""Random identifiers shaped like Stripe's (`cs_test_...`, `evt_...`, `req_...`)."""

from __future__ import annotations

import secrets
import string

ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(ALPHABET) for _ in range(length))
