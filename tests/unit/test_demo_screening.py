"""The demo seeds what issue 20 asks to be seen (the README says where to look)."""

import random
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlmodel import select

from portal.demo import seed as demo
from portal.models import Role
from portal.models.screening import MandatedReport, Screening
from portal.requester import Requester
from portal.screening_tools import catalogue
from portal.services import screening_panel

AT = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
NY = ZoneInfo("America/New_York")


def test_the_demo_has_every_band_an_overdue_risk_screen_a_move_and_a_report(db, keys):
    by_key = demo.seed(
        db, keys=keys, at=AT, today=date(2026, 11, 2), case_count=4, rng=random.Random(3), tz=NY
    )
    seen = set(db.exec(select(Screening.tool_key, Screening.band)).all())
    assert seen == {(t.key, b.key) for t in catalogue().tools for b in t.bands}
    panel = screening_panel.screening_panel(
        db,
        by_key["cac"],
        requester=Requester.of(None, by_key["cac"], {Role.MDT_COORDINATOR}),
        now=AT,
        tz=NY,
        today=AT.astimezone(NY).date(),
    )
    assert panel.clock_counts.overdue >= 1
    # A move, which the coordinator (kept from where survivors live) reads only as due.
    assert any(row.move_withheld and row.moved_at is None for row in panel.reviews)
    assert panel.drafts_total == 1 and panel.minors_total >= 1
    assert len(db.exec(select(MandatedReport)).all()) == 1 and panel.reports_recent == 1


def test_the_demo_has_partners_minors_referred_under_each_gate_and_one_withheld(db, keys):
    from portal.demo.screening import REFERRAL_CITATION
    from portal.models import Role, StaffUser
    from portal.requester import Requester
    from portal.services import referrals

    by_key = demo.seed(
        db, keys=keys, at=AT, today=date(2026, 11, 2), case_count=4, rng=random.Random(3), tz=NY
    )
    cac = by_key["cac"]
    coordinator = db.exec(select(StaffUser).where(StaffUser.username == "coordinator")).one()
    found = referrals.ask_here(
        db,
        Requester.of(coordinator, cac, {Role.MDT_COORDINATOR.value}),
        referrals.partners_here(db, cac),
        coordinating=cac.public_id,
        at=AT,
        tz=UTC,
        age_of_majority=18,
        keys=keys,
    )
    shelter, welfare = found[by_key["shelter"].public_id], found[by_key["cw"].public_id]
    assert [(r.client_reference, r.legal_basis) for r in shelter.referrals] == [
        ("LAN-SCR-01", None)
    ]
    assert shelter.referrals[0].release_ref is not None
    assert [(w.gate, w.count) for w in shelter.withheld] == [("no_consent", 1)]
    assert [r.client_reference for r in welfare.referrals] == ["HAR-SCR-01"]
    assert REFERRAL_CITATION in welfare.referrals[0].legal_basis
    others = [
        a
        for key, a in found.items()
        if key not in (shelter.owner.public_id, welfare.owner.public_id)
    ]
    assert all(a.count == 0 and a.refused is None for a in others)
