"""A page that asks several owners' points in turn never takes an audit log behind one it
already holds. Its answers commit owner by owner (`case_records.write_sides`), but its
own agency's log could be held from an entry written before (its own staff's reads): the
next owner's log was then taken behind it. Two people opening case pages at once, one in
each of two agencies, each held their own log and waited for the other's: on PostgreSQL
one of them was aborted as a deadlock and told to try again.

The order is checked as it is taken (`lock_logs` keeps ascending agency ids): a deadlock
needs a second request at the right moment, the order only this one.
Synthetic, obviously fictional data only."""

from __future__ import annotations

import pytest
from test_screening_pages import _minor_screened_and_reported

from portal.audit import chain
from portal.models import Role

import factories as make
from team_helpers import Team


@pytest.fixture
def taken_behind(monkeypatch) -> list[tuple[int, list[int]]]:
    """Each log head locked while the transaction held one of a higher agency id."""
    found: list[tuple[int, list[int]]] = []
    lock_head = chain.lock_head

    def in_order(db, agency_id):
        held = db.info.get(chain._HEADS, {})
        if agency_id is not None and agency_id not in held:
            higher = sorted(h for h in held if h is not None and h > agency_id)
            if higher:
                found.append((agency_id, higher))
        return lock_head(db, agency_id)

    monkeypatch.setattr(chain, "lock_head", in_order)
    return found


def test_a_case_page_takes_each_owners_log_in_order(client, db, keys, clock, taken_behind):
    team = Team(db, keys, birth=make.MINOR_BIRTH)
    r_staff = team.staff[team.r.id]
    _minor_screened_and_reported(
        db, keys, clock, team.r, r_staff, team.clients[team.r.id], "LE-2026-777004"
    )
    viewers = (make.user(db, team.a, Role.ADVOCATE), r_staff)
    del taken_behind[:]  # the setup's own writes are one transaction of the test's
    for viewer in viewers:
        client.cookies.clear()
        make.login(client, viewer.username)
        assert client.get(f"/cases/{team.case.public_id}").status_code == 200
        assert taken_behind == [], viewer.username
