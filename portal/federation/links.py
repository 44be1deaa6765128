"""Case links across nodes, from the coordinating agency's side.

The coordinating node asks the owner's node to confirm that the owner's client belongs to
the MDT case; the owner confirms only under a release naming the coordinating agency for
MDT case review (`portal.federation.owner.case_link`), or declines. Once confirmed, every
owner elsewhere is told which agencies take part, so its own disclosure point knows who
may ask about the case, and whether the case is open: closed or reopened here, it is
closed or reopened on the owners' nodes too.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlmodel import Session, select

from portal.audit import AuditTag, record
from portal.crypto import KeyWrapper
from portal.errors import Conflict, Invalid
from portal.federation import membership, transport, wire
from portal.federation.transport import Federation, Unavailable
from portal.models import Agency, AgencyKind, CaseLink, MdtCase, StaffUser
from portal.models.workflow import CaseEventKind
from portal.requester import Requester
from portal.services import case_history, cases

CASE_LINKS = transport.PREFIX + "/case-links"
CASE_PARTICIPANTS = transport.PREFIX + "/case-participants"


def _participants(db: Session, case: MdtCase) -> dict[str, AgencyKind]:
    """The agencies taking part, and their kinds: the coordinator and every confirmed link."""
    rows = db.exec(
        select(Agency.public_id, Agency.kind)
        .join(CaseLink, CaseLink.agency_id == Agency.id)
        .where(CaseLink.case_id == case.id, CaseLink.confirmed_at.is_not(None))
    ).all()
    coordinator = db.get(Agency, case.coordinating_agency_id)
    return dict(sorted({coordinator.public_id: coordinator.kind, **dict(rows)}.items()))


def named_to(participants: dict[str, AgencyKind], recipient: str, coordinator: str) -> list[str]:
    """The participants an owner elsewhere is told of: the coordinator, itself and every
    system-based agency. A community-based agency's taking part is its own to disclose
    (fact of service): it shows an owner a voucher when it asks (`vouchers`)."""
    return [
        agency
        for agency, kind in participants.items()
        if agency in (recipient, coordinator) or kind == AgencyKind.SYSTEM
    ]


def request_link(
    db: Session,
    case: MdtCase,
    owner: Agency,
    client_reference: str,
    *,
    requester: Requester,
    at: datetime,
    keys: KeyWrapper,
    federation: Federation,
) -> bool:
    """Ask `owner` (hosted elsewhere) to confirm its client `client_reference` for the
    case. True when confirmed; False when declined. Raises Conflict when the owner's node
    does not answer (nothing is recorded as confirmed)."""
    coordinator = db.get(Agency, case.coordinating_agency_id)
    if requester.agency != coordinator.public_id:
        raise Invalid("agency", "Only the coordinating agency links agencies to the case.")
    if membership.is_local(db, owner):
        raise Invalid("agency", "This agency is on this node: it confirms its link itself.")
    roster, local_url = transport.roster_and_url(db)
    member = roster.member(owner.public_id) if roster is not None else None
    if member is None or local_url is None:
        raise Invalid("agency", "This agency is not in the MDT's roster.")
    link = db.exec(
        select(CaseLink).where(CaseLink.case_id == case.id, CaseLink.agency_id == owner.id)
    ).first()
    if link is None:
        link = cases.link_client(db, case, owner, None, actor=requester, at=at)
    elif link.confirmed_at is not None:  # asked again (a double click): nothing to ask
        raise Conflict(
            "agency",
            f"{owner.name}'s client on this case is confirmed already: it is not asked again.",
        )
    participants = {**_participants(db, case), owner.public_id: owner.kind}
    (call,) = transport.calls_for(
        db,
        coordinator,
        [member],
        CASE_LINKS,
        lambda m: {
            "requester": wire.requester_dict(replace(requester, node=local_url)),
            "owner": m.agency,
            "client": client_reference,
            "case": {
                "reference": case.reference,
                "intake_date": case.intake_date.isoformat(),
                "referral_source": case.referral_source,
                "convening_due": case.convening_due.isoformat() if case.convening_due else None,
            },
            "participants": named_to(participants, m.agency, coordinator.public_id),
        },
        keys=keys,
    )
    (answer,) = federation.send([call])
    if isinstance(answer, Unavailable):
        raise Conflict("agency", f"The agency's node did not answer: {answer}.")
    if not answer.get("confirmed"):
        # In the coordinator's log too: it sent the client's reference, the case's facts and
        # who takes part, and was told no.
        record(
            db,
            AuditTag.CASE_LINK_DECLINED,
            agency_id=coordinator.id,
            actor=requester,
            subject=case.reference,
            detail={"agency": owner.public_id, "declined_on": member.node},
            at=at,
        )
        return False
    link.confirmed_at = at
    db.add(link)
    author = db.exec(select(StaffUser).where(StaffUser.public_id == requester.user)).first()
    case_history.note(
        db, case, CaseEventKind.LINK_CONFIRMED, actor=author, at=at, reason=owner.name
    )
    record(
        db,
        AuditTag.CASE_LINK_CONFIRMED,
        agency_id=coordinator.id,
        actor=requester,
        subject=case.reference,
        detail={"agency": owner.public_id, "confirmed_on": member.node},
        at=at,
    )
    db.flush()
    tell_participants(db, case, requester=requester, keys=keys, federation=federation)
    return True


def tell_participants(
    db: Session,
    case: MdtCase,
    *,
    requester: Requester,
    keys: KeyWrapper,
    federation: Federation,
) -> list[str]:
    """Send the case's participants and status to every confirmed owner elsewhere; returns
    the names of the owners that did not take it (to be told again later)."""
    roster, local_url = transport.roster_and_url(db)
    if roster is None or local_url is None:
        return []
    coordinator = db.get(Agency, case.coordinating_agency_id)
    participants = _participants(db, case)
    members = [
        member
        for public_id in participants
        if (member := roster.member(public_id)) is not None and member.node != local_url
    ]
    calls = transport.calls_for(
        db,
        coordinator,
        members,
        CASE_PARTICIPANTS,
        lambda m: {
            "requester": wire.requester_dict(replace(requester, node=local_url)),
            "owner": m.agency,
            "case": case.reference,
            "participants": named_to(participants, m.agency, coordinator.public_id),
            "status": str(case.status),
        },
        keys=keys,
    )
    answers = federation.send(calls) if calls else []
    return [
        call.owners[0].name
        for call, answer in zip(calls, answers, strict=True)
        if isinstance(answer, Unavailable)
    ]
