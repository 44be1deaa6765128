"""What the disclosure benchmark prints of its concurrency run, from runs made up here."""

from portal.bench import load
from portal.bench.disclosure import Concurrency, concurrency_lines


def _run(label: str, connections: int, latency_ms: float, count: int) -> load.Run:
    # A closed loop: `connections` connections, each answered every `latency_ms`.
    seconds = count * latency_ms / 1000 / connections
    return load.Run(label, connections, seconds, [latency_ms / 1000] * count, 0, 0.0)


def test_the_least_p99_at_eight_connections_is_printed_beside_the_measured_one():
    """In a closed loop the mean latency at 8 follows from the throughput (Little's law),
    and no p99 is below its mean: the line says what the throughput allows."""
    runs = {
        ("summary", 1): _run("summary", 1, 10.0, 100),  # 100 pages/s
        ("floor", 1): _run("floor", 1, 0.2, 100),
        ("summary", 8): _run("summary", 8, 40.0, 400),  # 200 pages/s: 2x
        ("floor", 8): _run("floor", 8, 0.4, 400),
    }
    lines = concurrency_lines("sqlite", Concurrency("sqlite", runs, None), (1, 8))
    (little,) = [line for line in lines if "Little's law" in line]
    assert "p99 at 8 / at 1: 4.00x; throughput at 8 / at 1: 2.00x" in little
    assert "8 / 2.00 = 4.0x the mean at 1: 40.0 ms against 10.0 ms" in little
    assert "p99 at 8 is at least 4.00x p99 at 1" in little


def _timed_run(label, connections, latencies_ms, seconds):
    return load.Run(label, connections, seconds, [ms / 1000 for ms in latencies_ms], 0, 0.0)


def test_the_line_never_prints_a_least_p99_that_its_own_figures_contradict():
    """A nearest-rank p99 is below its mean when under 1 % of the pages stall: the line
    then says so instead of a bound its own figures contradict (found by review)."""
    stalled = [10.0] * 995 + [2000.0] * 5  # five pages caught in a 2-second stall
    runs = {
        ("summary", 1): _timed_run("summary", 1, [10.0] * 100, 1.0),
        ("floor", 1): _timed_run("floor", 1, [0.2] * 100, 1.0),
        ("summary", 8): _timed_run("summary", 8, stalled, sum(stalled) / 1000 / 8),
        ("floor", 8): _timed_run("floor", 8, [0.4] * 400, 1.0),
    }
    eight, one = runs[("summary", 8)], runs[("summary", 1)]
    assert eight.p99_ms < eight.mean_ms  # a p99 below its mean
    lines = concurrency_lines("sqlite", Concurrency("sqlite", runs, None), (1, 8))
    (little,) = [line for line in lines if "Little's law" in line]
    measured = eight.p99_ms / one.p99_ms
    claimed = eight.mean_ms / one.p99_ms
    assert not (f"p99 at 8 is at least {claimed:.2f}x p99 at 1" in little and measured < claimed), (
        little
    )
    assert "a p99 is never below its mean" not in little, little


def test_the_p99_ratio_is_printed_as_the_means_ratio_times_the_tails_ratio():
    """p99 at 8 / p99 at 1 = (mean at 8 / mean at 1) x (p99 over mean at 8 / p99 over mean
    at 1): what the throughput fixes, and what is left to the tails. Here a long tail at
    one connection (2 % of pages at 30 ms, p50 10) makes a ratio of 2x out of means 3.89x
    apart."""
    runs = {
        ("summary", 1): _timed_run("summary", 1, [10.0] * 98 + [30.0] * 2, 1.04),
        ("floor", 1): _timed_run("floor", 1, [0.2] * 100, 1.0),
        ("summary", 8): _timed_run("summary", 8, [40.0] * 390 + [60.0] * 10, 2.0),
        ("floor", 8): _timed_run("floor", 8, [0.4] * 400, 1.0),
    }
    lines = concurrency_lines("sqlite", Concurrency("sqlite", runs, None), (1, 8))
    (little,) = [line for line in lines if "Little's law" in line]
    assert "summary p99 at 8 / at 1: 2.00x" in little
    (split,) = [line for line in lines if "= means at 8 / at 1" in line]
    assert "means at 8 / at 1 3.89x × tails 0.51x" in split
    assert "(p99 over its mean: 1.48 at 8, 2.88 at 1)" in split
