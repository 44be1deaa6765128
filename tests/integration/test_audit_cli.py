"""`portal audit verify` and `portal audit checkpoint`, run as an operator runs them."""

import sqlite3

import pytest

from portal import migrate
from portal.cli import main as cli
from portal.db import make_engine


@pytest.fixture
def node(tmp_path, monkeypatch):
    """A migrated SQLite node with two agencies, configured through the environment."""
    path = tmp_path / "node.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("PORTAL_SECRETS_FILE", str(tmp_path / "secrets.json"))
    monkeypatch.setenv("PORTAL_AUDIT_JOURNAL", str(tmp_path / "journal.jsonl"))
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()
    for name in ("Alder Advocacy (synthetic)", "Birch Welfare (synthetic)"):
        assert (
            cli.main(
                [
                    "agency",
                    "create",
                    "--name",
                    name,
                    "--kind",
                    "community",
                    "--discipline",
                    "advocacy",
                ]
            )
            == 0
        )
    return path


def test_verify_prints_one_ok_line_per_log(node, capsys):
    capsys.readouterr()
    assert cli.main(["audit", "verify"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert all(line.startswith("OK ") for line in lines)
    # The node's own log (held, so begun, by every agency's creation) and each agency's.
    assert sorted(line.split(":")[0] for line in lines) == [
        "OK Alder Advocacy (synthetic)",
        "OK Birch Welfare (synthetic)",
        "OK node log",
    ]


def test_checkpoint_then_verify_counts_the_signature(node, capsys):
    assert cli.main(["audit", "checkpoint", "Alder Advocacy (synthetic)"]) == 0
    assert "signed Alder Advocacy (synthetic) at entry" in capsys.readouterr().out
    assert cli.main(["audit", "verify", "Alder Advocacy (synthetic)"]) == 0
    assert "1 checkpoint(s) verified" in capsys.readouterr().out


@pytest.mark.parametrize(
    "tamper, expected",
    [
        ("UPDATE audit_entry SET subject = 'rewritten' WHERE seq = 1", "edited entry: seq 1"),
        ("DELETE FROM audit_entry WHERE seq = 1", "missing entry"),
        ("UPDATE audit_checkpoint SET entry_hash = 'ab'", "checkpoint at seq"),
        ("UPDATE audit_checkpoint SET at = '2030-01-01 00:00:00'", "bad checkpoint signature"),
    ],
)
def test_verify_exits_non_zero_and_names_the_break(node, capsys, tamper, expected):
    assert cli.main(["audit", "checkpoint"]) == 0
    with sqlite3.connect(node) as connection:
        connection.execute(tamper)
    capsys.readouterr()
    assert cli.main(["audit", "verify"]) == 1
    out = capsys.readouterr().out
    assert "BROKEN" in out and expected in out


def test_unknown_agency_is_an_error(node, capsys):
    assert cli.main(["audit", "verify", "Nowhere"]) == 2
    assert cli.main(["audit", "checkpoint", "Nowhere"]) == 2


def test_verify_cross_checks_the_journal(node, capsys):
    """Checkpoints deleted and the head's counter set back: the chain alone passes."""
    assert cli.main(["audit", "checkpoint"]) == 0
    with sqlite3.connect(node) as connection:
        connection.execute("DELETE FROM audit_checkpoint")
        connection.execute("UPDATE audit_head SET checkpoint_seq = 0")
    capsys.readouterr()
    assert cli.main(["audit", "verify"]) == 1
    out = capsys.readouterr().out
    assert "BROKEN Alder Advocacy (synthetic): checkpoint missing from the database" in out
    assert cli.main(["audit", "verify", "Birch Welfare (synthetic)"]) == 1


def test_verify_against_a_checkpoint_kept_elsewhere(node, tmp_path, capsys):
    assert cli.main(["audit", "checkpoint", "Alder Advocacy (synthetic)"]) == 0
    kept = tmp_path / "kept.json"
    kept.write_text((tmp_path / "journal.jsonl").read_text().splitlines()[0])
    capsys.readouterr()
    assert cli.main(["audit", "verify", "--checkpoint", str(kept)]) == 0
    assert "OK Alder Advocacy (synthetic): the log holds the checkpoint" in capsys.readouterr().out
    with sqlite3.connect(node) as connection:  # the whole log, gone
        connection.execute("DELETE FROM audit_checkpoint WHERE log_key != 'node'")
        connection.execute("DELETE FROM audit_entry WHERE log_key != 'node'")
        connection.execute("DELETE FROM audit_head WHERE log_key != 'node'")
    assert cli.main(["audit", "verify", "--checkpoint", str(kept)]) == 1
    assert "shorter than its last journaled checkpoint" in capsys.readouterr().out
    assert cli.main(["audit", "verify"]) == 1
    assert "has no audit log at all" in capsys.readouterr().out
    kept.write_text("not a checkpoint")
    assert cli.main(["audit", "verify", "--checkpoint", str(kept)]) == 2
    assert "is not a signed audit checkpoint" in capsys.readouterr().err
