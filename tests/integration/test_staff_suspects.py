"""Staff accounts and the node's administrator: what a reviewer suspected and these tests
proved (each failed on the code as reviewed, for the reason its comment gives).
Synthetic data only."""

from __future__ import annotations

import json
import re

import pytest
from sqlmodel import select
from test_administrator_separation import LINK, _refusals

from portal.auth.sessions import Viewer
from portal.models import Agency, Role, StaffEnrolment, StaffRole, StaffUser
from portal.services import agencies, api_tokens

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


def _add_form(client, agency, username, roles=("advocate",)):
    page = client.get(f"/admin/agencies/{agency.public_id}/staff/new")
    once = re.search(r'name="submission" value="([^"]+)"', page.text)
    return {
        "csrf_token": make.csrf_from(page.text),
        **({"submission": once.group(1)} if once else {}),
        "display_name": "Twice Sent (synthetic)",
        "username": username,
        "roles": list(roles),
    }


@pytest.mark.parametrize("adder", ["lead", "administrator"])
def test_an_add_staff_form_sent_twice_adds_one_account_and_shows_a_working_link(
    client, db, keys, adder
):
    # Before: "Add staff member" clicked twice sends the form twice. The browser shows
    # only the second answer: "This username is taken" to a lead, a refusal (logged as the
    # administrator's attempt) to the administrator adding a first lead. The first
    # answer, the only place the enrolment link was ever shown, is lost, and no page can
    # show it again: the new account can never be opened.
    agency = make.agency(db, keys)
    if adder == "lead":
        make.login(client, make.user(db, agency, Role.AGENCY_LEAD).username)
        roles = ("advocate",)
    else:
        _administrator(client, db, keys)
        roles = ("agency_lead",)
    form = _add_form(client, agency, f"twice.{adder}", roles)
    first = client.post(f"/admin/agencies/{agency.public_id}/staff", data=form)
    second = client.post(f"/admin/agencies/{agency.public_id}/staff", data=form)
    assert first.status_code == 200 and LINK.search(first.text)
    assert second.status_code == 200, second.text[-800:]
    assert "sent twice" in second.text
    made = db.exec(select(StaffUser).where(StaffUser.agency_id == agency.id)).all()
    assert sorted(u.username for u in made if u.username.startswith("twice.")) == [f"twice.{adder}"]
    assert _refusals(db, agency) == []
    # The link the browser ends on is the one that works; the first, never seen, does not.
    client.cookies.clear()
    assert client.get(f"/enrol/{LINK.search(first.text).group(1)}").status_code == 404
    assert client.get(f"/enrol/{LINK.search(second.text).group(1)}").status_code == 200


def test_an_add_staff_form_sent_again_after_enrolment_shows_no_new_link(client, db, keys):
    # The same form sent again once the new person has set their password (a browser's
    # history resubmitting it days later) shows no link: it would reopen an account its
    # holder already owns.
    agency = make.agency(db, keys)
    make.login(client, make.user(db, agency, Role.AGENCY_LEAD).username)
    form = _add_form(client, agency, "enrolled.once")
    assert LINK.search(client.post(f"/admin/agencies/{agency.public_id}/staff", data=form).text)
    member = db.exec(select(StaffUser).where(StaffUser.username == "enrolled.once")).one()
    member.password_hash = "an enrolled account's hash (synthetic)"
    for link in db.exec(select(StaffEnrolment).where(StaffEnrolment.user_id == member.id)):
        link.used_at = make.AT
    db.flush()
    again = client.post(f"/admin/agencies/{agency.public_id}/staff", data=form)
    assert again.status_code == 303
    assert again.headers["location"] == f"/admin/staff/{member.public_id}"
    assert not db.exec(
        select(StaffEnrolment).where(
            StaffEnrolment.user_id == member.id, StaffEnrolment.used_at.is_(None)
        )
    ).all()


@pytest.mark.parametrize(
    "invisible", ["\u200b\u200b", "\u2060", "\u00ad", "\u0301\u0302", "\u3164"]
)
def test_a_name_of_invisible_characters_is_refused(client, db, keys, invisible):
    # Before: a staff member, an agency or a client could be named with characters that
    # show nothing (zero-width spaces, a word joiner, a soft hyphen, lone combining marks):
    # lists, assignees and the audit log then show a blank where a person or an agency is.
    agency = make.agency(db, keys)
    lead = make.user(db, agency, Role.AGENCY_LEAD, Role.CASE_MANAGER)
    make.login(client, lead.username)
    form = _add_form(client, agency, "invisible.name")
    form["display_name"] = invisible
    answer = client.post(f"/admin/agencies/{agency.public_id}/staff", data=form)
    assert answer.status_code == 400
    assert "visible" in answer.text
    assert db.exec(select(StaffUser).where(StaffUser.username == "invisible.name")).first() is None
    registered = client.post(
        "/clients",
        data={
            "csrf_token": make.csrf_of_page(client, "/clients/new"),
            "reference": "INVIS-1",
            "given_name": invisible,
            "family_name": "Synthetic",
            "birth_date": "1990-01-01",
        },
    )
    assert registered.status_code == 400 and "visible" in registered.text


