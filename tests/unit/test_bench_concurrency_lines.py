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
