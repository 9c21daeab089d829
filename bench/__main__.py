"""`make bench`: the storefront's speed through nginx -> gunicorn -> PostgreSQL, on this machine.

A benchmark, not a timed test: it prints figures and the ratios between figures of the same run.
It exits 1 only when a request failed (any non-2xx, socket error or a wrong race outcome) or a
ratio target is missed widely, which here means below half the target; 2 when it cannot run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import runpy
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from types import FrameType
from typing import Any

import psycopg2

from bench import compare, load, stack
from bench.load import WrkResult

RETURNING_ORDERS = 5
OTHER_ORDERS = 10_000
RACE_BUYERS = 50
RACE_POSTS_PER_BUYER = 2
PAID_TIMEOUT_SECONDS = 20.0
WARM_UP_SECONDS = 2.0
# The storefront's targets; "missed widely" is below half of a ratio target.
FLOOR_RATIO_TARGET = 0.35
FLAT_RATIO_TARGET = 0.95
WIDE_MISS = 0.5
P99_TARGET_MS = 100.0
RPS_TARGET = 1000.0
RSS_TARGET_MIB = 100.0
# gunicorn's CPU time per request, in ms.
CPU_TARGETS_MS = {"returning": 0.8, "first": 0.6, "poll": 0.6}
# The targets hold at two workers whatever the machine, not at the image's per-CPU default.
BENCH_WORKERS = {"WEB_CONCURRENCY": "2", "GUNICORN_THREADS": "4"}
ORDER_ROW = 'data-testid="order-row"'
STASH_OTHERS = (
    "CREATE TABLE bench_other_orders AS SELECT * FROM shop_order"
    " WHERE visitor LIKE 'bench-other-%'",
)
# Fresh statistics each time, as autovacuum would leave them on a table that changed this much.
RESTORE_OTHERS = ("INSERT INTO shop_order SELECT * FROM bench_other_orders", "ANALYZE shop_order")
REMOVE_OTHERS = (
    "DELETE FROM shop_order WHERE visitor LIKE 'bench-other-%'",
    "VACUUM ANALYZE shop_order",
)
# The whole run stays under 3 minutes, stopping the stack included.
BOUND_SECONDS = 165

HEALTHZ = "/healthz (the floor)"
FIRST = "/ first-time visitor"
RETURNING = f"/ returning visitor, {RETURNING_ORDERS} orders"
CROWDED = f"/ same visitor, +{OTHER_ORDERS:,} other orders"
POLL = "/orders/ My Orders poll"


@dataclass
class Scenario:
    name: str
    path: str
    returning: bool
    runs: list[WrkResult] = field(default_factory=list)

    @property
    def best(self) -> WrkResult:
        return max(self.runs, key=lambda run: run.requests_per_second)


def main() -> int:
    args = parse_args()
    # A SIGTERM unwinds like Ctrl-C, so every process started is stopped on the way out.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    # A shell may start a background job with SIGINT ignored; Ctrl-C must still stop the run.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if args.compare:
        try:
            each = ["--seconds", f"{args.seconds:g}", "--rounds", str(args.rounds)]
            return compare.compare(args.compare, each)
        except stack.StackError as error:
            print(f"bench: {error}", file=sys.stderr)
            return 2
    if not (args.grid or args.profile):
        signal.signal(signal.SIGALRM, _out_of_time)
        signal.alarm(BOUND_SECONDS)
    try:
        stack.require_tools()
        with ExitStack() as cleanup:
            return run(args, cleanup)
    except stack.StackError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench: interrupted; everything it started is stopped.", file=sys.stderr)
        return 130


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of one wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (best of N)")
    parser.add_argument(
        "--grid",
        help="instead of the bench: gunicorn WORKERSxTHREADS to compare, e.g. 2x4,4x4,4x1",
    )
    parser.add_argument(
        "--profile", action="store_true", help="instead of the bench: profile the storefront"
    )
    parser.add_argument(
        "--compare",
        nargs="?",
        const=compare.DEFAULT_REVISION,
        metavar="REV",
        help="the bench on REV (default: the previous commit) and on this checkout, side by side",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    return parser.parse_args()


def _out_of_time(signum: int, frame: FrameType | None) -> None:
    raise stack.StackError(
        f"The run took longer than its bound of {BOUND_SECONDS} s and was stopped; "
        "the machine is likely busy with other work (see the load average above)."
    )


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace, cleanup: ExitStack) -> int:
    started = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="shop-bench-"))
    cleanup.callback(shutil.rmtree, scratch, ignore_errors=True)
    database_url = cleanup.enter_context(stack.bench_database())
    gunicorn_port, nginx_port = stack.free_port(), stack.free_port()
    webhook_url = f"http://{stack.HOST}:{nginx_port}/stripe/webhook/"
    simulator_url = cleanup.enter_context(stack.simulator(scratch / "stripe_sim.log", webhook_url))
    env = stack.server_env(database_url, simulator_url, gunicorn_port)
    stack.manage(env, "collectstatic", "--noinput")
    stack.manage(env, "migrate", "--noinput")
    shop = stack.Stack(scratch, database_url, simulator_url, "", gunicorn_port, env)
    stack.start_gunicorn(shop, BENCH_WORKERS)
    cleanup.callback(stack.stop_gunicorn, shop)
    shop.nginx_url = cleanup.enter_context(
        stack.nginx(scratch, nginx_port, f"{stack.HOST}:{gunicorn_port}")
    )
    visitor = returning_visitor(shop)
    scenarios = [
        Scenario(HEALTHZ, "/healthz", returning=False),
        Scenario(FIRST, "/", returning=False),
        Scenario(POLL, "/orders/", returning=True),
        Scenario(RETURNING, "/", returning=True),
        Scenario(CROWDED, "/", returning=True),
    ]
    check_answers(shop, visitor, scenarios)
    if args.profile:
        print(django_step(shop, "profile", visitor.cookie_header(), echo=True))
        return 0
    if args.grid:
        return concurrency_grid(shop, visitor, args)

    print_machine(shop)
    stash_other_orders(shop)
    load.wrk(shop.nginx_url + "/", WARM_UP_SECONDS)
    for _ in range(args.rounds):
        for scenario in scenarios:
            if scenario.name == CROWDED:
                _sql(shop.database_url, *RESTORE_OTHERS)
                if others_in_table(shop) != OTHER_ORDERS:
                    raise stack.StackError("The other visitors' orders did not go back in.")
            scenario.runs.append(measure(shop, visitor, scenario, args.seconds))
            if scenario.name == CROWDED:
                _sql(shop.database_url, *REMOVE_OTHERS)
    race = race_as_load(shop)
    queries = json.loads(django_step(shop, "count-queries", visitor.cookie_header()))
    workers = {pid: stack.rss_mib(pid) for pid in shop.gunicorn_workers()}
    failed = report(scenarios, race, queries, workers, args)
    if args.json:
        write_figures(args.json, scenarios, queries, failed)
    print(f"\nThe whole run took {time.monotonic() - started:.0f} s; {load_average()} at its end.")
    return 1 if failed else 0


def write_figures(
    path: Path, scenarios: list[Scenario], queries: dict[str, int], failed: bool
) -> None:
    """The best run of each page and its least CPU per request, for --compare."""
    figures = {
        scenario.name: {
            "requests_per_second": scenario.best.requests_per_second,
            "p50_ms": scenario.best.p50_ms,
            "p99_ms": scenario.best.p99_ms,
            "cpu_ms": least_cpu(scenario),
        }
        for scenario in scenarios
    }
    path.write_text(json.dumps({"scenarios": figures, "queries": queries, "failed": failed}))


def returning_visitor(shop: stack.Stack) -> load.Browser:
    """A buyer with paid orders, made through the shop as a browser makes them: the Buy form,
    the redirect to Checkout, Pay at the simulator, and its webhook back through nginx."""
    browser = load.Browser(shop.nginx_url)
    session_ids = []
    for index in range(RETURNING_ORDERS):
        forms = load.buy_forms(expect_ok(browser.get("/"), "GET /").body)
        answer = browser.post(load.CHECKOUT_PATH, forms[index % len(forms)])
        if answer.status != HTTPStatus.SEE_OTHER:
            raise stack.StackError(f"POST /checkout/ answered {answer.status}:\n{answer.body}")
        session_ids.append(load.session_id_from(answer.headers["Location"]))
        load.json_call(shop.simulator_url, "POST", f"/_sim/sessions/{session_ids[-1]}/pay", {})
    deadline = time.monotonic() + PAID_TIMEOUT_SECONDS
    while paid_orders(shop.database_url, session_ids) < RETURNING_ORDERS:
        if time.monotonic() > deadline:
            raise stack.StackError("The returning visitor's orders were not paid by the webhooks.")
        time.sleep(0.1)
    return browser


def stash_other_orders(shop: stack.Stack) -> None:
    """Other visitors' orders, made once through the ORM and kept aside in a table of their own,
    so that each round puts the very same rows in and takes them out in well under a second."""
    django_step(shop, "add-others", str(OTHER_ORDERS))
    _sql(shop.database_url, *STASH_OTHERS, *REMOVE_OTHERS)


def others_in_table(shop: stack.Stack) -> int:
    query = "SELECT count(*) FROM shop_order WHERE visitor LIKE %s"
    return int(_scalar(shop.database_url, query, ("bench-other-%",)))


def _sql(database_url: str, *statements: str) -> None:
    with closing(psycopg2.connect(database_url)) as connection:
        # VACUUM refuses to run inside a transaction block.
        connection.autocommit = True
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)


def paid_orders(database_url: str, session_ids: list[str]) -> int:
    query = "SELECT count(*) FROM shop_order WHERE status = 'paid' AND stripe_session_id = ANY(%s)"
    return int(_scalar(database_url, query, (session_ids,)))


def _scalar(database_url: str, query: str, params: tuple[Any, ...] = ()) -> Any:
    with closing(psycopg2.connect(database_url)) as connection, connection.cursor() as cursor:
        cursor.execute(query, params)
        row = cursor.fetchone()
        assert row is not None, "an aggregate query returns one row"
        return row[0]


def expect_ok(response: load.Response, what: str) -> load.Response:
    if response.status != HTTPStatus.OK:
        raise stack.StackError(f"{what} answered {response.status}, not 200.")
    return response


def check_answers(shop: stack.Stack, visitor: load.Browser, scenarios: list[Scenario]) -> None:
    """Each URL answers 200 (wrk counts a 3xx as a success) and shows the right visitor's orders."""
    stranger = load.Browser(shop.nginx_url)
    for scenario in scenarios:
        browser = visitor if scenario.returning else stranger
        page = expect_ok(
            load.Browser(shop.nginx_url, cookies=dict(browser.cookies)).get(scenario.path),
            f"GET {scenario.path} ({scenario.name})",
        )
        if scenario.path in ("/", "/orders/"):
            rows = page.body.count(ORDER_ROW)
            expected = RETURNING_ORDERS if scenario.returning else 0
            if rows != expected:
                raise stack.StackError(f"{scenario.name} shows {rows} orders, not {expected}.")


