"""The lifecycle of keys and sealed records, as a second review found it: the services,
the pages and the command line. Each test is named after what should happen, and failed on
the code as reviewed (or is marked xfail where the fix is a product decision). Synthetic
data only."""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import select
from test_screening_review_findings import _form_fields

import consent
from portal.cli import main as cli
from portal.crypto import KeyWrapper
from portal.db import make_engine, unit_of_work
from portal.disclosure.sealed_releases import release_text
from portal.models import AgencyKey, AgencyKind, AuditCheckpoint, ConsentRelease, KeyPurpose, Role
from portal.services import agencies, clients, releases, reseal, risk_screens
from portal.services import keys as agency_keys
from portal.services.keys import current_key
from portal.settings import from_environment
from portal.web import screening_forms

import factories as make
from databases import BACKENDS, migrated_engine

SIGNER = consent.Signer("Robin Example", consent.Capacity.SELF)
AT = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def committed_engine(request, tmp_path):
    with migrated_engine(request.param, tmp_path, pool_size=4) as engine:
        yield engine


def _draft(db, keys, at):
    """A release drafted by a shelter for its client, naming a police unit."""
    owner = make.agency(db, keys)
    recipient = make.agency(db, keys, kind=AgencyKind.SYSTEM)
    client = make.client_record(db, owner, keys)
    witness = make.user(db, owner, Role.ADVOCATE)
    row = releases.draft_release(
        db,
        client,
        recipients=[recipient.public_id],
        sections=["safety_plan"],
        purpose="mdt_case_review",
        effective_at=at,
        expiry=consent.DateExpiry(at + timedelta(days=90)),
        keys=keys,
        language="en",
        actor=witness,
        at=at,
    )
    return owner, witness, row


def _sign(db, row, witness, keys, at):
    return releases.sign(
        db,
        row,
        signer=SIGNER,
        second_signer=None,
        method=consent.SignatureMethod.TYPED,
        actor=witness,
        keys=keys,
        at=at,
    )


def _verdict(db, row, keys, at):
    db.refresh(row)
    stored = release_text(db, row, keys=keys)
    return consent.verify(json.loads(stored), releases.keyring(db), at=at)


def test_a_release_signed_while_the_key_is_rotated_still_verifies(
    committed_engine, node_secrets, clock
):
    """Before: `portal keys rotate` reads its clock, then waits for the agency's log,
    which a release being signed holds (`releases.hold_release`) from before it reads the
    signing key until it commits. The release, signed a moment after the rotation read its
    clock, commits first; the rotation then retires the key at the time it read, which is
    before the release says it was signed: the survivor's signed release reads "The
    signing key was retired ... before the document says it was signed", NOT VALID, and
    every partner is refused under it (`consent_gate`), as if she had never signed."""
    keys = KeyWrapper(node_secrets.kek_bytes())
    with unit_of_work(committed_engine) as db:
        owner, witness, row = _draft(db, keys, clock())
    rotation_read_its_clock = clock() + timedelta(minutes=1)
    signed_at = rotation_read_its_clock + timedelta(milliseconds=20)
    failures: list[BaseException] = []

    def rotate() -> None:  # what `portal keys rotate` does, in a process of its own
        try:
            own = KeyWrapper(node_secrets.kek_bytes())
            with unit_of_work(committed_engine) as db:
                held = db.get(type(owner), owner.id)
                agency_keys.rotate_signing_key(
                    db, held, keys=own, actor=None, at=rotation_read_its_clock
                )
        except BaseException as error:
            failures.append(error)

    rotation = threading.Thread(target=rotate)
    with unit_of_work(committed_engine) as db:
        _sign(
            db, db.get(ConsentRelease, row.id), db.get(type(witness), witness.id), keys, signed_at
        )
        rotation.start()
        time.sleep(0.5)  # the rotation waits for the log the signing holds
    rotation.join(30)
    assert not failures, failures[0]
    with unit_of_work(committed_engine) as db:
        verdict = _verdict(db, db.get(ConsentRelease, row.id), keys, signed_at + timedelta(hours=1))
    assert verdict.ok, verdict.reason


def test_a_release_signed_by_a_request_older_than_a_rotation_still_verifies(db, keys, clock):
    """Before: a request reads its clock when it starts (`web.routing._run`), and the
    release is signed with the key current when it gets the agency's log. A rotation that
    committed in between (read its clock after the request did, took the log first) gave
    the agency a key created after the moment the release says it was signed with it: the
    release reads "signed before the signing key existed", NOT VALID, from the start."""
    owner, witness, row = _draft(db, keys, clock())
    request_started = clock() + timedelta(minutes=1)
    rotated_at = request_started + timedelta(milliseconds=20)
    agency_keys.rotate_signing_key(db, owner, keys=keys, actor=None, at=rotated_at)
    _sign(db, row, witness, keys, request_started)  # it waited for the rotation's log
    db.flush()
    verdict = _verdict(db, row, keys, rotated_at + timedelta(hours=1))
    assert verdict.ok, verdict.reason
    assert row.key_id == current_key(db, owner.id, KeyPurpose.SIGNING).key_id