@pytest.mark.parametrize(
    "spoofed",
    [
        "Ana\u202eloS",  # a right-to-left override: the list would show "AnaSol"
        "A\u200bna Sosa",  # a zero-width space: a second "Ana Sosa" that looks the same
        "\ufeffAna Sosa",
    ],
)
def test_a_name_with_an_invisible_character_in_it_is_refused(client, db, keys, spoofed):
    # Before: a visible name with an invisible character mixed in was accepted, and the
    # staff list showed an account that looked like a colleague's (or another name).
    agency = make.agency(db, keys)
    lead = make.user(db, agency, Role.AGENCY_LEAD)
    make.login(client, lead.username)
    accounts = len(db.exec(select(StaffUser)).all())
    form = _add_form(client, agency, "look.alike")
    form["display_name"] = spoofed
    answer = client.post(f"/admin/agencies/{agency.public_id}/staff", data=form)
    assert answer.status_code == 400
    assert "Name contains an invisible character; retype it" in answer.text
    assert 'name="display_name"' in answer.text and 'value="look.alike"' in answer.text
    assert len(db.exec(select(StaffUser)).all()) == accounts


def test_an_agency_name_of_invisible_characters_is_refused(client, db, keys):
    _administrator(client, db, keys)
    answer = _post(
        client, "/admin/agencies", name="\u200b\u2060", kind="community", discipline="advocacy"
    )
    assert answer.status_code == 400 and "visible" in answer.text
    assert db.exec(select(Agency).where(Agency.name == "\u200b\u2060")).first() is None


def _case_manager_token(db, keys):
    """An agency, its lead, its one case manager (a lead too), and a token the case manager
    issued acting as a case manager (a token acts only in a role its lead holds)."""
    agency = make.agency(db, keys)
    lead = make.user(db, agency, Role.AGENCY_LEAD)
    manager = make.user(db, agency, Role.AGENCY_LEAD, Role.CASE_MANAGER)
    issued = api_tokens.create_token(
        db,
        Viewer(manager, agency, frozenset({Role.AGENCY_LEAD.value, Role.CASE_MANAGER.value}), None),
        name="records system (synthetic)",
        scopes=["cases:read"],
        acting_role=Role.CASE_MANAGER.value,
        at=make.AT,
    )
    return agency, lead, manager, issued


def test_an_api_token_whose_role_nobody_holds_does_not_come_back(client, db, keys):
    # Before: a token acts as a case manager. The agency's one case manager leaves (the
    # role is taken from them); the token stops answering, but is not ended. Months later
    # someone new is made case manager, and the old token, wherever it was left, reads
    # the agency's cases again, with no one having issued it anew.
    _agency, lead, manager, issued = _case_manager_token(db, keys)
    db.flush()
    auth = {"Authorization": f"Bearer {issued.secret}"}
    assert client.get("/api/v1/cases", headers=auth).status_code == 200
    make.login(client, lead.username)
    roles = f"/admin/staff/{manager.public_id}/roles"
    taken = _post(client, roles, roles=["agency_lead", "advocate"], tokens_ending="1")
    assert taken.status_code == 303  # confirmed: the token ends with the role
    assert client.get("/api/v1/cases", headers=auth).status_code == 401
    assert _post(client, roles, roles=["agency_lead", "case_manager"]).status_code == 303
    assert client.get("/api/v1/cases", headers=auth).status_code == 401
    db.refresh(issued.token)
    assert issued.token.revoked_at is not None


def test_an_api_token_ends_when_the_last_holder_of_its_role_is_deactivated(client, db, keys):
    _agency, lead, manager, issued = _case_manager_token(db, keys)
    db.flush()
    auth = {"Authorization": f"Bearer {issued.secret}"}
    make.login(client, lead.username)
    assert _post(client, f"/admin/staff/{manager.public_id}/deactivate").status_code == 303
    assert _post(client, f"/admin/staff/{manager.public_id}/reactivate").status_code == 303
    assert client.get("/api/v1/cases", headers=auth).status_code == 401


def test_an_api_token_left_idle_before_does_not_come_back_with_a_new_holder(client, db, keys):
    # A token whose role nobody held before this rule existed stays idle in the table; the
    # next account given that role must not bring it back.
    agency, _lead, manager, issued = _case_manager_token(db, keys)
    for row in db.exec(select(StaffRole).where(StaffRole.user_id == manager.id)):
        db.delete(row)
    db.flush()
    make.user(db, agency, Role.CASE_MANAGER)
    auth = {"Authorization": f"Bearer {issued.secret}"}
    assert client.get("/api/v1/cases", headers=auth).status_code == 401
