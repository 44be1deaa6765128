"""What an operator meets at the `portal` command line, as a review found it: a wrong
key-encryption key refused before it does harm, nothing half-done, a question before a
downgrade drops records, one line for every mistake, a private SQLite file, times in the
MDT's zone. Each test is named after a defect the review found and failed before it was
fixed."""

from __future__ import annotations

import base64
import errno
import io
import json
import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from nacl.exceptions import CryptoError
from sqlalchemy import text
from sqlmodel import Session, select
from test_cli_operator import INIT, PASSWORD

from portal import migrate
from portal.cli import main as cli
from portal.cli.errors import REFUSED
from portal.crypto import KeyWrapper
from portal.db import make_engine
from portal.models import Agency, AgencyKey, KeyPurpose

from databases import new_empty_database

AGENCY = "Alder Advocacy (synthetic)"  # the agency test_cli_operator's INIT sets up


@pytest.fixture
def operator(tmp_path, monkeypatch):
    """A shell in an empty folder: no DATABASE_URL, its own secrets file, no terminal."""
    monkeypatch.chdir(tmp_path)
    for name in ("DATABASE_URL", "PORTAL_KEK", "PORTAL_SESSION_KEY", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PORTAL_SECRETS_FILE", str(tmp_path / "secrets.json"))
    monkeypatch.setenv("PORTAL_INIT_PASSWORD", PASSWORD)
    monkeypatch.setenv("PORTAL_AUDIT_JOURNAL", str(tmp_path / "journal.jsonl"))
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    monkeypatch.setattr("portal.assets.htmx_present", lambda: True)
    return tmp_path


@pytest.fixture
def node(backend, operator, monkeypatch):
    """A node set up with `portal init` (one agency, its administrator)."""
    url, drop = new_empty_database(backend, operator)
    if backend == "sqlite":
        Path(url.removeprefix("sqlite:///")).touch()
    monkeypatch.setenv("DATABASE_URL", url)
    assert cli.main(INIT) == 0
    yield url
    make_engine(url).dispose()
    drop()


@pytest.fixture
def sqlite_node(operator, monkeypatch):
    url = f"sqlite:///{operator / 'node.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    assert cli.main(INIT) == 0
    return url


def run(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _real_kek(operator: Path) -> bytes:
    stored = json.loads((operator / "secrets.json").read_text())
    return base64.b64decode(stored["key_encryption_key"])


def _other_kek() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


# --- key rotation and the key-encryption key --------------------------------------------


def test_keys_rotate_under_a_kek_that_does_not_open_the_agencys_keys_retires_the_working_key(
    node, operator, monkeypatch, capsys
):
    """With PORTAL_KEK from the wrong secret store (or another node's secrets file),
    `keys rotate` retires the agency's working signing key and writes a new one wrapped
    under a KEK the node does not have: the agency can no longer sign releases, roster
    entries or audit checkpoints, and the command says it succeeded."""
    monkeypatch.setenv("PORTAL_KEK", _other_kek())
    monkeypatch.setenv("PORTAL_SESSION_KEY", "synthetic-session-key")
    status, out, _err = run(capsys, "keys", "rotate", AGENCY)
    real = KeyWrapper(_real_kek(operator))
    engine = make_engine(node)
    with Session(engine) as db:
        agency = db.exec(select(Agency).where(Agency.name == AGENCY)).one()
        current = db.exec(
            select(AgencyKey).where(
                AgencyKey.agency_id == agency.id,
                AgencyKey.purpose == KeyPurpose.SIGNING,
                AgencyKey.retired_at.is_(None),
            )
        ).one()
        try:
            real.unwrap(current.wrapped_secret)
            opens = True
        except CryptoError:
            opens = False
    engine.dispose()
    assert status != 0 and opens, (
        f"`keys rotate` under a foreign KEK exited {status} ({out.strip()!r}) and left the "
        f"agency's only current signing key unreadable by the node's own KEK: opens={opens}"
    )


def test_agency_create_under_a_kek_that_does_not_open_the_nodes_keys_is_refused(
    node, operator, monkeypatch, capsys
):
    """A second agency created with the wrong PORTAL_KEK gets keys the running node can
    never unwrap: every sealed write and every release of that agency then fails."""
    monkeypatch.setenv("PORTAL_KEK", _other_kek())
    monkeypatch.setenv("PORTAL_SESSION_KEY", "synthetic-session-key")
    status, out, _err = run(
        capsys,
        *("agency", "create", "--name", "Birch Shelter (synthetic)"),
        *("--kind", "community", "--discipline", "advocacy"),
    )
    assert status != 0, (
        f"agency created under a KEK that opens none of this node's keys: {out.strip()!r}"
    )


def test_serve_starts_with_a_kek_that_opens_none_of_the_nodes_keys(
    node, operator, monkeypatch, capsys
):
    """`portal serve` checks "that the secrets are there" (ops/README §3) but not that the
    KEK opens the agencies' keys: with the wrong PORTAL_KEK it serves, and every sealed
    read, release signature and checkpoint then fails inside a request."""
    started = []
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: started.append(a))
    monkeypatch.setattr("portal.cli.serve.check_listening", lambda *a, **k: None)
    monkeypatch.setenv("PORTAL_ALLOWED_HOSTS", "portal.example.org")
    monkeypatch.setenv("PORTAL_KEK", _other_kek())
    monkeypatch.setenv("PORTAL_SESSION_KEY", "synthetic-session-key")
    status, _, _err = run(capsys, "serve", "--port", "8999")
    assert not started and status == 3, (
        f"uvicorn was started (exit {status}) with a KEK that unwraps none of the node's keys"
    )


def test_audit_checkpoint_with_the_wrong_secrets_file_says_so_in_one_line(
    node, operator, monkeypatch, capsys
):
    """ops/README §4: the restore drill's `audit checkpoint` "proves that the secrets file
    belongs with the dump". With the wrong one it says "unexpected CryptoError ... report
    it" instead of naming the secrets file / KEK as the problem."""
    monkeypatch.setenv("PORTAL_KEK", _other_kek())
    monkeypatch.setenv("PORTAL_SESSION_KEY", "synthetic-session-key")
    status, _, err = run(capsys, "audit", "checkpoint")
    assert status == 3
    assert "unexpected" not in err and ("KEK" in err or "secrets" in err), err


def test_a_portal_kek_that_is_not_base64_is_named(sqlite_node, monkeypatch, capsys):
    """`PORTAL_KEK=abc` says only "cannot read the settings: Incorrect padding"."""
    monkeypatch.setenv("PORTAL_KEK", "abc")
    monkeypatch.setenv("PORTAL_SESSION_KEY", "synthetic-session-key")
    status, _, err = run(capsys, "keys", "rotate", AGENCY)
    assert status == 3
    assert "PORTAL_KEK" in err, err


def test_a_missing_session_key_is_not_reported_as_a_missing_kek(
    sqlite_node, operator, monkeypatch, capsys
):
    """PORTAL_KEK set, PORTAL_SESSION_KEY not, no secrets file: the message says
    "PORTAL_KEK is not set", which is untrue and sends the operator the wrong way."""
    kek = base64.b64encode(_real_kek(operator)).decode()
    (operator / "secrets.json").rename(operator / "elsewhere.json")
    monkeypatch.setenv("PORTAL_KEK", kek)
    status, _, err = run(capsys, "keys", "rotate", AGENCY)
    assert status == 3
    assert "PORTAL_KEK is not set" not in err, err


def _ssh_like(path: Path) -> None:
    path.write_text(
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
        "-----END OPENSSH PRIVATE KEY-----\n"
    )


@pytest.mark.parametrize(
    "kind, make",
    [
        ("a JSON list", lambda p: p.write_text("[]")),
        ("a folder", lambda p: p.mkdir()),
        ("no key-encryption key", lambda p: p.write_text('{"session_key": "x"}')),
        ("malformed JSON", lambda p: p.write_text("{bad")),
        ("an SSH private key", _ssh_like),
        ("not UTF-8", lambda p: p.write_bytes(b"\xff\xfe\x00")),
    ],
    ids=["json-list", "folder", "no-kek", "malformed-json", "ssh-key", "not-utf8"],
)
def test_a_secrets_file_of_the_wrong_kind_is_one_line_naming_the_file(
    sqlite_node, operator, monkeypatch, capsys, kind, make
):
    """PORTAL_SECRETS_FILE pointing at the wrong file: a traceback-like "unexpected
    TypeError/IsADirectoryError ... report it", or the bare parser message
    ("cannot read the settings: 'key_encryption_key'"), never which file or what to do."""
    wrong = operator / "wrong-secrets"
    make(wrong)
    if wrong.is_dir():
        wrong.chmod(0o700)
    else:
        wrong.chmod(0o600)
    monkeypatch.setenv("PORTAL_SECRETS_FILE", str(wrong))
    status, _, err = run(capsys, "keys", "rotate", AGENCY)
    assert status == 3
    assert "unexpected" not in err and str(wrong) in err, f"{kind}: {err.strip()}"


# --- migrations --------------------------------------------------------------------------


def _stamp(url: str, revision: str) -> None:
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    engine.dispose()


def test_db_upgrade_on_a_database_from_a_newer_portal_says_so(node, capsys):
    """After an upgrade is rolled back to the older package (ops/README §6), the database
    is at a revision this portal does not know. `db upgrade` answers "unexpected
    CommandError ... report it"; `db current` calls it "(behind)", and every other command
    says "run `portal db upgrade`", which is the command that fails."""
    _stamp(node, "ffffffffffff")
    status, _, err = run(capsys, "db", "upgrade")
    assert status != 0
    _current_status, current_out, _ = run(capsys, "db", "current")
    _, _, other_err = run(capsys, "agency", "list")
    assert "unexpected" not in err and "newer" in err, err
    assert "behind" not in current_out, current_out
    assert "run `portal db upgrade`" not in other_err, other_err


@pytest.mark.parametrize("revision", ["nonsense", ""])
def test_db_upgrade_to_an_unknown_revision_is_bad_input(node, capsys, revision):
    """A mistyped revision is bad input (exit 2, one line), not "unexpected CommandError
    ... report it" with exit 3 (an empty one: "unexpected AssertionError")."""
    status, _, err = run(capsys, "db", "upgrade", revision)
    assert status == 2 and "unexpected" not in err, (status, err)


@pytest.mark.parametrize("command", ["check", "revision"])
def test_db_check_on_a_database_from_a_newer_portal_says_so(node, capsys, command):
    """`db check` (and `db revision`) answered "unexpected CommandError: Can't locate
    revision …" where every other `db` command says a newer portal migrated it (exit 4)."""
    _stamp(node, "ffffffffffff")
    status, _, err = run(
        capsys, "db", command, *(["-m", "synthetic"] if command == "revision" else [])
    )
    assert status == 4 and "unexpected" not in err and "newer" in err, (status, err)


def test_db_current_behind_says_what_to_run(node, capsys):
    _stamp(node, migrate.head_revision())
    engine = make_engine(node)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM alembic_version"))
    engine.dispose()
    _, out, _ = run(capsys, "db", "current")
    assert "behind: run `portal db upgrade`" in out, out


def test_db_downgrade_that_drops_recorded_legal_bases_asks_first(node, capsys):
    """`portal db downgrade REV` drops tables holding records (here every signed legal
    basis an agency recorded) without a question or a --yes: one mistyped revision and
    they are gone."""
    engine = make_engine(node)
    with engine.begin() as connection:
        agency_id = connection.execute(text("SELECT id FROM agency")).scalar_one()
        connection.execute(
            text(
                "INSERT INTO legal_basis (public_id, agency_id, citation, sections, purpose, "
                "minors_only, document, signature, key_id, created_at) VALUES ('lb-1', :a, "
                "'Synthetic Code 1.2.3', 'safety_plan', 'mdt_case_review', false, '{}', 'sig', "
                "'kid', CURRENT_TIMESTAMP)"
            ),
            {"a": agency_id},
        )
    engine.dispose()
    status, out, _err = run(capsys, "db", "downgrade", "60c6d435986a")
    engine = make_engine(node)
    with engine.connect() as connection:
        revision = migrate.current_revision(connection)
    engine.dispose()
    assert status != 0 and revision == migrate.head_revision(), (
        f"downgrade ran without confirmation (exit {status}, {out.strip()!r}); the "
        f"database is now at {revision} and the legal_basis table with its record is gone"
    )


# --- input that is not what was expected ------------------------------------------------


def test_ctrl_d_at_an_init_question_is_one_line(operator, monkeypatch, capsys):
    """Ctrl-D at `portal init`'s question: "unexpected EOFError: ; ... report it"."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{operator / 'node.db'}")

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdin", Terminal(""))

    def ctrl_d(prompt=""):
        raise EOFError

    monkeypatch.setattr("builtins.input", ctrl_d)
    status, _, err = run(capsys, "init")
    assert status == 2 and "unexpected" not in err, (status, err)


def test_a_password_that_is_not_utf8_is_one_line(tmp_path):
    """A password piped in that is not UTF-8 (a Latin-1 file, say): "unexpected
    UnicodeEncodeError ... report it", after the migrations were already applied."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'node.db'}",
        "PORTAL_SECRETS_FILE": str(tmp_path / "secrets.json"),
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from portal.cli.main import main; sys.exit(main())",
            *INIT,
        ],
        input=b"caf\xe9 au lait passphrase\n",
        env=env,
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
    )
    err = done.stderr.decode(errors="replace")
    assert done.returncode == 2 and "unexpected" not in err, (done.returncode, err)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://portal:synthetic-pw@127.0.0.1:54x2/portal",
        "postgresql://portal:synthetic-pw@[::1/portal",
    ],
    ids=["letter-in-port", "unclosed-bracket"],
)
def test_a_database_url_with_a_bad_port_is_one_line_not_a_traceback(operator, monkeypatch, url):
    """A typo in DATABASE_URL's port makes every command, `portal --help` included, die
    with a ValueError traceback (from building the help text) instead of the one line
    every other broken URL gets."""
    monkeypatch.setenv("DATABASE_URL", url)
    try:
        status = cli.main(["agency", "list"])
    except SystemExit as exited:
        status = exited.code
    except Exception as error:  # what the real process shows as a traceback
        pytest.fail(f"traceback: {type(error).__name__}: {error}")
    assert status == 3