def test_a_revocation_recorded_by_a_request_older_than_a_rotation_verifies(db, keys, clock):
    """Before: the same for a revocation. Its document, handed to partners and printed for
    the survivor, does not verify ("signed before the signing key existed"); the portal
    still stops the release (it fails closed), but the survivor's signed revocation is no
    proof of anything on another node."""
    owner, witness, row = _draft(db, keys, clock())
    _sign(db, row, witness, keys, clock())
    request_started = clock() + timedelta(days=1)
    rotated_at = request_started + timedelta(milliseconds=20)
    agency_keys.rotate_signing_key(db, owner, keys=keys, actor=None, at=rotated_at)
    signed = releases.revoke(
        db, row, reason="client asked", actor=witness, keys=keys, at=request_started
    )
    db.flush()
    verdict = consent.verify_revocation(
        signed.to_dict(), releases.keyring(db), at=rotated_at + timedelta(hours=1)
    )
    assert verdict.ok, verdict.reason


def test_after_the_coordinator_rotates_its_key_no_roster_names_the_old_key_current(db, keys, clock):
    """Before: the coordinating agency rotates its signing key (`portal keys rotate`, say
    because the old one may have leaked, ops/README §5), then signs the next roster, as
    ops/README §7 says. `membership.sign_roster` signs it with the old key, which every
    node trusts (a handover), and so names the old key *current* in it, beside the new
    one: every node that imports it trusts the retired key as the coordinator's again
    (`transport.current_key_of`), for every signed request and answer, until yet another
    roster is signed, which nothing asks for. Whoever holds the leaked key may ask every
    partner's disclosure point as the coordinator. The same roster made with a partner's
    old key current is refused (`membership._apply`)."""
    from portal.federation import membership, transport
    from portal.federation import roster as rosters

    from federation_helpers import elsewhere

    coordinator = make.agency(db, keys, name="Handover CAC (synthetic)")
    police = elsewhere("Handover Police Unit (synthetic)")
    entries = membership.entries_json([police.member])
    node = "http://127.0.0.1:9100"
    membership.sign_roster(db, coordinator, entries, node=node, keys=keys, at=clock())
    old = current_key(db, coordinator.id, KeyPurpose.SIGNING).key_id
    clock.advance(minutes=5)
    agency_keys.rotate_signing_key(db, coordinator, keys=keys, actor=None, at=clock())
    clock.advance(minutes=5)
    handed_over = membership.sign_roster(db, coordinator, entries, node=node, keys=keys, at=clock())
    assert transport.current_key_of(handed_over.roster, old) is None, (
        f"the roster every node imports next names the coordinator's retired key {old} "
        "as current: requests signed with it are accepted as the coordinator's"
    )
    # Every node holding the roster before takes it (signed with the key it trusts), and
    # this node holds it; the next roster is signed with the new key, which a node joining
    # the MDT pins.
    assert handed_over.key_id == old
    assert membership.held(db)[1].version == handed_over.roster.version
    new = current_key(db, coordinator.id, KeyPurpose.SIGNING).key_id
    clock.advance(minutes=5)
    following = membership.sign_roster(db, coordinator, entries, node=node, keys=keys, at=clock())
    assert following.key_id == new
    envelope = json.loads(following.to_json())
    assert set(rosters.pinned_key(envelope, new)) == {new}


# -- the secrets file, made --------------------------------------------------------------


def test_a_new_secrets_file_is_on_disk_before_any_key_is_wrapped_under_it(tmp_path, monkeypatch):
    """Before: `portal init` (and the demo, and the first start of a node) makes the
    secrets file with a plain write, never flushed to disk, then wraps the agency's keys
    under its KEK and commits them, which the database does flush. A power cut in the next
    seconds leaves the database holding the agency's keys and the file empty or missing:
    "Losing the KEK loses every agency's keys" (ops/README §2). A rotation writes the file
    with fsync (`kek._replace`); its making did not."""
    import os
    import stat

    from portal.settings import load_secrets

    path = tmp_path / "etc" / "secrets.json"
    synced: list[str] = []
    fsync = os.fsync

    def noted(fd):
        target = os.readlink(f"/proc/self/fd/{fd}")
        kind = "folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"
        synced.append(f"{kind}:{target}")
        return fsync(fd)

    monkeypatch.setattr(os, "fsync", noted)
    made = load_secrets({}, path, create=True)
    assert path.exists() and json.loads(path.read_text())["key_encryption_key"] == str(
        made.key_encryption_key
    )
    assert any(s.startswith("file:") for s in synced), "the new file's content was never synced"
    assert f"folder:{path.parent}" in synced, "the folder naming the new file was never synced"


