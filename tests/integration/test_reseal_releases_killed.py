"""`portal keys reseal --batch 1` over releases and revocations kept in clear (written before
their documents were sealed), killed with SIGKILL part-way: each row is either still in
clear or sealed for its place, never half-written, every document as it was; a second run
seals the rest, and then no signer's name is left in any column. SQLite, in a process of
its own. Synthetic data only."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, or_, update
from sqlmodel import func, select
from test_reseal_cli import node  # noqa: F401 - a fixture

import consent
from portal.cli import main as cli
from portal.db import unit_of_work
from portal.disclosure.sealed_releases import release_text, revocation_text
from portal.models import ConsentRelease, ReleaseRevocation, Role
from portal.services import releases

import factories as make
from killed_helpers import kill_part_way

# 240 records, a release and its revocation each: the re-seal must still be running when
# the watcher has seen five sealed and kills it. With 60 it sealed the rest in under 0.2 s,
# which a watcher slowed by a loaded machine could miss.
RELEASES = 120
SIGNER = consent.Signer("Robin Killtest", consent.Capacity.SELF)


def _kept_in_clear(node) -> None:  # noqa: F811
    """Releases, each revoked, as a node holds those written before the seal."""
    engine, keys = node
    with unit_of_work(engine) as db:
        owner = make.agency(db, keys)
        partner = make.agency(db, keys, name="Partner (synthetic)")
        staff = make.user(db, owner, Role.ADVOCATE)
        client = make.client_record(db, owner, keys)
        for _ in range(RELEASES):
            row = releases.draft_release(
                db,
                client,
                recipients=[partner.public_id],
                sections=["safety_plan"],
                purpose="mdt_case_review",
                effective_at=make.AT,
                expiry=consent.DateExpiry(make.AT + timedelta(days=90)),
                keys=keys,
                language="en",
                actor=staff,
                at=make.AT,
            )
            releases.sign(
                db,
                row,
                signer=SIGNER,
                second_signer=None,
                method=consent.SignatureMethod.TYPED,
                actor=staff,
                keys=keys,
                at=make.AT,
            )
            releases.revoke(
                db, row, reason="Asked by Robin Killtest.", actor=staff, keys=keys, at=make.AT
            )
        db.flush()
        for row in db.exec(select(ConsentRelease)).all():
            for revocation in db.exec(
                select(ReleaseRevocation).where(ReleaseRevocation.release_id == row.id)
            ).all():
                text = revocation_text(db, revocation, row, keys=keys)
                db.execute(
                    update(ReleaseRevocation)
                    .where(ReleaseRevocation.id == revocation.id)
                    .values(document=text, document_sealed=None, data_key_id=None)
                )
            text = release_text(db, row, keys=keys)
            db.execute(
                update(ConsentRelease)
                .where(ConsentRelease.id == row.id)
                .values(document=text, document_sealed=None, data_key_id=None)
            )


def _documents(engine, keys) -> tuple[dict, int]:
    """Every document as it reads, and how many rows are sealed; a row half-written (both
    forms, or neither) fails here."""
    found, sealed = {}, 0
    with unit_of_work(engine) as db:
        for row in db.exec(select(ConsentRelease)).all():
            assert (row.document_sealed is None) == (row.document != ""), row.id
            sealed += row.document_sealed is not None
            found["release", row.id] = release_text(db, row, keys=keys)
            for revocation in db.exec(
                select(ReleaseRevocation).where(ReleaseRevocation.release_id == row.id)
            ).all():
                assert (revocation.document_sealed is None) == (revocation.document != "")
                sealed += revocation.document_sealed is not None
                found["revocation", revocation.id] = revocation_text(db, revocation, row, keys=keys)
    return found, sealed


def _sealed(engine) -> int:
    """How many rows are sealed, asked while the re-seal runs, and none half-written: one
    query a table, where opening every document (`_documents`) took a good part of the
    time the re-seal had left."""
    sealed = 0
    with unit_of_work(engine) as db:
        for table in (ConsentRelease, ReleaseRevocation):
            in_clear = table.document != ""
            both_or_neither = or_(
                and_(table.document_sealed.is_(None), ~in_clear),
                and_(table.document_sealed.is_not(None), in_clear),
            )
            counted = select(
                func.count(table.document_sealed), func.count().filter(both_or_neither)
            )
            found, half_written = db.exec(counted).one()
            assert half_written == 0, table.__tablename__
            sealed += found
    return sealed


def test_a_reseal_of_releases_killed_part_way_loses_nothing_and_a_second_run_finishes(
    node,  # noqa: F811
    tmp_path,
    monkeypatch,
    capsys,
):
    engine, keys = node
    monkeypatch.setenv("PORTAL_AUDIT_JOURNAL", str(tmp_path / "journal.jsonl"))
    _kept_in_clear(node)
    before, sealed = _documents(engine, keys)
    assert sealed == 0 and len(before) == 2 * RELEASES
    kill_part_way(tmp_path, ["keys", "reseal", "--batch", "1"], lambda: _sealed(engine) >= 5)

    part_way, sealed = _documents(engine, keys)
    assert part_way == before and 0 < sealed < 2 * RELEASES  # stopped part-way, nothing lost

    capsys.readouterr()
    assert cli.main(["keys", "reseal", "--batch", "7"]) == 0
    out = capsys.readouterr().out
    assert "kept in clear until now, sealed" in out
    after, sealed = _documents(engine, keys)
    assert after == before and sealed == 2 * RELEASES
    with unit_of_work(engine) as db:
        stored = [
            str(value)
            for table in (ConsentRelease, ReleaseRevocation)
            for row in db.exec(select(*table.__table__.columns)).all()
            for value in row
        ]
    assert not any("Killtest" in value for value in stored)
