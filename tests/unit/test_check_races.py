"""Checks that two requests at once both passed: each save checks a rule (not signed yet,
not revoked yet, not in an open case yet, no line alike, no lead yet, the page's values
unchanged) and then writes, and two at once both checked before either wrote, so both
wrote. Each runs on each database with commits that really happen, in two threads: the
first pauses just after its check while the second does its whole save, and the second
is then refused as it is after the fact. Synthetic data only."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, timedelta
from types import SimpleNamespace

import pytest
from disclosure_helpers import World, release
from sqlmodel import Session, func, select
from test_releases import SIGNER, _draft
from test_screening import NY, screen

import consent
from portal.audit import AuditTag, lock_logs
from portal.auth import passwords
from portal.auth.sessions import Viewer
from portal.crypto import KeyWrapper
from portal.db import unit_of_work
from portal.errors import Conflict, Forbidden, NotFound
from portal.federation import links, wire
from portal.federation import owner as owner_side
from portal.models import (
    AccompanimentKind,
    Agency,
    AgencyKind,
    AuditEntry,
    CaseLink,
    CaseStatus,
    Client,
    ConsentRelease,
    Discipline,
    LegalBasis,
    MdtCase,
    MentorAppointment,
    PlaceType,
    PolicyLine,
    ReleaseRevocation,
    RestrictedPerson,
    Role,
    StaffUser,
)
from portal.models.screening import Screening
from portal.models.workflow import AgendaItem, Meeting, RecommendationType, Task
from portal.services import (
    agencies,
    case_history,
    cases,
    casework,
    convening,
    legal_bases,
    meetings,
    mentor_appointments,
    policy,
    releases,
    restricted_persons,
    screenings,
    staff,
    tasks,
    validation,
)

import factories as make
from databases import BACKENDS, migrated_engine
from federation_helpers import coordinator_elsewhere

# How long the first save waits, after its check, for the second's whole save: a fraction
# of this when nothing holds the second back, so before the fixes it was done within it.
PAUSE_SECONDS = 2.0
AT_DAY = make.AT.date()


@pytest.fixture(params=BACKENDS)
def committed_engine(request, tmp_path):
    with migrated_engine(request.param, tmp_path, pool_size=4) as engine:
        yield engine


def at_once(
    engine,
    monkeypatch,
    module,
    check: str,
    save: Callable[[Session, int], object],
    *,
    refusal: type[Exception] = Conflict,
):
    """Run `save(db, number)` for 0 and 1 at once, each in a unit of work of its own; the
    first pauses just after `module.check` answered it, until the second is done. Returns
    how each ended, sorted: "saved", "refused" (the `refusal` it is told after the fact)
    or the error."""
    checked, second_done = threading.Event(), threading.Event()
    first = threading.local()
    original = getattr(module, check)

    def pausing_check(*args, **kwargs):
        answer = original(*args, **kwargs)
        if getattr(first, "pause", False):  # the first save's thread only, once
            first.pause = False
            checked.set()
            second_done.wait(PAUSE_SECONDS)
        return answer

    monkeypatch.setattr(module, check, pausing_check)
    outcomes: list[str] = []

    def run(number: int) -> None:
        first.pause = number == 0
        try:
            if number == 1:
                assert checked.wait(10), "the first save never checked"
            with unit_of_work(engine) as db:
                save(db, number)
            outcomes.append("saved")
        except refusal:
            outcomes.append("refused")
        except BaseException as error:
            outcomes.append(repr(error))
        finally:
            if number == 1:
                second_done.set()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return sorted(outcomes)


def _audited(engine, tag: AuditTag, subject: str) -> int:
    with Session(engine) as db:
        return db.exec(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.tag == tag.value, AuditEntry.subject == subject)
        ).one()


def _sign(db: Session, row: ConsentRelease, witness, keys, at) -> None:
    releases.sign(
        db,
        row,
        signer=SIGNER,
        second_signer=None,
        method=consent.SignatureMethod.TYPED,
        actor=witness,
        keys=keys,
        at=at,
    )


@pytest.fixture
def draft(committed_engine, node_secrets):
    keys = KeyWrapper(node_secrets.kek_bytes())
    with unit_of_work(committed_engine) as db:
        *_, witness, row = _draft(db, keys)
        return row.id, witness.id, keys


def test_a_release_signed_twice_at_once_is_signed_once(committed_engine, draft, monkeypatch):
    """Before: both signed the draft; the second's recipients clashed with the first's
    (an error page), or, had they not, it was signed twice with two log entries."""
    release_id, witness_id, keys = draft

    def sign(db: Session, number: int) -> None:
        row, witness = db.get(ConsentRelease, release_id), db.get(StaffUser, witness_id)
        _sign(db, row, witness, keys, _later(number))

    outcomes = at_once(committed_engine, monkeypatch, releases, "draft_document", sign)
    assert outcomes == ["refused", "saved"]
    with Session(committed_engine) as db:
        public_id = db.get(ConsentRelease, release_id).public_id
    assert _audited(committed_engine, AuditTag.RELEASE_SIGNED, public_id) == 1


def test_a_release_revoked_twice_at_once_is_revoked_once(committed_engine, draft, monkeypatch):
    """Before: two revocations of one release, and two entries in the agency's log."""
    release_id, witness_id, keys = draft
    with unit_of_work(committed_engine) as db:
        row, witness = db.get(ConsentRelease, release_id), db.get(StaffUser, witness_id)
        _sign(db, row, witness, keys, _later(0))

    def revoke(db: Session, number: int) -> None:
        row, witness = db.get(ConsentRelease, release_id), db.get(StaffUser, witness_id)
        releases.revoke(db, row, reason=None, actor=witness, keys=keys, at=_later(1 + number))

    outcomes = at_once(committed_engine, monkeypatch, releases, "revocations", revoke)
    assert outcomes == ["refused", "saved"]
    with Session(committed_engine) as db:
        public_id = db.get(ConsentRelease, release_id).public_id
        revocations = db.exec(
            select(ReleaseRevocation.id).where(ReleaseRevocation.release_id == release_id)
        ).all()
    assert len(revocations) == 1
    assert _audited(committed_engine, AuditTag.RELEASE_REVOKED, public_id) == 1


