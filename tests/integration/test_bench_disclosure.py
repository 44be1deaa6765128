"""`portal bench disclosure` at a tiny scale: it builds, measures, prints and cleans up."""

from portal.bench import disclosure


def test_bench_prints_every_figure_on_a_tiny_sqlite_database():
    lines = []
    results = disclosure.run(
        backends=("sqlite",),
        cases_n=20,
        agencies_n=8,
        audit_n=50,
        runs=2,
        levels=(1, 2),
        seconds=0.5,
        rounds=1,
        users=2,
        users_seconds=1.5,
        out=lines.append,
    )
    (figures,) = results
    # 20 since issue 20 added the screening and the plan's strategies to the catalogue; 23
    # since issue 14 added the parts of sections a survivor-mentor is given; 29 since the
    # address left the identity section (one more section for each of the 6 owners); 26
    # since a part is not answered where its whole is released (the case manager reads the
    # placement, care plan and legal sections whole).
    assert figures.owners == 6 and figures.sections == 26
    # The viewer's own agency (5 sections, no consent needed) plus five releases; the
    # policy still withholds some sections from a case manager.
    assert 0 < figures.released < figures.sections
    assert figures.median_ms > 0 and figures.bare_median_ms > 0
    assert figures.decisions_per_second > 0
    assert figures.in_process_median_ms > 0
    printed = "\n".join(lines)
    assert "median" in printed and "ratio" in printed and "decisions/s" in printed
    # The concurrency run: the summary and the floor at each level, over HTTP to a server
    # in its own process, every page answered; then the mixed users, writes included.
    result = figures.concurrency
    for connections in (1, 2):
        summary_run = result.runs[("summary", connections)]
        floor_run = result.runs[("floor", connections)]
        assert summary_run.latencies and floor_run.latencies
        assert summary_run.errors == 0 and floor_run.errors == 0
        assert summary_run.lock_waited is not None and summary_run.lock_waited >= 0
    assert result.mixed.errors == 0 and result.mixed.latencies
    assert "write-lock wait share" in printed and "mixed users" in printed
    # Served as production serves it on this machine, and saying so with the machine's load.
    assert result.workers == disclosure.PRODUCTION_WORKERS["sqlite"] == 2
    assert "setup: the server is `portal serve`'s uvicorn with 2 worker processes" in printed
    assert "load average" in printed and "Little's law" not in printed  # no 8-connection level
