"""Two notices of a case's participants reaching an owner's node at once (a link confirmed
and an owed notice told again, say): each read the case's links before either wrote, both
added the link of the agency newly listed, and the second met the unique key of
(case, agency): a 500 on the owner's node (seen in a CI run's node log on PostgreSQL). Two
nodes in this process, each its own database (on each backend); the first notice pauses
just after reading the links, as in test_check_races.py. Synthetic data only."""

from __future__ import annotations

from sqlmodel import Session, select
from test_check_races import at_once
from test_remote_link_races import ask_clinic, two_nodes  # noqa: F401 (the fixture)

from portal.db import unit_of_work
from portal.federation import owner
from portal.models import CaseLink, MdtCase

import federation_world as fw


def test_a_participant_listed_by_two_notices_at_once_is_linked_once(two_nodes, monkeypatch):  # noqa: F811
    world, engine, _federation, case_id = two_nodes
    with unit_of_work(engine) as db:
        assert ask_clinic(db, two_nodes)
        reference = db.get(MdtCase, case_id).reference
    # On the clinic's node (B), the case as mirrored there: child welfare (node C) joins.
    clinic_node = world.b.engine()
    try:
        with Session(clinic_node) as db:
            listed = [
                fw.agency_named(db, name).public_id for name in (fw.CAC, fw.CLINIC, fw.WELFARE)
            ]

        def told(db: Session, _number: int) -> None:
            mirrored = db.exec(select(MdtCase).where(MdtCase.reference == reference)).one()
            owner._participants(
                db, mirrored, listed, at=fw.now(), coordinator=fw.agency_named(db, fw.CAC)
            )

        outcomes = at_once(clinic_node, monkeypatch, owner, "_links_of", told)
        assert outcomes == ["saved", "saved"], outcomes
        with Session(clinic_node) as db:
            mirrored = db.exec(select(MdtCase).where(MdtCase.reference == reference)).one()
            welfare = fw.agency_named(db, fw.WELFARE)
            joined = db.exec(
                select(CaseLink).where(
                    CaseLink.case_id == mirrored.id, CaseLink.agency_id == welfare.id
                )
            ).all()
        assert len(joined) == 1
    finally:
        clinic_node.dispose()
