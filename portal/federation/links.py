"""Case links across nodes, from the coordinating agency's side.

The coordinating node asks the owner's node to confirm that the owner's client belongs to
the MDT case; the owner confirms only under a release naming the coordinating agency for
MDT case review (`portal.federation.owner.case_link`), or declines. Once confirmed, every
owner elsewhere is told which agencies take part, so its own disclosure point knows who
may ask about the case, and whether the case is open: closed or reopened here, it is
closed or reopened on the owners' nodes too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import or_, update
from sqlmodel import Session, select

from portal.audit import AuditTag, lock_logs, record
from portal.crypto import KeyWrapper
from portal.disclosure import point
from portal.errors import Conflict, Invalid
from portal.federation import membership, transport, wire
from portal.federation.transport import Call, Federation, Unavailable
from portal.models import Agency, AgencyKind, CaseLink, MdtCase, OwedTell, Role, StaffUser
from portal.models.workflow import CaseEventKind
from portal.requester import Requester
from portal.services import case_history, cases, casework

CASE_LINKS = transport.PREFIX + "/case-links"
CASE_PARTICIPANTS = transport.PREFIX + "/case-participants"
PARTICIPATION_TOLD = transport.PREFIX + "/participation-told"
PARTICIPATION_CHANGED = transport.PREFIX + "/participation-changed"
# An owner whose node did not answer is tried again when the case's page opens, at most
# this often (each try waits for its node up to the federation's timeout).
TRY_AGAIN_AFTER = timedelta(minutes=5)
# A link's claim (`request_link`) is stale once older than the federation's timeout and
# this: the asking's answer waits at most that long, then its transaction for the writers'
# lock (well under this).
ASKING_MARGIN = timedelta(minutes=1)


def _participants(db: Session, case: MdtCase) -> dict[str, AgencyKind]:
    """The agencies taking part, and their kinds: the coordinator and every confirmed link."""
    rows = db.exec(
        select(Agency.public_id, Agency.kind)
        .join(CaseLink, CaseLink.agency_id == Agency.id)
        .where(CaseLink.case_id == case.id, CaseLink.confirmed_at.is_not(None))
    ).all()
    coordinator = db.get(Agency, case.coordinating_agency_id)
    return dict(sorted({coordinator.public_id: coordinator.kind, **dict(rows)}.items()))


def named_to(
    participants: dict[str, AgencyKind],
    recipient: str,
    coordinator: str,
    told: set[str] = frozenset(),
) -> list[str]:
    """The participants an owner elsewhere is told of: the coordinator, itself, every
    system-based agency, and the community-based agencies in `told`. A community-based
    agency's taking part is its own to disclose (fact of service): its point says whether
    a system-based owner may be told (`_told_of_community`); untold (a community-based
    owner is never asked about: the question would tell each of the other), it shows the
    owner a voucher when it asks (`vouchers`)."""
    return [
        agency
        for agency, kind in participants.items()
        if agency in (recipient, coordinator) or kind == AgencyKind.SYSTEM or agency in told
    ]


def _told_of_community(
    db: Session,
    case: MdtCase,
    participants: dict[str, AgencyKind],
    recipients: list[str],
    *,
    requester: Requester,
    keys: KeyWrapper,
    federation: Federation,
    at: datetime,
    before_send: Callable[[], None],
) -> tuple[dict[str, set[str]], set[str]]:
    """For each system-based recipient (an owner elsewhere, by public id), the
    community-based agencies of the case whose points say it may be told they take part
    (`point.told_to_agency`, audited in each one's log): asked here of those hosted here, by
    a signed call of those elsewhere. Also the recipients left unsure: one that does not
    answer is not told of now (deny by default), and they are owed the news again. The
    local points' decisions stand (`before_send`) before any call is sent."""
    coordinator = db.get(Agency, case.coordinating_agency_id)
    community = [
        agency
        for agency, kind in participants.items()
        if kind == AgencyKind.COMMUNITY and agency != coordinator.public_id
    ]
    # Asking an agency whether a community-based one may be told of it would tell it that
    # the other takes part: only system-based recipients are asked about.
    recipients = [r for r in recipients if participants.get(r) == AgencyKind.SYSTEM]
    told: dict[str, set[str]] = {}
    unsure: set[str] = set()
    if not community or not recipients:
        return told, unsure
    agencies = {
        a.public_id: a
        for a in db.exec(select(Agency).where(Agency.public_id.in_(community + recipients))).all()
    }
    roster, local_url = transport.roster_and_url(db)
    elsewhere = []
    for holder in community:
        if not membership.is_local(db, agencies[holder]):
            if (member := roster.member(holder)) is not None:
                elsewhere.append(member)
            continue
        lock_logs(db, [agencies[holder].id])
        for recipient in recipients:
            if recipient != holder and point.told_to_agency(
                db,
                case,
                agencies[holder],
                agencies[recipient],
                asked_by=requester,
                at=at,
                keys=keys,
            ):
                told.setdefault(recipient, set()).add(holder)
    calls = transport.calls_for(
        db,
        coordinator,
        elsewhere,
        PARTICIPATION_TOLD,
        lambda m: {
            "requester": wire.requester_dict(replace(requester, node=local_url)),
            "owner": m.agency,
            "case": case.reference,
            "recipients": [r for r in recipients if r != m.agency],
        },
        keys=keys,
    )
    if calls:
        before_send()
    for call, answer in zip(calls, federation.send(calls) if calls else [], strict=True):
        if isinstance(answer, Unavailable):
            unsure.update(r for r in recipients if r != call.owners[0].agency)
            continue
        said = answer.get("told")
        for recipient in said if isinstance(said, list) else []:
            if recipient in recipients:
                told.setdefault(recipient, set()).add(call.owners[0].agency)
    return told, unsure


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
    commit: Callable[[], None],
) -> bool:
    """Ask `owner` (hosted elsewhere) to confirm its client `client_reference` for the
    case. True when confirmed; False when declined. Raises Conflict when the owner's node
    does not answer (nothing is recorded as confirmed), when its client is confirmed
    already, and when it is being asked already (two asking at once: one asks, and one
    confirmation is logged).

    `commit` ends the caller's transaction: no lock waits on the owner's node. The link is
    claimed (`CaseLink.asking_since`) and the claim committed before the node is asked;
    its answer is recorded, and the claim cleared, in a last short transaction, committed
    here unless the owners are then told who takes part (see `tell_participants`, whose
    last transaction is the caller's)."""
    coordinator = db.get(Agency, case.coordinating_agency_id)
    if requester.agency != coordinator.public_id:
        raise Invalid("agency", "Only the coordinating agency links agencies to the case.")
    if membership.is_local(db, owner):
        raise Invalid("agency", "This agency is on this node: it confirms its link itself.")
    roster, local_url = transport.roster_and_url(db)
    member = roster.member(owner.public_id) if roster is not None else None
    if member is None or local_url is None:
        raise Invalid("agency", "This agency is not in the MDT's roster.")
    # The case, then the log the link and its confirmation are written to, both held before
    # the check: the same owner asked twice at once is one link, claimed once. In the order
    # a close takes them (the case, then the log): the other way round, asking and closing
    # at once deadlocked on PostgreSQL.
    case = casework.open_for_writes(
        db,
        case,
        field="agency",
        closed="The case is closed; reopen it to ask an agency to confirm its client.",
    )
    lock_logs(db, [coordinator.id])
    link = _link_of(db, case, owner)
    if link is None:
        link = cases.link_client(db, case, owner, None, actor=requester, at=at)
    claimed = _claim(db, link, at=at, federation=federation)
    if link.confirmed_at is not None:  # asked again (a double click): nothing to ask
        raise Conflict(
            "agency",
            f"{owner.name}'s client on this case is confirmed already: it is not asked again.",
        )
    if claimed is None:
        raise Conflict(
            "agency",
            f"{owner.name} is being asked to confirm its client for this case just now: "
            "try again shortly.",
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
    commit()  # the claim stands: the owner's node is asked with nothing held here
    try:
        (answer,) = federation.send([call])
    except BaseException:
        # A fault of ours (an owner down is an answer): the claim goes now, not once stale.
        _let_go(db, case, owner, coordinator, claimed)
        db.flush()
        commit()
        raise
    # The answer's transaction: the log first, then the link as it is now (another asker
    # may have taken over a claim gone stale, and confirmed).
    link, ours = _let_go(db, case, owner, coordinator, claimed)
    if isinstance(answer, Unavailable):
        db.flush()
        commit()  # the claim cleared: the owner may be asked again at once
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
        db.flush()
        commit()
        return False
    if link.confirmed_at is not None:  # confirmed by another asker meanwhile: logged once
        db.flush()
        commit()
        raise Conflict(
            "agency",
            f"{owner.name}'s client on this case is confirmed already: it is not asked again.",
        )
    if not ours:  # its withdrawal came before its answer (`withdrawn_elsewhere`)
        db.flush()
        commit()
        raise Conflict(
            "agency",
            f"{owner.name} confirmed its client, then took it off this case before the "
            "answer was recorded here: ask again if it should take part.",
        )
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
    tell_participants(
        db, case, requester=requester, keys=keys, federation=federation, at=at, commit=commit
    )
    return True


def _let_go(
    db: Session, case: MdtCase, owner: Agency, coordinator: Agency, claimed: datetime
) -> tuple[CaseLink, bool]:
    """The owner's link as it is now, with the log held, and whether this asking's claim
    still stood (cleared now). Not when another asker took over a claim gone stale, nor
    when the owner withdrew meanwhile (`withdrawn_elsewhere` lets the claim go).

    The case is read again and held first (in the order a close takes them): closed while
    the owner was asked, it is as closed that the owners are then told of it."""
    casework.held_case(db, case)
    lock_logs(db, [coordinator.id])
    link = _link_of(db, case, owner)
    ours = link.asking_since == claimed
    if ours:
        link.asking_since = None
        db.add(link)
    return link, ours


def _link_of(db: Session, case: MdtCase, owner: Agency) -> CaseLink | None:
    """The owner's link to the case as committed now (read again, not this session's copy)."""
    return db.exec(
        select(CaseLink)
        .where(CaseLink.case_id == case.id, CaseLink.agency_id == owner.id)
        .execution_options(populate_existing=True)
    ).first()


def _claim(db: Session, link: CaseLink, *, at: datetime, federation: Federation) -> datetime | None:
    """Claim the asking of the link's owner with one conditional statement: of two
    requests at once one claims it, and the other (None) writes nothing. A link not
    confirmed and not being asked, or whose claim is stale (older than the asking could
    take: its process ended mid-ask), is claimed. The link is read again either way; the
    claim's time, as stored, is returned."""
    stale = at - timedelta(seconds=federation.timeout_seconds) - ASKING_MARGIN
    claimed = db.execute(
        update(CaseLink)
        .where(
            CaseLink.id == link.id,
            CaseLink.confirmed_at.is_(None),
            or_(CaseLink.asking_since.is_(None), CaseLink.asking_since < stale),
        )
        .values(asking_since=at)
        .returning(CaseLink.id)
    ).first()
    db.refresh(link)
    return link.asking_since if claimed is not None else None


def tell_participants(
    db: Session,
    case: MdtCase,
    *,
    requester: Requester,
    keys: KeyWrapper,
    federation: Federation,
    at: datetime,
    only: set[int] | None = None,
    commit: Callable[[], None] | None = None,
    withdrawn_into: list[WithdrawnThere] | None = None,
) -> list[str]:
    """Send the case's participants and status to every confirmed owner elsewhere (`only`:
    to these agencies); returns the names of the owners that did not take it, whom this
    node then owes them (`OwedTell`, told again by `tell_owed`).

    An owner may answer that its part is withdrawn on its node (the case reopened while its
    client is in another open case there: `owner.case_participants`): it is withdrawn here
    too, added to `withdrawn_into`, and, `commit` given, the others that answered are told
    at once who takes part now.

    `commit` ends the caller's transaction, its decision standing (a case closed holds its
    row and its coordinator's log; on SQLite the node's writers' lock). Given, no call is
    sent while this session's transaction holds anything: every owner to be told is owed
    the news first (`OwedTell`), committed with the decision, so that nothing is lost if
    the sending never ends; the local points asked (`_told_of_community`) decide in a
    transaction of their own; and what the owners answered is noted in a last one, left
    to the caller to commit. Not given, everything is sent within the caller's
    transaction."""
    roster, local_url = transport.roster_and_url(db)
    if roster is None or local_url is None:
        return []
    coordinator = db.get(Agency, case.coordinating_agency_id)
    participants = _participants(db, case)
    agency_ids = dict(
        db.exec(
            select(Agency.public_id, Agency.id).where(Agency.public_id.in_(list(participants)))
        ).all()
    )
    members = [
        member
        for public_id in participants
        if (member := roster.member(public_id)) is not None
        and member.node != local_url
        and (only is None or agency_ids[public_id] in only)
    ]
    asked = {agency_ids[m.agency] for m in members}
    status = str(case.status)
    before_send = commit or (lambda: None)
    if commit is not None and members:
        # Owed until told: the news outlives a request that never returns from its sends.
        _note_owed(db, case, asked, {agency_ids[m.agency]: m.name for m in members}, at=at)
        commit()

    # The owners that answered their part is withdrawn: agency id -> (its node, whether the
    # case's reopening withdrew it, its client in another open case there).
    withdrawn: dict[int, tuple[str, bool]] = {}

    def send(batch: list, told: dict[str, set[str]]) -> dict[int, str]:
        """The news to each owner of `batch`; those that did not take it."""
        calls = transport.calls_for(
            db,
            coordinator,
            batch,
            CASE_PARTICIPANTS,
            lambda m: {
                "requester": wire.requester_dict(replace(requester, node=local_url)),
                "owner": m.agency,
                "case": case.reference,
                "participants": named_to(
                    participants, m.agency, coordinator.public_id, told.get(m.agency, set())
                ),
                "status": status,
            },
            keys=keys,
        )
        if calls:
            before_send()
        answers = federation.send(calls) if calls else []
        for call, answer in zip(calls, answers, strict=True):
            if isinstance(answer, dict) and answer.get("withdrawn") is True:
                kept_apart = answer.get("withdrawn_because") == "in_another_open_case"
                withdrawn[agency_ids[call.owners[0].agency]] = (call.node, kept_apart)
        return {
            agency_ids[call.owners[0].agency]: call.owners[0].name
            for call, answer in zip(calls, answers, strict=True)
            if isinstance(answer, Unavailable)
        }

    # A community-based owner's news rests on no one's answer: it is sent first, so that
    # each knows which system-based agencies take part before it is asked which of them may
    # be told of it (its point answers for none that is not on the case as it knows it).
    untold = send([m for m in members if participants[m.agency] != AgencyKind.SYSTEM], {})
    told, unsure = _told_of_community(
        db,
        case,
        participants,
        [m.agency for m in members],
        requester=requester,
        keys=keys,
        federation=federation,
        at=at,
        before_send=before_send,
    )
    untold |= send([m for m in members if participants[m.agency] == AgencyKind.SYSTEM], told)
    gone = {
        agency_id: WithdrawnThere(agency.name, kept_apart)
        for agency_id, (node, kept_apart) in withdrawn.items()
        if (agency := db.get(Agency, agency_id)) is not None
        # Only a part that counts here: not one being asked anew (`request_link`).
        and _confirmed_here(db, case, agency)
        and withdrawn_elsewhere(
            db, case, agency, requester=_agency_itself(agency, node=node), node=node, at=at
        )
    }
    if withdrawn_into is not None:
        withdrawn_into.extend(gone.values())
    # Owed to one no longer asked (no longer in the roster, or hosted here now): nothing
    # is sent to it, so nothing stays owed. Owed too: one told without an agency whose
    # node did not say whether it may be told of it.
    owed_now = {**{agency_ids[r]: r for r in unsure}, **untold}
    if commit is not None and members and _changed_since(db, case, status, participants):
        # Changed while the news was on its way (closed and reopened at once, or an owner's
        # part withdrawn by its answer): what was sent may have arrived after the newer
        # news; all stay owed, told again. Not an owner whose part is withdrawn: nothing
        # more of the case is owed it (`withdrawn_elsewhere`).
        owed_now = {agency_ids[m.agency]: m.name for m in members}
    owed_now = {agency_id: name for agency_id, name in owed_now.items() if agency_id not in gone}
    _note_owed(
        db, case, asked | (only or set()), owed_now, at=at, marked=None if commit is None else at
    )
    # Who takes part changed with a withdrawal: the others that answered learn it now (one
    # that did not stays owed it, not waited for twice).
    answered = asked - set(untold) - set(gone)
    if gone and answered and commit is not None:
        commit()
        again = tell_participants(
            db,
            case,
            requester=requester,
            keys=keys,
            federation=federation,
            at=at,
            only=answered,
            commit=commit,
            withdrawn_into=withdrawn_into,
        )
        return sorted(set(untold.values()) | set(again))
    return list(untold.values())


class WithdrawnThere(NamedTuple):
    """An owner elsewhere whose part its node answered is withdrawn (`tell_participants`)."""

    name: str
    in_another_open_case: bool  # withdrawn by the case's reopening, its client in another


def _changed_since(
    db: Session, case: MdtCase, status: str, participants: dict[str, AgencyKind]
) -> bool:
    """Whether the case's status or participants are no longer those sent (read afresh:
    another transaction may have changed them since this one's decision committed)."""
    now = db.exec(
        select(MdtCase.status)
        .where(MdtCase.id == case.id)
        .execution_options(populate_existing=True)
    ).one()
    return str(now) != status or _participants(db, case) != participants


def _note_owed(
    db: Session,
    case: MdtCase,
    settled: set[int],
    untold: dict[int, str],
    *,
    at: datetime,
    marked: datetime | None = None,
) -> None:
    """What this node still owes after a round of tells: a row per owner that did not
    answer (kept from its first miss), none for the others of `settled`. `marked`: when
    this round owed them all before it sent (`tell_participants`'s `commit`); a row another
    round marked since is that round's to settle, and stays."""
    owed = {
        row.agency_id: row
        for row in db.exec(
            select(OwedTell)
            .where(OwedTell.case_id == case.id)
            .execution_options(populate_existing=True)
        ).all()
    }
    for agency_id in settled:
        if agency_id in untold:
            row = owed.get(agency_id) or OwedTell(case_id=case.id, agency_id=agency_id, since=at)
            row.tried_at = at
            db.add(row)
        elif agency_id in owed and (marked is None or owed[agency_id].tried_at == marked):
            db.delete(owed[agency_id])
    db.flush()


def withdrawn_elsewhere(
    db: Session, case: MdtCase, agency: Agency, *, requester: Requester, node: str, at: datetime
) -> bool:
    """`agency`, hosted on `node`, took its client record off a case coordinated here (its
    node's notice, `tell_withdrawn`): its link here no longer counts, as after a withdrawal
    on this node (`casework.withdraw_link`), until the agency confirms a client again (the
    coordinator asks it anew: `request_link`). Nothing is owed it of the case any more. The
    agency's reason stays on its node. True when the link counted until now."""
    # The coordinator's log before the link, as every other writer of both takes them
    # (`request_link`, `participation_changed`): in the other order, two such writers at
    # once on PostgreSQL would each wait for the other, and one would be aborted.
    lock_logs(db, [case.coordinating_agency_id])
    link = casework.held_link(db, case, agency)
    if link is not None and link.confirmed_at is None and link.asking_since is not None:
        # Withdrawn just after it confirmed, its answer still on its way here (asked with
        # nothing held: `request_link`): that answer no longer stands.
        link.asking_since = None
        db.add(link)
        db.flush()
        return False
    if link is None or link.confirmed_at is None:  # told before (a notice sent again)
        return False
    for row in db.exec(
        select(OwedTell).where(OwedTell.case_id == case.id, OwedTell.agency_id == agency.id)
    ).all():
        db.delete(row)
    casework.note_withdrawn(
        db,
        case,
        link,
        agency,
        log_of=case.coordinating_agency_id,
        actor=requester,
        noted_by=None,
        detail={"agency": agency.public_id, "withdrawn_on": node},
        at=at,
    )
    db.flush()
    return True


def owed(db: Session, case: MdtCase) -> list[tuple[Agency, datetime]]:
    """The owners elsewhere this node has not managed to tell of the case's participants
    and status, and since when: for the coordinator's case page."""
    rows = db.exec(
        select(Agency, OwedTell.since)
        .join(OwedTell, OwedTell.agency_id == Agency.id)
        .where(OwedTell.case_id == case.id)
        .order_by(Agency.name)
    ).all()
    return [(agency, since) for agency, since in rows]


def as_coordinator(coordinator: Agency) -> Requester:
    """The coordinating agency itself, no staff member named: who tells owners elsewhere
    when the node does on its own (a retry) or for another agency's staff (a link confirmed
    here), whose name must not reach another node's log."""
    return Requester(
        node="local",
        agency=coordinator.public_id,
        agency_kind=coordinator.kind,
        user=None,
        roles=frozenset({Role.MDT_COORDINATOR.value}),
    )


def tell_as_coordinator(
    db: Session,
    case: MdtCase,
    *,
    keys: KeyWrapper,
    federation: Federation,
    at: datetime,
    commit: Callable[[], None] | None = None,
) -> list[str]:
    """After an agency here changed what may be told of its part in a case (its link, a
    release revoked): when this node coordinates the case, owners elsewhere learn who
    takes part now (those whose node is down are owed it). Sent in the coordinating
    agency's name, never the agency's staff member's (their name in another node's log
    would tell that their agency takes part). Returns the owners not told. `commit`: see
    `tell_participants`."""
    coordinator = db.get(Agency, case.coordinating_agency_id)
    if coordinator is None or not membership.is_local(db, coordinator):
        return []
    return tell_participants(
        db,
        case,
        requester=as_coordinator(coordinator),
        keys=keys,
        federation=federation,
        at=at,
        commit=commit,
    )


def tell_changed(
    db: Session,
    agency: Agency,
    client_id: int,
    *,
    keys: KeyWrapper,
    federation: Federation,
    at: datetime,
    between: Callable[[], None],
) -> list[tuple[Agency, MdtCase]]:
    """After `agency` (hosted here) changed what may be told of its client's part in the
    cases the client is linked to (a release revoked), owners elsewhere learn who takes
    part now. A case coordinated here: told now (`tell_as_coordinator`). A case coordinated
    on another node: its coordinator's node is sent a notice in the agency's name
    (`PARTICIPATION_CHANGED`; it asks every point again and tells the owners), once the
    change is committed (`between`: the coordinator asks this node's points, which must
    see it). The notice is owed (`OwedTell`) in the change's own transaction, so a node
    that does not answer is sent it again (`tell_owed`). Returns the coordinating agencies
    not reached, with their cases. No call waits while the change's transaction holds
    anything: the news owed is committed with the change (`between`) before any is sent."""
    linked = cases_of_client(db, agency.id, client_id)
    # Never confirmed: the coordinator has told nobody of the agency's part.
    owing = [
        case
        for case in linked
        if _confirmed_here(db, case, agency) and _owe_coordinator(db, case, agency, at=at)
    ]
    for case in linked:
        tell_as_coordinator(db, case, keys=keys, federation=federation, at=at, commit=between)
    return _tell_coordinators(
        db, agency, owing, keys=keys, federation=federation, at=at, between=between
    )


def tell_withdrawn(
    db: Session,
    case: MdtCase,
    agency: Agency,
    *,
    keys: KeyWrapper,
    federation: Federation,
    at: datetime,
    between: Callable[[], None],
) -> list[tuple[Agency, MdtCase]]:
    """After `agency` (hosted here) withdrew its confirmed client record from the case:
    as after a revocation (`tell_changed`), owners elsewhere learn who takes part now, and
    a coordinator elsewhere is sent (or owes) the notice, which then says the agency's link
    is withdrawn (`_notice_call`): until it is told, the coordinator still counts the
    agency on the case. Returns the coordinating agency when not reached, with the case."""
    owing = [case] if _owe_coordinator(db, case, agency, at=at) else []
    tell_as_coordinator(db, case, keys=keys, federation=federation, at=at, commit=between)
    return _tell_coordinators(
        db, agency, owing, keys=keys, federation=federation, at=at, between=between
    )


def _tell_coordinators(
    db: Session,
    agency: Agency,
    owing: list[MdtCase],
    *,
    keys: KeyWrapper,
    federation: Federation,
    at: datetime,
    between: Callable[[], None],
) -> list[tuple[Agency, MdtCase]]:
    """Send the notices `agency` owes the coordinators of the `owing` cases, once the change
    is committed (`between`); the coordinating agencies not reached, with their cases."""
    sent = [(case, call) for case in owing if (call := _notice_call(db, case, agency, keys=keys))]
    between()  # the change stands, whatever the coordinators' nodes do
    answers = federation.send([call for _case, call in sent]) if sent else []
    untold = []
    for (case, call), answer in zip(sent, answers, strict=True):
        if not _notice_answered(db, case, agency, call, answer, at=at):
            untold.append((db.get(Agency, case.coordinating_agency_id), case))
    return untold


def _confirmed_here(db: Session, case: MdtCase, agency: Agency) -> bool:
    """Whether the agency's part in the case is confirmed, as this node holds it."""
    link = db.exec(
        select(CaseLink.id).where(
            CaseLink.case_id == case.id,
            CaseLink.agency_id == agency.id,
            CaseLink.confirmed_at.is_not(None),
        )
    ).first()
    return link is not None


def _owe_coordinator(db: Session, case: MdtCase, agency: Agency, *, at: datetime) -> bool:
    """Note that `agency` owes the case's coordinating node a notice (True), when the case
    is coordinated elsewhere. On a node that does not coordinate the case, an `OwedTell`
    names the agency here that owes it."""
    coordinator = db.get(Agency, case.coordinating_agency_id)
    if coordinator is None or membership.is_local(db, coordinator):
        return False
    row = db.exec(
        select(OwedTell).where(OwedTell.case_id == case.id, OwedTell.agency_id == agency.id)
    ).first() or OwedTell(case_id=case.id, agency_id=agency.id, since=at)
    row.tried_at = at
    db.add(row)
    db.flush()
    return True


def _agency_itself(agency: Agency, *, node: str) -> Requester:
    """The agency, no staff member named: who sends a notice the node sends for it."""
    return Requester(
        node=node, agency=agency.public_id, agency_kind=agency.kind, user=None, roles=frozenset()
    )


def _notice_call(db: Session, case: MdtCase, agency: Agency, *, keys: KeyWrapper) -> Call | None:
    """The signed notice to the case's coordinating node, in the agency's name alone: its
    staff member's name is the agency's to keep (who revoked a survivor's release). It says
    whether the agency's link is withdrawn (no longer confirmed here). None
    when there is no one to send it to (no roster, or the coordinator is not in it): then
    nothing stays owed, as of an owner no longer in the roster (`tell_participants`)."""
    roster, local_url = transport.roster_and_url(db)
    coordinator = db.get(Agency, case.coordinating_agency_id)
    member = None if roster is None else roster.member(coordinator.public_id)
    if member is None or local_url is None:
        for row in db.exec(
            select(OwedTell).where(OwedTell.case_id == case.id, OwedTell.agency_id == agency.id)
        ).all():
            db.delete(row)
        db.flush()
        return None
    requester = _agency_itself(agency, node=local_url)
    # Said as it stands when sent, not as it was when owed: a notice sent again after the
    # agency confirmed a client anew withdraws nothing.
    withdrawn = not _confirmed_here(db, case, agency)
    (call,) = transport.calls_for(
        db,
        agency,
        [member],
        PARTICIPATION_CHANGED,
        lambda _m: {
            "requester": wire.requester_dict(requester),
            "case": case.reference,
            "withdrawn": withdrawn,
        },
        keys=keys,
    )
    return call


def _notice_answered(
    db: Session,
    case: MdtCase,
    agency: Agency,
    call: Call,
    answer: dict | Unavailable,
    *,
    at: datetime,
) -> bool:
    """Settle what the agency owes after a notice: gone once the coordinator's node took it
    (and the agency's log says it told it); kept, with the time of this try, when its node
    did not answer. True when taken."""
    row = db.exec(
        select(OwedTell).where(OwedTell.case_id == case.id, OwedTell.agency_id == agency.id)
    ).first()
    if isinstance(answer, Unavailable):
        if row is not None:
            row.tried_at = at
            db.add(row)
            db.flush()
        return False
    if row is not None:
        db.delete(row)
    record(
        db,
        AuditTag.COORDINATOR_TOLD,
        agency_id=agency.id,
        actor=_agency_itself(agency, node="local"),
        subject=case.reference,
        detail={"coordinating_agency": call.owners[0].agency, "told_on": call.node},
        at=at,
    )
    db.flush()
    return True


def cases_of_client(db: Session, agency_id: int, client_id: int) -> list[MdtCase]:
    """The cases the agency's client is linked to (confirmed or not)."""
    return list(
        db.exec(
            select(MdtCase)
            .join(CaseLink, CaseLink.case_id == MdtCase.id)
            .where(CaseLink.agency_id == agency_id, CaseLink.client_id == client_id)
            .order_by(MdtCase.id)
        ).all()
    )


def tell_owed(
    db: Session,
    *,
    keys: KeyWrapper,
    federation: Federation,
    at: datetime,
    case: MdtCase | None = None,
    tried_before: datetime | None = None,
    commit: Callable[[], None] | None = None,
) -> tuple[int, list[str]]:
    """Tell again what this node owes owners elsewhere (of one case, or of every case;
    only those last tried before `tried_before`, when given): how many owners were told,
    and the names of those still owed. Sent in the coordinating agency's name (no staff
    member asked: the node does). Of a case coordinated on another node, what is owed is
    a notice to its coordinator (`tell_changed`), sent again in the owing agency's name.
    `commit`: ends the caller's transaction before each send (see `tell_participants`),
    so that no call waits while it holds a log or the writers' lock."""
    query = select(OwedTell.case_id, OwedTell.agency_id)
    if case is not None:
        query = query.where(OwedTell.case_id == case.id)
    if tried_before is not None:
        query = query.where(OwedTell.tried_at < tried_before)
    by_case: dict[int, set[int]] = {}
    for case_id, agency_id in db.exec(query).all():
        by_case.setdefault(case_id, set()).add(agency_id)
    told, still = 0, []
    if by_case and None in transport.roster_and_url(db):
        # No roster (or no address for this node) any more: nothing can be sent.
        names = db.exec(select(Agency.name).join(OwedTell, OwedTell.agency_id == Agency.id))
        return 0, list(names.all())
    for case_id, agencies in sorted(by_case.items()):
        owing = db.get(MdtCase, case_id)
        coordinator = db.get(Agency, owing.coordinating_agency_id)
        if not membership.is_local(db, coordinator):
            # Coordinated elsewhere: the notices agencies here owe its node (`tell_changed`).
            # Any other row is no longer this node's to tell (its agency moved): left be.
            for agency_id in sorted(agencies):
                agency = db.get(Agency, agency_id)
                if not membership.is_local(db, agency):
                    continue
                call = _notice_call(db, owing, agency, keys=keys)
                if call is None:
                    continue
                if commit is not None:
                    commit()
                if _notice_answered(db, owing, agency, call, *federation.send([call]), at=at):
                    told += 1
                else:
                    still.append(coordinator.name)
            continue
        untold = tell_participants(
            db,
            owing,
            requester=as_coordinator(coordinator),
            keys=keys,
            federation=federation,
            at=at,
            only=agencies,
            commit=commit,
        )
        told += len(agencies) - len(untold)
        still.extend(untold)
    return told, still
