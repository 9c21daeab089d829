"""`make bench BENCH_ARGS="--compare [REV]"`: the bench on REV (the previous commit unless
given) and on this checkout, one after the other, then their figures side by side.

REV is checked out in a throwaway `git worktree`; this checkout's bench and process harness
are copied into it, so both sides are measured by the same code and only the shop differs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.stack import REPO_DIR, StackError

DEFAULT_REVISION = "HEAD~1"
# What measures, as opposed to what is measured.
HARNESS = ("bench", "tests/support")
# wrk's and gunicorn's figures compared: (label, key, decimals).
COLUMNS = (
    ("req/s", "requests_per_second", 0),
    ("p99 ms", "p99_ms", 1),
    ("CPU ms", "cpu_ms", 2),
)


def compare(revision: str, bench_args: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="shop-bench-compare-") as scratch:
        before_tree = Path(scratch) / "before"
        _git("worktree", "add", "--detach", str(before_tree), revision)
        try:
            for part in HARNESS:
                shutil.rmtree(before_tree / part, ignore_errors=True)
                shutil.copytree(REPO_DIR / part, before_tree / part)
            title = f"before: {revision} ({_describe(revision)})"
            before = _run(title, before_tree, Path(scratch) / "before.json", bench_args)
            after = _run("after: this checkout", REPO_DIR, Path(scratch) / "after.json", bench_args)
        finally:
            _git("worktree", "remove", "--force", str(before_tree))
    print_side_by_side(before, after, revision)
    return int(after["exit_code"])


def _run(title: str, tree: Path, figures: Path, bench_args: list[str]) -> dict[str, Any]:
    print(f"\n===== {title} =====", flush=True)
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--json", str(figures), *bench_args], cwd=tree, check=False
    )
    if not figures.exists():
        raise StackError(f"The bench of {title!r} stopped with {result.returncode} and no figures.")
    data: dict[str, Any] = json.loads(figures.read_text())
    data["exit_code"] = result.returncode
    return data


def print_side_by_side(before: dict[str, Any], after: dict[str, Any], revision: str) -> None:
    print(f"\n===== before ({revision}) -> after (this checkout), best run of each =====")
    header = f"{'':<40}"
    for label, *_ in COLUMNS:
        header += f" | {label + ' before':>14} {'after':>8} {'change':>7}"
    print(header)
    for name, now in after["scenarios"].items():
        then = before["scenarios"].get(name)
        line = f"{name:<40}"
        for _, key, decimals in COLUMNS:
            if then is None:
                line += f" | {'-':>14} {now[key]:>8.{decimals}f} {'':>7}"
                continue
            ratio = now[key] / then[key] if then[key] else float("nan")
            line += f" | {then[key]:>14.{decimals}f} {now[key]:>8.{decimals}f} {ratio:>6.2f}x"
        print(line)
    print(
        "change: after / before. CPU ms is gunicorn's CPU time per request, which a neighbour's "
        "load moves least;\nthe two runs follow each other, so load that changed between them "
        "moves req/s and p99 too."
    )


def _describe(revision: str) -> str:
    return _git("log", "-1", "--format=%h %s", revision).strip()


def _git(*args: str) -> str:
    result = subprocess.run(
        ["git", *args], cwd=REPO_DIR, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise StackError(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout
