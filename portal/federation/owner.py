"""The owner's node answering another node: the same disclosure point as for its own viewers.

Each function runs in the owner's own transaction and writes the owner's audit entries;
the requesting node writes its own. The caller is a roster member whose signature was
checked; what it says of its requester (user, roles, purpose) is its word for its own
staff, but the agency, its kind and its node are the roster's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo

from sqlalchemy import delete
from sqlmodel import Session, select

import consent
from portal.audit import AuditTag, lock_logs, record
from portal.crypto import KeyWrapper
from portal.db import insert_of
from portal.disclosure import RequestCache, answer, parse_purpose
from portal.disclosure import referrals as referral_point
from portal.disclosure.point import (
    answered_as_not_linked,
    consent_for_record,
    logs_relied_on,
    prefetch,
    section_of,
    told_to_agency,
    vouched_for,
)
from portal.errors import Invalid, NotFound
from portal.federation import elsewhere_consent, links, membership, vouchers, wire
from portal.federation.signatures import Refusal, SignatureRefused
from portal.federation.transport import Caller, Federation
from portal.models import (
    Agency,
    AgencyKind,
    CaseLink,
    CaseStatus,
    Client,
    MdtCase,
    ReferralSource,
    StaffUser,
)
from portal.models.workflow import CaseEventKind
from portal.requester import Requester
from portal.sections import catalogue
from portal.services import case_history, case_records, casework, releases, tasks, validation
from portal.services.clients import lock_client

log = logging.getLogger("portal")


@dataclass(frozen=True)
class Answer:
    status: int
    payload: dict
    agency: Agency | None  # the agency whose key signs the answer


def _requester(db: Session, caller: Caller, payload: dict) -> Requester:
    requester = wire.requester_from(payload.get("requester"))
    member = caller.member
    if requester.agency != member.agency or requester.node != member.node:
        raise SignatureRefused(
            Refusal.WRONG_SENDER,
            f"{Refusal.WRONG_SENDER.words}: the key is {member.name}'s, on {member.node}",
        )
    # Who asked is the sending node's word, about its own staff: never one of ours, whose
    # name our log would then put on what another agency was shown.
    if (
        requester.user is not None
        and db.exec(select(StaffUser.id).where(StaffUser.public_id == requester.user)).first()
        is not None
    ):
        raise SignatureRefused(
            Refusal.WRONG_SENDER,
            f"{Refusal.WRONG_SENDER.words}: the person named as asking is of this node",
        )
    # The roster says what kind of agency it is; the purpose must be one the portal knows.
    return replace(requester, agency_kind=member.kind, purpose=parse_purpose(requester.purpose))


def _local_agency(db: Session, public_id: object) -> Agency:
    agency = None
    if isinstance(public_id, str):
        agency = db.exec(select(Agency).where(Agency.public_id == public_id)).first()
    if agency is None or not membership.is_local(db, agency) or not agency.is_active:
        raise NotFound("agency")
    return agency


def _case(db: Session, reference: object, *, at: datetime) -> MdtCase:
    """The case by its reference; a case unknown here is answered like one the owner is
    not linked to (every section withheld, and audited), never as "no such case"."""
    if not isinstance(reference, str) or len(reference) > 20:
        raise wire.WireError("case: expected a case reference")
    case = db.exec(select(MdtCase).where(MdtCase.reference == reference)).first()
    if case is not None:
        return case
    return MdtCase(
        reference=reference,
        coordinating_agency_id=0,
        intake_date=at.date(),
        referral_source=ReferralSource.OTHER,
        created_at=at,
    )


def _vouched(
    db: Session, voucher: object, *, case: MdtCase, requester: Requester, at: datetime
) -> bool:
    """Whether the request carries a voucher that holds. One that does not is answered as
    if none were sent, whether or not the case is known here: refused aloud only for a case
    held here, it told any node that sent a made-up one which cases this node holds (and,
    for a case held only because an agency here confirmed a survivor on it, that this
    agency serves one). The refusal is the operator's to see."""
    if voucher is None:
        return False
    try:
        vouchers.check(db, voucher, case=case, requester=requester, at=at)
    except vouchers.VoucherRefused as refused:
        log.warning(
            "a voucher from %s (%s) was not taken: %s", requester.agency, requester.node, refused
        )
        return False
    return True