LONG_NAME = "N" * 121
STAFF_ADD = ["staff", "add", "--agency", AGENCY, "--role", "agency_lead"]


@pytest.mark.parametrize(
    "argv, said",
    [
        (
            [*STAFF_ADD, "--username", "lead.one", "--name", ""],
            "error: --name: Name is required.",
        ),
        (
            [*STAFF_ADD, "--username", "x", "--name", "Lee Lead (synthetic)"],
            "error: --username: Use 3–64 letters",
        ),
        (
            ["agency", "create", "--name", "", "--kind", "system", "--discipline", "prosecution"],
            "error: --name: Name is required.",
        ),
        (
            [*INIT, "--name", LONG_NAME],
            "error: --name (or PORTAL_INIT_NAME): Name must be at most 120 characters.",
        ),
        (
            [*INIT, "--agency", LONG_NAME],
            "error: --agency (or PORTAL_INIT_AGENCY): Name must be at most 120 characters.",
        ),
    ],
    ids=["staff-name", "staff-username", "agency-name", "init-name", "init-agency"],
)
def test_a_refused_value_is_said_as_the_option_typed(sqlite_node, monkeypatch, capsys, argv, said):
    """The services' field names came out as typed: 'error: display_name: Name is
    required.' for `--name ''`, and `portal init --agency` too long was said as 'name'."""
    if argv[0] == "init":  # on a database of its own: the node's has its agency
        monkeypatch.setenv("DATABASE_URL", f"sqlite:///{Path.cwd() / 'another.db'}")
    status, _, err = run(capsys, *argv)
    assert status == 2 and err.startswith(said), err
    assert "display_name" not in err