def test_two_processes_making_the_secrets_file_at_once_share_one_kek(tmp_path, monkeypatch):
    """Before: the file is created empty (O_EXCL) and then written. A second process
    starting meanwhile (two `portal` commands on a new node) finds it there and reads it
    empty: "is not a portal secrets file (it is not JSON)"; or, between its check and its
    own create, fails with FileExistsError. It should read the first one's keys."""
    from portal import settings as settings_module

    path = tmp_path / "secrets.json"
    writing, read = threading.Event(), threading.Event()
    dump = json.dump
    first = threading.local()

    def slow_dump(values, handle, *args, **kwargs):
        if getattr(first, "pause", False):
            writing.set()
            read.wait(2)  # the second process's whole start, before the fix
        return dump(values, handle, *args, **kwargs)

    monkeypatch.setattr(settings_module.json, "dump", slow_dump)
    found: dict[str, object] = {}

    def start(name: str) -> None:
        first.pause = name == "first"
        try:
            if name == "second":
                assert writing.wait(5), "the first process never wrote"
            found[name] = str(
                settings_module.load_secrets({}, path, create=True).key_encryption_key
            )
        except Exception as error:
            found[name] = error
        finally:
            if name == "second":
                read.set()

    threads = [threading.Thread(target=start, args=(n,)) for n in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert isinstance(found["second"], str), f"the second process: {found['second']!r}"
    assert found["first"] == found["second"]


# -- one agency's damaged key ------------------------------------------------------------


def test_an_agency_whose_data_key_does_not_open_hides_no_other_agencys_records(db, node_secrets):
    """Before: a case summary reads every sealed record of the case at once, and the
    first section opened unwraps the data keys of *every* record read (`sealed._secret`),
    every agency's. One agency's key that opens under no KEK given (damaged, or left under
    a KEK the node no longer has) raised in that loop: another agency's own records,
    whose key is sound, were withheld as "cannot be opened ... moved or damaged", its own
    staff and its partners told to restore what nothing had touched."""
    from disclosure_helpers import world, write
    from sqlalchemy import update

    from portal.disclosure import Released
    from portal.disclosure.point import disclose_sections
    from portal.models import AgencyKey
    from portal.services import sections

    keys = KeyWrapper(node_secrets.kek_bytes())
    w = world(db, keys)  # the owner's agency is made first: its key is read first
    write(db, keys, w, "medical", {"follow_up": "SYNTHETIC-OWNER-NOTE"})
    partner_staff = w.partner_staff
    sections.save_section(
        db,
        w.partner_client,
        "care_plan",
        {"goals": "SYNTHETIC-PARTNER-GOALS"},
        actor=partner_staff,
        keys=keys,
        at=make.AT,
    )
    damaged = current_key(db, w.owner.id, KeyPurpose.DATA)
    db.execute(
        update(AgencyKey)
        .where(AgencyKey.id == damaged.id)
        .values(wrapped_secret=b"\x00" * len(damaged.wrapped_secret))
    )
    db.flush()
    db.expire_all()
    fresh = KeyWrapper(node_secrets.kek_bytes())  # a process that has opened nothing yet
    (care_plan,) = disclose_sections(
        db,
        _own(w),
        w.case,
        w.partner,
        ["care_plan"],
        make.AT + timedelta(hours=1),
        tz=UTC,
        keys=fresh,
    )
    assert isinstance(care_plan, Released), care_plan
    assert "SYNTHETIC-PARTNER-GOALS" in repr(care_plan)


def _own(w):
    """The partner's own case manager, reading her own agency's record of the client."""
    from disclosure_helpers import Viewer

    return Viewer(w.partner_staff, w.partner, frozenset({Role.CASE_MANAGER.value}))


# -- the pages and the command line ----------------------------------------------------


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
    capsys.readouterr()
    entry = ["roster", "entry", "--node", "http://127.0.0.1:9100", "--mou-signed", "2026-01-15"]
    assert cli.main([*entry, "--review-due", "2027-01-15"]) == 0
    members = tmp_path / "members.json"
    members.write_text(capsys.readouterr().out)  # this node's agencies, as members
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
