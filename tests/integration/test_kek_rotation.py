"""A new key-encryption key for a node: `portal keys rotate-kek`, `portal keys rewrap`,
`portal keys forget-previous-kek`, on SQLite and PostgreSQL. At no step is a key wrapped
under a KEK the node no longer has. Synthetic data only."""

from __future__ import annotations

import base64
import io
import json
import os
import secrets
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from nacl.exceptions import CryptoError
from sqlalchemy import update
from sqlmodel import Session, select
from test_consent_cli import make_release

import portal
from portal.audit import AuditTag
from portal.cli import kek as kek_commands
from portal.cli import main as cli
from portal.crypto import KeyWrapper
from portal.db import make_engine, unit_of_work
from portal.models import Agency, AuditEntry, StaffUser, WebSession
from portal.services import kek
from portal.settings import from_environment

from databases import new_empty_database

OWNER = "Owner Agency (synthetic)"  # make_release's agencies: the owner and its partner
TOTP_SECRET = b"JBSWY3DPEHPK3PXPSYNTHETIC"
PENDING_SECRET = b"KRSXG5CTMVRXEZLUSYNTHETIC"
FORGET_NOW = (
    "every key is wrapped under the current KEK: you may now remove the previous KEK (run "
    "`portal keys forget-previous-kek`)"
)


