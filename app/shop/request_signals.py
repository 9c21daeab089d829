"""Django's receivers of every request's signals, less those a production request never needs.

Each receiver walks the connections or the URLconf through asgiref's locals: with the first two
below, a fortieth of the returning visitor's page (76,000 of 1,960,000 instructions, callgrind);
the last two cost 5.6 us a request in one thread (timeit), and 6% of the workers' samples with
four threads under load (py-spy --gil), where asgiref's locals contend.

- `close_old_connections` runs when each request finishes, and again when the next one starts.
  Once is enough: the finishing run closes a broken or outlived connection and marks the rest
  for a health check before their next query, which is how a connection cut by a database
  restart is replaced before a buyer's query fails; nothing touches a connection in between.
  A connection may so outlive CONN_MAX_AGE by one idle spell, and is still checked first.
- `reset_queries` clears the log of queries, which only DEBUG (or a test's capture, which
  unhooks it anyway) writes.
- `close_caches` closes each cache in use: the shop's caches are the in-process ones, whose
  close does nothing.
- `reset_urlconf` forgets a request's own URLconf: none sets one (`request.urlconf`), and each
  request sets ROOT_URLCONF again as it starts.
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import close_caches
from django.core.handlers.base import reset_urlconf
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, reset_queries

# The cache backends whose close() is Django's no-op.
NOTHING_TO_CLOSE = frozenset(
    {
        "django.core.cache.backends.locmem.LocMemCache",
        "django.core.cache.backends.dummy.DummyCache",
    }
)


def drop_needless_receivers() -> None:
    request_started.disconnect(close_old_connections)
    if not settings.DEBUG:
        request_started.disconnect(reset_queries)
    if all(cache["BACKEND"] in NOTHING_TO_CLOSE for cache in settings.CACHES.values()):
        request_finished.disconnect(close_caches)
    request_finished.disconnect(reset_urlconf)
