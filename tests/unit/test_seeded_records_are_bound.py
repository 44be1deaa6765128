"""What the demo and the benchmark build is sealed for its place, as the portal seals it:
nothing sealed the old way (the agency's key alone), so both work on a node with
PORTAL_SEALED_BOUND_ONLY set. Synthetic data only."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime

from sqlmodel import select

from portal import crypto
from portal.bench import disclosure as bench
from portal.crypto import KeyWrapper
from portal.demo import seed as demo
from portal.models import Client, SectionEntry
from portal.services import clients, reseal, section_versions
from portal.services.keys import data_secret

AT = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)


def _not_bound(db, keys) -> list[tuple[str, int]]:
    """Every sealed record, of every kind `portal keys reseal` knows, not sealed for its
    place: (kind, row id)."""
    found = []
    for kind in reseal.KINDS:
        for row_id, agency_id, key_id, sealed, *parts in db.exec(kind.rows()).all():
            _, secret = data_secret(db, agency_id, keys=keys, key_id=key_id)
            places = kind.places(row_id, agency_id, *parts)
            if crypto.open_unbound(secret, sealed) is not None or not crypto.opens_bound(
                secret, sealed, places
            ):
                found.append((kind.name, row_id))
    return found


def _every_identity_and_section_opens(db, bound_only: KeyWrapper) -> int:
    opened = 0
    for client in db.exec(select(Client)).all():
        assert clients.reveal_identity(db, client, keys=bound_only).given_name
        opened += 1
    for entry in db.exec(select(SectionEntry)).all():
        section_versions.open_content(db, entry, keys=bound_only)
        opened += 1
    return opened


def test_the_demo_seed_seals_every_record_for_its_place(db, keys, node_secrets):
    demo.seed(db, keys=keys, at=AT, today=date(2026, 11, 2), rng=random.Random(2026))
    db.flush()
    assert _not_bound(db, keys) == []
    bound_only = KeyWrapper(node_secrets.kek_bytes(), bound_only=True)
    assert _every_identity_and_section_opens(db, bound_only) > 0


def test_the_disclosure_benchmarks_bulk_rows_are_sealed_for_their_place(db, keys, node_secrets):
    bench.build(db, keys, cases_n=4, agencies_n=8, audit_n=10, rng=random.Random(5))
    db.flush()
    assert db.exec(select(Client).where(Client.reference.like("B-%"))).first() is not None
    assert _not_bound(db, keys) == []
    bound_only = KeyWrapper(node_secrets.kek_bytes(), bound_only=True)
    assert _every_identity_and_section_opens(db, bound_only) > 0