def test_a_draft_signed_and_discarded_at_once_is_one_or_the_other(
    committed_engine, draft, monkeypatch
):
    """Before: the draft was signed while it was discarded, and both said they were done."""
    release_id, witness_id, keys = draft

    def sign_or_discard(db: Session, number: int) -> None:
        row, witness = db.get(ConsentRelease, release_id), db.get(StaffUser, witness_id)
        if number == 0:
            _sign(db, row, witness, keys, _later(0))
        else:
            releases.discard(db, row, actor=witness, at=_later(1))

    outcomes = at_once(committed_engine, monkeypatch, releases, "draft_document", sign_or_discard)
    assert outcomes == ["refused", "saved"]


def _later(minutes: int):
    return make.AT + timedelta(minutes=minutes)


# -- one survivor, one client on a case, one open case ---------------------------------

# The node's key wrapper for the helpers below, which run in threads of their own: the
# releases they read are sealed under the agencies' data keys.
_NODE_KEYS: list[KeyWrapper] = []


@pytest.fixture(autouse=True)
def _node_keys(node_secrets):
    _NODE_KEYS[:] = [KeyWrapper(node_secrets.kek_bytes())]


@pytest.fixture
def coordinated(committed_engine, node_secrets):
    """An agency's case, its own unconfirmed link to it, and two of its clients."""
    keys = KeyWrapper(node_secrets.kek_bytes())
    with unit_of_work(committed_engine) as db:
        agency = make.agency(db, keys)
        case = make.mdt_case(db, agency)
        cases.link_client(db, case, agency, None, actor=None, at=make.AT)
        references = [make.client_record(db, agency, keys).reference for _ in range(2)]
        return agency.id, case.id, references


def _confirm(db: Session, coordinated, number: int) -> None:
    agency_id, case_id, references = coordinated
    casework.confirm_link(
        db,
        db.get(MdtCase, case_id),
        db.get(Agency, agency_id),
        client_reference=references[number],
        actor=None,
        keys=_NODE_KEYS[0],
        at=_later(number),
    )


def test_a_link_confirmed_twice_at_once_names_one_client(
    committed_engine, coordinated, monkeypatch
):
    """Before: both confirmed (each with its own client): the link named whichever wrote
    last, and the log said that both survivors were confirmed on the case."""
    outcomes = at_once(
        committed_engine,
        monkeypatch,
        case_history,
        "note",
        lambda db, number: _confirm(db, coordinated, number),
    )
    assert outcomes == ["refused", "saved"]
    with Session(committed_engine) as db:
        reference = db.get(MdtCase, coordinated[1]).reference
    assert _audited(committed_engine, AuditTag.CASE_LINK_CONFIRMED, reference) == 1


def test_a_link_withdrawn_twice_at_once_is_withdrawn_once(
    committed_engine, coordinated, monkeypatch
):
    """Before: both withdrew it, with two entries in the agency's log."""
    agency_id, case_id, _ = coordinated
    with unit_of_work(committed_engine) as db:
        _confirm(db, coordinated, 0)

    def withdraw(db: Session, number: int) -> None:
        casework.withdraw_link(
            db,
            db.get(MdtCase, case_id),
            db.get(Agency, agency_id),
            reason="wrong_client",
            actor=None,
            at=_later(1 + number),
        )

    outcomes = at_once(committed_engine, monkeypatch, case_history, "note", withdraw)
    assert outcomes == ["refused", "saved"]
    with Session(committed_engine) as db:
        reference = db.get(MdtCase, case_id).reference
    assert _audited(committed_engine, AuditTag.CASE_LINK_WITHDRAWN, reference) == 1


