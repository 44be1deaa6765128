"""A revocation, or a change of the owner's policy, and a page view at once: the log never
holds a disclosure under a release revoked, or a rule changed, by the time it is logged (nor
to someone whose role or account was taken from them meanwhile); and
a disclosure under a release revoked by the disclosure's time, in either order the two
commit. Each runs on each
database with commits that really happen. Synthetic data only."""

from __future__ import annotations

import threading
from datetime import UTC, date, timedelta

import pytest
from disclosure_helpers import SECRET_NOTE, release, world, write
from sqlmodel import select
from starlette.testclient import TestClient
from test_legal_basis import _record as record_basis
from test_legal_basis import _world as legal_basis_world

from portal.app import create_app
from portal.audit import AuditTag, ChangedMeanwhile, RevokedMeanwhile, chain
from portal.db import at_commit, unit_of_work
from portal.disclosure import (
    CONSENT_REVOKED,
    NOT_LINKED,
    POLICY,
    Released,
    Withheld,
    disclose,
    point,
)
from portal.models import (
    Agency,
    ApiScope,
    AuditEntry,
    CaseLink,
    ConsentRelease,
    ReleaseRevocation,
    Role,
    StaffUser,
)
from portal.requester import Requester
from portal.services import (
    api_tokens,
    case_records,
    casework,
    legal_bases,
    mentor_program,
    policy,
    releases,
    staff,
)
from portal.settings import Settings

import factories as make
from databases import setup_unit

PAGE_AT = make.AT + timedelta(hours=1)
# The revocation's request began first; the page read the release before it committed.
REVOKED_AT = PAGE_AT - timedelta(minutes=1)


@pytest.fixture
def shared(committed_engine, keys):
    """An owner's mental health notes released to a partner, committed."""
    with setup_unit(committed_engine) as db:
        w = world(db, keys)
        write(db, keys, w, "mental_health", {"engaged": "yes", "summary": SECRET_NOTE})
        row = release(db, keys, w, ["mental_health"])
    return w, row


def _view(
    engine, keys, w, *, at=PAGE_AT, role=Role.CASE_MANAGER, section="mental_health", asking=None
):
    with unit_of_work(engine) as db:
        return disclose(
            db,
            (asking or w.viewer(role)).asking("mdt_case_review"),
            db.get(type(w.case), w.case.id),
            db.get(Agency, w.owner.id),
            section,
            at,
            tz=UTC,
            keys=keys,
        )


def _revoke(engine, keys, w, row, *, at=REVOKED_AT) -> None:
    with unit_of_work(engine) as db:
        releases.revoke(
            db,
            db.get(ConsentRelease, row.id),
            reason=None,
            actor=db.get(type(w.owner_staff), w.owner_staff.id),
            keys=keys,
            at=at,
        )


def _released_entries(engine, owner_id) -> list[AuditEntry]:
    with unit_of_work(engine) as db:
        return db.exec(
            select(AuditEntry).where(
                AuditEntry.agency_id == owner_id,
                AuditEntry.tag == AuditTag.DISCLOSURE_RELEASED,
            )
        ).all()


def _viewed_while(engine, keys, w, monkeypatch, change, **view) -> object:
    """A page view that decided, then waited, before logging, for `change()` to commit:
    what the view returned, or the error it raised."""
    decided, changed = threading.Event(), threading.Event()
    record_many = point.record_many

    def decided_then_paused(db, entries):
        decided.set()
        assert changed.wait(10), "the change never committed"
        record_many(db, entries)

    monkeypatch.setattr(point, "record_many", decided_then_paused)
    outcome: list[object] = []

    def page() -> None:
        try:
            outcome.append(_view(engine, keys, w, **view))
        except BaseException as error:  # told to the caller's assertion
            outcome.append(error)

    viewer = threading.Thread(target=page)
    viewer.start()
    try:
        assert decided.wait(10), "the page never decided"
        change()
    finally:
        changed.set()
        viewer.join(20)
        monkeypatch.setattr(point, "record_many", record_many)
    (result,) = outcome
    return result


def _made_again_without_it(engine, keys, w, monkeypatch, change, *, refused, gate) -> None:
    """A page that decided before `change()` committed is refused as it logs (`refused`):
    nothing is written; asked again, it is withheld by `gate`, and still nothing written."""
    outcome = _viewed_while(engine, keys, w, monkeypatch, change)
    assert isinstance(outcome, refused), outcome
    assert _released_entries(engine, w.owner.id) == []

    again = _view(engine, keys, w)
    assert isinstance(again, Withheld) and again.gate == gate
    assert _released_entries(engine, w.owner.id) == []