# --- half-done commands -----------------------------------------------------------------


def test_roster_sign_that_cannot_write_its_out_file_takes_nothing_into_force(
    sqlite_node, operator, capsys
):
    """`roster sign --out` to a path that cannot be written: exit 2 "cannot write", yet
    the new roster version was already signed and taken into force on this node."""
    status, entry, err = run(capsys, "roster", "entry", "--node", "https://node-a.example.org")
    assert status == 0, err
    (operator / "members.json").write_text(entry)
    sign = ["roster", "sign", "members.json", "--coordinator", AGENCY]
    sign += ["--node", "https://node-a.example.org"]
    assert run(capsys, *sign)[0] == 0  # version 1 in force
    status, _, err = run(capsys, *sign, "--out", str(operator / "no-such-folder" / "r.json"))
    assert status == 2 and "cannot write" in err
    _, listing, _ = run(capsys, "roster", "list")
    assert "roster version 1," in listing, (
        f"the failed sign took a new roster into force anyway: {listing.splitlines()[0]!r}"
    )


# A refused `portal init`, each way it can be refused for what it was given.
REFUSED_INIT = {
    "no password": ({"PORTAL_INIT_PASSWORD": ""}, "", [], "no password"),
    "a password too short": ({"PORTAL_INIT_PASSWORD": "short"}, "", [], "12 characters"),
    "a username no one can have": ({}, PASSWORD + "\n", ["--username", "x"], "3–64 letters"),
}