def test_a_withdrawal_told_from_elsewhere_and_a_writer_of_the_log_and_link_at_once_both_end(
    committed_engine, coordinated, monkeypatch
):
    """The agency's node tells the coordinator's that it withdrew its part
    (`links.withdrawn_elsewhere`) while a writer here takes the coordinator's log, then the
    link, as `request_link` does. Before, the withdrawal took the link first and the log
    only to write its entry (its callers had to take the log before calling it): on
    PostgreSQL each waited for the other and one was aborted as a deadlock."""
    agency_id, case_id, _ = coordinated
    AGENCY_NODE = "http://agency-elsewhere.test"
    with unit_of_work(committed_engine) as db:
        _confirm(db, coordinated, 0)

    def withdraw_or_write(db: Session, number: int) -> None:
        case, agency = db.get(MdtCase, case_id), db.get(Agency, agency_id)
        if number == 0:
            told_by = links._agency_itself(agency, node=AGENCY_NODE)  # as its notice is
            withdrawn = links.withdrawn_elsewhere(
                db, case, agency, requester=told_by, node=AGENCY_NODE, at=_later(1)
            )
            assert withdrawn
        else:
            lock_logs(db, [case.coordinating_agency_id])
            casework.held_link(db, case, agency)

    # The withdrawal pauses just after it took the link.
    outcomes = at_once(committed_engine, monkeypatch, casework, "held_link", withdraw_or_write)
    assert outcomes == ["saved", "saved"]
    with Session(committed_engine) as db:
        assert (
            db.exec(select(CaseLink).where(CaseLink.case_id == case_id)).one().confirmed_at is None
        )


def test_a_case_closed_twice_at_once_is_closed_and_counted_once(
    committed_engine, coordinated, monkeypatch
):
    """Before, on SQLite: both closed it (FOR UPDATE is not rendered there, and the case
    was read before the writers' lock), counting it twice in the convening tallies."""
    case_id = coordinated[1]

    def close(db: Session, number: int) -> None:
        case = db.get(MdtCase, case_id)
        casework.close_case(db, case, reason="done", actor=None, at=_later(number), today=AT_DAY)

    outcomes = at_once(committed_engine, monkeypatch, convening, "count_closed", close)
    assert outcomes == ["refused", "saved"]
    with Session(committed_engine) as db:
        reference = db.get(MdtCase, case_id).reference
    assert _audited(committed_engine, AuditTag.CASE_CLOSED, reference) == 1


@pytest.fixture
def screened(committed_engine, node_secrets):
    """A minor's screening with a clear concern, not finalised yet."""
    keys = KeyWrapper(node_secrets.kek_bytes())
    with unit_of_work(committed_engine) as db:
        agency = make.agency(db, keys, discipline=Discipline.ADVOCACY)
        staff = make.user(db, agency, Role.ADVOCATE, Role.MDT_COORDINATOR)
        client = make.client_record(db, agency, keys, birth=make.MINOR_BIRTH)
        made = screen(db, keys, client, staff, make.AT, finalise=False)
        return agency.id, staff.id, made.id, keys


def _finalise(db: Session, screened, at) -> None:
    _, staff_id, screening_id, keys = screened
    screenings.finalise(
        db,
        db.get(Screening, screening_id),
        actor=db.get(StaffUser, staff_id),
        keys=keys,
        tz=NY,
        window_hours=48,
        at=at,
    )


def test_a_screening_finalised_twice_at_once_is_finalised_once(
    committed_engine, screened, monkeypatch
):
    """Before: both finalised it, each logging it and starting the risk screen's clock."""
    outcomes = at_once(
        committed_engine,
        monkeypatch,
        screenings,
        "_subject",
        lambda db, number: _finalise(db, screened, _later(number)),
    )
    assert outcomes == ["refused", "saved"]
    with Session(committed_engine) as db:
        finalised = db.exec(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.tag == AuditTag.SCREENING_FINALISED.value)
        ).one()
    assert finalised == 1


def test_the_mdt_path_started_twice_at_once_opens_one_case(committed_engine, screened, monkeypatch):
    """Before: both opened a case and linked the survivor to it: one survivor in two open
    cases, with two 14-day clocks."""
    agency_id, staff_id, screening_id, _ = screened
    with unit_of_work(committed_engine) as db:
        _finalise(db, screened, make.AT)

    def start_path(db: Session, number: int) -> None:
        screenings.start_mdt_path(
            db,
            db.get(Screening, screening_id),
            db.get(Agency, agency_id),
            referral_source="community_agency",
            actor=db.get(StaffUser, staff_id),
            at=_later(number),
            tz=NY,
            today=AT_DAY,
            window_days=14,
        )

    outcomes = at_once(committed_engine, monkeypatch, screenings, "has_case", start_path)
    assert outcomes == ["refused", "saved"]
    with Session(committed_engine) as db:
        opened = db.exec(select(MdtCase.id).where(MdtCase.coordinating_agency_id == agency_id))
        assert len(opened.all()) == 1