def test_a_page_that_read_a_release_its_revocation_then_ended_shows_and_logs_nothing_of_it(
    committed_engine, keys, shared, monkeypatch
):
    w, row = shared
    _made_again_without_it(
        committed_engine,
        keys,
        w,
        monkeypatch,
        lambda: _revoke(committed_engine, keys, w, row),
        refused=RevokedMeanwhile,
        gate=CONSENT_REVOKED,
    )


def _deny_mental_health(engine, w):
    """The owner's lead adds a line denying partners' case managers its mental health
    notes, in a transaction of its own; returns the line."""
    with unit_of_work(engine) as db:
        return policy.add_line(
            db,
            db.get(Agency, w.owner.id),
            kind="community",
            role="case_manager",
            section="mental_health",
            purpose="*",
            effect="deny",
            actor=db.get(StaffUser, w.owner_staff.id),
            at=REVOKED_AT,
        )


def test_a_page_that_read_a_policy_its_lead_then_changed_shows_and_logs_nothing_of_it(
    committed_engine, keys, shared, monkeypatch
):
    w, _row = shared
    _made_again_without_it(
        committed_engine,
        keys,
        w,
        monkeypatch,
        lambda: _deny_mental_health(committed_engine, w),
        refused=ChangedMeanwhile,
        gate=POLICY,
    )


def test_a_revocation_that_gets_the_log_after_a_page_takes_effect_after_that_pages_disclosure(
    committed_engine, keys, shared
):
    w, row = shared
    # The page logged first: its request began after the revocation's, which then waited
    # for the log the page held.
    assert isinstance(_view(committed_engine, keys, w), Released)
    _revoke(committed_engine, keys, w, row)

    (disclosed,) = _released_entries(committed_engine, w.owner.id)
    with unit_of_work(committed_engine) as db:
        revocation = db.exec(select(ReleaseRevocation)).one()
        stored = db.get(ConsentRelease, row.id)
        (signed,) = releases.revocations(db, stored, keys=keys)
        first = releases.revoked_at(db, stored, keys=keys, at=PAGE_AT + timedelta(days=1))
    assert disclosed.at == PAGE_AT
    assert revocation.revoked_at == signed.revoked_at == first > PAGE_AT
    assert first - PAGE_AT == timedelta(microseconds=1)


def test_a_revocation_with_no_later_disclosure_takes_effect_when_asked(
    committed_engine, keys, shared
):
    w, row = shared
    assert isinstance(_view(committed_engine, keys, w, at=make.AT + timedelta(minutes=1)), Released)
    _revoke(committed_engine, keys, w, row)
    with unit_of_work(committed_engine) as db:
        assert db.exec(select(ReleaseRevocation.revoked_at)).one() == REVOKED_AT


def test_a_page_asked_before_a_committed_revocation_took_effect_is_still_logged(
    committed_engine, keys, shared
):
    """A request that began before the revocation's time and logs after it commits: the
    disclosure was made before the survivor withdrew, and is logged as such."""
    w, row = shared
    _revoke(committed_engine, keys, w, row, at=PAGE_AT + timedelta(minutes=1))
    assert isinstance(_view(committed_engine, keys, w), Released)
    assert [e.at for e in _released_entries(committed_engine, w.owner.id)] == [PAGE_AT]


def _summary_while(engine, w, node_secrets, clock, monkeypatch, change):
    """The case summary asked over HTTP by the partner's staff member, its first append
    that releases anything held until `change()` has committed: the page as answered."""
    with unit_of_work(engine) as db:
        db.get(StaffUser, w.partner_staff.id).username = "partner"
    clock.at = PAGE_AT
    live = Settings(
        database_url=engine.url.render_as_string(hide_password=False),
        secrets=node_secrets,
        cookie_secure=False,
        clock=clock,
    )
    decided, changed = threading.Event(), threading.Event()
    append_many = chain.append_many

    def paused_before_its_first_disclosure(db, rows):
        if not decided.is_set() and any(r.get("decision") == "released" for r in rows):
            decided.set()  # before the page locks a log: the change takes them first
            assert changed.wait(10), "the change never committed"
        return append_many(db, rows)

    with TestClient(create_app(live, engine=engine), follow_redirects=False) as client:
        make.login(client, "partner")
        monkeypatch.setattr(chain, "append_many", paused_before_its_first_disclosure)
        answered: list = []
        viewer = threading.Thread(
            target=lambda: answered.append(client.get(f"/cases/{w.case.public_id}/summary"))
        )
        viewer.start()
        try:
            assert decided.wait(10), "the page never decided"
            change()
        finally:
            changed.set()
            viewer.join(20)
    (page,) = answered
    return page