@pytest.mark.parametrize("refusal", sorted(REFUSED_INIT))
def test_a_refused_init_leaves_no_database_file(operator, monkeypatch, capsys, refusal):
    """`portal init` without a password (or with one it refuses) said so, exit 2, and left
    an empty database file behind (with the migrations applied, for a refused password)."""
    environment, stdin, options, said = REFUSED_INIT[refusal]
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{operator / 'node.db'}")
    status, _, err = run(capsys, *INIT, *options)
    assert status == 2 and said in err, (status, err)
    left = sorted(path.name for path in operator.iterdir() if path.name.startswith("node.db"))
    assert left == [], f"the refused init left {left}"
    assert not (operator / "secrets.json").exists()


def test_a_refused_init_leaves_an_empty_database_as_it_was(backend, operator, monkeypatch, capsys):
    """On a database made for it (createdb, or an empty file), a refused password came
    after the migrations: the database was left with the portal's tables and no agency."""
    url, drop = new_empty_database(backend, operator)
    if backend == "sqlite":
        Path(url.removeprefix("sqlite:///")).touch()
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("PORTAL_INIT_PASSWORD", "short")
    try:
        status, _, err = run(capsys, *INIT)
        assert status == 2 and "12 characters" in err, (status, err)
        engine = make_engine(url)
        try:
            assert migrate.current_revision(engine) is None
        finally:
            engine.dispose()
    finally:
        drop()


# The commands that may make a database: a missing SQLite file is theirs to make.
MAKING = {
    "demo": ["demo", "--no-serve", "--use-database-url"],
    "init": INIT,
    "db upgrade": ["db", "upgrade"],
}
# A setting each refuses, and what it says. The migrations read the time zone; `portal db
# upgrade` reads no other setting.
REFUSED_SETTINGS = {
    "a time zone that is not one": (
        {"PORTAL_MDT_TIMEZONE": "Mars/Olympus_Mons"},
        "PORTAL_MDT_TIMEZONE is 'Mars/Olympus_Mons', not a time zone",
    ),
    "a session length out of range": (
        {"PORTAL_SESSION_IDLE_MINUTES": "0"},
        "PORTAL_SESSION_IDLE_MINUTES must be between 1 and 1440",
    ),
    "a KEK that is not one": (
        {"PORTAL_KEK": "not-a-key"},
        "PORTAL_KEK (or the secrets file's key) must be 32 bytes",
    ),
}


def _left_of(folder: Path, name: str = "node.db") -> list[str]:
    """The database file `name` and what SQLite and the portal made beside it."""
    return sorted(path.name for path in folder.iterdir() if path.name.startswith(name))


@pytest.mark.parametrize(
    ("command", "refusal"),
    [
        (command, refusal)
        for command in sorted(MAKING)
        for refusal in sorted(REFUSED_SETTINGS)
        if command != "db upgrade" or "PORTAL_MDT_TIMEZONE" in REFUSED_SETTINGS[refusal][0]
    ],
)
def test_a_refused_setting_leaves_no_database_file(operator, monkeypatch, capsys, command, refusal):
    """`portal demo` and `portal init` took the settings after the migrations: a setting
    they refused left the new database file migrated, and a new secrets file beside it. A
    time zone that is not one failed in the middle of the migrations (`portal db upgrade`
    too), said as "unexpected ZoneInfoNotFoundError ... report it", the file left behind."""
    environment, said = REFUSED_SETTINGS[refusal]
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{operator / 'node.db'}")
    status, _, err = run(capsys, *MAKING[command])
    assert status == 3 and err.count("\n") == 1, (status, err)
    assert err.startswith(f"error: cannot read the settings: {said}"), err
    assert _left_of(operator) == [], f"the refused {command} left {_left_of(operator)}"
    assert not (operator / "secrets.json").exists()