def disclosures(
    db: Session,
    caller: Caller,
    payload: dict,
    *,
    at: datetime,
    tz: tzinfo,
    keys: KeyWrapper,
    federation: Federation | None = None,
) -> Answer:
    """`POST /federation/v1/disclosures`: each owner named (all hosted here) answers with
    its disclosure point, audited in its own log; signed with the first owner's key."""
    requester = _requester(db, caller, payload)
    named = payload.get("owners")
    if not isinstance(named, list) or not 0 < len(named) <= 20:
        raise wire.WireError("owners: expected a list of agency ids")
    owners = [_local_agency(db, public_id) for public_id in named]
    case = _case(db, payload.get("case"), at=at)
    asked = payload.get("sections")
    if asked is not None and not (
        isinstance(asked, list) and all(isinstance(s, str) for s in asked) and len(asked) < 100
    ):
        raise wire.WireError("sections: expected a list of section keys")
    cache = RequestCache()  # this request's reads only
    if _vouched(db, payload.get("participation"), case=case, requester=requester, at=at):
        # A community-based agency owners here are not told of: taking part on its
        # coordinator's word, for this request alone (`vouchers`).
        vouched_for(db, case, cache.agency(db, requester.agency), at=at, keys=keys, cache=cache)
    sections_of = {
        owner.id: asked or list(catalogue().for_discipline(owner.discipline)) for owner in owners
    }
    answers = _owners_answers(
        db,
        requester,
        case,
        owners,
        sections_of,
        at=at,
        tz=tz,
        keys=keys,
        federation=federation,
        cache=cache,
    )
    return Answer(200, {"case": case.reference, "answers": answers}, owners[0])


def _owners_answers(
    db: Session,
    requester: Requester,
    case: MdtCase,
    owners: list[Agency],
    sections_of: dict[int, list],
    *,
    at: datetime,
    tz: tzinfo,
    keys: KeyWrapper,
    federation: Federation | None,
    cache: RequestCache,
    refs_of: dict[int, tuple[str, ...]] | None = None,
) -> list[dict]:
    """Each owner's decisions on these sections (`refs_of`: of an MDT record kept per
    case, only these records of that owner's), as its point answers them, each audited in
    its own log; in the shape `/disclosures` answers them."""
    refs_of = refs_of or {}
    # Before any log is locked: the nodes of survivors served elsewhere, for MDT records.
    elsewhere_consent.ask_elsewhere(
        db,
        requester,
        [
            case_records.Ask(
                case, owner, getattr(section, "key", section), refs_of.get(owner.id, ())
            )
            for owner in owners
            for section in sections_of[owner.id]
        ],
        at=at,
        tz=tz,
        keys=keys,
        federation=federation,
        cache=cache,
    )
    # Each owner's answer is written on its own: every log any of them may write to (an MDT
    # record's goes to the logs of the agencies whose survivors' releases it rests on too)
    # is locked now, in the one fixed order.
    relied_on = logs_relied_on(
        db,
        case,
        [s for sections in sections_of.values() for s in sections],
        at=at,
        keys=keys,
        cache=cache,
    )
    lock_logs(db, [owner.id for owner in owners] + relied_on)
    if case.id is not None:
        prefetch(db, requester, case, owners, at=at, keys=keys, cache=cache)
    answers = []
    for owner in owners:
        sections = sections_of[owner.id]
        refs = refs_of.get(owner.id, ())
        decisions = _answered(
            db, requester, case, owner, sections, at=at, tz=tz, keys=keys, cache=cache, refs=refs
        )
        answers.append(
            {"owner": owner.public_id, "decisions": [wire.decision_dict(d) for d in decisions]}
        )
    return answers


def _answered(
    db: Session, requester: Requester, case: MdtCase, owner: Agency, sections: list, **given
) -> list:
    """The owner's point's answer, for one it may tell that the owner takes part in the
    case. A community-based owner's taking part is its own to disclose (fact of service):
    its point first decides `participation` for this requester (audited in its log, with
    the true reason); unless that is released, every section is answered as by an owner not
    on the case, nothing else read, so that no gate or sentence tells it apart from one."""
    # Whom it must ask, as every page decides it (none for the coordinator, whom every
    # joining release names, nor of a system-based owner).
    if not case_records.participation_asks(db, requester, case, [owner]):
        return answer(db, requester, case, owner, sections, **given)
    # Whether it takes part is one fact of the case, whatever records are asked.
    asked_part = {**given, "refs": ()}
    (taking_part,) = answer(db, requester, case, owner, [case_records.PARTICIPATION], **asked_part)
    if taking_part.decision != "released":
        return answered_as_not_linked(
            db, requester, case, owner, sections, because=taking_part, at=given["at"]
        )
    rest = [s for s in sections if section_of(s).key != case_records.PARTICIPATION]
    # By section, not one for one: a part whose whole is released is not answered (`answer`).
    decided = {
        d.section.key: d
        for d in (answer(db, requester, case, owner, rest, **given) if rest else [])
    }
    decided[case_records.PARTICIPATION] = taking_part
    return [decided[key] for s in sections if (key := section_of(s).key) in decided]


