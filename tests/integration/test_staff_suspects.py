"""Staff accounts and the node's administrator: what a reviewer suspected and these tests
proved (each failed on the code as reviewed, for the reason its comment gives).
Synthetic data only."""

from __future__ import annotations

import json

from test_administrator_separation import _refusals

from portal.auth.sessions import Viewer
from portal.models import Role
from portal.services import agencies

import factories as make


def _post(client, path, **data):
    token = make.csrf_of_page(client, "/account")
    return client.post(path, data={"csrf_token": token, **data})


def _administrator(client, db, keys):
    home = make.agency(db, keys)
    admin = make.user(db, home, Role.ADMINISTRATOR)
    make.login(client, admin.username)
    return admin


def test_the_administrator_cannot_turn_off_two_step_sign_in_of_an_agency_with_a_lead(
    client, db, keys
):
    # Before: an agency's lead requires two-step sign-in for all its staff. The node's
    # administrator, who may not manage an agency that has a lead, posts the agency's
    # sign-in settings without the box ticked: two-step sign-in is no longer required, and
    # a password alone opens the agency's survivors' records. Nothing reached its log.
    agency = make.agency(db, keys, requires_totp=True)
    lead = make.user(db, agency, Role.AGENCY_LEAD)
    _administrator(client, db, keys)
    settings = f"/admin/agencies/{agency.public_id}/settings"
    assert f'action="{settings}"' not in client.get(f"/admin/agencies/{agency.public_id}").text
    answer = _post(client, settings)
    db.refresh(agency)
    assert agency.requires_totp
    assert answer.status_code == 403
    assert "has an agency lead, who decides" in answer.text
    refusals = _refusals(db, agency)
    assert len(refusals) == 1
    assert json.loads(refusals[0].detail)["attempt"] == "turn off two-step sign-in"
    # The lead decides: they may lift it.
    as_lead = Viewer(lead, agency, frozenset({Role.AGENCY_LEAD.value}), None)
    agencies.set_requires_totp(db, agency, False, viewer=as_lead, at=make.AT)
    assert not agency.requires_totp