def test_the_summary_page_made_as_a_release_is_revoked_is_made_again_without_it(
    committed_engine, keys, shared, node_secrets, clock, monkeypatch
):
    w, row = shared
    page = _summary_while(
        committed_engine,
        w,
        node_secrets,
        clock,
        monkeypatch,
        lambda: _revoke(committed_engine, keys, w, row),
    )
    assert page.status_code == 200
    assert SECRET_NOTE not in page.text
    assert "was revoked" in page.text
    assert _released_entries(committed_engine, w.owner.id) == []


def test_a_policy_change_that_gets_the_log_after_a_page_is_logged_after_that_pages_disclosure(
    committed_engine, keys, shared
):
    w, _row = shared
    assert isinstance(_view(committed_engine, keys, w), Released)
    line = _deny_mental_health(committed_engine, w)
    (disclosed,) = _released_entries(committed_engine, w.owner.id)
    with unit_of_work(committed_engine) as db:
        (added,) = db.exec(
            select(AuditEntry).where(AuditEntry.tag == AuditTag.POLICY_LINE_ADDED)
        ).all()
    assert line.created_at == added.at == disclosed.at + timedelta(microseconds=1)


def test_a_page_that_read_a_legal_basis_its_agency_then_retired_shows_and_logs_nothing_of_it(
    committed_engine, keys, monkeypatch
):
    with setup_unit(committed_engine) as db:
        w = legal_basis_world(db, keys, birth=date(2012, 3, 1))
        write(db, keys, w, "investigation", {"status": "open"})
        basis = record_basis(db, keys, w)
    asked = {"role": Role.INVESTIGATOR, "section": "investigation"}
    assert isinstance(_view(committed_engine, keys, w, at=make.AT, **asked), Released)

    def retire() -> None:
        with unit_of_work(committed_engine) as db:
            legal_bases.retire_basis(
                db,
                db.get(Agency, w.owner.id),
                basis.public_id,
                actor=db.get(StaffUser, w.owner_staff.id),
                at=REVOKED_AT,
            )

    outcome = _viewed_while(committed_engine, keys, w, monkeypatch, retire, **asked)
    assert isinstance(outcome, ChangedMeanwhile), outcome
    assert [e.at for e in _released_entries(committed_engine, w.owner.id)] == [make.AT]
    assert isinstance(_view(committed_engine, keys, w, **asked), Withheld)


def test_a_page_that_commits_before_logging_its_owners_answers_still_has_them_checked(
    committed_engine, keys, shared
):
    """A page that holds writes for its commit (a receipt of a case asked before: the
    dashboard's tasks, a meeting's agenda) commits them before it logs an owner's answer
    (`case_records.write_sides`): the policy that answer was decided on is read again
    under the owner's log all the same, though it was read in the transaction before."""
    w, _row = shared
    committed = []

    def deny() -> None:
        _deny_mental_health(committed_engine, w)

    with unit_of_work(committed_engine) as db:
        at_commit(db, lambda: None)  # what the page holds for its commit

        def between() -> None:
            db.commit()
            if not committed:  # the page's first commit: the lead's change goes in now
                deny()
            committed.append(True)

        with pytest.raises(ChangedMeanwhile):
            case_records.decide(
                db,
                w.viewer(Role.CASE_MANAGER).asking("mdt_case_review"),
                [
                    case_records.Ask(
                        db.get(type(w.case), w.case.id), db.get(Agency, w.owner.id), "mental_health"
                    )
                ],
                at=PAGE_AT,
                tz=UTC,
                keys=keys,
                between=between,
            )
    assert committed == [True]  # the commit before the owner's answer was logged
    assert _released_entries(committed_engine, w.owner.id) == []


@pytest.fixture
def joined(committed_engine, keys):
    """The owner's client joined a case coordinated by a third agency under one release
    (naming the coordinator), and another names the partner for its mental health notes:
    revoking the first ends everything of the client reaching the partner (the link
    lapses), though the release that named the section stands."""
    with setup_unit(committed_engine) as db:
        w = world(db, keys)
        write(db, keys, w, "mental_health", {"engaged": "yes", "summary": SECRET_NOTE})
        coordinator = make.agency(db, keys)
        db.get(type(w.case), w.case.id).coordinating_agency_id = coordinator.id
        joining = release(db, keys, w, ["participation"], recipients=[coordinator.public_id])
        release(db, keys, w, ["mental_health"])
        link = db.exec(
            select(CaseLink).where(CaseLink.case_id == w.case.id, CaseLink.agency_id == w.owner.id)
        ).one()
        link.release_ref = joining.public_id
    assert isinstance(_view(committed_engine, keys, w, at=make.AT + timedelta(minutes=1)), Released)
    return w, joining


