"""Wait until PostgreSQL at DATABASE_URL accepts connections, for at most DB_WAIT_SECONDS.

A container may start before its database does; failing with one clear sentence after a
bounded wait beats a crash loop of tracebacks, and never waiting forever keeps a broken
deploy visible.
"""

from __future__ import annotations

import os
import sys
import time
from urllib.parse import urlsplit

import psycopg2

POSTGRES_SCHEMES = ("postgres", "postgresql")
RETRY_SECONDS = 1.0
CONNECT_TIMEOUT_SECONDS = 3


def where(url: str) -> str:
    """host:port of the URL, never its password."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 5432}"


def wait(url: str, budget: float) -> str | None:
    """None once a connection succeeds, else the last error when the budget is spent."""
    deadline = time.monotonic() + budget
    while True:
        try:
            psycopg2.connect(url, connect_timeout=CONNECT_TIMEOUT_SECONDS).close()
            return None
        except psycopg2.OperationalError as error:
            last_error = str(error).strip()
        if time.monotonic() + RETRY_SECONDS > deadline:
            return last_error
        time.sleep(RETRY_SECONDS)


def main() -> int:
    url = os.environ.get("DATABASE_URL", "")
    if urlsplit(url).scheme not in POSTGRES_SCHEMES:
        return 0
    budget = float(os.environ.get("DB_WAIT_SECONDS", "60"))
    print(f"Waiting up to {budget:g} s for the database at {where(url)} ...", flush=True)
    error = wait(url, budget)
    if error is None:
        return 0
    print(
        f"The database at {where(url)} did not accept connections within {budget:g} s: {error}",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