def test_the_demo_refuses_an_audit_journal_in_a_folder_that_does_not_exist(
    operator, monkeypatch, capsys
):
    """As `portal serve` does, before anything is made: the demo made the mistyped folder,
    and started a journal of its own there while seeding."""
    monkeypatch.setenv("PORTAL_AUDIT_JOURNAL", str(operator / "mistyped" / "journal.jsonl"))
    status, _, err = run(capsys, "demo", "--no-serve")
    assert status == 3 and err.count("\n") == 1, (status, err)
    assert err.startswith(f"error: no folder {operator / 'mistyped'} for the audit journal"), err
    assert sorted(path.name for path in operator.iterdir()) == []


@pytest.mark.parametrize("command", ["check", "revision"])
def test_db_check_and_revision_say_a_time_zone_that_is_not_one_in_one_line(
    operator, monkeypatch, capsys, command
):
    """Both apply the migrations first, which read the time zone: on a database behind
    the code's head, one that is not a zone was said as "unexpected ZoneInfoNotFoundError
    ... report it", from the middle of the migrations."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{operator / 'node.db'}")
    # Just before the migration that reads the zone (1ab8c8c9f46d).
    assert run(capsys, "db", "upgrade", "c5e1a7f3b920")[0] == 0
    monkeypatch.setenv("PORTAL_MDT_TIMEZONE", "Mars/Olympus_Mons")
    argv = ["db", command] + (["-m", "synthetic"] if command == "revision" else [])
    status, _, err = run(capsys, *argv)
    assert status == 3 and err.count("\n") == 1, (status, err)
    assert err.startswith(
        "error: cannot read the settings: PORTAL_MDT_TIMEZONE is 'Mars/Olympus_Mons'"
    ), err


@pytest.mark.parametrize("command", ["demo", "init"])
def test_a_secrets_file_others_may_read_is_refused_before_a_database_is_made(
    operator, monkeypatch, capsys, command
):
    """The secrets file was read after the migrations: one others may read was refused,
    and the new database file was left behind, migrated."""
    stored = {"session_key": "s" * 43, "key_encryption_key": _other_kek()}
    (operator / "secrets.json").write_text(json.dumps(stored))
    (operator / "secrets.json").chmod(0o644)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{operator / 'node.db'}")
    status, _, err = run(capsys, *MAKING[command])
    assert status == 3 and err.count("\n") == 1 and "chmod 600" in err, (status, err)
    assert _left_of(operator) == [], f"the refused {command} left {_left_of(operator)}"
    assert json.loads((operator / "secrets.json").read_text()) == stored


# Refused for what it was given before anything is made (and so before this review too).
REFUSED_FIRST = {
    "an unknown revision": (["db", "upgrade", "no-such-rev"], 2, "no migration 'no-such-rev'"),
    "a folder that does not exist": (["db", "upgrade"], 3, "create it first"),
    "the demo given DATABASE_URL": (["demo", "--no-serve"], 4, "--use-database-url"),
}


@pytest.mark.parametrize("refusal", sorted(REFUSED_FIRST))
def test_a_command_refused_for_what_it_was_given_makes_no_database_file(
    operator, monkeypatch, capsys, refusal
):
    argv, exit_status, said = REFUSED_FIRST[refusal]
    folder = operator / "no-such-folder" if "folder" in refusal else operator
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{folder / 'node.db'}")
    status, _, err = run(capsys, *argv)
    assert status == exit_status and err.count("\n") == 1 and said in err, (status, err)
    assert _left_of(operator) == [] and not (operator / "no-such-folder").exists()


def _fails_after_the_first_migration(failure: BaseException):
    real = migrate.upgrade

    def upgrade(engine, revision: str = "head") -> None:
        real(engine, ScriptDirectory.from_config(migrate.alembic_config()).get_base())
        raise failure

    return upgrade


FAILURES = {
    "a full disk": (OSError(28, "No space left on device"), 3),
    "Ctrl-C": (KeyboardInterrupt(), 130),
}


@pytest.mark.parametrize("failure", sorted(FAILURES))
@pytest.mark.parametrize("command", sorted(MAKING))
def test_a_command_stopped_part_way_removes_the_database_file_it_made(
    operator, monkeypatch, capsys, command, failure
):
    """Stopped in the middle of the migrations (a full disk, Ctrl-C), each left its new
    database file behind, migrated part way, for the next command to find."""
    raised, exit_status = FAILURES[failure]
    monkeypatch.setattr(migrate, "upgrade", _fails_after_the_first_migration(raised))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{operator / 'node.db'}")
    status, _, err = run(capsys, *MAKING[command])
    assert status == exit_status, (status, err)
    assert _left_of(operator) == [], f"the stopped {command} left {_left_of(operator)}"


@pytest.mark.parametrize("command", sorted(MAKING))
def test_a_command_stopped_part_way_leaves_a_database_file_it_did_not_make(
    operator, monkeypatch, capsys, command
):
    """The file is removed only when the command made it: one there before stays."""
    (operator / "node.db").touch()
    monkeypatch.setattr(migrate, "upgrade", _fails_after_the_first_migration(KeyboardInterrupt()))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{operator / 'node.db'}")
    assert run(capsys, *MAKING[command])[0] == 130
    assert (operator / "node.db").exists()


def _not_a_database(operator: Path) -> str:
    (operator / "node.db").write_bytes(b"synthetic bytes, not a database " * 200)
    return "db upgrade"


def _log_cannot_be_made(operator: Path) -> str:
    (operator / "node.db-wal").mkdir()  # SQLite cannot write its log beside the file
    return "demo"


# A SQLite file SQLite cannot use, each way, and what the line says to do about it.
UNUSABLE = {
    "a file that is not a database": (
        _not_a_database,
        "it is not a portal database, or it is damaged: check DATABASE_URL, or restore",
    ),
    "a log that cannot be written": (
        _log_cannot_be_made,
        "and that node.db-wal and node.db-shm there, if any, are files it can write",
    ),
}


@pytest.mark.parametrize("way", sorted(UNUSABLE))
def test_a_sqlite_file_that_cannot_be_used_is_said_with_what_to_do(
    operator, monkeypatch, capsys, way
):
    """Said as SQLite's words alone ('cannot use the SQLite database …: disk I/O error'),
    which name the symptom, not the file or folder to look at, nor what to do."""
    make, said = UNUSABLE[way]
    command = make(operator)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{operator / 'node.db'}")
    status, _, err = run(capsys, *MAKING[command])
    (line,) = err.strip().splitlines()
    assert status == 3, err
    assert line.startswith("error: cannot use the SQLite database") and said in line, line


# --- files an operator's commands leave behind ------------------------------------------


def test_init_makes_a_sqlite_database_others_on_the_host_cannot_read(operator, monkeypatch, capsys):
    """`portal init` (and `portal demo`) leave the SQLite file, its -wal and -shm, readable
    by every account on the host (0644 under the usual umask), though they hold task
    text, mentors' accompaniment notes, client references and which agency serves whom in
    plain text. The secrets file beside it is 0600."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{operator / 'node.db'}")
    old = os.umask(0o022)
    try:
        status, _, err = run(capsys, *INIT)
    finally:
        os.umask(old)
    assert status == 0, err
    open_to_others = {
        path.name: oct(stat.S_IMODE(path.stat().st_mode))
        for path in operator.glob("node.db*")
        if path.stat().st_mode & 0o077 and path.stat().st_size
    }
    assert not open_to_others, f"readable by other accounts: {open_to_others}"


