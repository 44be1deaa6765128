"""`portal keys reseal --batch 1` killed with SIGKILL part-way (the machine's power cut, the
operator's kill -9): nothing is lost, and a second run finishes: every record then opens
for its place only, its content unchanged, and the log counts each record re-sealed once.
SQLite, in a process of its own. Synthetic data only."""

from __future__ import annotations

import json
import os

from sqlmodel import func, select
from test_reseal_cli import _sealed_the_old_way, node  # noqa: F401 - a fixture

from portal import crypto
from portal.audit import AuditTag
from portal.cli import main as cli
from portal.db import unit_of_work
from portal.models import AuditEntry, Client, SectionEntry
from portal.models.client import identity_sealed_for
from portal.models.section import sealed_places
from portal.services import clients, section_versions
from portal.services.keys import data_secret
from portal.settings import from_environment

from killed_helpers import kill_part_way

NAMES = [f"Robin{number}" for number in range(120)]  # 240 records: 120 clients, a version each


def _forms(engine, keys) -> tuple[int, int]:
    """(records sealed for their place, records sealed the old way)."""
    bound = old = 0
    with unit_of_work(engine) as db:
        for client in db.exec(select(Client)).all():
            _, secret = data_secret(db, client.agency_id, keys=keys, key_id=client.key_id)
            place = (identity_sealed_for(client.agency_id, client.id),)
            if crypto.opens_bound(secret, client.identity_sealed, place):
                bound += 1
            elif crypto.open_unbound(secret, client.identity_sealed) is not None:
                old += 1
        for entry in db.exec(select(SectionEntry)).all():
            _, secret = data_secret(db, entry.agency_id, keys=keys, key_id=entry.key_id)
            places = sealed_places(entry.agency_id, entry.client_id, entry.section_key, 1)
            if crypto.opens_bound(secret, entry.content_sealed, places):
                bound += 1
            elif crypto.open_unbound(secret, entry.content_sealed) is not None:
                old += 1
    return bound, old


def _batches(engine) -> int:
    """How many batches the re-seal has committed (an entry in the log each). Asked while it
    runs: one query, where opening every record (`_forms`) took long enough for the whole
    re-seal to end before the kill (a flaky failure: 240 of 240 resealed)."""
    with unit_of_work(engine) as db:
        return db.exec(select(func.count()).where(AuditEntry.tag == AuditTag.KEY_RESEALED)).one()


def _contents(engine, keys) -> dict:
    with unit_of_work(engine) as db:
        return {
            client.reference: (
                clients.reveal_identity(db, client, keys=keys).to_dict(),
                section_versions.open_content(
                    db, section_versions.latest(db, client, "safety_plan"), keys=keys
                ),
            )
            for client in db.exec(select(Client)).all()
        }


def test_a_reseal_killed_part_way_loses_nothing_and_a_second_run_finishes(
    node,  # noqa: F811 - the fixture imported above
    tmp_path,
    monkeypatch,
):
    engine, keys = node
    monkeypatch.setenv("PORTAL_AUDIT_JOURNAL", str(tmp_path / "journal.jsonl"))
    _sealed_the_old_way(node, NAMES)
    total = 2 * len(NAMES)
    assert _forms(engine, keys) == (0, total)
    before = _contents(engine, keys)

    kill_part_way(tmp_path, ["keys", "reseal", "--batch", "1"], lambda: _batches(engine) >= 10)

    bound, old = _forms(engine, keys)
    assert bound + old == total and 0 < old < total  # stopped part-way; nothing broken
    assert _contents(engine, keys) == before  # both forms open, each as it was

    assert cli.main(["keys", "reseal", "--batch", "7"]) == 0
    assert _forms(engine, keys) == (total, 0)
    bound_only = from_environment({**os.environ, "PORTAL_SEALED_BOUND_ONLY": "1"}).key_wrapper()
    assert _contents(engine, bound_only) == before
    with unit_of_work(engine) as db:
        entries = db.exec(
            select(AuditEntry.detail).where(AuditEntry.tag == AuditTag.KEY_RESEALED)
        ).all()
    assert sum(json.loads(detail)["resealed"] for detail in entries) == total
