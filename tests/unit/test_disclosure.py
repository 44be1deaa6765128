"""The disclosure point: both gates, placeholders, audit entries on both sides."""

from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

import pytest
from disclosure_helpers import SECRET_NOTE, release, world, write
from sqlmodel import func, select

from portal.audit import AuditTag
from portal.disclosure import (
    CONSENT_EXPIRED,
    CONSENT_REVOKED,
    NO_CONSENT,
    NOT_LINKED,
    POLICY,
    Released,
    Withheld,
    disclose,
    preview,
)
from portal.models import AgencyKind, AuditEntry, Discipline, KeyPurpose, Role
from portal.placeholders import sentence
from portal.sections import catalogue
from portal.services import case_summary, releases
from portal.services import keys as keys_service
from portal.services import policy as policy_service
from portal.services.case_summary import owner_block

import factories as make
from databases import counted

LATER = make.AT + timedelta(hours=1)


def _entries(db, agency_id, tag=None):
    query = select(AuditEntry).where(AuditEntry.agency_id == agency_id)
    if tag:
        query = query.where(AuditEntry.tag == tag)
    return db.exec(query.order_by(AuditEntry.id)).all()


def test_released_when_policy_and_consent_allow(db, keys):
    w = world(db, keys)
    write(db, keys, w, "mental_health", {"engaged": "yes", "summary": SECRET_NOTE})
    row = release(db, keys, w, ["mental_health"])
    decision = disclose(
        db,
        w.viewer(Role.CASE_MANAGER).asking("mdt_case_review"),
        w.case,
        w.owner,
        "mental_health",
        LATER,
        tz=UTC,
        keys=keys,
    )
    assert isinstance(decision, Released)
    assert SECRET_NOTE in [r.value for r in decision.content.rows]
    assert decision.release_ref == row.public_id
    owner_log = _entries(db, w.owner.id, AuditTag.DISCLOSURE_RELEASED)
    assert len(owner_log) == 1
    entry = owner_log[0]
    assert (entry.section_key, entry.decision, entry.release_ref, entry.case_ref) == (
        "mental_health",
        "released",
        row.public_id,
        w.case.reference,
    )
    assert entry.actor_user_ref == w.partner_staff.public_id and entry.actor_role == "case_manager"
    assert entry.policy_rule == "*, *, case_manager, mental_health, *, allow"
    assert entry.client_ref == w.client.public_id
    received = _entries(db, w.partner.id, AuditTag.DISCLOSURE_RECEIVED)
    assert len(received) == 1 and received[0].release_ref == row.public_id
    assert SECRET_NOTE not in entry.detail and SECRET_NOTE not in received[0].detail


def test_policy_withholds_even_with_consent(db, keys):
    w = world(db, keys)
    write(db, keys, w, "mental_health", {"summary": SECRET_NOTE})
    release(db, keys, w, ["mental_health"])
    decision = disclose(
        db,
        w.viewer(Role.ADVOCATE).asking("mdt_case_review"),
        w.case,
        w.owner,
        "mental_health",
        LATER,
        tz=UTC,
        keys=keys,
    )
    assert isinstance(decision, Withheld) and decision.gate == POLICY
    assert "advocate" in sentence(decision.why)
    assert not _entries(db, w.partner.id, AuditTag.DISCLOSURE_RECEIVED)
    assert _entries(db, w.owner.id, AuditTag.DISCLOSURE_WITHHELD)[0].gate == POLICY


def test_no_release_withholds_with_a_readable_reason(db, keys):
    w = world(db, keys)
    write(db, keys, w, "mental_health", {"summary": SECRET_NOTE})
    decision = disclose(
        db,
        w.viewer(Role.CASE_MANAGER).asking("mdt_case_review"),
        w.case,
        w.owner,
        "mental_health",
        LATER,
        tz=UTC,
        keys=keys,
    )
    assert decision.gate == NO_CONSENT
    assert sentence(decision.why) == "no current release covers mental health for your agency"


def test_a_lapsed_release_is_dated_in_the_mdts_time_zone(db, keys):
    """The placeholder (and the owner's audit entry, which keeps its sentence) says when a
    release ended in the MDT's time, as every other time on its pages: it read "expired
    on 2026-11-04 15:00 UTC" before the point was given the MDT's time zone."""
    w = world(db, keys)
    write(db, keys, w, "medical", {"exam_done": "completed"})
    release(db, keys, w, ["medical"], days=2)  # ends 2026-11-04 15:00 UTC
    new_york = ZoneInfo("America/New_York")
    expired = disclose(
        db,
        w.viewer(Role.CASE_MANAGER).asking("mdt_case_review"),
        w.case,
        w.owner,
        "medical",
        make.AT + timedelta(days=3),
        tz=new_york,
        keys=keys,
    )
    assert expired.gate == CONSENT_EXPIRED
    assert sentence(expired.why).endswith("the release expired on 2026-11-04 10:00 EST")
    (entry,) = _entries(db, w.owner.id, AuditTag.DISCLOSURE_WITHHELD)
    assert "2026-11-04 10:00 EST" in entry.detail and "UTC" not in entry.detail