def measure(
    shop: stack.Stack, visitor: load.Browser, scenario: Scenario, seconds: float
) -> WrkResult:
    cookie = visitor.cookie_header() if scenario.returning else None
    assert shop.gunicorn is not None
    cpu_before = stack.cpu_seconds(shop.gunicorn.pid)
    booted_before = stack.workers_booted(shop)
    result = load.wrk(shop.nginx_url + scenario.path, seconds, cookie)
    cpu = stack.cpu_seconds(shop.gunicorn.pid) - cpu_before
    return dataclasses.replace(
        result,
        server_cpu_ms_per_request=cpu * 1000 / max(result.requests, 1),
        worker_restarts=stack.workers_booted(shop) - booted_before,
    )


def django_step(shop: stack.Stack, *args: str, echo: bool = False) -> str:
    """One step of bench/django_steps.py in the server's environment; returns its last line."""
    env = {**shop.env, "PYTHONPATH": os.pathsep.join([str(stack.APP_DIR), str(stack.REPO_DIR)])}
    result = subprocess.run(
        [sys.executable, "-m", "bench.django_steps", *args],
        cwd=stack.REPO_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise stack.StackError(f"bench.django_steps {args[0]} failed:\n{result.stderr}")
    lines = result.stdout.rstrip().splitlines()
    if echo:
        print("\n".join(lines[:-1]))
    return lines[-1]


@dataclass(frozen=True)
class RaceOutcome:
    failures: list[str]
    statuses: dict[int, int]
    orders: int
    sessions: int


def race_as_load(shop: stack.Stack) -> RaceOutcome:
    orders_before = _scalar(shop.database_url, "SELECT count(*) FROM shop_order")
    sessions_before = len(load.json_call(shop.simulator_url, "GET", "/_sim/sessions"))
    result = load.race(shop.nginx_url, RACE_BUYERS, RACE_POSTS_PER_BUYER)
    orders = _scalar(shop.database_url, "SELECT count(*) FROM shop_order") - orders_before
    sessions = len(load.json_call(shop.simulator_url, "GET", "/_sim/sessions")) - sessions_before
    statuses: dict[int, int] = {}
    for status in result.statuses:
        statuses[status] = statuses.get(status, 0) + 1
    redirected = [ids for ids in result.session_ids_per_buyer if len(ids) == 1]
    distinct = set().union(*result.session_ids_per_buyer)
    checks = {
        f"every POST answered 303 to Checkout (got {statuses})": (
            statuses == {HTTPStatus.SEE_OTHER: RACE_BUYERS * RACE_POSTS_PER_BUYER}
        ),
        f"both POSTs of each buyer reached the same session ({len(redirected)} of {RACE_BUYERS})": (
            len(redirected) == RACE_BUYERS and len(distinct) == RACE_BUYERS
        ),
        f"exactly {RACE_BUYERS} new orders (got {orders})": orders == RACE_BUYERS,
        f"exactly {RACE_BUYERS} new Checkout Sessions at the simulator (got {sessions})": (
            sessions == RACE_BUYERS
        ),
    }
    failures = [check for check, passed in checks.items() if not passed]
    return RaceOutcome(failures, statuses, orders, sessions)


def concurrency_grid(shop: stack.Stack, visitor: load.Browser, args: argparse.Namespace) -> int:
    """gunicorn workers x threads, each measured on /healthz and the returning visitor's page."""
    print_machine(shop)
    rows = []
    failed = 0
    for combination in args.grid.split(","):
        workers, threads = combination.lower().split("x")
        stack.stop_gunicorn(shop)
        stack.start_gunicorn(shop, {"WEB_CONCURRENCY": workers, "GUNICORN_THREADS": threads})
        load.wrk(shop.nginx_url + "/", WARM_UP_SECONDS)
        floor = Scenario(HEALTHZ, "/healthz", returning=False)
        page = Scenario(RETURNING, "/", returning=True)
        for _ in range(args.rounds):
            for scenario in (floor, page):
                scenario.runs.append(measure(shop, visitor, scenario, args.seconds))
        failed += sum(run.failed for run in floor.runs + page.runs)
        rss = [stack.rss_mib(pid) or 0.0 for pid in shop.gunicorn_workers()]
        page_cpu = min(run.server_cpu_ms_per_request for run in page.runs)
        rows.append((workers, threads, floor.best, page.best, page_cpu, max(rss), sum(rss)))
    print(
        f"\ngunicorn workers x threads, best of {args.rounds} x {args.seconds:g} s, "
        f"wrk {load.WRK_THREADS} threads x {load.WRK_CONNECTIONS} connections"
    )
    print(
        f"{'workers':>7} {'threads':>7} | {'/healthz r/s':>12} {'p99 ms':>7} | "
        f"{'/ r/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'CPU ms':>7} | {'/ : floor':>9} | "
        f"{'max RSS':>8} {'sum RSS':>8}"
    )
    for workers, threads, floor_best, page_best, page_cpu, rss_max, rss_sum in rows:
        print(
            f"{workers:>7} {threads:>7} | {floor_best.requests_per_second:>12.0f} "
            f"{floor_best.p99_ms:>7.1f} | {page_best.requests_per_second:>7.0f} "
            f"{page_best.p50_ms:>7.1f} {page_best.p99_ms:>7.1f} {page_cpu:>7.2f} | "
            f"{page_best.requests_per_second / floor_best.requests_per_second:>8.2f}x | "
            f"{rss_max:>6.1f}MB {rss_sum:>6.1f}MB"
        )
    if failed:
        print(f"FAILED: {failed} requests failed (non-2xx or socket errors).")
    return 1 if failed else 0


def least_cpu(scenario: Scenario) -> float:
    return min(run.server_cpu_ms_per_request for run in scenario.runs)


def print_machine(shop: stack.Stack) -> None:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory_kib = int(Path("/proc/meminfo").read_text().split()[1])
    config = gunicorn_config(shop)
    postgres = _scalar(shop.database_url, "SHOW server_version")
    print(
        f"machine: {platform.node()}, {os.cpu_count()} cores ({cpu}), "
        f"{memory_kib / 1024 / 1024:.0f} GiB, {_os_name()}, Python {platform.python_version()}\n"
        f"stack:   {_version(['nginx', '-v'])} -> gunicorn {config} -> PostgreSQL {postgres}; "
        f"{_version(['wrk', '--version']).split(' [')[0]}\n"
        f"load:    {load_average()} before the run (other work on these cores slows every figure)"
    )


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min)"


