"""The `portal` command: migrations, the demo's preparation, agencies and staff."""

import io
import sqlite3

from sqlmodel import Session, func, select

from portal import migrate
from portal.cli import main as cli
from portal.db import make_engine
from portal.models import Agency, MdtCase, StaffUser


def _env(monkeypatch, tmp_path, name="cli.db"):
    url = f"sqlite:///{tmp_path / name}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("PORTAL_SECRETS_FILE", str(tmp_path / "secrets.json"))
    return url


def test_db_upgrade_current_check_downgrade(monkeypatch, tmp_path, capsys):
    url = _env(monkeypatch, tmp_path)
    assert cli.main(["db", "current"]) == 3  # no database: reading never creates one
    assert not (tmp_path / "cli.db").exists()
    sqlite3.connect(tmp_path / "cli.db").close()
    assert cli.main(["db", "current"]) == 1  # behind: nothing applied yet
    assert cli.main(["db", "upgrade"]) == 0
    assert cli.main(["db", "current"]) == 0
    assert cli.main(["db", "check"]) == 0
    assert "models and migrations agree" in capsys.readouterr().out
    assert cli.main(["db", "downgrade", "base"]) == 0
    assert migrate.current_revision(make_engine(url)) is None


def test_demo_prepares_once_and_reuses(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("PORTAL_SECRETS_FILE", str(tmp_path / ".portal-secrets.json"))
    monkeypatch.setattr("portal.assets.htmx_present", lambda: True)
    assert cli.main(["demo", "--no-serve"]) == 0
    first = capsys.readouterr().out
    assert "seeded synthetic demo data" in first and "coordinator" in first
    assert (tmp_path / cli.DEMO_DATABASE).exists()
    assert cli.main(["demo", "--no-serve"]) == 0
    assert "reusing the demo data" in capsys.readouterr().out
    with Session(make_engine(f"sqlite:///{tmp_path / cli.DEMO_DATABASE}")) as db:
        assert db.exec(select(func.count(Agency.id))).one() == 6
        assert db.exec(select(func.count(MdtCase.id))).one() >= 15


def test_agency_and_staff_from_the_command_line(monkeypatch, tmp_path, capsys):
    url = _env(monkeypatch, tmp_path)
    cli.main(["db", "upgrade"])
    assert (
        cli.main(
            [
                "agency",
                "create",
                "--name",
                "Cli Agency (synthetic)",
                "--kind",
                "system",
                "--discipline",
                "prosecution",
            ]
        )
        == 0
    )
    monkeypatch.setattr("sys.stdin", io.StringIO("a long first passphrase\n"))
    assert (
        cli.main(
            [
                "staff",
                "add",
                "--agency",
                "Cli Agency (synthetic)",
                "--username",
                "cli.lead",
                "--name",
                "Cli Lead",
                "--role",
                "agency_lead",
            ]
        )
        == 0
    )
    assert (
        cli.main(
            ["agency", "create", "--name", "", "--kind", "system", "--discipline", "prosecution"]
        )
        == 2
    )
    assert "error:" in capsys.readouterr().err
    with Session(make_engine(url)) as db:
        assert db.exec(select(StaffUser).where(StaffUser.username == "cli.lead")).one()