def mdt_referrals(
    db: Session,
    caller: Caller,
    payload: dict,
    *,
    at: datetime,
    tz: tzinfo,
    age_of_majority: int,
    keys: KeyWrapper,
) -> Answer:
    """`POST /federation/v1/mdt-referrals` (issue 20): each owner named (all hosted here)
    answers the coordinator's question about its minors with a clear concern and no MDT
    case at its own point, audited in its own log. Who coordinates the MDT is this node's
    roster's word, never the request's."""
    requester = _requester(db, caller, payload)
    named = payload.get("owners")
    if not isinstance(named, list) or not 0 < len(named) <= 20:
        raise wire.WireError("owners: expected a list of agency ids")
    owners = [_local_agency(db, public_id) for public_id in named]
    only = payload.get("referral")  # one referral (a screening's public id), or every one
    if only is not None and (not isinstance(only, str) or not 0 < len(only) <= 36):
        raise wire.WireError("referral: expected a referral's id")
    coordinating = membership.coordinating_agency_id(db)
    cache = RequestCache()  # this request's reads only
    lock_logs(db, [owner.id for owner in owners])
    answers = [
        wire.referrals_dict(
            referral_point.answer(
                db,
                requester,
                owner,
                coordinating=coordinating,
                at=at,
                tz=tz,
                age_of_majority=age_of_majority,
                keys=keys,
                cache=cache,
                only=only,
            )
        )
        for owner in owners
    ]
    return Answer(200, {"answers": answers}, owners[0])


def _release_names(
    db: Session, client: Client, coordinator: Agency, *, at: datetime, keys: KeyWrapper
) -> str | None:
    """The release of this client in effect now naming the coordinating agency for MDT case
    review (its public id): without one the owner does not even say that it serves the
    client. The link keeps it, so the link lapses with it (as `casework.confirm_link`)."""
    for row in releases.releases_of(db, client):
        try:
            status = releases.status_of(db, row, keys=keys, at=at)
        except releases.Unverified:
            continue  # counts as no release, as the consent gate counts it
        if status is None or status.state != consent.ReleaseState.ACTIVE:
            continue
        document = releases.signed_document(db, row, keys=keys)
        if (
            coordinator.public_id in document.recipients
            and document.purpose == consent.Purpose.MDT_CASE_REVIEW
        ):
            return row.public_id
    return None


def _case_facts(details: dict) -> dict:
    """The case's coordination facts as sent, read before anything of the client is: a
    case that does not read is the same 400 whether or not the owner serves the client."""
    reference = details.get("reference")
    if not isinstance(reference, str) or not reference or len(reference) > 20:
        raise wire.WireError("case.reference: expected a case reference")
    # Held to the dates this node takes from a person: a year 9999 kept here would break
    # every page that counts days to it.
    try:
        intake = validation.domain_date(details.get("intake_date") or "", "intake_date")
        due = details.get("convening_due")
        convening_due = validation.domain_date(due, "convening_due") if due else None
    except Invalid as error:
        raise wire.WireError(f"case.{' '.join(error.errors.values())}") from None
    source = details.get("referral_source")
    return {
        "reference": reference,
        "intake_date": intake,
        "convening_due": convening_due,
        "referral_source": (
            source
            if isinstance(source, str) and source in set(ReferralSource)
            else ReferralSource.OTHER
        ),
    }


def _kept_apart(db: Session, owner: Agency, client: Client, facts: dict) -> str | None:
    """Why this client may not join this case as asked, as `casework.confirm_link` refuses
    it on the owner's own node: the owner's part of the case is confirmed already with
    another client (a second request would move it to another survivor), or the client is
    in another open case (two open cases, two clocks, for one survivor)."""
    mirrored = db.exec(select(MdtCase).where(MdtCase.reference == facts["reference"])).first()
    if mirrored is not None:
        link = db.exec(
            select(CaseLink).where(CaseLink.case_id == mirrored.id, CaseLink.agency_id == owner.id)
        ).first()
        if link is not None and link.confirmed_at is not None and link.client_id != client.id:
            return "the agency's part of the case is confirmed with another client"
    other = _other_open_case(db, client.id, facts["reference"])
    if other is not None:
        return f"the client is in another open case, {other}"
    return None