def test_an_agency_added_twice_at_once_is_one_link_and_a_409(
    committed_engine, coordinated, node_secrets, monkeypatch
):
    """Before: both passed the check, and the second hit the link's unique key (a 500)."""
    case_id = coordinated[1]
    with unit_of_work(committed_engine) as db:
        joining = make.agency(db, KeyWrapper(node_secrets.kek_bytes())).public_id

    def add(db: Session, number: int) -> None:
        case = db.get(MdtCase, case_id)
        casework.add_agency(db, case, joining, actor=None, at=_later(number))

    outcomes = at_once(committed_engine, monkeypatch, cases, "record", add)
    assert outcomes == ["refused", "saved"]


# -- an agency's rules for sharing, and who may never sign ------------------------------


@pytest.fixture
def lead(committed_engine, node_secrets):
    """A system-based agency (which may share under a legal basis) and its lead."""
    keys = KeyWrapper(node_secrets.kek_bytes())
    with unit_of_work(committed_engine) as db:
        agency = make.agency(
            db, keys, kind=AgencyKind.SYSTEM, discipline=Discipline.LAW_ENFORCEMENT
        )
        return agency.id, make.user(db, agency, Role.AGENCY_LEAD).id, keys


def _line(db: Session, lead, at) -> PolicyLine:
    agency_id, lead_id, _ = lead
    return policy.add_line(
        db,
        db.get(Agency, agency_id),
        kind="system",
        role="mdt_coordinator",
        section="investigation",
        purpose="*",
        effect="allow",
        actor=db.get(StaffUser, lead_id),
        at=at,
    )


def _in_force(engine, model, agency_id: int) -> int:
    with Session(engine) as db:
        return len(
            db.exec(
                select(model.id).where(model.agency_id == agency_id, model.retired_at.is_(None))
            ).all()
        )


def test_a_policy_line_added_twice_at_once_is_one_line(committed_engine, lead, monkeypatch):
    """Before: two lines alike; retiring one left the other sharing."""
    outcomes = at_once(
        committed_engine,
        monkeypatch,
        policy,
        "agency_policy",
        lambda db, number: _line(db, lead, _later(number)),
    )
    assert outcomes == ["refused", "saved"]
    assert _in_force(committed_engine, PolicyLine, lead[0]) == 1


def test_a_policy_line_retired_twice_at_once_is_retired_once(committed_engine, lead, monkeypatch):
    """Before: both retired it, each with an entry, and the policy's version moved twice."""
    agency_id, lead_id, _ = lead
    with unit_of_work(committed_engine) as db:
        line_id = _line(db, lead, _later(0)).public_id

    def retire(db: Session, number: int) -> None:
        agency, actor = db.get(Agency, agency_id), db.get(StaffUser, lead_id)
        policy.retire_line(db, agency, line_id, actor=actor, at=_later(1 + number))

    outcomes = at_once(committed_engine, monkeypatch, policy, "_bump", retire, refusal=NotFound)
    assert outcomes == ["refused", "saved"]  # as after the fact: no such line in force
    assert _audited(committed_engine, AuditTag.POLICY_LINE_RETIRED, line_id) == 1


def _basis(db: Session, lead, at) -> LegalBasis:
    agency_id, lead_id, keys = lead
    return legal_bases.record_basis(
        db,
        db.get(Agency, agency_id),
        citation="Synthetic Code § 1 (not a real statute)",
        sections=["investigation"],
        purpose="mdt_case_review",
        minors_only=True,
        actor=db.get(StaffUser, lead_id),
        keys=keys,
        at=at,
    )


def test_a_legal_basis_recorded_twice_at_once_is_one_basis(committed_engine, lead, monkeypatch):
    """Before: two bases under one citation; retiring one left the other sharing."""
    outcomes = at_once(
        committed_engine,
        monkeypatch,
        legal_bases,
        "bases_of",
        lambda db, number: _basis(db, lead, _later(number)),
    )
    assert outcomes == ["refused", "saved"]
    assert _in_force(committed_engine, LegalBasis, lead[0]) == 1


def test_a_legal_basis_retired_twice_at_once_is_retired_once(committed_engine, lead, monkeypatch):
    agency_id, lead_id, _ = lead
    with unit_of_work(committed_engine) as db:
        basis_id = _basis(db, lead, _later(0)).public_id

    def retire(db: Session, number: int) -> None:
        agency, actor = db.get(Agency, agency_id), db.get(StaffUser, lead_id)
        legal_bases.retire_basis(db, agency, basis_id, actor=actor, at=_later(1 + number))

    outcomes = at_once(
        committed_engine, monkeypatch, legal_bases, "_what_it_covers", retire, refusal=NotFound
    )
    assert outcomes == ["refused", "saved"]
    assert _audited(committed_engine, AuditTag.LEGAL_BASIS_RETIRED, basis_id) == 1


@pytest.fixture
def client_of(committed_engine, node_secrets):
    keys = KeyWrapper(node_secrets.kek_bytes())
    with unit_of_work(committed_engine) as db:
        agency = make.agency(db, keys)
        return make.client_record(db, agency, keys).id