def test_keys_list_shows_times_in_the_mdts_time_zone(sqlite_node, monkeypatch, capsys):
    """`consent verify` dates in PORTAL_MDT_TIMEZONE; `keys list` (and `roster list`) print
    UTC isoformat, so a retirement time reads hours off from the MDT's day."""
    monkeypatch.setenv("PORTAL_MDT_TIMEZONE", "America/Chicago")
    status, out, err = run(capsys, "keys", "list")
    assert status == 0, err
    assert "+00:00" not in out, out


# --- the audit journal outside the database ---------------------------------------------


def _checkpoints(url: str) -> int:
    engine = make_engine(url)
    with engine.connect() as connection:
        count = connection.execute(text("SELECT count(*) FROM audit_checkpoint")).scalar_one()
    engine.dispose()
    return count


def test_audit_checkpoint_with_an_unwritable_journal_is_refused_before_signing(
    node, operator, monkeypatch, capsys
):
    """PORTAL_AUDIT_JOURNAL naming a folder (or a file the service cannot write): `audit
    checkpoint` prints "signed ...", commits the checkpoint, then fails with "unexpected
    InvalidRequestError: This session is in 'committed' state ... report it". The
    checkpoint is in the database but not in the journal, and the message hides why."""
    before = _checkpoints(node)
    monkeypatch.setenv("PORTAL_AUDIT_JOURNAL", str(operator))  # a folder
    status, out, err = run(capsys, "audit", "checkpoint")
    after = _checkpoints(node)
    assert status == 3
    assert after == before, (
        f"the command failed ({err.strip()!r}) yet {after - before} checkpoint(s) were "
        f"committed that the journal never received; it printed {out.strip()!r}"
    )
    assert "unexpected" not in err and str(operator) in err, err


def test_audit_checkpoint_with_a_journal_in_no_folder_is_refused_before_signing(
    node, operator, monkeypatch, capsys
):
    """A mistyped PORTAL_AUDIT_JOURNAL folder: the folder was made and a new journal begun
    there; the node's own journal then lacked that checkpoint, and `audit verify` said
    BROKEN."""
    before = _checkpoints(node)
    monkeypatch.setenv("PORTAL_AUDIT_JOURNAL", str(operator / "no-such" / "journal.jsonl"))
    status, _out, err = run(capsys, "audit", "checkpoint")
    assert status == 3 and "no folder" in err and err.count("\n") == 1, err
    assert _checkpoints(node) == before and not (operator / "no-such").exists()