def test_a_page_that_read_the_release_its_client_joined_under_then_revoked_logs_nothing(
    committed_engine, keys, joined, monkeypatch
):
    w, joining = joined
    before = _released_entries(committed_engine, w.owner.id)
    outcome = _viewed_while(
        committed_engine, keys, w, monkeypatch, lambda: _revoke(committed_engine, keys, w, joining)
    )
    assert isinstance(outcome, RevokedMeanwhile), outcome
    assert _released_entries(committed_engine, w.owner.id) == before

    again = _view(committed_engine, keys, w)
    assert isinstance(again, Withheld) and again.gate == NOT_LINKED
    assert _released_entries(committed_engine, w.owner.id) == before


def test_the_release_a_client_joined_under_revoked_after_a_page_logged_takes_effect_after_it(
    committed_engine, keys, joined
):
    w, joining = joined
    assert isinstance(_view(committed_engine, keys, w), Released)  # under the other release
    _revoke(committed_engine, keys, w, joining)
    with unit_of_work(committed_engine) as db:
        revoked_at = db.exec(select(ReleaseRevocation.revoked_at)).one()
    assert revoked_at == PAGE_AT + timedelta(microseconds=1)


def _withdraw(engine, w) -> None:
    """The owner's staff take the client back off the case (the wrong client confirmed)."""
    with unit_of_work(engine) as db:
        casework.withdraw_link(
            db,
            db.get(type(w.case), w.case.id),
            db.get(Agency, w.owner.id),
            reason="wrong_client",
            actor=db.get(StaffUser, w.owner_staff.id),
            at=REVOKED_AT,
        )


def test_a_page_that_read_a_link_its_agency_then_withdrew_shows_and_logs_nothing_of_it(
    committed_engine, keys, shared, monkeypatch
):
    w, _row = shared
    _made_again_without_it(
        committed_engine,
        keys,
        w,
        monkeypatch,
        lambda: _withdraw(committed_engine, w),
        refused=ChangedMeanwhile,
        gate=NOT_LINKED,
    )


def test_a_withdrawal_that_gets_the_log_after_a_page_takes_effect_after_that_pages_disclosure(
    committed_engine, keys, shared
):
    w, _row = shared
    assert isinstance(_view(committed_engine, keys, w), Released)
    _withdraw(committed_engine, w)
    (disclosed,) = _released_entries(committed_engine, w.owner.id)
    with unit_of_work(committed_engine) as db:
        (withdrawn,) = db.exec(
            select(AuditEntry).where(AuditEntry.tag == AuditTag.CASE_LINK_WITHDRAWN)
        ).all()
    assert withdrawn.at == disclosed.at + timedelta(microseconds=1)


def _partner_lead_changes(engine, w, change, *, user_id=None) -> None:
    """The partner's lead `change`s (set_roles, deactivate) a staff member of the partner
    (`user_id`; by default the one looking at the page), in a transaction of their own."""
    with unit_of_work(engine) as db:
        lead_id = make.user(db, db.get(Agency, w.partner.id), Role.AGENCY_LEAD).id
    with unit_of_work(engine) as db:
        partner, lead = db.get(Agency, w.partner.id), db.get(StaffUser, lead_id)
        as_lead = mentor_program.Assigner(lead, partner, frozenset({Role.AGENCY_LEAD.value}))
        changed = db.get(StaffUser, user_id or w.partner_staff.id)
        change(db, changed, viewer=as_lead, at=REVOKED_AT)


def _advocate_only(engine, w) -> None:
    """The partner's lead takes the case manager role from the staff member looking."""
    _partner_lead_changes(
        engine,
        w,
        lambda db, user, **by: staff.set_roles(db, user, [Role.ADVOCATE.value], **by),
    )


def _refused_and_unlogged(engine, keys, w, monkeypatch, change, *, said) -> None:
    outcome = _viewed_while(engine, keys, w, monkeypatch, change)
    assert isinstance(outcome, ChangedMeanwhile) and said in str(outcome), outcome
    assert _released_entries(engine, w.owner.id) == []
    with unit_of_work(engine) as db:
        received = db.exec(
            select(AuditEntry).where(
                AuditEntry.agency_id == w.partner.id,
                AuditEntry.tag == AuditTag.DISCLOSURE_RECEIVED,
            )
        ).all()
    assert received == []


