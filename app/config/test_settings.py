"""Settings for the test suite: the real settings, plus what a fresh clone lacks.

Plain `pytest` (and an IDE's test runner) must work with no environment at all, so the suite
gets a throwaway key and serves static files from the apps' own folders, as in development,
with no `collectstatic` first and so no manifest.
Tests that start the app as its own process pin `config.settings`, the module production runs.
"""

from __future__ import annotations

import os

# Before the real settings run: they refuse to start without a key when DEBUG is off.
TEST_SECRET_KEY = "test-only-secret-key-that-is-not-used-anywhere-else"  # noqa: S105
os.environ.setdefault("SECRET_KEY", TEST_SECRET_KEY)

from config.settings import *  # noqa: E402, F403
from config.settings import STORAGES  # noqa: E402

STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
