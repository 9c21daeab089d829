from __future__ import annotations

import signal
import sys
import time
from datetime import timedelta
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import connections

from shop import reconcile


class Command(BaseCommand):
    help = (
        "Ask Stripe about pending orders older than a few minutes and settle them: "
        "the safety net for a lost webhook and a closed browser. Run it every few minutes."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than-minutes",
            type=int,
            default=settings.RECONCILE_OLDER_THAN_MINUTES,
            help="Only orders pending for longer than this (default RECONCILE_OLDER_THAN_MINUTES).",
        )
        parser.add_argument(
            "--budget-seconds",
            type=float,
            default=reconcile.RECONCILE_BUDGET.total_seconds(),
            help="Start no new order after this long; the next run takes the rest (default 240).",
        )
        parser.add_argument(
            "--concurrency",
            type=int,
            default=4,
            help="Orders asked about at Stripe at once (default 4).",
        )
        parser.add_argument(
            "--repeat",
            action="store_true",
            help="Run again every RECONCILE_INTERVAL_SECONDS until stopped (a container schedule).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["repeat"]:
            self.reconcile_once(options)
            return
        # PID 1 in a container ignores SIGTERM unless it handles it; an order is settled in one
        # transaction, so stopping between two statements loses nothing.
        signal.signal(signal.SIGTERM, _exit_on_signal)
        interval = settings.RECONCILE_INTERVAL_SECONDS
        self.stdout.write(f"Reconciling every {interval} s until stopped.")
        while True:
            self.reconcile_once(options)
            # Between runs this process holds no database connection.
            connections.close_all()
            time.sleep(interval)

    def reconcile_once(self, options: dict[str, Any]) -> None:
        minutes = options["older_than_minutes"]
        outcomes = reconcile.reconcile(
            older_than=timedelta(minutes=minutes),
            budget=timedelta(seconds=options["budget_seconds"]),
            concurrency=options["concurrency"],
        )
        summary = ", ".join(f"{name}: {count}" for name, count in sorted(outcomes.items()))
        self.stdout.write(
            f"Reconciled pending orders older than {minutes} min. {summary or 'none'}"
        )
        self.stdout.flush()


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    sys.exit(0)