def test_revocation_and_expiry_count_on_the_very_next_call(db, keys):
    w = world(db, keys)
    write(db, keys, w, "medical", {"exam_done": "completed"})
    row = release(db, keys, w, ["medical"], days=2)
    viewer = w.viewer(Role.CASE_MANAGER)
    first = disclose(
        db, viewer.asking("mdt_case_review"), w.case, w.owner, "medical", LATER, tz=UTC, keys=keys
    )
    assert isinstance(first, Released)
    expired = disclose(
        db,
        viewer.asking("mdt_case_review"),
        w.case,
        w.owner,
        "medical",
        make.AT + timedelta(days=3),
        tz=UTC,
        keys=keys,
    )
    assert expired.gate == CONSENT_EXPIRED
    again = disclose(
        db, viewer.asking("mdt_case_review"), w.case, w.owner, "medical", LATER, tz=UTC, keys=keys
    )
    assert isinstance(again, Released)
    releases.revoke(db, row, reason=None, actor=w.owner_staff, keys=keys, at=LATER)
    db.flush()
    revoked = disclose(
        db,
        viewer.asking("mdt_case_review"),
        w.case,
        w.owner,
        "medical",
        LATER + timedelta(seconds=1),
        tz=UTC,
        keys=keys,
    )
    assert revoked.gate == CONSENT_REVOKED


def test_a_release_read_before_its_signing_time_counts_once_the_clock_passes_it(db, keys):
    # A node whose clock runs behind the signer's sees a release "signed in the future"
    # and withholds; that answer depends on the time, so it must not be remembered.
    w = world(db, keys)
    write(db, keys, w, "medical", {"exam_done": "completed"})
    release(db, keys, w, ["medical"])
    viewer = w.viewer(Role.CASE_MANAGER)
    early = make.AT - timedelta(minutes=1)
    before = disclose(
        db, viewer.asking("mdt_case_review"), w.case, w.owner, "medical", early, tz=UTC, keys=keys
    )
    assert isinstance(before, Withheld)
    after = disclose(
        db, viewer.asking("mdt_case_review"), w.case, w.owner, "medical", LATER, tz=UTC, keys=keys
    )
    assert isinstance(after, Released)
    again = disclose(
        db, viewer.asking("mdt_case_review"), w.case, w.owner, "medical", early, tz=UTC, keys=keys
    )
    assert isinstance(again, Withheld)


def test_the_key_a_release_is_verified_with_is_the_one_its_signature_names(db, keys):
    # The releases are read with the key their row names; the document's own key id
    # decides, and a key the row does not name is read on its own.
    w = world(db, keys)
    write(db, keys, w, "medical", {"exam_done": "completed"})
    row = release(db, keys, w, ["medical"])
    viewer = w.viewer(Role.CASE_MANAGER)
    row.key_id = None
    db.flush()
    found = disclose(
        db, viewer.asking("mdt_case_review"), w.case, w.owner, "medical", LATER, tz=UTC, keys=keys
    )
    assert isinstance(found, Released)
    other = make.agency(db, keys)
    row.key_id = keys_service.current_key(db, other.id, KeyPurpose.SIGNING).key_id
    db.flush()
    again = disclose(
        db, viewer.asking("mdt_case_review"), w.case, w.owner, "medical", LATER, tz=UTC, keys=keys
    )
    assert isinstance(again, Released)


def test_a_policy_change_counts_on_the_very_next_call(db, keys):
    w = world(db, keys)
    release(db, keys, w, ["medical"])
    viewer = w.viewer(Role.CASE_MANAGER)
    assert isinstance(
        disclose(
            db,
            viewer.asking("mdt_case_review"),
            w.case,
            w.owner,
            "medical",
            LATER,
            tz=UTC,
            keys=keys,
        ),
        Released,
    )
    lead = make.user(db, w.owner, Role.AGENCY_LEAD)
    line = policy_service.add_line(
        db,
        w.owner,
        kind="*",
        role="case_manager",
        section="medical",
        purpose="*",
        effect="deny",
        actor=lead,
        at=LATER,
    )
    db.flush()
    denied = disclose(
        db, viewer.asking("mdt_case_review"), w.case, w.owner, "medical", LATER, tz=UTC, keys=keys
    )
    assert denied.gate == POLICY
    policy_service.retire_line(db, w.owner, line.public_id, actor=lead, at=LATER)
    db.flush()
    assert isinstance(
        disclose(
            db,
            viewer.asking("mdt_case_review"),
            w.case,
            w.owner,
            "medical",
            LATER,
            tz=UTC,
            keys=keys,
        ),
        Released,
    )


