"""The demo's node administrator, as DESIGN.md has them: they run the node and never
receive survivor information, by any path, so the demo's data never shows them writing it."""

import random
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlmodel import select

from portal.demo import seed as demo
from portal.models import AuditEntry, CompelledDisclosure, Role, StaffRole, StaffUser
from portal.models.screening import MandatedReport

AT = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
NY = ZoneInfo("America/New_York")
# Tags of entries that write or read what a survivor told an agency.
SURVIVOR_TAGS = ("record:", "consent:", "disclosure:")


def test_the_demo_never_has_the_administrator_write_a_survivors_records(db, keys):
    """Before: the demo's screenings, sections, releases and mandated report (a compelled
    disclosure in the client's accounting) were written by the first staff account of the
    advocacy center, which is the node's administrator: the accounting of disclosures and
    the log named the administrator as having made a report about a child."""
    demo.seed(
        db, keys=keys, at=AT, today=date(2026, 11, 2), case_count=4, rng=random.Random(3), tz=NY
    )
    administrators = db.exec(
        select(StaffUser)
        .join(StaffRole, StaffRole.user_id == StaffUser.id)
        .where(StaffRole.role == Role.ADMINISTRATOR)
    ).all()
    assert administrators, "the demo has a node administrator"
    refs = [a.public_id for a in administrators]
    ids = [a.id for a in administrators]
    written = db.exec(select(AuditEntry).where(AuditEntry.actor_user_ref.in_(refs))).all()
    survivor_entries = sorted({e.tag for e in written if e.tag.startswith(SURVIVOR_TAGS)})
    assert survivor_entries == [], f"the administrator wrote {survivor_entries}"
    assert not db.exec(
        select(MandatedReport).where(
            MandatedReport.made_by_id.in_(ids) | MandatedReport.recorded_by_id.in_(ids)
        )
    ).all()
    compelled = db.exec(select(CompelledDisclosure)).all()
    assert compelled, "the demo records compelled disclosures"
    assert not [c for c in compelled if c.recorded_by_id in ids]
