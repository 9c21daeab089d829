"""The harness's reading of wrk's report and of the storefront's Buy forms."""

from __future__ import annotations

import pytest

from bench.load import buy_forms, parse_wrk, session_id_from

WRK_REPORT = """\
Running 5s test @ http://127.0.0.1:41234/
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    61.25ms   40.10ms   1.20s    90.00%
    Req/Sec   260.11     50.00   400.00     70.00%
  Latency Distribution
     50%  850.00us
     75%   70.00ms
     90%  100.00ms
     99%    1.20s
  2601 requests in 5.01s, 30.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 7
Requests/sec:    519.16
Transfer/sec:      5.99MB
"""


def test_wrk_report_gives_rate_percentiles_in_ms_and_every_failure() -> None:
    result = parse_wrk(WRK_REPORT)

    assert result.requests_per_second == pytest.approx(519.16)
    assert result.p50_ms == pytest.approx(0.85)
    assert result.p99_ms == pytest.approx(1200.0)
    assert (result.requests, result.non_2xx, result.socket_errors) == (2601, 7, 5)
    assert result.failed == 12


def test_clean_wrk_report_counts_no_failure() -> None:
    clean = "\n".join(
        line for line in WRK_REPORT.splitlines() if "errors" not in line and "Non-2xx" not in line
    )

    assert parse_wrk(clean).failed == 0


def test_wrk_report_without_latency_distribution_is_refused() -> None:
    with pytest.raises(ValueError, match="99th percentile"):
        parse_wrk(WRK_REPORT.replace("     99%    1.20s\n", ""))


def test_buy_forms_are_the_forms_posting_to_checkout_with_their_inputs() -> None:
    page = """
    <form action="/search/"><input name="q" value="x"></form>
    <form method="post" action="/checkout/">
      <input type="hidden" name="csrfmiddlewaretoken" value="c1">
      <input type="hidden" name="product_id" value="2">
      <input type="number" name="quantity" value="1">
      <button type="submit">Buy Now</button>
    </form>
    """

    assert buy_forms(page) == [{"csrfmiddlewaretoken": "c1", "product_id": "2", "quantity": "1"}]


def test_a_page_without_buy_form_is_refused() -> None:
    with pytest.raises(RuntimeError, match="no Buy form"):
        buy_forms("<p>Closed</p>")


def test_session_id_is_the_last_segment_of_the_checkout_url() -> None:
    assert session_id_from("http://127.0.0.1:1/c/pay/cs_test_abc") == "cs_test_abc"
