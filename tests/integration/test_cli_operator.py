"""A new operator's path through `portal` (issue 18): which database, one-line errors with
their exit status, `portal init`, and what `portal demo` does with a database not its own."""

from __future__ import annotations

import argparse
import functools
import io
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from sqlmodel import Session, select

from portal.cli import main as cli
from portal.db import make_engine
from portal.models import Agency, StaffRole, StaffUser

from databases import POSTGRES_URL, new_empty_database, require_postgres

PASSWORD = "a long synthetic passphrase"
INIT = [
    "init",
    "--agency",
    "Alder Advocacy (synthetic)",
    "--kind",
    "community",
    "--discipline",
    "advocacy",
    "--username",
    "node.admin",
    "--name",
    "Nell Nodeadmin (synthetic)",
]


@pytest.fixture
def operator(tmp_path, monkeypatch):
    """A shell in an empty folder: no DATABASE_URL, its own secrets file, no terminal."""
    monkeypatch.chdir(tmp_path)
    for name in ("DATABASE_URL", "PORTAL_KEK", "PORTAL_SESSION_KEY", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PORTAL_SECRETS_FILE", str(tmp_path / "secrets.json"))
    monkeypatch.setenv("PORTAL_INIT_PASSWORD", PASSWORD)
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    monkeypatch.setattr("portal.assets.htmx_present", lambda: True)
    return tmp_path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again when the block ends


# --- every command against every kind of broken database URL -------------------------


def _commands(release_file: Path) -> dict[str, list[str]]:
    return {
        "serve": ["serve", "--port", str(_closed_port())],
        "demo": ["demo", "--no-serve", "--use-database-url"],
        "init": INIT,
        "db upgrade": ["db", "upgrade"],
        "db downgrade": ["db", "downgrade", "base"],
        "db current": ["db", "current"],
        "db check": ["db", "check"],
        "keys list": ["keys", "list"],
        "keys rotate": ["keys", "rotate", "Alder Advocacy (synthetic)"],
        "consent verify": ["consent", "verify", str(release_file)],
        "audit verify": ["audit", "verify"],
        "audit checkpoint": ["audit", "checkpoint"],
        "agency create": [
            *("agency", "create", "--name", "Birch (synthetic)"),
            *("--kind", "system", "--discipline", "prosecution"),
        ],
        "agency list": ["agency", "list"],
        "staff add": [
            *("staff", "add", "--agency", "Alder Advocacy (synthetic)"),
            *("--username", "someone", "--name", "Sam Someone", "--role", "advocate"),
        ],
    }


COMMANDS = list(_commands(Path("x")))
CREATING = {"demo", "init", "db upgrade"}  # a missing SQLite file is theirs to make
BROKEN = {
    "unparsable": lambda tmp: "not a database url",
    "refused": lambda tmp: f"postgresql://postgres@127.0.0.1:{_closed_port()}/portal",
    "no such database": lambda tmp: POSTGRES_URL.rsplit("/", 1)[0] + "/portal_no_such_db_18",
    "driver not installed": lambda tmp: "mysql://portal@127.0.0.1/portal",
    "missing SQLite file": lambda tmp: f"sqlite:///{tmp / 'missing' / 'nothing.db'}",
}


@pytest.mark.parametrize(
    "name, broken",
    [
        (name, broken)
        for broken in BROKEN
        for name in COMMANDS
        # a missing SQLite file is for these to make: test_creating_commands_make_a_missing_file
        if not (broken == "missing SQLite file" and name in CREATING)
    ],
)
def test_a_broken_database_url_is_one_line_and_exit_3(operator, monkeypatch, capsys, name, broken):
    if broken == "no such database":
        require_postgres()
    (operator / "missing").mkdir()
    url = BROKEN[broken](operator)
    monkeypatch.setenv("DATABASE_URL", url)
    release = operator / "release.json"
    release.write_text('{"document": {}, "signature": {}}')
    argv = _commands(release)[name]
    status, _out, err = run(capsys, *argv)
    assert status == 3, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    assert not (operator / "missing" / "nothing.db").exists()  # reading made no file
    assert not (operator / "portal-demo.db").exists()  # nor fell back to another database


def test_a_real_process_prints_no_traceback(tmp_path):
    portal = Path(sys.executable).parent / "portal"
    for url in ("not a database url", f"sqlite:///{tmp_path / 'nothing.db'}"):
        done = subprocess.run(
            [str(portal), "audit", "verify"],
            env={"PATH": "/usr/bin:/bin", "DATABASE_URL": url, "HOME": str(tmp_path)},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 3
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert not (tmp_path / "nothing.db").exists()


@pytest.mark.parametrize("name", sorted(CREATING))
def test_creating_commands_make_a_missing_file(operator, monkeypatch, capsys, name):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{operator / 'node.db'}")
    status, out, err = run(capsys, *_commands(operator / "release.json")[name])
    assert status == 0, err
    assert f"database: SQLite file {operator / 'node.db'} (DATABASE_URL)" in out
    assert (operator / "node.db").exists()


# --- one database for every command ---------------------------------------------------


def test_the_demo_and_the_readme_commands_use_one_database(operator, capsys):
    """The README's shell commands, pasted after `portal demo`, read the demo's database."""
    status, out, _ = run(capsys, "demo", "--no-serve")
    assert status == 0
    assert f"database: SQLite file {operator / 'portal-demo.db'}" in out
    assert "Open http" not in out  # --no-serve serves nothing
    status, out, err = run(capsys, "keys", "list")
    assert status == 0, err
    assert "Riverbend Children's Advocacy Center (demo)" in out
    status, out, err = run(capsys, "audit", "verify", "Riverbend Children's Advocacy Center (demo)")
    assert status == 0 and out.startswith("OK "), err
    status, _, err = run(capsys, "-v", "agency", "list")
    assert status == 0 and err.startswith("database: SQLite file")
    assert sorted(p.name for p in operator.glob("*.db")) == ["portal-demo.db"]


def test_help_names_the_database_and_every_option_says_what_it_does(operator, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://portal:hunter2@db.internal:5432/portal")
    parser = cli.parser()
    unexplained = []
    seen = 0

    def walk(command: argparse.ArgumentParser, path: str) -> None:
        nonlocal seen
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, f"{path} {name}")
            elif not isinstance(action, argparse._HelpAction):
                seen += 1
                if not action.help:
                    unexplained.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
        if command.get_default("uses"):
            text = command.format_help()
            assert "DATABASE_URL" in text and "db.internal:5432/portal" in text, path
            assert "hunter2" not in text

    walk(parser, "portal")
    assert seen > 40 and unexplained == []
    staff_help = parser._subparsers._group_actions[0].choices["staff"].format_help()
    assert "staff accounts" in staff_help
    add_help = (
        parser._subparsers._group_actions[0]
        .choices["staff"]
        ._subparsers._group_actions[0]
        .choices["add"]
        .format_help()
    )
    # The two roles it adds, and who adds the rest (it refuses them, naming the lead).
    assert "agency_lead" in add_help and "administrator" in add_help
    assert "the lead adds everyone else" in " ".join(add_help.split())


def test_an_unknown_role_lists_the_roles(operator, capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["staff", "add", "--agency", "A", "--username", "u", "--name", "N", "--role", "x"])
    assert exited.value.code == 2
    assert "advocate" in capsys.readouterr().err


def _parsers(parser: argparse.ArgumentParser):
    """Every parser of `portal`, its subcommands' at every depth."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                yield from _parsers(sub)


@pytest.mark.parametrize(
    "argv, where",
    [
        (["bogus"], "portal"),
        (["staff"], "portal staff"),
        (["staff", "add", "--agency"], "portal staff add"),
        (["serve", "--workers", "1000"], "portal serve"),
        (["keys", "erase-data", "A"], "portal keys erase-data"),
    ],
)
def test_a_command_line_error_is_one_line_that_says_where_to_look(capsys, argv, where):
    """argparse said a mistake in two lines, the usage above the error, and neither said
    where to read more."""
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"{where}: error: ") and err.strip().endswith(f"(see {where} --help)")


def test_every_parser_says_its_errors_in_one_line(capsys):
    seen = 0
    for parser in _parsers(cli.parser()):
        seen += 1
        with pytest.raises(SystemExit) as exited:
            parser.error("something is wrong")
        err = capsys.readouterr().err
        assert exited.value.code == 2, parser.prog
        assert err == f"{parser.prog}: error: something is wrong (see {parser.prog} --help)\n"
    assert seen > 30


# --- portal init -----------------------------------------------------------------------


@pytest.fixture
def empty_database(backend, operator, monkeypatch):
    url, drop = new_empty_database(backend, operator)
    if backend == "sqlite":
        Path(url.removeprefix("sqlite:///")).touch()  # an empty file, as `touch` leaves it
    monkeypatch.setenv("DATABASE_URL", url)
    yield url
    make_engine(url).dispose()
    drop()


def test_init_sets_up_a_new_node_once(empty_database, capsys):
    status, out, err = run(capsys, *INIT)
    assert status == 0, err
    assert "applied the migrations" in out and "created the administrator node.admin" in out
    engine = make_engine(empty_database)
    with Session(engine) as db:
        admin = db.exec(select(StaffUser).where(StaffUser.username == "node.admin")).one()
        roles = db.exec(select(StaffRole.role).where(StaffRole.user_id == admin.id)).all()
        assert roles == ["administrator"]
        assert db.exec(select(Agency.name)).all() == ["Alder Advocacy (synthetic)"]
    engine.dispose()
    status, _, err = run(capsys, *INIT)
    assert status == 4 and "already has agencies" in err
    status, _, err = run(capsys, "keys", "list")
    assert status == 0, err


def test_init_from_the_environment(empty_database, monkeypatch, capsys):
    monkeypatch.setenv("PORTAL_INIT_AGENCY", "Cedar Clinic (synthetic)")
    monkeypatch.setenv("PORTAL_INIT_KIND", "community")
    monkeypatch.setenv("PORTAL_INIT_DISCIPLINE", "dentistry")
    monkeypatch.setenv("PORTAL_INIT_USERNAME", "cedar.admin")
    monkeypatch.setenv("PORTAL_INIT_NAME", "Cy Cedaradmin (synthetic)")
    status, _, err = run(capsys, "init")
    assert status == 2 and "'dentistry' is not a discipline; use one of: " in err
    monkeypatch.setenv("PORTAL_INIT_DISCIPLINE", "health")
    status, out, err = run(capsys, "init")
    assert status == 0 and "created Cedar Clinic (synthetic)" in out, err


def test_serve_refuses_a_node_without_an_agency(empty_database, capsys, monkeypatch):
    monkeypatch.setenv("PORTAL_ALLOWED_HOSTS", "127.0.0.1")
    assert run(capsys, "db", "upgrade")[0] == 0
    status, _, err = run(capsys, "serve", "--port", str(_closed_port()))
    assert status == 4 and "run `portal init`" in err


@pytest.mark.parametrize("hosts", [None, "*", "mdt.example.org, *"])
def test_serve_says_a_host_list_that_lets_any_host_through_is_a_setting_to_write(
    empty_database, capsys, monkeypatch, hosts
):
    """PORTAL_ALLOWED_HOSTS='*' was answered as refused (exit 4: the database not in a
    state to act on) where it is a setting to change (exit 3, as every other setting)."""
    if hosts is None:
        monkeypatch.delenv("PORTAL_ALLOWED_HOSTS", raising=False)
    else:
        monkeypatch.setenv("PORTAL_ALLOWED_HOSTS", hosts)
    assert run(capsys, "db", "upgrade")[0] == 0
    status, out, err = run(capsys, "serve", "--port", str(_closed_port()))
    assert status == 3, err
    assert err == (
        "error: PORTAL_ALLOWED_HOSTS lets any host name through ('*', or unset): set it to "
        "the host names the portal is served under, separated by commas, e.g. "
        "PORTAL_ALLOWED_HOSTS=mdt.example.org\n"
    )
    assert "serving" not in out


def test_serve_says_in_one_line_that_its_port_is_taken(empty_database, capsys, monkeypatch):
    """Before, a second `portal serve` on the same port started and left uvicorn's log:
    'ERROR: [Errno 98] error while attempting to bind on address …' among its lines."""
    monkeypatch.setenv("PORTAL_ALLOWED_HOSTS", "127.0.0.1")
    assert run(capsys, *INIT)[0] == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        status, _out, err = run(capsys, "serve", "--port", str(port))
    (line,) = err.strip().splitlines()
    assert status == 3
    assert line.startswith(f"error: port {port} on 127.0.0.1 is already in use")
    assert "choose another --port" in line


def test_the_demo_says_its_port_is_taken_before_it_builds_anything(operator, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        status, out, err = run(capsys, "demo", "--port", str(port))
    assert status == 3
    assert err.strip().startswith(f"error: port {port} on 127.0.0.1 is already in use")
    assert out == "" and not (operator / "portal-demo.db").exists()


@pytest.mark.parametrize(
    ("option", "said"),
    [
        (["--workers", "0"], "argument --workers: 0 is too few: at least 1"),
        # Before: 1,000 were accepted, and hundreds of processes started.
        (["--workers", "1000"], "argument --workers: 1000 is too many: at most 32"),
        (["--port", "99999"], "argument --port: 99999 is not a port: at most 65535"),
        (["--port", "http"], "argument --port: 'http' is not a whole number"),
    ],
)
def test_serve_refuses_a_worker_count_or_port_that_cannot_be(operator, capsys, option, said):
    """Before, `--workers 0` served with one worker and `--port 99999` said it was running
    on http://127.0.0.1:99999."""
    with pytest.raises(SystemExit) as refused:
        cli.main(["serve", *option])
    assert refused.value.code == 2
    assert said in capsys.readouterr().err


def test_keys_are_never_wrapped_by_a_new_secrets_file(operator, monkeypatch, capsys):
    """A restored database without its secrets file must not get a new KEK by accident."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{operator / 'node.db'}")
    assert run(capsys, *INIT)[0] == 0
    (operator / "secrets.json").unlink()
    status, _, err = run(capsys, "keys", "rotate", "Alder Advocacy (synthetic)")
    assert status == 3 and "no secrets file at" in err
    assert not (operator / "secrets.json").exists()
    assert run(capsys, "keys", "list")[0] == 0  # reading needs no secret


# --- portal demo and a database that is not its own ----------------------------------


def test_demo_leaves_a_database_url_alone_unless_told(empty_database, capsys):
    status, out, err = run(capsys, "demo", "--no-serve")
    assert status == 4 and "DATABASE_URL is set" in err and "--use-database-url" in err
    assert out == ""


def test_demo_refuses_a_database_holding_other_data(empty_database, capsys):
    assert run(capsys, *INIT)[0] == 0
    status, out, err = run(capsys, "demo", "--no-serve", "--use-database-url")
    assert status == 4 and "not the demo's" in err
    assert "demo-portal-2026" not in out and "coordinator" not in out


DB_SECRET = "SYNTHETIC-DB-PASSWORD-42"


def test_the_database_line_never_shows_a_password_given_in_the_url_query(
    tmp_path, monkeypatch, capsys
):
    """`Database.shown()` promises "never its password", but a PostgreSQL URL may carry
    it as a query parameter (libpq's `password=`), which `portal db upgrade`, `portal
    serve`, `portal init` and `portal demo` then print on their first line."""
    url, drop = new_empty_database("postgresql", tmp_path)
    try:
        monkeypatch.setenv("DATABASE_URL", f"{url}?password={DB_SECRET}")
        monkeypatch.setenv("PORTAL_DB_SECRETS_FILE", str(tmp_path / "secrets.json"))
        status = cli.main(["db", "upgrade"])
        out, err = capsys.readouterr()
        assert status == 0, err
        assert DB_SECRET not in out + err, f"printed: {out.splitlines()[0]}"
        assert "password=***" in out  # said to be there, not what it is
    finally:
        drop()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql://u:pw@h:5432/db?password=S&sslmode=require",
            "postgresql://u:***@h:5432/db?sslmode=require&password=***",
        ),
        ("postgresql://h/db?sslpassword=S", "postgresql://h/db?sslpassword=***"),
        ("postgresql://h/db", "postgresql://h/db"),
        ("//u:p@h/db?password=S&x=1", "//…@h/db?password=***&x=1"),  # not a URL SQLAlchemy reads
    ],
)
def test_a_database_is_shown_without_any_password(url, shown):
    from portal.cli.database import Database

    assert Database(url, "DATABASE_URL").shown() == shown


def test_a_database_another_process_holds_is_said_busy(
    empty_database, backend, capsys, monkeypatch
):
    """Another process holds a lock the command needs (here the whole database, or the
    agency table). Before: "unexpected OperationalError: database is locked … report it" on
    SQLite, "cannot connect to PostgreSQL … is it running there?" on PostgreSQL."""
    status, _, err = run(capsys, *INIT)
    assert status == 0, err
    quick = functools.partial(make_engine, lock_wait_ms=300)  # the command's 30 s, shortened
    monkeypatch.setattr("portal.cli.database.make_engine", quick)
    if backend == "sqlite":  # another program's connection, as sqlite3's shell would hold it
        held = sqlite3.connect(empty_database.removeprefix("sqlite:///"), isolation_level=None)
        held.execute("BEGIN EXCLUSIVE")
    else:
        held = psycopg.connect(empty_database.replace("+psycopg", ""))
        held.execute("LOCK TABLE agency IN ACCESS EXCLUSIVE MODE")
    try:
        status, _, err = run(capsys, "keys", "rotate", "Alder Advocacy (synthetic)")
    finally:
        held.rollback()
        held.close()
    assert status == 3 and err.startswith("error: the database is busy"), err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("address", ["not a url", "ftp://x", "https://"])
def test_staff_add_refuses_an_address_no_link_can_be_built_on(operator, capsys, address):
    """Before: the account was made and 'enrolment link …: not a url/enrol/…' printed."""
    with pytest.raises(SystemExit) as refused:
        cli.main(["staff", "add", "--agency", "A", "--username", "x.y", "--name", "X Y",
                  "--role", "advocate", "--base-url", address])  # fmt: skip
    assert refused.value.code == 2
    assert "argument --base-url" in capsys.readouterr().err
