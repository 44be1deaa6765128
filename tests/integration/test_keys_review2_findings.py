"""The lifecycle of keys and sealed records, as a second review found it, through the pages
and the command line. Each test is named after what should happen, and failed on the code
as reviewed. Synthetic data only."""

from __future__ import annotations

import os
import secrets
from datetime import UTC, date, datetime

import pytest
from sqlmodel import select
from test_screening_review_findings import _form_fields

from portal.cli import main as cli
from portal.crypto import KeyWrapper
from portal.db import make_engine, unit_of_work
from portal.models import AgencyKey, AuditCheckpoint
from portal.services import agencies, clients, reseal, risk_screens
from portal.services import keys as agency_keys
from portal.settings import from_environment
from portal.web import screening_forms

AT = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def _reseal_all(db, keys, clock) -> None:
    """`portal keys reseal`: every kind, batch after batch."""
    for kind in reseal.KINDS:
        after = 0
        while after is not None:
            after = reseal.reseal_batch(
                db, kind, after=after, size=50, keys=keys, at=clock()
            ).last_id


def test_a_risk_screen_form_opened_before_a_reseal_saves_the_workers_notes(client, db, keys, clock):
    """Before: a risk screen's form carries a digest of the notes' *sealed* bytes
    (`risk_screens.notes_fingerprint`) to tell a colleague's save since. `portal keys
    reseal` (after `portal keys rotate-data`, ops/README §5) seals the same notes again,
    new bytes: a worker who opened the form before it and saves the survivor's risks is
    told "A colleague saved this risk screen after you opened it, and nothing of yours was
    saved", though nobody did, and the notes she typed are not kept."""
    from test_screening_pages import _screened

    agency, user, survivor, _, _ = _screened(client, db, keys, clock, finalised=True)
    screen = risk_screens.open_clock(db, survivor)
    given = screening_forms.read_risk_notes(
        {"survivor_notes": "First risk notes (synthetic)"}, people=[]
    )
    risk_screens.record_screen(db, screen, given=given, actor=user, keys=keys, at=clock())
    db.flush()
    url = f"/clients/{survivor.public_id}/risk-screens/{screen.public_id}"
    opened = _form_fields(client.get(url).text, url)
    db.expire_all()  # the page's read moved the log's head
    # The operator, meanwhile: a new data key, and every record moved onto it.
    agency_keys.rotate_data_key(db, agency, keys=keys, actor=None, at=clock())
    _reseal_all(db, keys, clock)
    db.flush()
    answer = client.post(url, data={**opened, "survivor_notes": "Her own words (synthetic)"})
    assert answer.status_code == 303, f"answered {answer.status_code}: " + (
        "told a colleague saved it" if "A colleague saved" in answer.text else answer.text[:200]
    )
    db.expire_all()
    assert "Her own words" in risk_screens.view(db, screen, keys=keys, now=clock()).survivor_notes


# -- one agency's keys under a KEK the node is no longer given ------------------------------


