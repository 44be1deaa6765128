"""Resuming a web session: what a page view reads and what it leaves changed."""

from datetime import timedelta

from portal.auth import sessions
from portal.auth.sessions import Stage
from portal.models import Role

import factories as make

IDLE, ABSOLUTE = timedelta(minutes=30), timedelta(hours=12)


def _resumed(db, keys, *roles):
    agency = make.agency(db, keys)
    user = make.user(db, agency, *roles)
    token, _ = sessions.begin(db, user, stage=Stage.FULL, at=make.AT, address=None, user_agent=None)
    db.commit()
    db.expire_all()
    return sessions.resume(
        db, token, at=make.AT + timedelta(seconds=5), idle=IDLE, absolute=ABSOLUTE
    )


def test_the_viewer_comes_back_with_every_role(db, keys):
    viewer = _resumed(db, keys, Role.CASE_MANAGER, Role.AGENCY_LEAD)
    assert viewer.roles == {Role.CASE_MANAGER.value, Role.AGENCY_LEAD.value}


def test_a_page_view_without_messages_leaves_the_session_unchanged(db, keys):
    # Marking it changed for nothing made every later query of the request run a flush.
    viewer = _resumed(db, keys, Role.ADVOCATE)
    assert sessions.pop_flash(viewer.session) == []
    assert viewer.session not in db.dirty


def test_messages_are_shown_once(db, keys):
    viewer = _resumed(db, keys, Role.ADVOCATE)
    sessions.push_flash(viewer.session, "Saved.")
    assert sessions.pop_flash(viewer.session) == [{"kind": "info", "message": "Saved."}]
    assert sessions.pop_flash(viewer.session) == []