def test_an_owner_not_linked_is_withheld_as_not_linked(db, keys):
    w = world(db, keys)
    stranger = make.agency(db, keys, discipline=w.owner.discipline)
    decision = disclose(
        db,
        w.viewer(Role.CASE_MANAGER).asking("mdt_case_review"),
        w.case,
        stranger,
        "medical",
        LATER,
        tz=UTC,
        keys=keys,
    )
    assert decision.gate == NOT_LINKED
    assert len(_entries(db, stranger.id, AuditTag.DISCLOSURE_WITHHELD)) == 1


def test_own_staff_need_no_consent_but_the_policy_applies_and_is_logged(db, keys):
    w = world(db, keys)
    write(db, keys, w, "mental_health", {"summary": SECRET_NOTE})
    own = disclose(
        db,
        w.own_viewer(Role.CLINICIAN).asking("mdt_case_review"),
        w.case,
        w.owner,
        "mental_health",
        LATER,
        tz=UTC,
        keys=keys,
    )
    assert isinstance(own, Released) and own.release_ref is None
    admin = disclose(
        db,
        w.own_viewer(Role.ADMINISTRATOR).asking("mdt_case_review"),
        w.case,
        w.owner,
        "mental_health",
        LATER,
        tz=UTC,
        keys=keys,
    )
    assert admin.gate == POLICY
    assert len(_entries(db, w.owner.id, AuditTag.DISCLOSURE_RELEASED)) == 1
    assert len(_entries(db, w.owner.id, AuditTag.DISCLOSURE_WITHHELD)) == 1
    assert not _entries(db, w.owner.id, AuditTag.DISCLOSURE_RECEIVED)


def test_an_owner_block_holds_a_placeholder_for_every_section_it_could_contribute(db, keys):
    w = world(db, keys)
    write(db, keys, w, "medical", {"follow_up": SECRET_NOTE})
    decisions = owner_block(
        db,
        w.viewer(Role.INVESTIGATOR).asking("mdt_case_review"),
        w.case,
        w.owner,
        at=LATER,
        tz=UTC,
        keys=keys,
    )
    expected = [s.key for s in catalogue().for_discipline(w.owner.discipline)]
    assert [d.section.key for d in decisions] == expected
    assert all(isinstance(d, Withheld) for d in decisions)
    written, empty = decisions[expected.index("medical")], decisions[expected.index("care_plan")]
    # A placeholder never tells whether the owner holds anything in the section.
    assert (written.gate, sentence(written.why).replace("medical", "X")) == (
        empty.gate,
        sentence(empty.why).replace("care plan", "X"),
    )
    assert SECRET_NOTE not in repr(decisions)
    count = db.exec(
        select(func.count(AuditEntry.id)).where(
            AuditEntry.agency_id == w.owner.id, AuditEntry.tag.like("disclosure:%")
        )
    ).one()
    assert count == len(expected)


def test_substance_use_never_goes_to_a_system_based_agency(db, keys):
    w = world(db, keys, partner_kind=AgencyKind.SYSTEM)
    release(db, keys, w, ["substance_use"])
    decision = disclose(
        db,
        w.viewer(Role.CASE_MANAGER).asking("mdt_case_review"),
        w.case,
        w.owner,
        "substance_use",
        LATER,
        tz=UTC,
        keys=keys,
    )
    assert decision.gate == POLICY
    entry = _entries(db, w.owner.id, AuditTag.DISCLOSURE_WITHHELD)[0]
    assert entry.policy_rule == "*, system, *, substance_use, *, deny"


def test_preview_uses_the_same_gates_and_is_audited_as_a_preview(db, keys):
    w = world(db, keys)
    write(db, keys, w, "medical", {"follow_up": SECRET_NOTE})
    row = release(db, keys, w, ["medical"])
    viewer = w.own_viewer(Role.CLINICIAN)
    decisions = preview(db, viewer, row, w.partner, "case_manager", LATER, tz=UTC, keys=keys)
    by_key = {d.section.key: d for d in decisions}
    assert isinstance(by_key["medical"], Released)
    assert isinstance(by_key["mental_health"], Withheld)
    previews = _entries(db, w.owner.id, AuditTag.DISCLOSURE_PREVIEWED)
    assert len(previews) == len(decisions)
    assert all(e.actor_user_ref == w.owner_staff.public_id for e in previews)
    assert not _entries(db, w.owner.id, AuditTag.DISCLOSURE_RELEASED)
    assert not [e for e in _entries(db, w.partner.id) if e.tag.startswith("disclosure:")]