def _restrict(db: Session, client_id: int, at) -> RestrictedPerson:
    return restricted_persons.record_restricted_person(
        db,
        db.get(Client, client_id),
        name="Dana Suspect",
        reason="suspected_exploiter",
        actor=None,
        keys=_NODE_KEYS[0],
        at=at,
    )


def test_a_person_restricted_twice_at_once_is_recorded_once(
    committed_engine, client_of, monkeypatch
):
    outcomes = at_once(
        committed_engine,
        monkeypatch,
        restricted_persons,
        "excluded_signers",
        lambda db, number: _restrict(db, client_of, _later(number)),
    )
    assert outcomes == ["refused", "saved"]
    with Session(committed_engine) as db:
        recorded = db.exec(
            select(RestrictedPerson.id).where(RestrictedPerson.client_id == client_of)
        )
        assert len(recorded.all()) == 1


def test_a_restriction_ended_twice_at_once_is_ended_once(committed_engine, client_of, monkeypatch):
    """Before: both ended it, each with an entry, the second's reason over the first's."""
    with unit_of_work(committed_engine) as db:
        person_id = _restrict(db, client_of, _later(0)).id

    def end(db: Session, number: int) -> None:
        person = db.get(RestrictedPerson, person_id)
        restricted_persons.end_restriction(
            db,
            person,
            reason=f"order lifted ({number})",
            actor=None,
            keys=_NODE_KEYS[0],
            at=_later(1 + number),
        )

    outcomes = at_once(committed_engine, monkeypatch, validation, "text", end)
    assert outcomes == ["refused", "saved"]
    with Session(committed_engine) as db:
        ended = db.exec(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.tag == AuditTag.RESTRICTED_PERSON_ENDED.value)
        ).one()
    assert ended == 1


def test_a_release_signed_while_its_signer_is_restricted_does_not_stand(
    committed_engine, draft, monkeypatch
):
    """The signer recorded as never to sign while they sign: before, the signature passed
    its check first, the recording found no signed release to revoke, and the signature
    then stood for the survivor's consent."""
    release_id, witness_id, keys = draft
    with Session(committed_engine) as db:
        client_id = db.get(ConsentRelease, release_id).client_id

    def sign_or_restrict(db: Session, number: int) -> None:
        if number == 0:
            row, witness = db.get(ConsentRelease, release_id), db.get(StaffUser, witness_id)
            _sign(db, row, witness, keys, _later(0))
        else:
            client = db.get(Client, client_id)
            releases.record_restricted_person(
                db,
                client,
                name=SIGNER.name,
                reason="suspected_exploiter",
                actor=db.get(StaffUser, witness_id),
                keys=keys,
                at=_later(1),
            )

    outcomes = at_once(
        committed_engine, monkeypatch, releases, "excluded_signers", sign_or_restrict
    )
    assert outcomes == ["saved", "saved"]
    with Session(committed_engine) as db:
        row = db.get(ConsentRelease, release_id)
        status = releases.status_of(db, row, at=_later(2), keys=keys)
    assert status.state == consent.ReleaseState.REVOKED


# -- meetings and tasks ------------------------------------------------------------------


@pytest.fixture
def meeting_today(committed_engine, coordinated):
    """A meeting of the MDT on the tests' day, the MDT's case on its agenda."""
    agency_id, case_id, _ = coordinated
    with unit_of_work(committed_engine) as db:
        agency, case = db.get(Agency, agency_id), db.get(MdtCase, case_id)
        meeting = meetings.schedule_meeting(
            db,
            agency,
            day=AT_DAY.isoformat(),
            clock="23:00",
            place="Room 1",
            case_ids=[case.public_id],
            actor=None,
            at=make.AT - timedelta(days=1),
            tz=UTC,
        )
        item = db.exec(select(AgendaItem).where(AgendaItem.meeting_id == meeting.id)).one()
        return meeting.id, item.id


def test_a_meeting_cancelled_and_held_at_once_is_one_or_the_other(
    committed_engine, meeting_today, monkeypatch
):
    """Before: the meeting was cancelled (its invitees told) and held, both logged."""
    meeting_id, _ = meeting_today

    def cancel_or_hold(db: Session, number: int) -> None:
        meeting = db.get(Meeting, meeting_id)
        if number == 0:
            meetings.cancel_meeting(db, meeting, reason="room lost", actor=None, at=_later(0))
        else:
            meetings.hold_meeting(db, meeting, actor=None, at=_later(1), today=AT_DAY)

    outcomes = at_once(committed_engine, monkeypatch, meetings, "_require_status", cancel_or_hold)
    assert outcomes == ["refused", "saved"]


