"""Setup and inspection steps that run inside the shop's Django, on the bench's database.

`python -m bench.django_steps STEP [ARGS]` with the server's environment and `app/` on the path;
each step prints one JSON object on its last line.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import random
import sys
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import django

OTHER_VISITOR_PREFIX = "bench-other-"
BATCH_SIZE = 2000
PROFILE_RENDERS = 300
HOST = "127.0.0.1"


def add_others(count: int) -> dict[str, Any]:
    """Orders of other visitors, through the ORM in bulk: a busy shop's table, fast to make."""
    from django.utils import timezone

    from shop.models import Order, OrderStatus, Product

    products = list(Product.objects.all())
    now = timezone.now()
    rng = random.Random(9)  # noqa: S311 - the same table every run
    statuses = [OrderStatus.PAID] * 6 + [OrderStatus.PENDING, OrderStatus.CANCELED]
    orders = []
    for index in range(count):
        product, quantity, status = rng.choice(products), rng.randint(1, 10), rng.choice(statuses)
        orders.append(
            Order(
                product=product,
                quantity=quantity,
                unit_price_cents=product.price_cents,
                amount_cents=product.price_cents * quantity,
                status=status,
                # About three orders per visitor, as returning buyers make.
                visitor=f"{OTHER_VISITOR_PREFIX}{index // 3:08d}",
                form_token=uuid.uuid4(),
                checkout_expires_at=now + timedelta(minutes=31),
                paid_at=now if status == OrderStatus.PAID else None,
            )
        )
    Order.objects.bulk_create(orders, batch_size=BATCH_SIZE)
    return {"orders": Order.objects.count()}


def count_queries(cookie: str) -> dict[str, Any]:
    """SQL queries per request, counted by Django around each request of the test client."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from bench.load import buy_forms

    def queries(client: Client, method: str, path: str, data: dict[str, str] | None = None) -> int:
        with CaptureQueriesContext(connection) as captured:
            response = getattr(client, method)(path, data, HTTP_HOST=HOST)
        if response.status_code >= 400:
            raise RuntimeError(f"{method.upper()} {path} answered {response.status_code}")
        return len(captured)

    returning = Client()
    returning.cookies.load(cookie)
    first_time = Client()
    counts = {
        # This process has not read the products yet, as a worker just started.
        "/ first-time visitor, new process": queries(Client(), "get", "/"),
        "/ first-time visitor": queries(first_time, "get", "/"),
        "/ returning visitor": queries(returning, "get", "/"),
        "/orders/ poll": queries(returning, "get", "/orders/"),
        "/healthz": queries(first_time, "get", "/healthz"),
    }
    form = buy_forms(first_time.get("/", HTTP_HOST=HOST).content.decode())[0]
    counts["POST /checkout/ (new order)"] = queries(first_time, "post", "/checkout/", form)
    counts["POST /checkout/ (same form again)"] = queries(first_time, "post", "/checkout/", form)
    return counts


def profile(cookie: str) -> dict[str, Any]:
    """Where one storefront render spends its time, with the test client (no network)."""
    from django.template import base
    from django.test import Client
    from pyinstrument import Profiler

    returning, first_time = Client(), Client()
    returning.cookies.load(cookie)

    def render(client: Client, path: str) -> Callable[[], object]:
        return lambda: client.get(path, HTTP_HOST=HOST)

    cases = {
        "/healthz": render(first_time, "/healthz"),
        "/ first-time visitor": render(first_time, "/"),
        "/ returning visitor": render(returning, "/"),
        "/orders/ poll": render(returning, "/orders/"),
    }
    timings = {}
    for name, call in cases.items():
        call()
        started = time.perf_counter()
        for _ in range(PROFILE_RENDERS):
            call()
        timings[name] = round((time.perf_counter() - started) * 1000 / PROFILE_RENDERS, 3)

    lookups = _count_calls(base.Variable, "_resolve_lookup", cases["/ returning visitor"])
    filters = _count_calls(base.FilterExpression, "resolve", cases["/ returning visitor"])
    profiler = Profiler()
    with profiler:
        for _ in range(PROFILE_RENDERS):
            cases["/ returning visitor"]()
    print(profiler.output_text(unicode=False, color=False, show_all=False))
    # pyinstrument hides Django's own frames; cProfile names the functions inside render().
    functions = cProfile.Profile()
    functions.runcall(lambda: [cases["/ returning visitor"]() for _ in range(PROFILE_RENDERS)])
    stats = pstats.Stats(functions, stream=sys.stdout).strip_dirs()
    stats.sort_stats("cumulative").print_stats(r"template|defaultfilters|formats|numberformat", 30)
    stats.sort_stats("tottime").print_stats(25)
    return {
        "ms per request, in-process": timings,
        "variable lookups per returning page": lookups,
        "filter expressions resolved per returning page": filters,
    }


def _count_calls(owner: type, name: str, call: Callable[[], object]) -> int:
    original = getattr(owner, name)
    calls = 0

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return original(*args, **kwargs)

    setattr(owner, name, counting)
    try:
        call()
    finally:
        setattr(owner, name, original)
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.django_steps")
    steps = parser.add_subparsers(dest="step", required=True)
    steps.add_parser("add-others").add_argument("count", type=int)
    steps.add_parser("count-queries").add_argument("cookie")
    steps.add_parser("profile").add_argument("cookie")
    args = parser.parse_args()
    django.setup()
    if args.step == "add-others":
        result = add_others(args.count)
    elif args.step == "count-queries":
        result = count_queries(args.cookie)
    else:
        result = profile(args.cookie)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
