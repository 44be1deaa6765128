"""The demo seed shows the connected pieces: minutes released and withheld as the policy
and consent say, mentor follow-ups already made into tasks."""

import random
from datetime import UTC, date, datetime

from sqlmodel import select

from portal.demo import seed as demo
from portal.disclosure import disclose
from portal.models import Agency, CaseLink, MdtCase, StaffRole, StaffUser
from portal.requester import Requester
from portal.services import mentor_tasks

AT = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)


def viewer(db, username) -> Requester:
    user = db.exec(select(StaffUser).where(StaffUser.username == username)).one()
    roles = db.exec(select(StaffRole.role).where(StaffRole.user_id == user.id)).all()
    return Requester.of(user, db.get(Agency, user.agency_id), frozenset(roles))


def test_demo_minutes_follow_policy_and_consent(db, keys):
    by_key = demo.seed(db, keys=keys, at=AT, today=date(2026, 11, 2), rng=random.Random(2026))
    db.flush()
    cac = by_key["cac"]
    coordinator = viewer(db, "coordinator")
    seen = {"own": set(), "partner": set()}
    for case in db.exec(select(MdtCase).where(MdtCase.coordinating_agency_id == cac.id)):
        own = disclose(
            db,
            coordinator.asking("mdt_case_review"),
            case,
            cac,
            "mdt_minutes",
            AT,
            tz=UTC,
            keys=keys,
        )
        if own.decision == "released" and own.content.rows:
            seen["own"].add("released with minutes")
        for agency_id in db.exec(select(CaseLink.agency_id).where(CaseLink.case_id == case.id)):
            staff = db.exec(
                select(StaffUser).where(
                    StaffUser.agency_id == agency_id, StaffUser.username.not_like("%lead%")
                )
            ).first()
            if agency_id == cac.id or staff is None:
                continue
            seen_by = viewer(db, staff.username)
            decision = disclose(
                db,
                seen_by.asking("mdt_case_review"),
                case,
                cac,
                "mdt_minutes",
                AT,
                tz=UTC,
                keys=keys,
            )
            if decision.decision == "released":
                seen["partner"].add("released" + (" with minutes" if decision.content.rows else ""))
            else:
                seen["partner"].add(decision.gate)
    assert "released with minutes" in seen["own"]
    assert {"released with minutes", "no_consent"} <= seen["partner"], seen
    mentor = db.exec(select(StaffUser).where(StaffUser.username == "mentor")).one()
    assert sum(mentor_tasks.open_task_counts(db, mentor).values()) >= 3


def test_demo_shows_the_one_door(db, keys):
    """Issue 14's demo: links joined under releases naming the coordinator (some lapsed),
    one link waiting on a release, the mentor seeing a next hearing, and decisions one
    partner sees and another sees withheld."""
    from portal.services import case_records

    by_key = demo.seed(db, keys=keys, at=AT, today=date(2026, 11, 2), rng=random.Random(2026))
    db.flush()
    cac, clinic = by_key["cac"], by_key["clinic"]
    links = db.exec(select(CaseLink)).all()
    joined = [link for link in links if link.release_ref]
    assert len(joined) > len(links) // 3
    waiting = [k for k in links if k.agency_id == clinic.id and k.confirmed_at is None]
    assert len(waiting) == 1
    lapsed = set()
    decisions = set()
    for case in db.exec(select(MdtCase).where(MdtCase.coordinating_agency_id == cac.id)):
        lapsed |= case_records.needs_new_release(db, case, at=AT, keys=keys)
        for username in ("casemanager", "investigator", "advocate", "clinician"):
            asker = viewer(db, username).asking("mdt_case_review")
            if db.exec(
                select(CaseLink).where(
                    CaseLink.case_id == case.id,
                    CaseLink.agency_id == db.get(StaffUser, _user_id(db, username)).agency_id,
                    CaseLink.confirmed_at.is_not(None),
                )
            ).first():
                seen = case_records.case_decisions(db, asker, case, at=AT, tz=UTC, keys=keys)
                decisions.add(seen.decision)
    assert lapsed, "some survivor's joining release has lapsed"
    assert decisions == {"released", "withheld"}
    mentor = viewer(db, "mentor").asking("mdt_case_review")
    hearings = set()
    for link in db.exec(select(CaseLink).where(CaseLink.confirmed_at.is_not(None))):
        owner = db.get(Agency, link.agency_id)
        if owner.discipline not in ("advocacy", "prosecution"):
            continue
        case = db.get(MdtCase, link.case_id)
        hearings.add(
            disclose(db, mentor, case, owner, "next_hearing", AT, tz=UTC, keys=keys).decision
        )
    assert "released" in hearings


def _user_id(db, username):
    return db.exec(select(StaffUser.id).where(StaffUser.username == username)).one()