def test_audit_checkpoint_signs_no_log_that_does_not_verify(node, operator, capsys):
    """A log edited in the database (one entry's detail): `audit checkpoint` signed it, with
    no word, and the signature then vouched for the edited log."""
    engine = make_engine(node)
    with engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE audit_entry SET detail = '{\"edited\": true}' WHERE id = "
                "(SELECT max(id) FROM audit_entry WHERE agency_id IS NOT NULL)"
            )
        )
    engine.dispose()
    before = _checkpoints(node)
    status, out, err = run(capsys, "audit", "checkpoint")
    assert status == 4 and "does not verify" in err and err.count("\n") == 1, (status, err)
    assert "signed" not in out and _checkpoints(node) == before


def test_audit_verify_with_a_journal_that_is_a_folder_is_one_line(
    node, operator, monkeypatch, capsys
):
    """`audit verify` with PORTAL_AUDIT_JOURNAL naming a folder: "unexpected
    IsADirectoryError ... report it"."""
    monkeypatch.setenv("PORTAL_AUDIT_JOURNAL", str(operator))
    status, _, err = run(capsys, "audit", "verify")
    assert status in (1, 3) and "unexpected" not in err, (status, err)


def _not_held(folder: Path) -> int:
    """A descriptor of the database's folder, not locked: the command does not wait."""
    return os.open(folder, os.O_RDONLY)


def test_an_init_that_loses_the_race_keeps_the_node_the_other_init_set_up(
    operator, monkeypatch, capsys
):
    """Two `portal init` on one new file: the first made the file and migrated it, the second
    set the node up in it and said so, and the first, refused as "another `portal init` has
    just set up this node", removed the file it had made, with the node in it (found by
    review)."""
    from portal.cli import database as cli_database

    url = f"sqlite:///{operator / 'node.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    real, raced = migrate.upgrade, []

    def upgrade(engine, revision="head"):
        real(engine, revision)
        if not raced:  # the other init runs once this one has migrated
            raced.append(run(capsys, *INIT))

    # Two inits no longer set up one SQLite file at once (the folder is held: see
    # test_a_stopped_init_keeps_the_node_another_init_is_setting_up_in_the_file_it_made);
    # the other one runs here as if it did not wait, as on PostgreSQL.
    monkeypatch.setattr(migrate, "upgrade", upgrade)
    monkeypatch.setattr(cli_database, "_setting_up_alone", _not_held)
    status, _, err = run(capsys, *INIT)
    assert status == 4 and "another `portal init` has just set up this node" in err, err
    other_status, other_out, _ = raced[0]
    assert other_status == 0 and "created the administrator" in other_out, other_out
    assert (operator / "node.db").exists(), "the refused init removed the node set up in it"
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT COUNT(*) FROM agency")).scalar_one() == 1
    finally:
        engine.dispose()


# --- review of 29ac4d0 / 28dc617: a secrets file taken back that another node needs --------


def _count(url):
    engine = make_engine(url)
    try:
        with engine.connect() as c:
            return c.execute(text("SELECT count(*) FROM agency")).scalar_one()
    except Exception as e:
        return repr(e)
    finally:
        engine.dispose()


def _opens_the_node(url: str, operator: Path) -> bool:
    """Whether the secrets file opens the node's agency keys (what `portal serve` needs)."""
    path = operator / "secrets.json"
    if not path.exists():
        return False
    wrapper = KeyWrapper(base64.b64decode(json.loads(path.read_text())["key_encryption_key"]))
    engine = make_engine(url)
    try:
        with Session(engine) as db:
            wrapped = db.exec(select(AgencyKey.wrapped_secret)).first()
    finally:
        engine.dispose()
    try:
        wrapper.unwrap(wrapped)
    except (CryptoError, ValueError):
        return False
    return True


@pytest.mark.parametrize("command", ["demo", "init"])
def test_a_failed_command_keeps_a_secrets_file_another_node_was_set_up_with(
    operator, monkeypatch, capsys, command
):
    """Two nodes, one secrets file (the default .portal-secrets.json of one folder, or one
    PORTAL_SECRETS_FILE): this command made the file, then, while it migrated its own new
    database, `portal init` set up another node in another database with that file's keys
    and said so. This command, stopped (Ctrl-C), took the file back with its own database
    file: the other node's keys are opened by no secrets file, for good."""
    # The other node's database in a folder of its own: two commands do not set up
    # databases in one folder at once.
    (operator / "other").mkdir()
    mine = f"sqlite:///{operator / 'node.db'}"
    theirs = f"sqlite:///{operator / 'other' / 'other.db'}"
    real, raced = migrate.upgrade, []

    def upgrade(engine, revision: str = "head") -> None:
        real(engine, ScriptDirectory.from_config(migrate.alembic_config()).get_base())
        monkeypatch.setattr(migrate, "upgrade", real)
        monkeypatch.setenv("DATABASE_URL", theirs)
        raced.append(run(capsys, *INIT))  # the other node, set up meanwhile
        monkeypatch.setenv("DATABASE_URL", mine)
        raise KeyboardInterrupt

    monkeypatch.setattr(migrate, "upgrade", upgrade)
    monkeypatch.setenv("DATABASE_URL", mine)
    status, _, err = run(capsys, *MAKING[command])
    assert status == 130, err
    assert raced[0][0] == 0 and "created the administrator" in raced[0][1], raced
    assert _opens_the_node(theirs, operator), f"the stopped {command} took back its secrets"


