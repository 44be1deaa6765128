"""An agency only named on a case (its link not confirmed) is not a part of it: the
disclosure point tells it nothing of another owner's client, even under a release that
names it, as it already tells it nothing of the case's own records (test_one_door)."""

from datetime import UTC, timedelta

from disclosure_helpers import SECRET_NOTE, Viewer, release, world, write

from portal.disclosure import disclose
from portal.disclosure.point import NOT_LINKED
from portal.models import Role
from portal.services import cases

import factories as make

LATER = make.AT + timedelta(hours=1)


def test_an_agency_named_but_not_confirmed_on_the_case_reads_no_client_section(db, keys):
    w = world(db, keys)
    write(db, keys, w, "medical", {"exam_done": "completed", "follow_up": SECRET_NOTE})
    invited = make.agency(db, keys)
    invited_staff = make.user(db, invited, Role.CASE_MANAGER)
    # Named on the case by the coordinator; the invited agency has confirmed nothing.
    cases.link_client(db, w.case, invited, None, actor=None, at=make.AT, confirmed=False)
    # A release of the owner's client that names the invited agency (for another purpose
    # of their work together, or signed before the case): it does not make it a part.
    release(db, keys, w, ["medical"], recipients=[invited.public_id])
    db.flush()
    requester = Viewer(invited_staff, invited, frozenset({Role.CASE_MANAGER.value}))
    decision = disclose(
        db,
        requester.asking("mdt_case_review"),
        w.case,
        w.owner,
        "medical",
        LATER,
        tz=UTC,
        keys=keys,
    )
    assert decision.decision == "withheld" and decision.gate == NOT_LINKED, decision