def test_a_case_is_not_put_on_a_meeting_cancelled_at_that_moment(
    committed_engine, coordinated, meeting_today, monkeypatch
):
    """Before: the case went onto the agenda of a meeting cancelled meanwhile."""
    agency_id, _, _ = coordinated
    meeting_id, _ = meeting_today
    with unit_of_work(committed_engine) as db:
        another = make.mdt_case(db, db.get(Agency, agency_id)).public_id

    def cancel_or_add(db: Session, number: int) -> None:
        meeting = db.get(Meeting, meeting_id)
        if number == 0:
            meetings.cancel_meeting(db, meeting, reason="room lost", actor=None, at=_later(0))
        else:
            agency = db.get(Agency, agency_id)
            meetings.add_to_agenda(db, meeting, agency, another, actor=None, at=_later(1))

    outcomes = at_once(committed_engine, monkeypatch, meetings, "_require_status", cancel_or_add)
    assert outcomes == ["refused", "saved"]


def test_minutes_saved_twice_from_one_page_at_once_are_not_written_over_unseen(
    committed_engine, meeting_today, monkeypatch
):
    """Before: both saves matched the page's minutes, and the second wrote over the first's
    words unseen, which the check is there to prevent."""
    meeting_id, item_id = meeting_today
    with unit_of_work(committed_engine) as db:
        meeting = db.get(Meeting, meeting_id)
        meetings.hold_meeting(db, meeting, actor=None, at=make.AT, today=AT_DAY)
    shown = meetings.minutes_fingerprint(None)

    def save(db: Session, number: int) -> None:
        meeting, item = db.get(Meeting, meeting_id), db.get(AgendaItem, item_id)
        meetings.record_minutes(
            db, meeting, item, f"Words {number}", actor=None, at=_later(number), seen=shown
        )

    outcomes = at_once(committed_engine, monkeypatch, meetings, "minutes_fingerprint", save)
    assert outcomes == ["refused", "saved"]


def test_a_task_saved_twice_from_one_page_at_once_is_changed_once(
    committed_engine, coordinated, monkeypatch
):
    agency_id, case_id, _ = coordinated
    with unit_of_work(committed_engine) as db:
        task = tasks.create_task(
            db,
            db.get(MdtCase, case_id),
            title="Arrange interpreter",
            assignee=f"agency:{db.get(Agency, agency_id).public_id}",
            due_date=(AT_DAY + timedelta(days=7)).isoformat(),
            offered=None,
            actor=None,
            at=make.AT,
            today=AT_DAY,
        )
        task_id, shown = task.id, tasks.edit_fingerprint(task)

    def save(db: Session, number: int) -> None:
        tasks.update_task(
            db,
            db.get(Task, task_id),
            db.get(MdtCase, case_id),
            assignee=tasks.KEEP_ASSIGNEE,
            due_date=(AT_DAY + timedelta(days=8 + number)).isoformat(),
            priority=("high", "low")[number],
            offered=None,
            actor=None,
            at=_later(number),
            seen=shown,
        )

    outcomes = at_once(committed_engine, monkeypatch, tasks, "edit_fingerprint", save)
    assert outcomes == ["refused", "saved"]


# -- staff accounts ----------------------------------------------------------------------


def test_two_first_leads_added_at_once_are_one_lead(committed_engine, node_secrets, monkeypatch):
    """An administrator adds only an agency's first lead: before, two added at once (two
    administrators, or two forms) both found no lead, and the agency had two."""
    keys = KeyWrapper(node_secrets.kek_bytes())
    with unit_of_work(committed_engine) as db:
        home, agency = make.agency(db, keys), make.agency(db, keys)
        admin = make.user(db, home, Role.ADMINISTRATOR)
        ids = (admin.id, home.id, agency.id)

    def add_lead(db: Session, number: int) -> None:
        admin_id, home_id, agency_id = ids
        viewer = Viewer(
            user=db.get(StaffUser, admin_id),
            agency=db.get(Agency, home_id),
            roles=frozenset({Role.ADMINISTRATOR}),
            session=None,
        )
        staff.invite_staff(
            db,
            db.get(Agency, agency_id),
            username=f"first-lead-{number}",
            display_name="Lead Person",
            roles=[Role.AGENCY_LEAD],
            viewer=viewer,
            at=_later(number),
        )

    outcomes = at_once(
        committed_engine, monkeypatch, staff, "has_lead", add_lead, refusal=Forbidden
    )
    assert outcomes == ["refused", "saved"]


def test_one_username_taken_twice_at_once_is_a_409(committed_engine, node_secrets, monkeypatch):
    """Usernames are the node's: before, two agencies taking one at once both found it
    free, and the second met the unique key (a 500)."""
    keys = KeyWrapper(node_secrets.kek_bytes())
    with unit_of_work(committed_engine) as db:
        agency_ids = [make.agency(db, keys).id for _ in range(2)]

    def create(db: Session, number: int) -> None:
        staff.create_staff(
            db,
            db.get(Agency, agency_ids[number]),
            username="robin.example",
            display_name="Robin Example",
            password=make.PASSWORD,
            roles=[Role.ADVOCATE.value],
            actor=None,
            at=_later(number),
        )

    outcomes = at_once(committed_engine, monkeypatch, passwords, "hash_password", create)
    assert outcomes == ["refused", "saved"]


