"""Sign-in, sessions, API tokens and the lead's staff pages: what a session left open, a
known password, a lead or a reactivated account could do that they should not. Each test
failed before its fix (found by a review), for the reason its docstring states. Synthetic
data only."""

from __future__ import annotations

import pyotp

from portal.auth.sessions import Viewer
from portal.auth.throttle import DATABASE, LoginThrottle, ThrottleRules
from portal.models import Role
from portal.services import api_tokens

import factories as make


def _slow_throttle(app):
    """Delays long enough that no test outruns them (as test_auth.py does)."""
    app.state.login_throttle = LoginThrottle(
        DATABASE, ThrottleRules(base_seconds=60), node_key="a review node's session key"
    )


def _issue(db, agency, lead, role=Role.CASE_MANAGER):
    issued = api_tokens.create_token(
        db,
        Viewer(lead, agency, frozenset({Role.AGENCY_LEAD.value, role.value}), None),
        name="records system (synthetic)",
        scopes=["cases:read"],
        acting_role=role.value,
        at=make.AT,
    )
    db.flush()
    return {"Authorization": f"Bearer {issued.secret}"}


def test_current_password_on_the_account_page_is_throttled_like_sign_in(app, client, db, keys):
    """Whoever holds a session (a borrowed, unlocked computer) may guess the account's
    password on /account/password as fast as they like: each wrong current password is a
    plain 400, never counted by the sign-in throttle, so the check is an unthrottled
    oracle. Sign-in slows the same guesses after three."""
    _slow_throttle(app)
    agency = make.agency(db, keys)
    make.user(db, agency, username="review.guessed")
    make.login(client, "review.guessed")
    token = make.csrf_of_page(client, "/account")
    statuses = [
        client.post(
            "/account/password",
            data={
                "csrf_token": token,
                "current_password": f"wrong guess number {number}",
                "new_password": "a brand new passphrase (synthetic)",
                "confirm_password": "a brand new passphrase (synthetic)",
            },
        ).status_code
        for number in range(25)
    ]
    assert 429 in statuses, statuses


def test_signing_in_again_does_not_wipe_second_factor_failures(app, client, db, keys, clock):
    """The password step's success clears the account-and-address failure count before
    the second factor is given, so someone who knows the password takes three free TOTP
    guesses, signs in again and takes three more: the pair throttle never slows them."""
    _slow_throttle(app)
    agency = make.agency(db, keys)
    make.user(db, agency, username="review.totp")
    make.login(client, "review.totp")
    page = client.get("/account/second-factor")
    secret = page.text.split('<code class="secret">')[1].split("<")[0]
    done = client.post(
        "/account/second-factor",
        data={"csrf_token": make.csrf_from(page.text), "code": pyotp.TOTP(secret).at(clock())},
    )
    assert done.status_code == 200
    client.cookies.clear()

    def wrong_codes(count):
        make.login(client, "review.totp")
        form = client.get("/login/second-factor")
        return [
            client.post(
                "/login/second-factor",
                data={"csrf_token": make.csrf_from(form.text), "code": "000000"},
            ).status_code
            for _ in range(count)
        ]

    assert wrong_codes(3) == [400, 400, 400]
    client.cookies.clear()
    # In one sitting the fifth wrong code waits (429); a fresh password step between the
    # third and fourth must not hand the guesser a clean count.
    again = wrong_codes(2)
    assert again == [400, 429], again


def test_lead_of_the_administrators_home_agency_cannot_manage_the_administrator(client, db, keys):
    """The node's administrator lives in an agency's staff table (`portal init` puts it in
    the first agency), and access_staff lets that agency's lead manage any member: the lead
    opens the administrator's page, sees its sessions, and re-enables an administrator
    account the operator had deactivated. A lead manages only their own agency's staff,
    never the node's operator."""
    home = make.agency(db, keys)
    admin = make.user(db, home, Role.ADMINISTRATOR)
    lead = make.user(db, home, Role.AGENCY_LEAD)
    admin.is_active = False  # the operator switched this administrator account off
    db.flush()
    make.login(client, lead.username)
    token = make.csrf_of_page(client, "/account")
    page = client.get(f"/admin/staff/{admin.public_id}")
    answer = client.post(f"/admin/staff/{admin.public_id}/reactivate", data={"csrf_token": token})
    db.refresh(admin)
    assert not admin.is_active
    assert page.status_code == 404 and answer.status_code == 404
    listed = client.get(f"/admin/agencies/{home.public_id}").text
    assert f"/admin/staff/{admin.public_id}" not in listed  # named, not offered to manage


def test_a_token_does_not_come_back_when_its_lead_is_reactivated(client, db, keys):
    """Deactivating the lead who issued a token stops it (401), but only while the account
    stays off: reactivating the account revives every token it issued, silently, while its
    sessions stay ended. Deactivation must end the tokens as it ends the sessions."""
    agency = make.agency(db, keys)
    issuer = make.user(db, agency, Role.AGENCY_LEAD, Role.CASE_MANAGER)
    other_lead = make.user(db, agency, Role.AGENCY_LEAD)
    make.user(db, agency, Role.CASE_MANAGER)
    auth = _issue(db, agency, issuer)
    assert client.get("/api/v1/cases", headers=auth).status_code == 200
    make.login(client, other_lead.username)
    token = make.csrf_of_page(client, "/account")
    off = client.post(f"/admin/staff/{issuer.public_id}/deactivate", data={"csrf_token": token})
    assert off.status_code == 303
    assert client.get("/api/v1/cases", headers=auth).status_code == 401
    on = client.post(f"/admin/staff/{issuer.public_id}/reactivate", data={"csrf_token": token})
    assert on.status_code == 303
    assert client.get("/api/v1/cases", headers=auth).status_code == 401


def test_requiring_a_second_factor_reaches_live_sessions(client, db, keys):
    """When the lead turns on "staff must use two-step sign-in", a staff member already
    signed in without a second factor keeps a full session (until idle or lifetime ends
    it): the requirement only applies at the next sign-in."""
    agency = make.agency(db, keys)
    lead = make.user(db, agency, Role.AGENCY_LEAD)
    member = make.user(db, agency, Role.CASE_MANAGER)
    make.login(client, member.username)
    member_cookies = dict(client.cookies)
    assert client.get("/", follow_redirects=False).status_code == 200
    client.cookies.clear()
    make.login(client, lead.username)
    token = make.csrf_of_page(client, "/account")
    saved = client.post(
        f"/admin/agencies/{agency.public_id}/settings",
        data={"csrf_token": token, "requires_totp": "on"},
    )
    assert saved.status_code == 303
    db.refresh(agency)
    assert agency.requires_totp
    client.cookies.clear()
    client.cookies.update(member_cookies)
    page = client.get("/", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/account/second-factor"