@pytest.fixture
def node(backend, tmp_path, monkeypatch):
    """A node whose KEK is in its secrets file: two agencies, a release signed, a staff member
    with TOTP and a sign-in enrolling TOTP; no terminal."""
    monkeypatch.chdir(tmp_path)
    for name in ("PORTAL_KEK", "PORTAL_KEK_PREVIOUS", "PORTAL_SESSION_KEY", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PORTAL_SECRETS_FILE", str(tmp_path / "secrets.json"))
    monkeypatch.setenv("PORTAL_AUDIT_JOURNAL", str(tmp_path / "journal.jsonl"))
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    url, drop = new_empty_database(backend, tmp_path)
    monkeypatch.setenv("DATABASE_URL", url)
    assert cli.main(["db", "upgrade"]) == 0
    engine = make_engine(url)
    keys = from_environment().key_wrapper()
    make_release((engine, keys))
    at = datetime.now(UTC)
    with unit_of_work(engine) as db:
        witness = db.exec(select(StaffUser).where(StaffUser.username == "witness")).one()
        witness.totp_secret = keys.wrap(TOTP_SECRET)
        witness.totp_enabled_at = at
        db.add(
            WebSession(
                token_hash=secrets.token_hex(32),
                user_id=witness.id,
                csrf_token=secrets.token_hex(16),
                stage="full",
                pending_totp_secret=keys.wrap(PENDING_SECRET),
                created_at=at,
                last_seen_at=at,
            )
        )
    yield engine
    engine.dispose()
    drop()


def run(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _file() -> dict:
    return json.loads(Path(os.environ["PORTAL_SECRETS_FILE"]).read_text())


def _wrapped(engine) -> dict:
    """Every secret wrapped under the KEK, by (column, row id)."""
    found = {}
    with Session(engine) as db:
        for kind in kek.KINDS:
            column = getattr(kind.table, kind.column)
            for row_id, wrapped in db.execute(
                select(kind.table.id, column).where(column.is_not(None))
            ):
                found[kind.column, row_id] = bytes(wrapped)
    return found


def _opened(engine, keys: KeyWrapper) -> dict:
    return {place: keys.unwrap(wrapped) for place, wrapped in _wrapped(engine).items()}


def _opens_nothing(engine, keys: KeyWrapper) -> bool:
    for wrapped in _wrapped(engine).values():
        try:
            keys.unwrap(wrapped)
        except CryptoError:
            continue
        return False
    return True


def _alone(kek_text: str) -> KeyWrapper:
    return KeyWrapper(base64.b64decode(kek_text))


def _new_process(*argv: str) -> subprocess.CompletedProcess:
    """`portal ARGV` in a process of its own, which reads the secrets file as it starts."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(Path(portal.__file__).resolve().parents[1]),
        **{
            name: os.environ[name]
            for name in ("DATABASE_URL", "PORTAL_SECRETS_FILE", "PORTAL_AUDIT_JOURNAL")
        },
    }
    return subprocess.run(
        [sys.executable, "-m", "portal.cli.main", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_rotate_rewrap_forget_keeps_every_key_and_the_old_kek_then_opens_nothing(node, capsys):
    engine = node
    old_kek = _file()["key_encryption_key"]
    before = _opened(engine, from_environment().key_wrapper())
    # two agencies (a data key and a signing key each), a TOTP secret, one being enrolled
    assert sorted(column for column, _ in before) == [
        "pending_totp_secret",
        "totp_secret",
        *["wrapped_secret"] * 4,
    ]
    rows_before = _wrapped(engine)

    status, out, err = run(capsys, "keys", "rotate-kek")
    assert (status, err) == (0, "")
    assert out.splitlines()[-1] == kek_commands.NEXT_AFTER_ROTATE
    stored = _file()
    new_kek = stored["key_encryption_key"]
    assert new_kek != old_kek and stored["previous_key_encryption_keys"] == [old_kek]
    assert stat.S_IMODE(Path(os.environ["PORTAL_SECRETS_FILE"]).stat().st_mode) == 0o600
    assert _wrapped(engine) == rows_before  # no database row changed

    # A process started now reads the new file: it signs with every agency's key (opened
    # under the previous KEK), and opens everything as it was.
    checkpoint = _new_process("audit", "checkpoint")
    assert checkpoint.returncode == 0, checkpoint.stderr
    restarted = from_environment().key_wrapper()
    assert _opened(engine, restarted) == before
    make_release((engine, restarted))  # the owner signs a second release

    status, out, err = run(capsys, "keys", "rewrap", "--batch", "3")
    assert (status, err) == (0, "")
    assert out.splitlines() == [
        "agency keys: 4 re-wrapped under the current KEK, 0 already",
        "staff TOTP secrets: 1 re-wrapped under the current KEK, 0 already",
        "TOTP secrets being enrolled: 1 re-wrapped under the current KEK, 0 already",
        FORGET_NOW,
    ]
    assert _opened(engine, _alone(new_kek)) == before  # the new KEK alone opens all
    with Session(engine) as db:
        entries = db.exec(
            select(Agency.name, AuditEntry.detail, AuditEntry.actor_user_ref)
            .join(Agency, Agency.id == AuditEntry.agency_id)
            .where(AuditEntry.tag == AuditTag.KEY_REWRAPPED)
            .order_by(Agency.name, AuditEntry.seq)
        ).all()
    # An agency's keys in batches of 3: the owner's four (two keys, a TOTP secret, one being
    # enrolled) in two entries, the partner's two in one, each by the node itself.
    assert [(name, json.loads(detail)) for name, detail, _ in entries] == [
        (OWNER, {"rewrapped": 3, "agency_keys": 2, "totp_secrets": 1}),
        (OWNER, {"rewrapped": 1, "pending_totp_secrets": 1}),
        ("Partner Agency (synthetic)", {"rewrapped": 2, "agency_keys": 2}),
    ]
    assert {actor for _, _, actor in entries} == {None}

    status, out, err = run(capsys, "keys", "rewrap")  # a second run finds nothing to do
    assert status == 0 and "agency keys: 0 re-wrapped under the current KEK, 4 already" in out

    # A rotation stopped between writing the new file and renaming it (kill -9) left its
    # file beside it, with the old KEK in it: forgetting the previous KEKs removes it too.
    secrets_file = Path(os.environ["PORTAL_SECRETS_FILE"])
    leftover = secrets_file.with_name(f".{secrets_file.name}.0a1b2c3d4e5f.new")
    leftover.write_text(json.dumps({"key_encryption_key": old_kek}))
    status, out, err = run(capsys, "keys", "forget-previous-kek", "--yes")
    assert (status, err) == (0, "")
    assert "removed 1 previous KEK from" in out
    assert not leftover.exists(), "a leftover of a stopped write still holds the old KEK"
    text = Path(os.environ["PORTAL_SECRETS_FILE"]).read_text()
    assert old_kek not in text and "previous_key_encryption_keys" not in json.loads(text)
    assert json.loads(text)["key_encryption_key"] == new_kek
    assert stat.S_IMODE(Path(os.environ["PORTAL_SECRETS_FILE"]).stat().st_mode) == 0o600

    assert _opened(engine, from_environment().key_wrapper()) == before
    assert _opens_nothing(engine, _alone(old_kek))
    checkpoint = _new_process("audit", "checkpoint")
    assert checkpoint.returncode == 0, checkpoint.stderr
    status, out, err = run(capsys, "audit", "verify")
    assert status == 0, out + err


def test_forget_is_refused_while_a_key_still_opens_only_under_the_previous_kek(node, capsys):
    engine = node
    old_kek = _file()["key_encryption_key"]
    assert run(capsys, "keys", "rotate-kek")[0] == 0
    rotated = _file()

    status, out, err = run(capsys, "keys", "forget-previous-kek", "--yes")
    assert (status, out) == (4, "")  # refused: the keys are not yet in a state to forget it
    with pytest.raises(SystemExit):  # and its help says so (it said exit status 1)
        run(capsys, "keys", "forget-previous-kek", "--help")
    assert "Refused (exit status 4)" in " ".join(capsys.readouterr().out.split())
    assert err == (
        "error: 6 keys still open only under a previous KEK (agency keys 4, staff TOTP "
        "secrets 1, TOTP secrets being enrolled 1): run `portal keys rewrap` first; nothing "
        "was changed\n"
    )
    assert _file() == rotated

    assert run(capsys, "keys", "rewrap")[0] == 0
    # A process started before the rotation (the old KEK its only one) enrols a TOTP secret
    # meanwhile: it is wrapped under the old KEK, which must then stay.
    with unit_of_work(engine) as db:
        db.execute(
            update(StaffUser)
            .where(StaffUser.username == "witness")
            .values(totp_secret=_alone(old_kek).wrap(TOTP_SECRET))
        )
    status, out, err = run(capsys, "keys", "forget-previous-kek", "--yes")
    assert status == 4
    assert err.startswith("error: 1 key still opens only under a previous KEK (staff TOTP")
    assert _file() == rotated

    status, out, err = run(capsys, "keys", "rewrap")
    assert status == 0 and "staff TOTP secrets: 1 re-wrapped under the current KEK" in out
    assert run(capsys, "keys", "forget-previous-kek", "--yes")[0] == 0
    opened = _opened(engine, from_environment().key_wrapper())
    assert [secret for (column, _), secret in opened.items() if column == "totp_secret"] == [
        TOTP_SECRET
    ]


def test_forget_asks_first_and_without_a_terminal_wants_yes(node, capsys, monkeypatch):
    assert run(capsys, "keys", "rotate-kek")[0] == 0
    assert run(capsys, "keys", "rewrap")[0] == 0
    rotated = _file()

    status, out, err = run(capsys, "keys", "forget-previous-kek")
    assert status == 2
    assert err == (
        "error: without a terminal nothing can be asked: run again with --yes; nothing was "
        "changed\n"
    )
    assert _file() == rotated

    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    asked = []
    answers = iter(["no", "yes"])
    monkeypatch.setattr("builtins.input", lambda q: asked.append(q) or next(answers))
    status, out, _err = run(capsys, "keys", "forget-previous-kek")
    assert (status, out) == (1, "nothing was changed\n")
    assert "Remove 1 previous key-encryption key from" in asked[0]
    assert "There is no undoing it" in asked[0]
    assert _file() == rotated
    status, out, _err = run(capsys, "keys", "forget-previous-kek")
    assert status == 0 and "previous_key_encryption_keys" not in _file()


def test_rewrap_leaves_a_key_that_opens_under_no_kek_given_and_counts_it(node, capsys):
    engine = node
    assert run(capsys, "keys", "rotate-kek")[0] == 0
    foreign = KeyWrapper(secrets.token_bytes(32)).wrap(PENDING_SECRET)
    with unit_of_work(engine) as db:
        db.execute(update(WebSession).values(pending_totp_secret=foreign))

    status, out, err = run(capsys, "keys", "rewrap")
    assert status == 1
    assert out.splitlines() == [
        "agency keys: 4 re-wrapped under the current KEK, 0 already",
        "staff TOTP secrets: 1 re-wrapped under the current KEK, 0 already",
        "TOTP secrets being enrolled: 0 re-wrapped under the current KEK, 0 already, 1 open "
        "under no KEK given (left as they are)",
    ]
    assert err.startswith("error: 1 key opens under no KEK this node is given")
    assert err.count("\n") == 1
    with Session(engine) as db:
        assert db.exec(select(WebSession.pending_totp_secret)).one() == foreign
    # It needs no previous KEK: forgetting loses nothing more, and is allowed.
    assert run(capsys, "keys", "forget-previous-kek", "--yes")[0] == 0


def test_a_node_whose_kek_is_in_the_environment_is_told_what_to_set(node, capsys, monkeypatch):
    engine = node
    stored = _file()
    old_kek = stored["key_encryption_key"]
    monkeypatch.setenv("PORTAL_KEK", old_kek)
    monkeypatch.setenv("PORTAL_SESSION_KEY", stored["session_key"])
    before = _opened(engine, from_environment().key_wrapper())
    file_before = Path(os.environ["PORTAL_SECRETS_FILE"]).read_bytes()

    status, out, err = run(capsys, "keys", "rotate-kek")
    assert status == 3
    assert out.startswith("a new key you may use: ") and out.count("\n") == 1
    fresh = out.strip().removeprefix("a new key you may use: ")
    assert len(base64.b64decode(fresh, validate=True)) == 32 and fresh != old_kek
    assert err == (
        "error: the node's KEK is PORTAL_KEK, from the environment, which this command cannot "
        "change: set PORTAL_KEK to a new key (one is printed above) and PORTAL_KEK_PREVIOUS to "
        "the current one, restart every process of the node, then run `portal keys rewrap`\n"
    )
    assert Path(os.environ["PORTAL_SECRETS_FILE"]).read_bytes() == file_before

    # Doing what it says: the new key as PORTAL_KEK, the old one as PORTAL_KEK_PREVIOUS.
    monkeypatch.setenv("PORTAL_KEK", fresh)
    monkeypatch.setenv("PORTAL_KEK_PREVIOUS", old_kek)
    assert _opened(engine, from_environment().key_wrapper()) == before
    status, out, err = run(capsys, "keys", "rewrap")
    assert (status, err) == (0, "")
    assert out.splitlines()[-1] == (
        "every key is wrapped under the current KEK: you may now remove the previous KEK "
        "(unset PORTAL_KEK_PREVIOUS in the node's environment and restart its processes)"
    )
    status, out, err = run(capsys, "keys", "forget-previous-kek", "--yes")
    assert status == 3 and "unset PORTAL_KEK_PREVIOUS" in err and err.count("\n") == 1
    monkeypatch.delenv("PORTAL_KEK_PREVIOUS")
    assert _opened(engine, from_environment().key_wrapper()) == before
    assert _opens_nothing(engine, _alone(old_kek))


def test_a_bad_previous_kek_is_one_line_naming_the_setting(node, capsys, monkeypatch):
    good = base64.b64encode(secrets.token_bytes(32)).decode()
    wrong_env = (
        "error: cannot read the settings: PORTAL_KEK_PREVIOUS must be base64 keys of 32 bytes, "
        "separated by commas\n"
    )
    for value in ("not base64!", base64.b64encode(b"short").decode(), f"{good},{good[:-4]}"):
        monkeypatch.setenv("PORTAL_KEK_PREVIOUS", value)
        for argv in (["keys", "rewrap"], ["keys", "rotate", OWNER], ["audit", "checkpoint"]):
            assert run(capsys, *argv) == (3, "", wrong_env), (value, argv)
    monkeypatch.delenv("PORTAL_KEK_PREVIOUS")

    path = Path(os.environ["PORTAL_SECRETS_FILE"])
    for value in ("not a list", ["not base64!"], [good, 42]):
        path.write_text(json.dumps({**_file(), "previous_key_encryption_keys": value}))
        for argv in (["keys", "rewrap"], ["keys", "rotate-kek"], ["keys", "forget-previous-kek"]):
            assert run(capsys, *argv) == (
                3,
                "",
                "error: cannot read the settings: previous_key_encryption_keys in the secrets "
                f"file {path} must be a JSON list of base64 keys of 32 bytes\n",
            ), (value, argv)
