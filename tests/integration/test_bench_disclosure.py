"""`portal bench disclosure` at a tiny scale: it builds, measures, prints and cleans up."""

from portal.bench import disclosure


def test_bench_prints_every_figure_on_a_tiny_sqlite_database():
    lines = []
    results = disclosure.run(
        backends=("sqlite",), cases_n=20, agencies_n=8, audit_n=50, runs=2, out=lines.append
    )
    (figures,) = results
    # 20 since issue 20 added the screening and the plan's strategies to the catalogue.
    assert figures.owners == 6 and figures.sections == 20
    # The viewer's own agency (5 sections, no consent needed) plus five releases; the
    # policy still withholds some sections from a case manager.
    assert 0 < figures.released < figures.sections
    assert figures.median_ms > 0 and figures.bare_median_ms > 0
    assert figures.decisions_per_second > 0
    assert figures.in_process_median_ms > 0
    printed = "\n".join(lines)
    assert "median" in printed and "ratio" in printed and "decisions/s" in printed
