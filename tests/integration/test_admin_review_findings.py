"""Review of agency administration, staff accounts, enrolment, account, API token and
roster pages, and sessions: each test states what a user or an attacker could do before,
and fails on the code as reviewed for the reason its comment gives. Synthetic data only."""

from __future__ import annotations

from sqlmodel import select
from test_administrator_separation import LINK, _refusals

from portal.audit import AuditTag
from portal.models import AuditEntry, Role, StaffUser
from portal.services import calendar

import factories as make
from databases import migrated_engine


def _lead_of(db, keys):
    agency = make.agency(db, keys)
    lead = make.user(db, agency, Role.AGENCY_LEAD)
    return agency, lead


def _post(client, path, **data):
    token = make.csrf_of_page(client, "/account")
    return client.post(path, data={"csrf_token": token, **data})


def test_a_calendar_feed_does_not_come_back_when_its_holder_is_reactivated(client, db, keys):
    # Before: deactivating a staff member ends their sessions and API tokens for good, but
    # not their calendar feed address: it only stops answering while the account is off.
    # Reactivating the account (weeks later, for a returning worker) silently revives the
    # old address, wherever it was left (a lost phone, a shared calendar), carrying MDT
    # meetings and case references again.
    agency, lead = _lead_of(db, keys)
    member = make.user(db, agency, Role.MDT_COORDINATOR)
    token = calendar.issue_feed(db, member, at=make.AT)
    db.flush()
    assert client.get(f"/calendar/{token}").status_code == 200
    make.login(client, lead.username)
    off = _post(client, f"/admin/staff/{member.public_id}/deactivate")
    assert off.status_code == 303
    assert client.get(f"/calendar/{token}").status_code == 404
    on = _post(client, f"/admin/staff/{member.public_id}/reactivate")
    assert on.status_code == 303
    assert client.get(f"/calendar/{token}").status_code == 404


def test_administrator_cannot_reactivate_a_lead_another_lead_deactivated(client, db, keys):
    # Before: a lead deactivates a fellow lead (who left under suspicion). The node's
    # administrator, who may not depose a lead nor manage an agency that has one, simply
    # posts /reactivate: the deposed lead's account, with its old password, leads the
    # agency again and reads its survivors' records; no refusal reaches the agency's log.
    agency, _lead = _lead_of(db, keys)
    deposed = make.user(db, agency, Role.AGENCY_LEAD)
    deposed.is_active = False
    db.flush()
    home = make.agency(db, keys)
    admin = make.user(db, home, Role.ADMINISTRATOR)
    make.login(client, admin.username)
    answer = _post(client, f"/admin/staff/{deposed.public_id}/reactivate")
    db.refresh(deposed)
    assert not deposed.is_active
    assert answer.status_code == 403
    assert len(_refusals(db, agency)) == 1


def test_an_enrolment_link_is_not_built_from_the_requests_host_header(client, db, keys):
    # Before: the one-time link a lead is shown to hand over is built from the Host header
    # of the request that added the account. A request whose Host was forged (a proxy that
    # forwards any Host, a wildcard in PORTAL_ALLOWED_HOSTS) shows the lead a link to the
    # attacker's host; the new staff member opens it there and hands over the secret, and
    # the attacker sets the password of a new account in the agency.
    agency, lead = _lead_of(db, keys)
    make.login(client, lead.username)
    token = make.csrf_of_page(client, f"/admin/agencies/{agency.public_id}/staff/new")
    made = client.post(
        f"/admin/agencies/{agency.public_id}/staff",
        data={
            "csrf_token": token,
            "display_name": "New Advocate",
            "username": "host.advocate",
            "roles": ["advocate"],
        },
        headers={"host": "portal.attacker.example"},
    )
    assert made.status_code == 200
    link = LINK.search(made.text)
    assert link is not None
    assert "attacker.example" not in link.group(0)


def _invite(client, agency, username, roles=("advocate",)):
    token = make.csrf_of_page(client, f"/admin/agencies/{agency.public_id}/staff/new")
    return client.post(
        f"/admin/agencies/{agency.public_id}/staff",
        data={
            "csrf_token": token,
            "display_name": username.replace(".", " ").title(),
            "username": username,
            "roles": list(roles),
        },
    )


