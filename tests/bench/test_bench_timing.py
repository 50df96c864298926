"""The benchmarks' timer: enough calls for a stable median however short each call is.

The timer reads ``time.perf_counter``; here that clock is a counter the measured functions advance by
exact binary fractions, so the round counts and medians are exact instead of depending on the load.
"""

import time

from bench.common import median_seconds


def test_median_seconds_runs_until_both_rounds_and_time_are_reached(monkeypatch):
    clock = {"now": 0.0}
    monkeypatch.setattr(time, "perf_counter", lambda: clock["now"])
    calls = {"fast": 0, "slow": 0}

    def fast():
        calls["fast"] += 1
        clock["now"] += 1 / 1024

    def slow():
        calls["slow"] += 1
        clock["now"] += 1 / 64

    medians = median_seconds({"fast": fast, "slow": slow}, repeats=3, min_seconds=5 / 64, warmup=1)
    # interleaved: both ran the same rounds; 3 rounds are asked, but the slow one needs 5 to reach 5/64 s,
    # and the fast one's smaller total does not keep the loop going
    assert calls == {"fast": 1 + 5, "slow": 1 + 5}
    assert medians == {"fast": 1 / 1024, "slow": 1 / 64}


def test_median_seconds_without_time_budget_runs_the_rounds_asked():
    calls = []
    median_seconds({"f": lambda: calls.append(1)}, repeats=4, min_seconds=0.0, warmup=2)
    assert len(calls) == 6
