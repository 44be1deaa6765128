"""`portal serve` starts one worker per usable core unless told otherwise (at most 8), and
says how many; the federated demo's nodes keep one worker each. Nothing here is timed:
uvicorn is not started, what it would be given is looked at."""

from __future__ import annotations

import os

import pytest
from test_cli_operator import INIT, _closed_port, empty_database, operator, run  # noqa: F401

from portal.cli import serve
from portal.demo import federated
from portal.worker_shares import ENVIRONMENT

# Run after the rest of the suite, in one process (./ops/test; the marker in pyproject.toml).
pytestmark = pytest.mark.alone


def test_the_usable_cores_are_the_processs_own_then_its_affinity_then_the_machines(
    monkeypatch,
):
    monkeypatch.setattr(os, "process_cpu_count", lambda: 3, raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    assert serve.usable_cores() == 3
    monkeypatch.delattr(os, "process_cpu_count", raising=False)
    assert serve.usable_cores() == 2  # a container's or taskset's limit, not the machine's
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    assert serve.usable_cores() == 16
    monkeypatch.setattr(os, "cpu_count", lambda: None)  # not known: one
    assert serve.usable_cores() == 1


@pytest.mark.parametrize(("cores", "workers"), [(1, 1), (2, 2), (6, 6), (64, 8)])
def test_the_default_is_one_worker_per_usable_core_at_most_eight(monkeypatch, cores, workers):
    monkeypatch.setattr(serve, "usable_cores", lambda: cores)
    assert serve.default_workers() == workers
    from portal.cli import main as cli

    assert cli.parser().parse_args(["serve"]).workers == workers


def _served(monkeypatch) -> list[dict]:
    """What `portal serve` hands uvicorn, instead of serving."""
    import uvicorn

    given: list[dict] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: given.append(options))
    monkeypatch.setenv(ENVIRONMENT, "")  # `serve` sets it for several workers: put back after
    return given


def test_serve_starts_one_worker_per_usable_core_by_default_and_says_so(
    empty_database,  # noqa: F811
    capsys,
    monkeypatch,
):
    """Before, `portal serve` started one worker wherever it ran, though the guide says one
    per core; and it did not say how many it started."""
    monkeypatch.setenv("PORTAL_ALLOWED_HOSTS", "127.0.0.1")
    assert run(capsys, *INIT)[0] == 0
    monkeypatch.setattr(serve, "usable_cores", lambda: 3)
    given = _served(monkeypatch)
    status, out, err = run(capsys, "serve", "--port", str(_closed_port()))
    assert status == 0, err
    assert "serving with 3 worker processes" in out.splitlines()
    assert [options["workers"] for options in given] == [3]
    status, out, err = run(capsys, "serve", "--port", str(_closed_port()), "--workers", "1")
    assert status == 0, err
    assert "serving with 1 worker process" in out.splitlines()
    assert [options["workers"] for options in given] == [3, 1]


def test_the_federated_demos_nodes_are_served_with_one_worker_each(tmp_path, monkeypatch):
    started = []

    class Process:
        def __init__(self, argv, **_options):
            started.append(argv)

    monkeypatch.setattr(federated.subprocess, "Popen", Process)
    for node in federated.plan(tmp_path, port=8101):
        federated.start(node)
    assert len(started) == 3
    for argv in started:
        assert argv[argv.index("serve") :][-2:] == ["--workers", "1"]