def test_a_preview_decides_everything_on_one_reading_of_the_owners_policy(db, keys):
    """The recipient's gates, the previewing staff member's own reads and the lines that
    tell of other sections (a needs assessment's substance use line) all rest on the lines
    read once, which the append reads again: before, each read them anew, and the check
    as the preview was logged covered only the last reading."""
    w = world(db, keys, owner_discipline=Discipline.ADVOCACY)
    row = release(db, keys, w, ["needs_assessment", "substance_use"])
    viewer = w.own_viewer(Role.ADVOCATE)
    with counted(db) as statements:
        preview(db, viewer, row, w.partner, "case_manager", LATER, tz=UTC, keys=keys)
    first_write = next(n for n, s in enumerate(statements) if s.startswith("INSERT"))
    policy_reads = [s for s in statements[:first_write] if "FROM policy_line" in s]
    assert len(policy_reads) == 1, policy_reads


def test_preview_of_another_agencys_release_is_refused(db, keys):
    w = world(db, keys)
    row = release(db, keys, w, ["medical"])
    from portal.errors import NotFound

    with pytest.raises(NotFound):
        preview(
            db,
            w.viewer(Role.CASE_MANAGER),
            row,
            w.partner,
            "case_manager",
            LATER,
            tz=UTC,
            keys=keys,
        )


def test_an_unconfirmed_link_is_withheld_as_not_linked(db, keys):
    from portal.services import cases

    w = world(db, keys)
    pending_owner = make.agency(db, keys, discipline=w.owner.discipline)
    pending_client = make.client_record(db, pending_owner, keys)
    cases.link_client(db, w.case, pending_owner, pending_client, actor=None, at=make.AT)
    db.flush()
    decision = disclose(
        db,
        w.viewer(Role.CASE_MANAGER).asking("mdt_case_review"),
        w.case,
        pending_owner,
        "identity",
        LATER,
        tz=UTC,
        keys=keys,
    )
    assert decision.gate == NOT_LINKED


def test_the_page_decides_owners_in_order_until_its_budget_is_spent(db, keys):
    w = world(db, keys)
    viewer = w.viewer(Role.CASE_MANAGER)
    found = case_summary.participants(db, w.case)
    ticks = iter([0.0, 0.0, 5.0, 5.0, 5.0, 5.0])
    blocks = case_summary.page_blocks(
        db,
        viewer.asking("mdt_case_review"),
        w.case,
        found,
        at=LATER,
        tz=UTC,
        keys=keys,
        budget_seconds=1.0,
        clock=lambda: next(ticks),
    )
    assert len(blocks) == len(found) >= 2
    assert blocks[0].decisions is not None
    assert all(b.decisions is None for b in blocks[1:])


def test_the_owner_answers_and_the_requester_receipts_as_two_units_of_work(db, keys):
    """Issue 13: the owner's side is written (and, on a page, committed) before the
    requester's side begins, from what the owner returned — as across the network."""
    w = world(db, keys)
    write(db, keys, w, "medical", {"follow_up": SECRET_NOTE})
    release(db, keys, w, ["medical"])
    seen_between = {}

    def between():
        db.commit()  # what a page does: the owner's transaction ends here
        seen_between["owner"] = len(_entries(db, w.owner.id, AuditTag.DISCLOSURE_RELEASED))
        seen_between["received"] = len(_entries(db, w.partner.id, AuditTag.DISCLOSURE_RECEIVED))

    blocks = case_summary.page_blocks(
        db,
        w.viewer(Role.CASE_MANAGER),
        w.case,
        case_summary.participants(db, w.case),
        at=LATER,
        tz=UTC,
        keys=keys,
        budget_seconds=60,
        between=between,
    )
    assert any(isinstance(d, Released) for b in blocks for d in b.decisions or [])
    assert seen_between == {"owner": 1, "received": 0}
    # Issue 15: the receipts are the requester's transaction's last work, written as it
    # commits (its log is locked for that, not while the page renders).
    assert len(_entries(db, w.partner.id, AuditTag.DISCLOSURE_RECEIVED)) == 0
    db.commit()
    assert len(_entries(db, w.partner.id, AuditTag.DISCLOSURE_RECEIVED)) == 1