def test_deactivating_an_account_not_yet_enrolled_ends_its_link_for_good(client, db, keys):
    # Before: a lead adds a staff member and hands over the one-time link; hearing the link
    # went to the wrong person, the lead deactivates the account. The link only pauses:
    # when the account is reactivated (the right person is to start after all) the same
    # link, still in the wrong hands, sets the account's password and signs in.
    agency, lead = _lead_of(db, keys)
    make.login(client, lead.username)
    made = _invite(client, agency, "paused.advocate")
    secret = LINK.search(made.text).group(1)
    member = db.exec(select(StaffUser).where(StaffUser.username == "paused.advocate")).one()
    assert _post(client, f"/admin/staff/{member.public_id}/deactivate").status_code == 303
    assert _post(client, f"/admin/staff/{member.public_id}/reactivate").status_code == 303
    client.cookies.clear()
    assert client.get(f"/enrol/{secret}").status_code == 404


def test_an_agency_whose_first_lead_never_enrolled_can_be_given_a_lead(client, db, keys, clock):
    # Before: the administrator adds an agency's first lead; the link lapses unused (72
    # hours, a weekend). The pending account still counts as the agency's lead, so the
    # administrator may not add another lead ("has an agency lead"), may not deactivate
    # the pending one ("a lead is deactivated by another lead"), and no page issues a new
    # link: the agency can never get a lead, nor staff, and its refusals pile up.
    target = make.agency(db, keys)
    home = make.agency(db, keys)
    admin = make.user(db, home, Role.ADMINISTRATOR)
    make.login(client, admin.username)
    first = _invite(client, target, "lapsed.lead", roles=("agency_lead",))
    assert first.status_code == 200 and LINK.search(first.text)
    clock.advance(hours=73)
    client.cookies.clear()
    make.login(client, admin.username)
    second = _invite(client, target, "second.lead", roles=("agency_lead",))
    assert second.status_code == 200, second.text[-600:]
    assert LINK.search(second.text)


def test_the_staff_page_does_not_list_sessions_that_have_idled_out_as_live(client, db, keys, clock):
    # Before: a lead checking who is signed in sees, under "Sessions", the session of a
    # staff member who walked away hours ago (it idled out after 30 minutes and can never
    # be used again, but is only marked ended when its cookie comes back). The lead is told
    # someone is signed in who is not; the administrator's dashboard already counts only
    # sessions seen within the idle timeout.
    agency, lead = _lead_of(db, keys)
    member = make.user(db, agency, Role.ADVOCATE)
    make.login(client, member.username)
    client.cookies.clear()
    clock.advance(hours=3)
    make.login(client, lead.username)
    page = client.get(f"/admin/staff/{member.public_id}")
    assert page.status_code == 200
    assert "No active sessions." in page.text


def test_the_log_does_not_say_the_administrator_ended_sessions_a_lead_ended(client, db, keys):
    # Before: when an agency's lead ends a staff member's sessions, the agency's log reads
    # "session ended by the administrator". A lead reading who did what to their staff is
    # told the node's operator (who may not manage an agency that has a lead) acted on
    # them: a false alarm, or a real administrator's act lost among the lead's own.
    agency, lead = _lead_of(db, keys)
    member = make.user(db, agency, Role.ADVOCATE)
    make.login(client, lead.username)
    ended = _post(client, f"/admin/staff/{member.public_id}/end-sessions")
    assert ended.status_code == 303
    entry = db.exec(
        select(AuditEntry).where(
            AuditEntry.agency_id == agency.id, AuditEntry.tag == AuditTag.SESSION_ENDED
        )
    ).one()
    log = client.get("/audit")
    assert log.status_code == 200
    assert "session ended by the administrator" not in log.text, entry.tag


def test_an_enrolment_link_opens_one_account_even_when_used_twice_at_once(
    backend, keys, tmp_path, monkeypatch
):
    # Before: complete() reads the link "unused", then hashes the new password (the slow
    # part), then marks the link used by id, whoever got there first. Someone else holding
    # the link (it went by e-mail, or over a shoulder) who submits it while its owner does
    # is let in too: both get a session set to enrol a second factor, and the last one to
    # finish chooses the account's password. A link "works once".
    from sqlmodel import Session

    from portal.auth import passwords
    from portal.errors import DomainError
    from portal.models import StaffEnrolment
    from portal.services import enrolment, staff

    with migrated_engine(backend, tmp_path) as engine:
        with Session(engine, expire_on_commit=False) as setup:
            agency = make.agency(setup, keys)
            member = staff.create_staff(
                setup,
                agency,
                username="raced.advocate",
                display_name="Raced Advocate",
                password=None,
                roles=["advocate"],
                actor=None,
                at=make.AT,
            )
            secret = enrolment.issue(setup, member, actor=None, at=make.AT)
            setup.commit()

        def enrol(db, password):
            return enrolment.complete(
                db,
                secret,
                password=password,
                confirm=password,
                address="192.0.2.7",
                user_agent=None,
                at=make.AT,
            )

        owner = "the owner's own passphrase"
        find = enrolment.find

        def owner_finishes_meanwhile(db, secret, *, at):
            # The other submission has read the link as unused; the owner's whole request
            # runs before it goes on (its password is still being hashed).
            found = find(db, secret, at=at)
            monkeypatch.setattr(enrolment, "find", find)
            with Session(engine, expire_on_commit=False) as first:
                enrol(first, owner)
                first.commit()
            return found

        monkeypatch.setattr(enrolment, "find", owner_finishes_meanwhile)
        with Session(engine, expire_on_commit=False) as second:
            try:
                enrol(second, "someone else's passphrase")
                second.commit()
                outcome = "let in"
            except DomainError as error:
                second.rollback()
                outcome = f"refused: {error}"

        with Session(engine) as check:
            stored = check.get(StaffUser, member.id)
            enrolled = check.exec(
                select(AuditEntry).where(AuditEntry.tag == AuditTag.STAFF_ENROLLED)
            ).all()
            link = check.exec(select(StaffEnrolment)).one()
            assert link.used_at is not None
            assert outcome.startswith("refused"), outcome
            assert len(enrolled) == 1
            assert passwords.verify_password(stored.password_hash, owner)


