"""A page that asks several owners' points in turn never takes an audit log behind one it
already holds. Its answers commit owner by owner (`case_records.write_sides`), but its
own agency's log could be held from an entry written before (its own staff's reads): the
next owner's log was then taken behind it. Two people opening case pages at once, one in
each of two agencies, each held their own log and waited for the other's: on PostgreSQL
one of them was aborted as a deadlock and told to try again.

The order is checked as it is taken (conftest's `audit_logs_locked_in_order`, in every
test): a deadlock needs a second request at the right moment, the order only this one.
Synthetic, obviously fictional data only."""

from __future__ import annotations

from test_screening_pages import _minor_screened_and_reported

from portal.models import Role

import factories as make
from team_helpers import Team


def test_a_case_page_takes_each_owners_log_in_order(
    client, db, keys, clock, audit_logs_locked_in_order
):
    team = Team(db, keys, birth=make.MINOR_BIRTH)
    r_staff = team.staff[team.r.id]
    _minor_screened_and_reported(
        db, keys, clock, team.r, r_staff, team.clients[team.r.id], "LE-2026-777004"
    )
    viewers = (make.user(db, team.a, Role.ADVOCATE), r_staff)
    for viewer in viewers:
        client.cookies.clear()
        make.login(client, viewer.username)
        assert client.get(f"/cases/{team.case.public_id}").status_code == 200
        assert audit_logs_locked_in_order == [], viewer.username