def _other_open_case(db: Session, client_id: int, reference: str) -> str | None:
    """The reference of an open case other than `reference` the client is linked to."""
    return db.exec(
        select(MdtCase.reference)
        .join(CaseLink, CaseLink.case_id == MdtCase.id)
        .where(
            CaseLink.client_id == client_id,
            MdtCase.status == CaseStatus.OPEN,
            MdtCase.reference != reference,
        )
    ).first()


def _mirror(db: Session, facts: dict, coordinator: Agency, *, at: datetime) -> MdtCase | None:
    """The owner's copy of the case's coordination facts (reference, coordinator, intake):
    what its disclosure point needs to answer for the case. None on a clash."""
    case = db.exec(select(MdtCase).where(MdtCase.reference == facts["reference"])).first()
    if case is not None:
        return case if case.coordinating_agency_id == coordinator.id else None
    case = MdtCase(coordinating_agency_id=coordinator.id, created_at=at, **facts)
    db.add(case)
    db.flush()
    return case


MOST_PARTICIPANTS = 60  # agencies on one case: more than any MDT has, fewer than a log holds


def listed_agencies(listed: object) -> list[str]:
    """The participants a coordinator sent: agency ids, each once, in the order sent; a
    list that is not one, or longer than any case's, is a 400 (its log entry would not
    fit: a 500, and the nonce forgotten)."""
    if not isinstance(listed, list) or not all(
        isinstance(a, str) and 0 < len(a) <= 36 for a in listed
    ):
        raise wire.WireError("participants: expected a list of agency ids")
    once = list(dict.fromkeys(listed))
    if len(once) > MOST_PARTICIPANTS:
        raise wire.WireError(f"participants: more than {MOST_PARTICIPANTS} agencies")
    return once


def _participants(
    db: Session, case: MdtCase, listed: object, *, at: datetime, coordinator: Agency
) -> list[str]:
    """Links for the case's agencies hosted elsewhere, as the coordinator lists them, so
    the owner's point knows who takes part; links of agencies hosted here are their own.

    Only the MDT's coordinating agency (this node's roster's word) is taken at its word:
    an agency listed becomes a confirmed part of the case here without confirming anything
    itself. Any other agency may coordinate a case with a client whose release names it,
    but no one else takes part in it here on its say-so."""
    listed = listed_agencies(listed)
    if coordinator.public_id != membership.coordinating_agency_id(db):
        listed = []
    agencies = {
        a.public_id: a
        for a in db.exec(select(Agency).where(Agency.public_id.in_(listed or [""]))).all()
    }
    links = _links_of(db, case)
    wanted = {
        agencies[p].id for p in listed if p in agencies and not membership.is_local(db, agencies[p])
    }
    # Two notices at once (a confirmation and an owed notice told again) both find an
    # agency unlinked: the second adds nothing, and takes off nothing already gone, where
    # an ORM add met the unique key of (case, agency): a 500.
    joining = [
        {"case_id": case.id, "agency_id": agency_id, "linked_at": at, "confirmed_at": at}
        for agency_id in sorted(wanted - set(links))
    ]
    if joining:
        insert = insert_of(db)
        db.execute(insert(CaseLink).values(joining).on_conflict_do_nothing())
    leaving = [
        link.id
        for agency_id, link in links.items()
        if agency_id not in wanted and not membership.is_local(db, db.get(Agency, agency_id))
    ]
    if leaving:
        db.execute(delete(CaseLink).where(CaseLink.id.in_(leaving)))
        for link in links.values():
            if link.id in leaving:
                db.expunge(link)
    db.flush()
    return sorted(p for p in listed if p in agencies)


def _links_of(db: Session, case: MdtCase) -> dict[int, CaseLink]:
    """The case's links on this node, by agency."""
    return {
        link.agency_id: link
        for link in db.exec(select(CaseLink).where(CaseLink.case_id == case.id)).all()
    }


