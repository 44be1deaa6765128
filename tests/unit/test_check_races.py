"""Checks that two requests at once both passed: each save checks a rule (not signed yet,
not revoked yet, not in an open case yet) and then writes, and two at once both checked
before either wrote, so both wrote. Each runs on each database with commits that really
happen, in two threads: the first pauses just after its check while the second does its
whole save. Synthetic data only."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlmodel import Session, func, select
from test_releases import SIGNER, _draft

import consent
from portal.audit import AuditTag
from portal.crypto import KeyWrapper
from portal.db import unit_of_work
from portal.errors import Conflict
from portal.models import AuditEntry, ConsentRelease, ReleaseRevocation, StaffUser
from portal.services import releases

import factories as make
from databases import BACKENDS, migrated_engine

# How long the first save waits, after its check, for the second's whole save: a fraction
# of this when nothing holds the second back, so before the fixes it was done within it.
PAUSE_SECONDS = 2.0


@pytest.fixture(params=BACKENDS)
def committed_engine(request, tmp_path):
    with migrated_engine(request.param, tmp_path, pool_size=4) as engine:
        yield engine


def at_once(engine, monkeypatch, module, check: str, save: Callable[[Session, int], object]):
    """Run `save(db, number)` for 0 and 1 at once, each in a unit of work of its own; the
    first pauses just after `module.check` answered it, until the second is done. Returns
    how each ended, sorted: "saved", "refused" (a Conflict) or the error."""
    checked, second_done = threading.Event(), threading.Event()
    first = threading.local()
    original = getattr(module, check)

    def pausing_check(*args, **kwargs):
        answer = original(*args, **kwargs)
        if getattr(first, "pause", False):  # the first save's thread only, once
            first.pause = False
            checked.set()
            second_done.wait(PAUSE_SECONDS)
        return answer

    monkeypatch.setattr(module, check, pausing_check)
    outcomes: list[str] = []

    def run(number: int) -> None:
        first.pause = number == 0
        try:
            if number == 1:
                assert checked.wait(10), "the first save never checked"
            with unit_of_work(engine) as db:
                save(db, number)
            outcomes.append("saved")
        except Conflict:
            outcomes.append("refused")
        except BaseException as error:
            outcomes.append(repr(error))
        finally:
            if number == 1:
                second_done.set()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return sorted(outcomes)


def _audited(engine, tag: AuditTag, subject: str) -> int:
    with Session(engine) as db:
        return db.exec(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.tag == tag.value, AuditEntry.subject == subject)
        ).one()


def _sign(db: Session, row: ConsentRelease, witness, keys, at) -> None:
    releases.sign(
        db,
        row,
        signer=SIGNER,
        second_signer=None,
        method=consent.SignatureMethod.TYPED,
        actor=witness,
        keys=keys,
        at=at,
    )


@pytest.fixture
def draft(committed_engine, node_secrets):
    keys = KeyWrapper(node_secrets.kek_bytes())
    with unit_of_work(committed_engine) as db:
        *_, witness, row = _draft(db, keys)
        return row.id, witness.id, keys


def test_a_release_signed_twice_at_once_is_signed_once(committed_engine, draft, monkeypatch):
    """Before: both signed the draft; the second's recipients clashed with the first's
    (an error page), or, had they not, it was signed twice with two log entries."""
    release_id, witness_id, keys = draft

    def sign(db: Session, number: int) -> None:
        row, witness = db.get(ConsentRelease, release_id), db.get(StaffUser, witness_id)
        _sign(db, row, witness, keys, _later(number))

    outcomes = at_once(committed_engine, monkeypatch, releases, "draft_document", sign)
    assert outcomes == ["refused", "saved"]
    with Session(committed_engine) as db:
        public_id = db.get(ConsentRelease, release_id).public_id
    assert _audited(committed_engine, AuditTag.RELEASE_SIGNED, public_id) == 1


def test_a_release_revoked_twice_at_once_is_revoked_once(committed_engine, draft, monkeypatch):
    """Before: two revocations of one release, and two entries in the agency's log."""
    release_id, witness_id, keys = draft
    with unit_of_work(committed_engine) as db:
        row, witness = db.get(ConsentRelease, release_id), db.get(StaffUser, witness_id)
        _sign(db, row, witness, keys, _later(0))

    def revoke(db: Session, number: int) -> None:
        row, witness = db.get(ConsentRelease, release_id), db.get(StaffUser, witness_id)
        releases.revoke(db, row, reason=None, actor=witness, keys=keys, at=_later(1 + number))

    outcomes = at_once(committed_engine, monkeypatch, releases, "revocations", revoke)
    assert outcomes == ["refused", "saved"]
    with Session(committed_engine) as db:
        public_id = db.get(ConsentRelease, release_id).public_id
        revocations = db.exec(
            select(ReleaseRevocation.id).where(ReleaseRevocation.release_id == release_id)
        ).all()
    assert len(revocations) == 1
    assert _audited(committed_engine, AuditTag.RELEASE_REVOKED, public_id) == 1


def test_a_draft_signed_and_discarded_at_once_is_one_or_the_other(
    committed_engine, draft, monkeypatch
):
    """Before: the draft was signed while it was discarded, and both said they were done."""
    release_id, witness_id, keys = draft

    def sign_or_discard(db: Session, number: int) -> None:
        row, witness = db.get(ConsentRelease, release_id), db.get(StaffUser, witness_id)
        if number == 0:
            _sign(db, row, witness, keys, _later(0))
        else:
            releases.discard(db, row, actor=witness, at=_later(1))

    outcomes = at_once(committed_engine, monkeypatch, releases, "draft_document", sign_or_discard)
    assert outcomes == ["refused", "saved"]


def _later(minutes: int):
    return make.AT + timedelta(minutes=minutes)