def test_a_page_decided_for_a_role_its_lead_then_took_away_shows_and_logs_nothing_of_it(
    committed_engine, keys, shared, monkeypatch
):
    w, _row = shared
    _refused_and_unlogged(
        committed_engine,
        keys,
        w,
        monkeypatch,
        lambda: _advocate_only(committed_engine, w),
        said="Your roles changed",
    )
    # Asked again, the page is decided for the role they hold now, which the owner's
    # policy gives no mental health notes.
    again = _view(committed_engine, keys, w, role=Role.ADVOCATE)
    assert isinstance(again, Withheld) and again.gate == POLICY
    assert _released_entries(committed_engine, w.owner.id) == []


def test_a_page_for_someone_deactivated_meanwhile_shows_and_logs_nothing_of_it(
    committed_engine, keys, shared, monkeypatch
):
    w, _row = shared
    _refused_and_unlogged(
        committed_engine,
        keys,
        w,
        monkeypatch,
        lambda: _partner_lead_changes(committed_engine, w, staff.deactivate),
        said="Your account or your agency was deactivated",
    )


def test_a_role_given_meanwhile_or_taken_from_someone_else_leaves_a_page_as_it_was(
    committed_engine, keys, shared, monkeypatch
):
    w, _row = shared

    def roles_set(*roles):
        return lambda db, user, **by: staff.set_roles(db, user, [r.value for r in roles], **by)

    def others_change() -> None:
        with unit_of_work(committed_engine) as db:
            colleague = make.user(db, db.get(Agency, w.partner.id), Role.CASE_MANAGER).id
        _partner_lead_changes(committed_engine, w, roles_set(Role.ADVOCATE), user_id=colleague)
        _partner_lead_changes(committed_engine, w, roles_set(Role.CASE_MANAGER, Role.ADVOCATE))

    outcome = _viewed_while(committed_engine, keys, w, monkeypatch, others_change)
    assert isinstance(outcome, Released), outcome
    (entry,) = _released_entries(committed_engine, w.owner.id)
    assert entry.actor_role == Role.CASE_MANAGER.value


def test_the_summary_page_made_as_the_viewers_role_is_taken_is_made_again_in_the_new_one(
    committed_engine, keys, shared, node_secrets, clock, monkeypatch
):
    w, _row = shared
    page = _summary_while(
        committed_engine,
        w,
        node_secrets,
        clock,
        monkeypatch,
        lambda: _advocate_only(committed_engine, w),
    )
    assert page.status_code == 200
    assert SECRET_NOTE not in page.text
    assert _released_entries(committed_engine, w.owner.id) == []
    with unit_of_work(committed_engine) as db:
        decided_for = set(
            db.exec(
                select(AuditEntry.actor_role).where(
                    AuditEntry.agency_id == w.owner.id,
                    AuditEntry.section_key == "mental_health",
                )
            ).all()
        )
    assert decided_for == {Role.ADVOCATE.value}


def test_a_page_asked_through_an_api_token_revoked_meanwhile_shows_and_logs_nothing_of_it(
    committed_engine, keys, shared, monkeypatch
):
    w, _row = shared
    with unit_of_work(committed_engine) as db:
        partner = db.get(Agency, w.partner.id)
        lead = make.user(db, partner, Role.AGENCY_LEAD, Role.CASE_MANAGER)
        as_lead = mentor_program.Assigner(lead, partner, frozenset({Role.AGENCY_LEAD.value}))
        issued = api_tokens.create_token(
            db,
            as_lead,
            name="Case system (synthetic)",
            scopes=[ApiScope.SUMMARY_READ.value],
            acting_role=Role.CASE_MANAGER.value,
            at=make.AT,
        )
        token = issued.token.public_id
        through_it = Requester.of(lead, partner, {Role.CASE_MANAGER.value}, via=token)

    def revoked() -> None:
        with unit_of_work(committed_engine) as db:
            partner = db.get(Agency, w.partner.id)
            lead = db.get(StaffUser, as_lead.user.id)
            by = mentor_program.Assigner(lead, partner, frozenset({Role.AGENCY_LEAD.value}))
            api_tokens.revoke_token(db, by, token, at=REVOKED_AT)

    outcome = _viewed_while(committed_engine, keys, w, monkeypatch, revoked, asking=through_it)
    assert isinstance(outcome, ChangedMeanwhile) and "API token" in str(outcome), outcome
    assert _released_entries(committed_engine, w.owner.id) == []
