"""Bad input the fuzz sweep does not reach: each was answered with a 500, a silent change of
what was typed, or a command's "unexpected … report it" line, and is now a clear 4xx (or
one line saying what to do) with nothing written. Each test failed before its fix (found by
a review). Synthetic data only."""

from __future__ import annotations

import io
from zoneinfo import ZoneInfo

import disclosure_helpers as dh
import pyotp
import pytest
from sqlmodel import func, select

from portal.auth.sessions import Viewer
from portal.cli import main as cli
from portal.models import AgencyKind, LegalBasis, Role, SectionEntry
from portal.models.workflow import AgendaItem, Meeting
from portal.services import api_tokens, meetings

import factories as make

NY = ZoneInfo("America/New_York")


def _count(db, column) -> int:
    return db.exec(select(func.count(column))).one()


# ---------------------------------------------------------------- the JSON API


def _section_writer(db, keys):
    w = dh.world(db, keys)
    lead = make.user(db, w.owner, Role.AGENCY_LEAD, Role.CLINICIAN)
    issued = api_tokens.create_token(
        db,
        Viewer(lead, w.owner, frozenset({Role.AGENCY_LEAD.value, Role.CLINICIAN.value}), None),
        name="records system (synthetic)",
        scopes=["sections:write"],
        acting_role=Role.CLINICIAN.value,
        at=make.AT,
    )
    db.flush()
    headers = {"Authorization": f"Bearer {issued.secret}", "Content-Type": "application/json"}
    return f"/api/v1/clients/{w.client.public_id}/sections/medical", headers


@pytest.mark.parametrize(
    "body",
    [
        # Python reads no integer of more than 4,300 digits: json.loads raises a plain
        # ValueError, which is not a JSONDecodeError.
        '{"content": {"exam_done": ' + "1" * 5000 + "}}",
        # Nesting past the recursion limit: json.loads raises RecursionError.
        '{"content": ' + "[" * 20000 + "]" * 20000 + "}",
    ],
    ids=["integer-of-5000-digits", "nested-20000-deep"],
)
def test_a_json_body_json_cannot_read_is_a_400_not_a_500(client, db, keys, body):
    """The API's body reader caught only UnicodeDecodeError and JSONDecodeError around
    json.loads: a 5,000-digit number (ValueError) and deep nesting (RecursionError), both
    well under the 64 KiB limit, escaped as a 500."""
    url, headers = _section_writer(db, keys)
    before = _count(db, SectionEntry.id)
    answer = client.put(url, content=body.encode(), headers=headers)
    assert answer.status_code == 400, answer.text
    assert "error" in answer.json()
    assert _count(db, SectionEntry.id) == before


# ---------------------------------------------------------------- meetings


def _coordinator_with_meeting(client, db, keys):
    agency = make.agency(db, keys)
    user = make.user(db, agency, Role.MDT_COORDINATOR, Role.AGENCY_LEAD, username="coord")
    on_agenda = make.mdt_case(db, agency)
    other = make.mdt_case(db, agency)
    meeting = meetings.schedule_meeting(
        db,
        agency,
        day="2026-11-10",
        clock="10:00",
        place="Room 1 (synthetic)",
        case_ids=[on_agenda.public_id],
        actor=user,
        at=make.AT,
        tz=NY,
    )
    db.flush()
    make.login(client, "coord")
    return meeting, on_agenda, other


def test_adding_a_new_case_and_one_already_on_the_agenda_is_a_409_not_a_500(client, db, keys):
    """Ticking a case not yet on the agenda together with one already there: the first is
    flushed, the second raises Conflict, and the meeting page loaded the agenda before the
    failed write was rolled back, so rendering touched the rolled-back AgendaItem
    (ObjectDeletedError, a 500)."""
    meeting, on_agenda, other = _coordinator_with_meeting(client, db, keys)
    token = make.csrf_of_page(client, f"/meetings/{meeting.public_id}")
    before = _count(db, AgendaItem.id)
    answer = client.post(
        f"/meetings/{meeting.public_id}/agenda",
        data={"csrf_token": token, "case_ids": [other.public_id, on_agenda.public_id]},
    )
    assert answer.status_code == 409, answer.status_code
    assert "already on the agenda" in answer.text
    assert _count(db, AgendaItem.id) == before  # nothing of the failed form stays