def gunicorn_config(shop: stack.Stack) -> str:
    with _environment(shop.env):
        config = runpy.run_path(str(stack.GUNICORN_CONFIG))
    workers = len(shop.gunicorn_workers())
    return f"{workers} workers x {config['threads']} threads ({config['worker_class']})"


@contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _os_name() -> str:
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return platform.system()


def _version(args: list[str]) -> str:
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    return (result.stdout + result.stderr).strip().splitlines()[0].replace("nginx version: ", "")


def report(
    scenarios: list[Scenario],
    race: RaceOutcome,
    queries: dict[str, int],
    workers: dict[int, float | None],
    args: argparse.Namespace,
) -> bool:
    """Print every figure and target; True when the run failed."""
    by_name = {scenario.name: scenario for scenario in scenarios}
    print(
        f"\nwrk {load.WRK_THREADS} threads x {load.WRK_CONNECTIONS} connections x "
        f"{args.seconds:g} s through nginx, {args.rounds} interleaved rounds; best run shown"
    )
    print(
        f"{'':<40} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'errors':>7}"
        f" {'CPU ms':>7} {'restarts':>8}   all runs, req/s"
    )
    for scenario in scenarios:
        best = scenario.best
        runs = " ".join(f"{run.requests_per_second:.0f}" for run in scenario.runs)
        print(
            f"{scenario.name:<40} {best.requests_per_second:>8.0f} {best.p50_ms:>8.1f} "
            f"{best.p99_ms:>8.1f} {sum(run.non_2xx for run in scenario.runs):>8} "
            f"{sum(run.socket_errors for run in scenario.runs):>7} "
            f"{least_cpu(scenario):>7.2f} "
            f"{sum(run.worker_restarts for run in scenario.runs):>8}   {runs}"
        )
    print(
        "non-2xx and errors (wrk's socket errors: connect, read, write, 5 s timeout) add up all "
        "runs.\nCPU ms: gunicorn's CPU time per request (master and workers, least of the runs); "
        "others' load on the machine moves it less than req/s.\n"
        "restarts: gunicorn workers recycled during the runs (max_requests), each a fork of the "
        "preloaded master with its caches and database connections to fill again."
    )

    floor_ratio = (
        by_name[RETURNING].best.requests_per_second / by_name[HEALTHZ].best.requests_per_second
    )
    flat_ratio = statistics.median(
        crowded.requests_per_second / alone.requests_per_second
        for crowded, alone in zip(by_name[CROWDED].runs, by_name[RETURNING].runs, strict=True)
    )
    page = by_name[RETURNING].best
    rss = [value for value in workers.values() if value is not None]
    wide_misses = []

    def ratio_target(label: str, value: float, target: float) -> None:
        if value >= target:
            verdict = "met"
        elif value >= target * WIDE_MISS:
            verdict = "NOT MET"
        else:
            verdict = f"MISSED WIDELY (below {target * WIDE_MISS:.2f}x, half the target)"
            wide_misses.append(label)
        print(f"  {label:<58} {value:>6.2f}x  target >= {target:.2f}x  {verdict}")

    def absolute_target(label: str, value: str, met: bool, target: str) -> None:
        print(f"  {label:<58} {value:>7}  target {target:<9} {'met' if met else 'NOT MET'}")

    print("\nTargets (ratios from this run; a ratio below half its target fails the bench)")
    ratio_target("/ returning visitor : /healthz (best of each)", floor_ratio, FLOOR_RATIO_TARGET)
    ratio_target(
        f"/ with {OTHER_ORDERS:,} other orders : without (median of pairs)",
        flat_ratio,
        FLAT_RATIO_TARGET,
    )
    page_cpu = least_cpu(by_name[RETURNING])
    floor_cpu = least_cpu(by_name[HEALTHZ])
    print(
        f"  (in gunicorn CPU per request, / costs {page_cpu / max(floor_cpu, 0.001):.1f}x "
        f"/healthz: {floor_cpu / max(page_cpu, 0.001):.2f}x as a rate; no target, context only)"
    )
    for name, key in ((RETURNING, "returning"), (FIRST, "first"), (POLL, "poll")):
        cpu, cpu_target = least_cpu(by_name[name]), CPU_TARGETS_MS[key]
        absolute_target(
            f"{name.split(',')[0]}: gunicorn CPU per request",
            f"{cpu:.2f} ms",
            cpu <= cpu_target,
            f"<= {cpu_target} ms",
        )
    absolute_target(
        "/ returning visitor: p99 at 32 connections",
        f"{page.p99_ms:.0f} ms",
        page.p99_ms <= P99_TARGET_MS,
        f"<= {P99_TARGET_MS:.0f} ms",
    )
    absolute_target(
        "/ returning visitor: requests/s",
        f"{page.requests_per_second:.0f}",
        page.requests_per_second >= RPS_TARGET,
        f">= {RPS_TARGET:,.0f}",
    )
    absolute_target(
        f"gunicorn workers' RSS after the run ({len(rss)} workers, largest)",
        f"{max(rss, default=0):.0f} MB",
        bool(rss) and max(rss) < RSS_TARGET_MIB,
        "< 100 MB",
    )
    print("    each: " + ", ".join(f"pid {pid} {mib or 0:.1f} MB" for pid, mib in workers.items()))

    print("\nSQL queries per request (Django's CaptureQueriesContext around the test client)")
    query_targets: dict[str, Callable[[int], bool]] = {
        "/ returning visitor": lambda n: n <= 1,
        "/ first-time visitor": lambda n: n == 0,
    }
    for name, count in queries.items():
        check = query_targets.get(name)
        verdict = "" if check is None else ("met" if check(count) else "NOT MET")
        target = {"/ returning visitor": "<= 1", "/ first-time visitor": "0 (cached)"}.get(name, "")
        print(f"  {name:<40} {count:>3}  {target:<11} {verdict}")

    print(
        f"\nRace as load: {RACE_BUYERS} buyers x {RACE_POSTS_PER_BUYER} concurrent POSTs of one "
        f"form, through nginx: {race.orders} orders, {race.sessions} Checkout Sessions, "
        f"answers {race.statuses}"
    )
    for failure in race.failures:
        print(f"  FAILED: {failure}")

    failed_requests = sum(run.failed for scenario in scenarios for run in scenario.runs)
    if failed_requests:
        print(f"\nFAILED: {failed_requests} requests failed under load (non-2xx or socket errors).")
    if wide_misses:
        print(f"\nFAILED: missed widely: {'; '.join(wide_misses)}.")
    return bool(failed_requests or race.failures or wide_misses)


if __name__ == "__main__":
    sys.exit(main())
