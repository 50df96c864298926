"""The benchmarks' timer: enough calls for a stable median however short each call is."""

import time

from bench.common import median_seconds


def test_median_seconds_runs_until_both_rounds_and_time_are_reached():
    calls = {"fast": 0, "slow": 0}

    def fast():
        calls["fast"] += 1

    def slow():
        calls["slow"] += 1
        time.sleep(0.01)

    medians = median_seconds({"fast": fast, "slow": slow}, repeats=3, min_seconds=0.05, warmup=1)
    # interleaved: both ran the same number of rounds, enough for the slow one to reach 0.05 s
    assert calls["fast"] == calls["slow"] >= 1 + 5
    assert calls["slow"] < 1 + 20  # stops once the slowest has had its time, not when the fastest has
    assert medians["slow"] >= 0.01 > medians["fast"]


def test_median_seconds_without_time_budget_runs_the_rounds_asked():
    calls = []
    median_seconds({"f": lambda: calls.append(1)}, repeats=4, min_seconds=0.0, warmup=2)
    assert len(calls) == 6