def case_link(
    db: Session, caller: Caller, payload: dict, *, at: datetime, keys: KeyWrapper, **_given
) -> Answer:
    """`POST /federation/v1/case-links`: the coordinating agency asks this owner to confirm
    that its client belongs to the case. Confirmed only under a release in effect naming
    the coordinating agency for MDT case review; otherwise declined, in the same words
    whether or not the owner knows the client."""
    requester = _requester(db, caller, payload)
    owner = _local_agency(db, payload.get("owner"))
    details = payload.get("case")
    if not isinstance(details, dict):
        raise wire.WireError("case: expected the case's reference and intake date")
    facts = _case_facts(details)
    listed = listed_agencies(payload.get("participants") or [])
    coordinator = db.exec(select(Agency).where(Agency.public_id == requester.agency)).one()
    reference = payload.get("client")
    client = None
    if isinstance(reference, str) and reference:
        found = db.exec(
            select(Client).where(
                Client.agency_id == owner.id,
                (Client.public_id == reference) | (Client.reference == reference),
            )
        ).all()
        # Two clients answering to one reference: which one is meant is not guessed.
        client = found[0] if len(found) == 1 else None
    if client is not None:
        # Held before the check that the client is in no other open case, then the log, as
        # `casework.confirm_link` holds them: the client confirmed there at the same moment
        # is seen here, or waits and is refused there, and neither waits for the other's
        # second lock (on PostgreSQL one was aborted: a deadlock).
        lock_client(db, client)
    lock_logs(db, [owner.id])
    case = None
    joined_under = None
    if client is not None:
        joined_under = _release_names(db, client, coordinator, at=at, keys=keys)
    kept_apart = None if joined_under is None else _kept_apart(db, owner, client, facts)
    if joined_under is not None and kept_apart is None:
        case = _mirror(db, facts, coordinator, at=at)
    if case is None:
        # Declined in the same words whatever the reason: the owner's own log keeps it.
        record(
            db,
            AuditTag.CASE_LINK_DECLINED,
            agency_id=owner.id,
            actor=requester,
            subject=facts["reference"],
            detail={
                "coordinating_agency": coordinator.public_id,
                **({"because": kept_apart} if kept_apart else {}),
            },
            at=at,
        )
        return Answer(200, {"confirmed": False, "owner": owner.public_id}, owner)
    link = db.exec(
        select(CaseLink).where(CaseLink.case_id == case.id, CaseLink.agency_id == owner.id)
    ).first()
    if link is None:
        link = CaseLink(case_id=case.id, agency_id=owner.id, linked_at=at)
    link.client_id, link.confirmed_at, link.release_ref = client.id, at, joined_under
    db.add(link)
    db.flush()
    _participants(db, case, listed, at=at, coordinator=coordinator)
    record(
        db,
        AuditTag.CASE_LINK_CONFIRMED,
        agency_id=owner.id,
        actor=requester,
        subject=case.reference,
        detail={
            "client": client.public_id,
            "coordinating_agency": coordinator.public_id,
            "recipient": coordinator.public_id,
        },
        at=at,
        disclosure=casework.told_coordinator(
            case, client, joined_under, viewer_role=requester.audit_role()
        ),
    )
    return Answer(200, {"confirmed": True, "owner": owner.public_id}, owner)


def _case_sent(db: Session, payload: dict) -> MdtCase | None:
    """The case the request names by its reference (a reference that is not one is a 400),
    or None when this node holds no such case."""
    reference = payload.get("case")
    if not isinstance(reference, str) or len(reference) > 20:
        raise wire.WireError("case: expected a case reference")
    return db.exec(select(MdtCase).where(MdtCase.reference == reference)).first()


def case_participants(db: Session, caller: Caller, payload: dict, *, at: datetime) -> Answer:
    """`POST /federation/v1/case-participants`: the coordinating agency tells an owner
    which agencies now take part in a case the owner is linked to."""
    requester = _requester(db, caller, payload)
    owner = _local_agency(db, payload.get("owner"))
    case = _case_sent(db, payload)
    coordinator = db.exec(select(Agency).where(Agency.public_id == requester.agency)).one()
    own = (
        None
        if case is None
        else db.exec(
            select(CaseLink).where(CaseLink.case_id == case.id, CaseLink.agency_id == owner.id)
        ).first()
    )
    if case is None or own is None or case.coordinating_agency_id != coordinator.id:
        raise NotFound("case")
    status = _status(payload.get("status"))
    # Checked whenever the case is open, not only as this copy of it reopens: a second
    # owner hosted here is told of the same reopening after the first reopened the copy.
    opening = status == CaseStatus.OPEN
    if opening:
        # The link, its client, then the log, held in the order `casework.confirm_link`
        # and `withdraw_link` hold them: the client confirmed in another case here at the
        # same moment is seen, or waits, and no two of them wait for each other.
        own = casework.held_link(db, case, owner)
        if own.client_id is not None:
            lock_client(db, db.get(Client, own.client_id))
    listed = _participants(db, case, payload.get("participants"), at=at, coordinator=coordinator)
    lock_logs(db, [owner.id])
    record(
        db,
        AuditTag.CASE_PARTICIPANTS_UPDATED,
        agency_id=owner.id,
        actor=requester,
        subject=case.reference,
        detail={"participants": listed},
        at=at,
    )
    if status is not None and status != case.status:
        _mirror_status(db, case, status, owner=owner, requester=requester, at=at)
    kept_apart = opening and _withdraw_if_kept_apart(
        db, case, own, owner=owner, requester=requester, at=at
    )
    return Answer(
        200,
        {
            "owner": owner.public_id,
            "participants": listed,
            "status": str(case.status),
            # Said as it stands, so an answer lost and the news sent again says it again;
            # why, only when this very notice withdrew it (an agency's own reasons for a
            # withdrawal stay here: `casework.withdraw_link`).
            "withdrawn": own.confirmed_at is None,
            **({"withdrawn_because": "in_another_open_case"} if kept_apart else {}),
        },
        owner,
    )


