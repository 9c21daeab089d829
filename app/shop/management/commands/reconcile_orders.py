from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

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
            default=5,
            help="Only orders pending for longer than this (default 5).",
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

    def handle(self, *args: Any, **options: Any) -> None:
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