def test_a_meeting_at_a_local_time_that_does_not_exist_is_refused_not_moved(client, db, keys):
    """2027-03-14 02:30 does not exist in America/New_York (clocks go from 02:00 to 03:00).
    The meeting was combined with the zone as if it did, saved and shown at 03:30 without
    a word; it is a 400 naming the time."""
    agency = make.agency(db, keys)
    make.user(db, agency, Role.MDT_COORDINATOR, username="coord")
    make.login(client, "coord")
    token = make.csrf_of_page(client, "/meetings/new")
    before = _count(db, Meeting.id)
    answer = client.post(
        "/meetings",
        data={
            "csrf_token": token,
            "date": "2027-03-14",
            "time": "02:30",
            "duration_minutes": "90",
            "place": "Room 2 (synthetic)",
        },
    )
    assert answer.status_code == 400, (answer.status_code, answer.headers.get("location"))
    assert "02:30 does not exist on 2027-03-14" in answer.text
    assert _count(db, Meeting.id) == before


# ---------------------------------------------------------------- the second factor


FULLWIDTH_CODE = "１２３４５６"  # six digits to str.isdigit, not ASCII


def test_enrolling_a_second_factor_with_fullwidth_digits_is_a_400_not_a_500(client, db, keys):
    """Any six characters str.isdigit accepts went through to hmac.compare_digest, which
    raises TypeError on a non-ASCII str: a 500.
    (A phone keyboard in a CJK input mode types these digits.)"""
    agency = make.agency(db, keys)
    make.user(db, agency, username="totp.person")
    make.login(client, "totp.person")
    page = client.get("/account/second-factor")
    answer = client.post(
        "/account/second-factor",
        data={"csrf_token": make.csrf_from(page.text), "code": FULLWIDTH_CODE},
    )
    assert answer.status_code == 400, answer.status_code


def test_signing_in_with_fullwidth_digits_is_a_400_not_a_500(client, db, keys, clock):
    """The same TypeError at sign-in (services/signin.verify_second_factor →
    totp.matching_step): a 500 instead of "that code does not match"."""
    agency = make.agency(db, keys)
    make.user(db, agency, username="totp.person")
    make.login(client, "totp.person")
    page = client.get("/account/second-factor")
    secret = page.text.split('<code class="secret">')[1].split("<")[0]
    enrolled = client.post(
        "/account/second-factor",
        data={"csrf_token": make.csrf_from(page.text), "code": pyotp.TOTP(secret).at(clock())},
    )
    assert enrolled.status_code == 200
    client.cookies.clear()
    clock.advance(minutes=2)
    assert make.login(client, "totp.person").headers["location"] == "/login/second-factor"
    page = client.get("/login/second-factor")
    answer = client.post(
        "/login/second-factor",
        data={"csrf_token": make.csrf_from(page.text), "code": FULLWIDTH_CODE},
    )
    assert answer.status_code == 400, answer.status_code


# ---------------------------------------------------------------- legal bases


@pytest.mark.parametrize("under_age", ["²", "9" * 5000], ids=["superscript-two", "5000-digits"])
def test_a_legal_basis_age_int_cannot_read_is_a_400_not_a_500(client, db, keys, under_age):
    """The age was checked with str.isdigit, then int(): "²" is a digit to isdigit but not
    to int, and int() reads no more than 4,300 digits; both ValueErrors escaped as a 500."""
    agency = make.agency(db, keys, kind=AgencyKind.SYSTEM)
    make.user(db, agency, Role.AGENCY_LEAD, username="lead")
    make.login(client, "lead")
    token = make.csrf_of_page(client, "/agency/policy")
    before = _count(db, LegalBasis.id)
    answer = client.post(
        "/agency/policy/legal-bases",
        data={
            "csrf_token": token,
            "citation": "Synthetic Statute 1.2.3",
            "sections": ["safety_plan"],
            "basis_purpose": "mdt_case_review",
            "minors_only": "yes",
            "under_age": under_age,
        },
    )
    assert answer.status_code == 400, answer.status_code
    assert "whole number from 12 to 21" in answer.text
    assert _count(db, LegalBasis.id) == before