def _withdraw_if_kept_apart(
    db: Session, case: MdtCase, own: CaseLink, *, owner: Agency, requester: Requester, at: datetime
) -> bool:
    """The case reopened by its coordinator while the owner's client is in another open
    case here (linked to it while this one was closed): one survivor is in one open case
    at a time, as a reopening on one node is refused (`casework.reopen_case`), so the
    owner's part of this one is withdrawn, as its staff would withdraw it. The answer says
    so, and the coordinator's node withdraws it on its side (`links.tell_participants`).
    True when withdrawn now."""
    if own.confirmed_at is None or own.client_id is None:
        return False
    other = _other_open_case(db, own.client_id, case.reference)
    if other is None:
        return False
    client = db.get(Client, own.client_id)
    casework.note_withdrawn(
        db,
        case,
        own,
        owner,
        log_of=owner.id,
        actor=requester,
        noted_by=None,
        detail={"client": client.public_id, "reason": "in_another_open_case", "open_case": other},
        at=at,
    )
    db.flush()
    return True


def _status(sent: object) -> CaseStatus | None:
    """The case's status as its coordinator sent it; None from a coordinator that sends
    none (the mirror keeps its own)."""
    if sent is None:
        return None
    if sent not in set(CaseStatus):
        raise wire.WireError("status: expected open or closed")
    return CaseStatus(sent)


def _mirror_status(
    db: Session,
    case: MdtCase,
    status: CaseStatus,
    *,
    owner: Agency,
    requester: Requester,
    at: datetime,
) -> None:
    """The coordinator closed or reopened the case: so does the owner's copy, so its staff
    see it as it is and a later link of its client is not declined as "in another open
    case". The coordinator's reason stays with the coordinator (it may speak of the
    survivor); the owner's history and log say who did it and when."""
    case.status = status
    db.add(case)
    closed = status == CaseStatus.CLOSED
    case_history.note(
        db,
        case,
        CaseEventKind.CLOSED if closed else CaseEventKind.REOPENED,
        actor=None,
        at=at,
        reason="by the coordinating agency",
    )
    record(
        db,
        AuditTag.CASE_CLOSED if closed else AuditTag.CASE_REOPENED,
        agency_id=owner.id,
        actor=requester,
        subject=case.reference,
        at=at,
    )


def _confirmed_link(
    db: Session, case: MdtCase, agency: Agency, *, confirmed: bool = True
) -> CaseLink | None:
    """The agency's part of the case, when it is confirmed (or, `confirmed` False, when
    the case links the agency at all)."""
    query = select(CaseLink).where(CaseLink.case_id == case.id, CaseLink.agency_id == agency.id)
    if confirmed:
        query = query.where(CaseLink.confirmed_at.is_not(None))
    return db.exec(query).first()


def _asked_by_a_confirmed_part(
    db: Session, caller: Caller, payload: dict, *, confirmed: bool = True
) -> tuple[Requester, MdtCase, Agency, Agency]:
    """(requester, case, coordinating agency, asking agency) for a question only an agency
    confirmed on a case this node's agency coordinates may ask (`confirmed` False: linked to
    it, confirmed or not); anyone else, or a case not coordinated here, is answered as a
    case that does not exist."""
    requester = _requester(db, caller, payload)
    case = _case_sent(db, payload)
    coordinator = None if case is None else db.get(Agency, case.coordinating_agency_id)
    asking = db.exec(select(Agency).where(Agency.public_id == requester.agency)).first()
    link = (
        None
        if coordinator is None or asking is None or not membership.is_local(db, coordinator)
        else _confirmed_link(db, case, asking, confirmed=confirmed)
    )
    if link is None:
        raise NotFound("case")
    return requester, case, coordinator, asking


