"""--compare: the two runs' figures side by side."""

from __future__ import annotations

import pytest

from bench import compare

PAGE = "/ returning visitor, 5 orders"


def figures(requests_per_second: float, cpu_ms: float) -> dict[str, object]:
    page = {"requests_per_second": requests_per_second, "p99_ms": 120.0, "cpu_ms": cpu_ms}
    return {"scenarios": {PAGE: page}, "exit_code": 0}


def test_each_page_shows_before_after_and_their_ratio(capsys: pytest.CaptureFixture[str]) -> None:
    compare.print_side_by_side(figures(500, 1.70), figures(1000, 0.85), "HEAD~1")
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith(PAGE))
    assert line.split("|")[1].split() == ["500", "1000", "2.00x"]
    assert line.split("|")[3].split() == ["1.70", "0.85", "0.50x"]


def test_a_page_the_old_bench_did_not_measure_shows_a_dash(
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = {"scenarios": {}, "exit_code": 0}
    compare.print_side_by_side(before, figures(1000, 0.85), "HEAD~1")
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith(PAGE))
    assert line.split("|")[1].split() == ["-", "1000"]