# ---------------------------------------------------------------- the command line


@pytest.fixture
def operator(tmp_path, monkeypatch):
    """A shell in an empty folder with a scratch SQLite node of its own."""
    monkeypatch.chdir(tmp_path)
    for name in ("PORTAL_KEK", "PORTAL_SESSION_KEY", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'node.db'}")
    monkeypatch.setenv("PORTAL_SECRETS_FILE", str(tmp_path / "secrets.json"))
    monkeypatch.setenv("PORTAL_AUDIT_JOURNAL", str(tmp_path / "journal"))
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    return tmp_path


def _run(capsys, *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    status = cli.main(list(argv))
    return status, capsys.readouterr().err


def _one_clear_line(err: str) -> None:
    assert len(err.strip().splitlines()) == 1, err
    assert "unexpected" not in err and "report it" not in err, err


def test_audit_verify_against_a_checkpoint_file_that_is_not_utf8(operator, capsys):
    """The file was read as UTF-8 catching only OSError: a binary file ended in "unexpected
    UnicodeDecodeError ... report it" (exit 3), not "... is not a signed audit checkpoint"
    (exit 2) as any other bad file does."""
    status, err = _run(capsys, "db", "upgrade")
    assert status == 0, err
    binary = operator / "checkpoint.bin"
    binary.write_bytes(b"\xff\xfe\x00 not a checkpoint")
    status, err = _run(capsys, "audit", "verify", "--checkpoint", str(binary))
    _one_clear_line(err)
    assert status == 2 and "not a signed audit checkpoint" in err, (status, err)


def test_i18n_template_into_a_missing_folder_says_it_cannot_write(operator, capsys):
    """The template was written unguarded: a missing folder was "unexpected
    FileNotFoundError ... report it" (exit 3), where `roster export --out` says "cannot
    write PATH: No such file or directory" (exit 2)."""
    target = operator / "no-such-folder" / "messages.pot"
    status, err = _run(capsys, "i18n", "template", str(target))
    _one_clear_line(err)
    assert status == 2 and "cannot write" in err, (status, err)


def test_a_federated_demo_folder_whose_saved_state_is_unreadable_is_said_in_one_line(
    operator, capsys
):
    """The demo read the folder's nodes.json with json.loads unguarded: a file cut short
    (a disk that filled) ended in "unexpected JSONDecodeError … report it"."""
    folder = operator / "portal-federated-demo"
    folder.mkdir()
    (folder / "nodes.json").write_text('{"nodes": [{"url": "http://127.0.0.1:8101"')
    status, err = _run(capsys, "demo", "--federated")
    _one_clear_line(err)
    assert status == 4 and "is not a federated demo's saved state" in err, (status, err)


def _leaf_commands(parser, path=()):
    import argparse

    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not groups:
        yield " ".join(path), parser
    for subparsers in groups:
        for name, sub in subparsers.choices.items():
            yield from _leaf_commands(sub, (*path, name))


def test_every_command_says_which_database_it_uses_so_verbose_never_fails():
    """`portal -v i18n check` ended in a traceback (AttributeError: no attribute 'uses'):
    i18n's commands were declared by hand, without what `-v` reads."""
    undeclared = [
        path for path, parser in _leaf_commands(cli.parser()) if "uses" not in parser._defaults
    ]
    assert not undeclared, undeclared


def test_verbose_i18n_check_runs(operator, capsys):
    status, err = _run(capsys, "-v", "i18n", "check")
    assert status == 0 and "Traceback" not in err, err


def test_assets_without_npm_says_what_to_install_in_one_line(operator, capsys, monkeypatch):
    """A fresh machine without npm (./ops/demo runs `portal assets` first) was told
    "unexpected AssetError: npm is needed once ...; report it"."""
    from portal import assets

    monkeypatch.setattr(assets, "htmx_present", lambda: False)
    monkeypatch.setattr(assets.shutil, "which", lambda name: None)
    status, err = _run(capsys, "assets")
    _one_clear_line(err)
    assert status == 3 and "npm is needed once" in err, (status, err)