def assigned_tasks(
    db: Session,
    caller: Caller,
    payload: dict,
    *,
    at: datetime,
    tz: tzinfo,
    keys: KeyWrapper,
    federation: Federation | None = None,
) -> Answer:
    """`POST /federation/v1/assigned-tasks`: an agency confirmed on a case this node's
    agency coordinates asks for the case's tasks assigned to it (`tasks.assigned_to`, the
    list's filters sent). Their tracking (due date, status, priority, the person holding
    one) is the case's, told to every agency on it; each task's text is asked of the point
    of the agency that wrote it, only these tasks (`refs`), decided and audited in its log
    as `/disclosures` is. Any other asker, or a case not coordinated here, is answered as
    a case that does not exist, and nothing is written: one whose survivor's release to
    join is no longer in effect too (`vouchers.takes_part`), as for its voucher."""
    requester, case, coordinator, asking = _asked_by_a_confirmed_part(db, caller, payload)
    if not vouchers.takes_part(db, case, asking, at=at, keys=keys):
        raise NotFound("case")
    filters = wire.task_filter_from(payload.get("filters"))
    found = tasks.assigned_to(db, case, asking, filters)
    refs_of: dict[int, tuple[str, ...]] = {}
    for task, _holder in found:
        refs_of[task.owner_agency_id] = (*refs_of.get(task.owner_agency_id, ()), task.public_id)
    owners = [db.get(Agency, owner_id) for owner_id in refs_of]
    answers = (
        []
        if not owners
        else _owners_answers(
            db,
            requester,
            case,
            owners,
            {owner.id: [case_records.TASKS] for owner in owners},
            at=at,
            tz=tz,
            keys=keys,
            federation=federation,
            cache=RequestCache(),
            refs_of=refs_of,
        )
    )
    listed = [
        wire.assigned_task_dict(task, db.get(Agency, task.owner_agency_id), holder)
        for task, holder in found
    ]
    return Answer(200, {"case": case.reference, "tasks": listed, "answers": answers}, coordinator)


def participation_voucher(
    db: Session, caller: Caller, payload: dict, *, at: datetime, keys: KeyWrapper, **_given
) -> Answer:
    """`POST /federation/v1/participation`: an agency confirmed on a case this node's agency
    coordinates asks for the voucher it shows owners elsewhere (`vouchers`). Any other
    asker (one whose survivor's release to join is no longer in effect, as this node knows
    it, included), or a case not coordinated here, is answered as a case that does not
    exist, and nothing is written. A voucher given is entered in the coordinating agency's
    log, naming the asker (`vouchers.mint`)."""
    requester, case, coordinator, asking = _asked_by_a_confirmed_part(db, caller, payload)
    try:
        voucher = vouchers.mint(
            db,
            case,
            asking.public_id,
            coordinator=coordinator,
            asked_by=requester,
            keys=keys,
            at=at,
        )
    except vouchers.NotVouched:
        raise NotFound("case") from None
    return Answer(200, {"voucher": voucher}, coordinator)


def participation_changed(
    db: Session,
    caller: Caller,
    payload: dict,
    *,
    at: datetime,
    keys: KeyWrapper,
    federation: Federation,
    **_given,
) -> Answer:
    """`POST /federation/v1/participation-changed`: an agency confirmed on a case this node's
    agency coordinates says that what may be told of its own part changed on its node (its
    survivor revoked a release, or it withdrew its client record: `withdrawn`): the
    coordinator tells the case's owners elsewhere who takes part again, now, as when an
    agency here changes it (`links.tell_as_coordinator`).

    Nothing of the notice is taken at its word but that it came, signed, from that agency,
    and, of a withdrawal, that the agency no longer takes part: its own part only, and one
    it may leave (`links.withdrawn_elsewhere`). Every community-based agency's point is
    asked again whether each owner may be told of it, the caller's own included, so no
    agency can have another untold (or told). Asked by any other agency, or of a case not
    coordinated here, it is a 404, as a case that does not exist; a withdrawal told again
    (the first answer lost on its way) is answered as the first was, or the notice would
    stay owed for ever. Audited in the coordinator's log, naming the agency (its staff
    member is not named: not sent)."""
    withdrawn = payload.get("withdrawn", False)
    if not isinstance(withdrawn, bool):
        raise wire.WireError("withdrawn: expected true or false")
    requester, case, coordinator, asking = _asked_by_a_confirmed_part(
        db, caller, payload, confirmed=not withdrawn
    )
    # The coordinator's log first, then the community-based agencies' here: the order a
    # confirmed link takes them in (`links.request_link`).
    lock_logs(db, [coordinator.id])
    if withdrawn:
        links.withdrawn_elsewhere(
            db, case, asking, requester=requester, node=caller.member.node, at=at
        )
    # The withdrawal stands, and the news is owed to every owner, before any is told: no
    # writer here waits on their nodes. This notice's own entry is written once they
    # answered (it names those not told); should that never come, its node, unanswered,
    # sends the notice again.
    untold = links.tell_participants(
        db,
        case,
        requester=links.as_coordinator(coordinator),
        keys=keys,
        federation=federation,
        at=at,
        commit=db.commit,
    )
    record(
        db,
        AuditTag.CASE_PARTICIPATION_CHANGED,
        agency_id=coordinator.id,
        actor=requester,
        subject=case.reference,
        detail={
            "agency": asking.public_id,
            "asked_from": caller.member.node,
            "withdrawn": withdrawn,
            "untold": untold,
        },
        at=at,
    )
    return Answer(200, {"case": case.reference, "told_again": True}, coordinator)


