"""A smoke run of `portal bench workflow` with tiny numbers (the real run is by hand)."""

from portal.bench import workflow as bench_workflow
from portal.cli.main import main


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
    assert out.count("sqlite") == 3  # two sizes and their ratio
    assert "ratio 30/10 cases" in out


def test_bench_reports_the_ratio_of_the_largest_size_to_the_smallest():
    lines = []
    small, large = bench_workflow.run(
        sizes=[(20, 100), (60, 300)], postgres_url=None, repeat=3, out=lines.append
    )
    assert len(lines) == 3 and lines[2].startswith("sqlite") and "ratio 60/20 cases" in lines[2]
    expected = large.dashboard_p50 / small.dashboard_p50
    assert f"dashboard p50 x{expected:.2f}" in lines[2]


def test_the_coordinator_has_a_full_page_of_tasks_at_the_small_size(tmp_path):
    from datetime import date

    from sqlmodel import Session

    from portal import migrate
    from portal.db import make_engine
    from portal.models import Agency, StaffUser
    from portal.services import tasks

    engine = make_engine(f"sqlite:///{tmp_path / 'bench.db'}")
    migrate.upgrade(engine)
    ids = bench_workflow.build(engine, case_count=1000, task_count=5000, today=date(2026, 11, 25))
    with Session(engine) as db:
        user, agency = db.get(StaffUser, ids["coordinator"]), db.get(Agency, ids["coordinating"])
        page = tasks.task_page(db, user, agency, tasks.TaskFilter())
    engine.dispose()
    assert len(page.rows) == tasks.PAGE_SIZE and page.has_next
