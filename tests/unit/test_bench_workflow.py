"""A smoke run of `portal bench workflow` with tiny numbers (the real run is by hand)."""

from portal import bench_workflow
from portal.cli import main


def test_bench_builds_measures_and_cleans_up(tmp_path, monkeypatch):
    lines = []
    results = bench_workflow.run(sizes=[(40, 200)], postgres_url=None, repeat=3, out=lines.append)
    (figures,) = results
    assert figures.backend == "sqlite" and figures.cases == 40 and figures.tasks == 200
    assert 0 < figures.dashboard_p50 <= figures.dashboard_p95
    assert 0 < figures.my_tasks_p50 <= figures.my_tasks_p95
    assert "dashboard p50" in lines[0]


def test_bench_command_is_wired(capsys):
    assert (
        main(
            [
                "bench",
                "workflow",
                "--cases",
                "30",
                "--tasks",
                "60",
                "--small-cases",
                "10",
                "--small-tasks",
                "20",
                "--repeat",
                "2",
                "--postgres-url",
                "",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert out.count("sqlite") == 2