def participation_told(
    db: Session, caller: Caller, payload: dict, *, at: datetime, keys: KeyWrapper, **_given
) -> Answer:
    """`POST /federation/v1/participation-told`: the MDT's coordinating agency asks a
    community-based owner here which of the case's system-based agencies elsewhere may be
    told that it takes part (`point.told_to_agency`, audited in the owner's log), before it
    tells them who takes part. Asked by anyone else, of a case the owner has no client
    confirmed on, or about a community-based agency (whose taking part is not this owner's
    to learn), it is a 404. A system-based agency not on the case as this node knows it (the
    coordinator tells it who takes part first) is answered as not told, the survivor's
    release unread: no answer here says what it names of an agency with no part in the case."""
    requester = _requester(db, caller, payload)
    owner = _local_agency(db, payload.get("owner"))
    case = _case_sent(db, payload)
    recipients = listed_agencies(payload.get("recipients"))
    coordinator = db.exec(select(Agency).where(Agency.public_id == requester.agency)).one()
    own = None if case is None else _confirmed_link(db, case, owner)
    if (
        own is None
        or case.coordinating_agency_id != coordinator.id
        or coordinator.public_id != membership.coordinating_agency_id(db)
    ):
        raise NotFound("case")
    known = {
        a.public_id: a
        for a in db.exec(select(Agency).where(Agency.public_id.in_(recipients or [""]))).all()
    }
    if any(a.kind != AgencyKind.SYSTEM for a in known.values()):
        raise NotFound("agency")
    lock_logs(db, [owner.id])
    told = [
        public_id
        for public_id in recipients
        if public_id in known
        and public_id != owner.public_id
        and told_to_agency(db, case, owner, known[public_id], asked_by=requester, at=at, keys=keys)
    ]
    return Answer(200, {"owner": owner.public_id, "told": told}, owner)


def case_consent(
    db: Session, caller: Caller, payload: dict, *, at: datetime, tz: tzinfo, keys: KeyWrapper
) -> Answer:
    """`POST /federation/v1/case-consent`: the MDT's coordinating agency asks whether the
    survivor an owner here serves on a case it coordinates consents to MDT records of the
    case reaching the agency that asked it (`point.consent_for_record`, audited in the
    owner's log). Asked by anyone else, or of a case not coordinated by the asker, it is a
    404, as for a case that does not exist."""
    requester = _requester(db, caller, payload)
    asking = replace(
        wire.requester_from(payload.get("asking")),
        purpose=parse_purpose((payload.get("asking") or {}).get("purpose")),
    )
    owner = _local_agency(db, payload.get("owner"))
    case = _case_sent(db, payload)
    asked = payload.get("sections")
    if not isinstance(asked, list) or not 0 < len(asked) <= 10:
        raise wire.WireError("sections: expected MDT records' section keys")
    found = [catalogue().get(s) if isinstance(s, str) else None for s in asked]
    if not all(section is not None and section.of_case for section in found):
        raise wire.WireError("sections: expected MDT records' section keys")
    coordinator = db.exec(select(Agency).where(Agency.public_id == requester.agency)).one()
    if (
        case is None
        or case.coordinating_agency_id != coordinator.id
        or coordinator.public_id != membership.coordinating_agency_id(db)
    ):
        raise NotFound("case")
    recipient = db.exec(select(Agency).where(Agency.public_id == asking.agency)).first()
    if recipient is None:
        raise NotFound("agency")
    asking = replace(asking, agency_kind=recipient.kind)
    lock_logs(db, [owner.id])
    answers = []
    for section_key in dict.fromkeys(asked):
        gate, release_ref = consent_for_record(
            db,
            case,
            owner,
            recipient,
            section_key,
            requester=asking,
            asked_by=coordinator.public_id,
            at=at,
            tz=tz,
            keys=keys,
        )
        answers.append({"section": section_key, "gate": gate, "release_ref": release_ref})
    return Answer(200, {"owner": owner.public_id, "answers": answers}, owner)
