"""Django's receivers of every request's signals, less the two a production request never needs.

Each receiver walks the connections through asgiref's locals: with the two below, a fortieth of
the returning visitor's page (76,000 of 1,960,000 instructions, callgrind).

- `close_old_connections` runs when each request finishes, and again when the next one starts.
  Once is enough: the finishing run closes a broken or outlived connection and marks the rest
  for a health check before their next query, which is how a connection cut by a database
  restart is replaced before a buyer's query fails; nothing touches a connection in between.
  A connection may so outlive CONN_MAX_AGE by one idle spell, and is still checked first.
- `reset_queries` clears the log of queries, which only DEBUG (or a test's capture, which
  unhooks it anyway) writes.
"""

from __future__ import annotations

from django.conf import settings
from django.core.signals import request_started
from django.db import close_old_connections, reset_queries


def drop_needless_receivers() -> None:
    request_started.disconnect(close_old_connections)
    if not settings.DEBUG:
        request_started.disconnect(reset_queries)