def test_links_a_deactivated_lead_was_shown_stop_working_with_their_account(client, db, keys):
    # Before: a lead adds an account and is shown its one-time link (to hand over). The
    # lead is then deactivated (they are leaving, or suspected of passing information on):
    # their sessions and API tokens end for good, but the link they were shown and never
    # handed over still works for 72 hours. The former lead opens it, sets the password and
    # is back inside the agency under a new name.
    agency, leaving = _lead_of(db, keys)
    other_lead = make.user(db, agency, Role.AGENCY_LEAD)
    make.login(client, leaving.username)
    made = _invite(client, agency, "kept.link")
    assert made.status_code == 200
    secret = LINK.search(made.text).group(1)
    client.cookies.clear()
    make.login(client, other_lead.username)
    off = _post(client, f"/admin/staff/{leaving.public_id}/deactivate")
    assert off.status_code == 303
    client.cookies.clear()
    assert client.get(f"/enrol/{secret}").status_code == 404


def test_an_agency_name_differing_only_in_the_case_of_an_accented_letter_is_refused(
    client, db, keys
):
    # Before: "An agency with this name already exists" compares names with the database's
    # lower(), which folds only ASCII letters: "Élan Advocacy" and "élan advocacy" are two
    # agencies. Partners pick recipients of a release, and leads read the log, by name: two
    # names a reader cannot tell apart send a survivor's information to the wrong one.
    home = make.agency(db, keys)
    admin = make.user(db, home, Role.ADMINISTRATOR)
    make.agency(db, keys, name="Élan Advocacy (synthetic)")
    make.login(client, admin.username)
    token = make.csrf_of_page(client, "/admin/agencies/new")
    answer = client.post(
        "/admin/agencies",
        data={
            "csrf_token": token,
            "name": "élan advocacy (synthetic)",
            "kind": "community",
            "discipline": "advocacy",
        },
    )
    assert answer.status_code == 409 and "already exists" in answer.text


def test_the_administrator_is_not_asked_to_confirm_deactivating_a_lead_it_may_not(client, db, keys):
    # Before: the administrator opening a lead's page is offered "Deactivate…", and the
    # page it leads to asks "Deactivate …?" listing what will end, with a Deactivate
    # button; pressing it is refused (403) and logged in the agency's log as an
    # administrator's refused attempt. The portal invites the very act it then reports.
    _agency, lead = _lead_of(db, keys)
    home = make.agency(db, keys)
    admin = make.user(db, home, Role.ADMINISTRATOR)
    make.login(client, admin.username)
    asked = client.get(f"/admin/staff/{lead.public_id}/deactivate")
    assert f'action="/admin/staff/{lead.public_id}/deactivate"' not in asked.text


def test_the_administrator_is_not_offered_to_change_a_leads_roles(client, db, keys):
    # Seen in Chromium: with Deactivate gone, the administrator was still offered "Save
    # roles" on a lead's page, which is refused (and logged) when pressed.
    _agency, lead = _lead_of(db, keys)
    home = make.agency(db, keys)
    admin = make.user(db, home, Role.ADMINISTRATOR)
    make.login(client, admin.username)
    page = client.get(f"/admin/staff/{lead.public_id}")
    assert page.status_code == 200
    assert f'action="/admin/staff/{lead.public_id}/roles"' not in page.text
    assert "agency lead" in page.text and "not by the node's administrator" in page.text