def test_two_agencies_named_alike_at_once_are_one_agency_and_a_409(
    committed_engine, node_secrets, monkeypatch
):
    """Names are compared as a reader sees them ("Élan House" and "élan house" are one
    agency to whoever picks a release's recipient by name), in Python, so the database's
    unique key on the exact name does not catch two at once: before, both found the other
    not there yet, and the node had two."""
    keys = KeyWrapper(node_secrets.kek_bytes())
    names = ("Élan House (synthetic)", "élan house (synthetic)")

    def create(db: Session, number: int) -> None:
        agencies.create_agency(
            db,
            name=names[number],
            kind="community",
            discipline="advocacy",
            actor=None,
            keys=keys,
            at=_later(number),
        )

    outcomes = at_once(committed_engine, monkeypatch, agencies, "local_node", create)
    assert outcomes == ["refused", "saved"]
    with unit_of_work(committed_engine) as db:
        assert db.exec(select(func.count()).select_from(Agency)).one() == 1


# -- lists made the first time they are asked for ---------------------------------------


def test_an_agencys_recommendation_types_first_viewed_twice_at_once_are_listed_once(
    committed_engine, coordinated, monkeypatch
):
    """The defaults are written the first time the list is asked for: before, two first
    views at once both found it empty and wrote them, and the second met the unique key
    (a 500)."""
    agency_id = coordinated[0]

    def view(db: Session, number: int) -> None:
        meetings.recommendation_types(db, db.get(Agency, agency_id))

    outcomes = at_once(committed_engine, monkeypatch, meetings, "listed_recommendation_types", view)
    assert outcomes == ["saved", "saved"]
    with Session(committed_engine) as db:
        labels = db.exec(
            select(RecommendationType.label).where(RecommendationType.agency_id == agency_id)
        ).all()
    assert sorted(labels) == sorted(meetings.DEFAULT_RECOMMENDATIONS)


# -- one survivor, one open case, whichever node asks -----------------------------------

ELSEWHERE = "http://coordinator-elsewhere.test"


@pytest.fixture
def served_twice(committed_engine, node_secrets):
    """A clinic's client whose release names a coordinating agency on another node for
    MDT case review, and a case of the clinic's own with its link not confirmed yet."""
    keys = KeyWrapper(node_secrets.kek_bytes())
    with unit_of_work(committed_engine) as db:
        clinic = make.agency(db, keys, discipline=Discipline.HEALTH)
        elsewhere = make.agency(db, keys)
        client = make.client_record(db, clinic, keys)
        clinic_staff = make.user(db, clinic, Role.CLINICIAN)
        case = make.mdt_case(db, clinic)
        cases.link_client(db, case, clinic, None, actor=None, at=make.AT)
        world = World(clinic, elsewhere, client, client, case, clinic_staff, clinic_staff)
        release(db, keys, world, ["medical"], recipients=[elsewhere.public_id])
        asking = coordinator_elsewhere(ELSEWHERE, elsewhere)
        return clinic.id, elsewhere.public_id, client.id, client.reference, case.id, asking


def _from_elsewhere(served_twice) -> tuple[SimpleNamespace, dict]:
    """The caller the coordinating agency's node is to the clinic's, and the requester
    its requests carry."""
    _, elsewhere_id, _, _, _, asking = served_twice
    member = SimpleNamespace(
        agency=elsewhere_id, node=ELSEWHERE, kind=asking.agency_kind, name="coordinator"
    )
    return SimpleNamespace(member=member), wire.requester_dict(replace(asking, node=ELSEWHERE))


def _confirmed_here(db: Session, served_twice, at) -> None:
    """The clinic confirms its client on its own case."""
    clinic_id, _, _, reference, case_id, _ = served_twice
    casework.confirm_link(
        db,
        db.get(MdtCase, case_id),
        db.get(Agency, clinic_id),
        client_reference=reference,
        actor=None,
        keys=_NODE_KEYS[0],
        at=at,
    )


def _linked_from_elsewhere(db: Session, served_twice, at) -> None:
    """The coordinating agency elsewhere asks for the clinic's client on its own case (the
    `case-links` request its node signs)."""
    clinic_id, _, _, reference, _, _ = served_twice
    caller, requester = _from_elsewhere(served_twice)
    owner_side.case_link(
        db,
        caller,
        {
            "requester": requester,
            "owner": db.get(Agency, clinic_id).public_id,
            "client": reference,
            "case": {"reference": "ELSE-2026-0001", "intake_date": "2026-10-20"},
            "participants": [],
        },
        at=at,
        keys=_NODE_KEYS[0],
    )