def _first_init_under_way(monkeypatch, operator) -> tuple[str, object]:
    """A first `portal init` on a new file, as cmd_init runs it: it has made the secrets
    file, then the database file (its `setting_up` entered), and is still setting up."""
    from portal.cli import database as cli_database

    url = f"sqlite:///{operator / 'node.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    cli_database.node_settings()
    first = cli_database.setting_up(cli_database.chosen())
    first.__enter__()
    assert (operator / "node.db").exists() and (operator / "secrets.json").exists()
    return url, first


def _stops(first) -> None:
    """The first init stopped (Ctrl-C) where it is: it takes back what it made."""
    assert first.__exit__(KeyboardInterrupt, KeyboardInterrupt(), None) is False


def _set_up(url: str, operator: Path) -> bool:
    """Whether the node is there, its agency in it, opened by the secrets file."""
    return (operator / "node.db").exists() and _count(url) == 1 and _opens_the_node(url, operator)


def test_a_stopped_init_keeps_the_secrets_file_another_init_has_read(operator, monkeypatch, capsys):
    """Two `portal init` on one new file: the first made the secrets file and the database
    file; the second read that secrets file. The first, stopped then (Ctrl-C), found no
    agency in its database file and removed it with the secrets file. The second made the
    database file anew and set its node up in it, its keys wrapped under the key of the
    removed secrets file, and said so: `portal serve` then refuses the node for good
    ('restore the file this node was set up with')."""
    from portal.cli import setup

    url, first = _first_init_under_way(monkeypatch, operator)
    real = setup.setting_up

    def setting_up(*args, **kwargs):  # the second has read the secrets: the first stops
        _stops(first)
        return real(*args, **kwargs)

    monkeypatch.setattr(setup, "setting_up", setting_up)
    status, out, err = run(capsys, *INIT)  # the second init
    assert status == 0 and "created the administrator" in out, err
    assert (operator / "node.db").exists() and _count(url) == 1  # the node is there
    assert _opens_the_node(url, operator), "no secrets file opens the second init's node"


def _made(path: Path) -> tuple[int, int, int]:
    """A file as it was made: not another one in its place, nor written since."""
    made = path.stat()
    return made.st_ino, made.st_size, made.st_mtime_ns


def test_a_stopped_init_keeps_the_node_another_init_is_setting_up_in_the_file_it_made(
    operator, monkeypatch, capsys
):
    """Two `portal init` on one new file: the first made the secrets file and the database
    file; the second read that secrets file, opened that database and migrated it. The
    first, stopped then (Ctrl-C, or 'the database is busy' while the second migrated),
    found no agency in it yet and removed the database file. The second went on, created
    its agency in the removed file (or in an empty one SQLite made in its place) and said it
    had set the node up: the node was gone. A database is now set up by one command at a
    time in its folder: the second waits, then refuses in one line, and sets the node up
    once the first has stopped."""
    from portal.cli import database as cli_database

    url, first = _first_init_under_way(monkeypatch, operator)
    made = _made(operator / "node.db")
    monkeypatch.setattr(cli_database, "SETUP_WAIT_SECONDS", 0.2)
    status, out, err = run(capsys, *INIT)  # the second init, while the first sets up
    assert status == REFUSED and "created" not in out, err
    assert len(err.strip().splitlines()) == 1, err
    assert "is setting up a database in" in err and "try again once it has finished" in err
    assert _made(operator / "node.db") == made and (operator / "secrets.json").exists()
    _stops(first)
    status, out, err = run(capsys, *INIT)  # the second init, run again
    assert status == 0 and "created the administrator" in out, err
    assert _set_up(url, operator), "the node the second init said it set up is gone"


def test_a_folder_whose_file_system_keeps_no_locks_is_set_up_unguarded(
    operator, monkeypatch, capsys
):
    """Some network file systems answer flock with ENOLCK: the command sets the database up
    as it did before the folder was locked, rather than fail."""
    import fcntl as fcntl_module

    def no_locks_here(*_args):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl_module, "flock", no_locks_here)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{operator / 'node.db'}")
    status, out, err = run(capsys, *INIT)
    assert status == 0 and "created the administrator" in out, err


# --- survivor information at the operator's command line ---------------------------------


def test_consent_verify_does_not_tell_the_operator_whether_a_guessed_signer_is_right(
    node, operator, capsys
):
    """`portal consent verify` compared a file whose signature fails with the release stored
    under its number, for anyone (the web page does so only for staff who may read the
    names) and named the fields that differ. The operator, who can read release numbers in
    the database, wrote a file with a guessed name of who signed: 'signer.name' among the
    changed fields said the guess was wrong, its absence that it was the survivor's name."""
    import test_consent_cli as consent_cli_tests

    release, _ = consent_cli_tests.make_release(
        (make_engine(node), KeyWrapper(_real_kek(operator)))
    )
    release["signature"]["sig"] = base64.urlsafe_b64encode(bytes(64)).decode().rstrip("=")
    said = {}
    for guess in ("Robin Example", "Someone Else (synthetic)"):
        release["release"]["signer"]["name"] = guess
        file = operator / "release.json"
        file.write_text(json.dumps(release))
        status, out, err = run(capsys, "consent", "verify", str(file))
        assert status == 1 and "bad_signature" in out, out + err
        said[guess] = out + err
    assert said["Robin Example"] == said["Someone Else (synthetic)"], (
        "the command tells a right guess of who signed from a wrong one"
    )
    assert "signer" not in said["Someone Else (synthetic)"]