@pytest.fixture
def half_rewrapped(tmp_path, monkeypatch):
    """A node of two agencies, each with a client, after `portal keys rotate-kek` and a
    `portal keys rewrap` stopped after the first agency, whose previous KEK was then
    dropped (PORTAL_KEK_PREVIOUS unset too soon): the second agency's keys open under no
    KEK the node is given, the first's open."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'node.db'}")
    monkeypatch.setenv("PORTAL_SECRETS_FILE", str(tmp_path / "secrets.json"))
    monkeypatch.setenv("PORTAL_AUDIT_JOURNAL", str(tmp_path / "journal.jsonl"))
    for name in ("PORTAL_KEK", "PORTAL_SESSION_KEY", "PORTAL_KEK_PREVIOUS"):
        monkeypatch.delenv(name, raising=False)
    assert cli.main(["db", "upgrade"]) == 0
    settings = from_environment()
    engine = make_engine(settings.database_url)
    keys = settings.key_wrapper()
    lost = KeyWrapper(secrets.token_bytes(32))  # the previous KEK, no longer given
    with unit_of_work(engine) as db:
        made = []
        for name in ("Alder Advocacy (synthetic)", "Birch Shelter (synthetic)"):
            agency = agencies.create_agency(
                db, name=name, kind="community", discipline="advocacy", actor=None, keys=keys, at=AT
            )
            clients.register_client(
                db,
                agency,
                clients.Identity("Robin", "Example", date(2000, 5, 17)),
                reference="R-1",
                actor=None,
                keys=keys,
                at=AT,
            )
            made.append(agency)
        for key in db.exec(select(AgencyKey).where(AgencyKey.agency_id == made[1].id)).all():
            key.wrapped_secret = lost.wrap(keys.unwrap(key.wrapped_secret))
            db.add(key)
    engine.dispose()
    return made


def _one_line_saying_what_to_do(err: str, status: int, expected: int) -> str:
    err = err.strip()
    assert status == expected, (status, err)
    assert len(err.splitlines()) == 1 and "unexpected" not in err, err
    assert "rewrap" in err or "PORTAL_KEK_PREVIOUS" in err, err
    return err


def test_audit_checkpoint_with_one_agencys_key_lost_says_what_to_do(half_rewrapped, capsys):
    """Before: "error: unexpected CryptoError: Decryption failed. Ciphertext failed
    verification; ... report it", after printing "signed Alder Advocacy (synthetic) at
    entry N" for a checkpoint the failure then rolled back."""
    status = cli.main(["audit", "checkpoint"])
    said = capsys.readouterr()
    _one_line_saying_what_to_do(said.err, status, 3)
    if "signed Alder Advocacy (synthetic)" in said.out:  # said signed: then it is kept
        engine = make_engine(os.environ["DATABASE_URL"])
        with unit_of_work(engine) as db:
            kept = db.exec(select(AuditCheckpoint)).all()
        engine.dispose()
        assert kept, "it printed a checkpoint signed that was never kept"


def test_reseal_with_one_agencys_key_lost_says_what_to_do(half_rewrapped, capsys):
    """Before: "the node's key (PORTAL_KEK or the secrets file) does not open the agency
    keys in this database: run with this node's own secrets", though it is the node's own
    KEK (every command checks so first) and what is missing is the one a key of one agency
    is still wrapped under: `portal keys rewrap` says so, and what to give."""
    status = cli.main(["keys", "reseal"])
    _one_line_saying_what_to_do(capsys.readouterr().err, status, 3)


def test_roster_sign_with_the_coordinators_key_lost_says_what_to_do(
    half_rewrapped, capsys, tmp_path
):
    """Before: "error: unexpected CryptoError: Decryption failed. Ciphertext failed
    verification; run again with --verbose to see where, and report it"."""
    members = tmp_path / "members.json"
    members.write_text("[]")
    status = cli.main(
        [
            "roster",
            "sign",
            str(members),
            "--coordinator",
            "Birch Shelter (synthetic)",
            "--node",
            "http://127.0.0.1:9100",
            "--out",
            str(tmp_path / "roster.json"),
        ]
    )
    _one_line_saying_what_to_do(capsys.readouterr().err, status, 3)
    assert not (tmp_path / "roster.json").exists()


def test_keys_list_read_by_a_pipe_that_closes_early_says_nothing_of_it(half_rewrapped):
    """Before: `portal keys data | head -3` (or `keys list | head`) on a node printed
    "error: unexpected BrokenPipeError: [Errno 32] Broken pipe; run again with --verbose to
    see where, and report it": the reader had what it wanted; there is nothing to report."""
    import subprocess
    import sys

    running = subprocess.Popen(
        [sys.executable, "-m", "portal.cli.main", "keys", "list"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ),
    )
    running.stdout.close()  # the reader is gone before anything is written
    _out, err = running.communicate(timeout=60)
    assert "BrokenPipeError" not in err.decode() and "report it" not in err.decode(), err