@pytest.mark.parametrize("first", ["elsewhere", "here"])
def test_one_client_confirmed_from_here_and_from_elsewhere_at_once_is_in_one_open_case(
    committed_engine, served_twice, monkeypatch, first
):
    """The clinic confirms its client on its own case while a coordinator on another node
    asks for the same client on its case: before, on PostgreSQL, the two checks that the
    client was in no other open case took different locks (the clinic's log, the client's
    record), both passed, and one survivor was confirmed on two open cases."""
    client_id = served_twice[2]

    def confirm(db: Session, number: int) -> None:
        if (number == 0) == (first == "elsewhere"):
            _linked_from_elsewhere(db, served_twice, _later(number))
        else:
            _confirmed_here(db, served_twice, _later(number))

    # Each pauses just after it checked the client's other open cases.
    module, check = (owner_side, "_kept_apart") if first == "elsewhere" else (case_history, "note")
    outcomes = at_once(committed_engine, monkeypatch, module, check, confirm)
    assert "saved" in outcomes and all(o in ("saved", "refused") for o in outcomes), outcomes
    with Session(committed_engine) as db:
        confirmed = db.exec(
            select(MdtCase.reference)
            .join(CaseLink, CaseLink.case_id == MdtCase.id)
            .where(CaseLink.client_id == client_id, CaseLink.confirmed_at.is_not(None))
        ).all()
    assert len(confirmed) == 1, confirmed


def _status_from_elsewhere(db: Session, served_twice, status: str, at) -> dict:
    """The coordinating agency elsewhere closes or reopens its case (the
    `case-participants` notice its node signs); the clinic's answer."""
    caller, requester = _from_elsewhere(served_twice)
    answered = owner_side.case_participants(
        db,
        caller,
        {
            "requester": requester,
            "owner": db.get(Agency, served_twice[0]).public_id,
            "case": "ELSE-2026-0001",
            "participants": [],
            "status": status,
        },
        at=at,
    )
    return answered.payload


@pytest.mark.parametrize("first", ["reopened", "confirmed"])
def test_a_case_reopened_elsewhere_and_the_client_confirmed_here_at_once_leave_one_open(
    committed_engine, served_twice, monkeypatch, first
):
    """The case elsewhere the clinic's client was confirmed on has closed. Its coordinator
    reopens it while the clinic confirms the client on its own case: whichever comes
    second sees the other (the reopening withdraws the clinic's part, or the confirmation
    is refused), and the survivor is in one open case."""
    client_id = served_twice[2]
    with unit_of_work(committed_engine) as db:
        _linked_from_elsewhere(db, served_twice, _later(0))
        _status_from_elsewhere(db, served_twice, "closed", _later(1))

    def reopen_or_confirm(db: Session, number: int) -> None:
        if (number == 0) == (first == "reopened"):
            _status_from_elsewhere(db, served_twice, "open", _later(2 + number))
        else:
            _confirmed_here(db, served_twice, _later(2 + number))

    # Each pauses just after it checked the client's other open cases.
    module, check = (
        (owner_side, "_other_open_case") if first == "reopened" else (case_history, "note")
    )
    outcomes = at_once(committed_engine, monkeypatch, module, check, reopen_or_confirm)
    assert "saved" in outcomes and all(o in ("saved", "refused") for o in outcomes), outcomes
    with Session(committed_engine) as db:
        open_and_confirmed = db.exec(
            select(MdtCase.reference)
            .join(CaseLink, CaseLink.case_id == MdtCase.id)
            .where(
                CaseLink.client_id == client_id,
                CaseLink.confirmed_at.is_not(None),
                MdtCase.status == CaseStatus.OPEN,
            )
        ).all()
    assert len(open_and_confirmed) == 1, open_and_confirmed


def test_a_mentors_date_is_not_added_to_a_case_closed_at_that_moment(
    committed_engine, coordinated, node_secrets, monkeypatch
):
    """Before: the date was added to the case closed meanwhile, where no caseload or
    calendar feed shows it."""
    case_id = coordinated[1]
    with unit_of_work(committed_engine) as db:
        program = make.agency(
            db, KeyWrapper(node_secrets.kek_bytes()), discipline=Discipline.SURVIVOR_MENTOR
        )
        mentor_id = make.user(db, program, Role.SURVIVOR_MENTOR).id
    court_date = mentor_appointments.AppointmentInput(
        starts_at=make.AT + timedelta(days=7),
        kind=AccompanimentKind.COURT_APPEARANCE,
        place_type=PlaceType.COURTHOUSE,
    )

    def close_or_add(db: Session, number: int) -> None:
        case = db.get(MdtCase, case_id)
        if number == 0:
            casework.close_case(db, case, reason="done", actor=None, at=_later(0), today=AT_DAY)
        else:
            mentor = db.get(StaffUser, mentor_id)
            mentor_appointments.add_appointment(
                db, case, given=court_date, actor=mentor, at=_later(1)
            )

    outcomes = at_once(committed_engine, monkeypatch, convening, "count_closed", close_or_add)
    assert outcomes == ["refused", "saved"]
    with Session(committed_engine) as db:
        added = db.exec(select(MentorAppointment.id).where(MentorAppointment.case_id == case_id))
        assert added.all() == []
