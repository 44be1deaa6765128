"""A smoke run of `portal bench audit` with tiny numbers (the real run is by hand)."""

from portal.bench import audit as bench_audit
from portal.cli.main import main


def test_bench_prints_the_app_beside_the_raw_floor_and_the_logs_still_verify():
    lines = []
    (figures,) = bench_audit.run(
        existing=30,
        appends=20,
        writers=2,
        process_seconds=0.3,
        postgres_url="",
        backends=("sqlite",),
        out=lines.append,
    )
    assert figures.floor > 0 and figures.app > 0 and figures.batch > 0
    assert [f.transactions > 0 for f in figures.processes] == [True, True]
    assert figures.verified >= 30 + 20  # the floor's own log was taken out before verify
    assert "raw driver floor" in "\n".join(lines)


def test_bench_names_its_scratch_databases_with_the_callers_prefix(capsys):
    from databases import POSTGRES_URL, require_postgres

    require_postgres()
    argv = ["bench", "audit", "--existing", "5", "--appends", "10", "--writers", "2"]
    argv += ["--process-seconds", "0.3"]
    assert main([*argv, "--postgres-url", POSTGRES_URL, "--scratch-prefix", "i15_smoke"]) == 0
    out = capsys.readouterr().out
    assert out.count("scratch database i15_smoke_") == 2  # SQLite's file and PostgreSQL's
