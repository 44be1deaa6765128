"""Participation vouchers: a community-based agency shows an owner elsewhere that it takes
part in a case only when it asks that owner.

That a community-based agency serves a survivor is its own to disclose (VAWA counts the
fact of service). So the coordinating node tells each owner elsewhere who takes part
(`links.tell_participants`) naming only the coordinator, system-based agencies and the
owner itself. A community-based agency asking an owner elsewhere carries a voucher: the
coordinating agency's signature over (case, agency, until), valid for minutes. The owner's
disclosure point counts the agency as taking part for that request alone, and keeps
nothing of it but its log entries (which name every requester, as they always have).

The coordinating agency vouches for an agency confirmed on the case, only to that agency
(its signed request), and for none whose survivor's release to join the case is no longer
in effect (`point.lapsed_links`: partners see nothing more of that survivor); the agency's
own node, which holds that release, asks for no voucher then. An owner takes a voucher only
from the MDT's coordinating agency (this node's roster's word) and only for the case that
agency coordinates. Each voucher given is a disclosure of the coordinating agency's (that
the agency serves a survivor on the case), entered in its log; one refused writes nothing.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime, timedelta

from nacl.exceptions import BadSignatureError
from sqlmodel import Session, select

import consent
from consent.keys import b64url_decode, b64url_encode
from portal.audit import AuditTag, DisclosureFacts, entry_values, record_many
from portal.crypto import KeyWrapper
from portal.disclosure import point
from portal.federation import membership, transport, wire
from portal.federation.transport import Federation, Unavailable
from portal.models import Agency, AgencyKind, CaseLink, MdtCase
from portal.requester import Requester

PATH = transport.PREFIX + "/participation"
LIFETIME = timedelta(minutes=10)
# Asked for again this long before it runs out, so none expires on its way.
RENEW_BEFORE = timedelta(minutes=2)
# Clocks of two nodes differ: a voucher is taken this much either side of its window.
SKEW = timedelta(seconds=60)
# What the signature covers is this label and the claim's canonical JSON: a voucher's
# signature is never one over anything else the agency's key signs.
LABEL = b"mdt-portal participation voucher v1\n"
CLAIM_FIELDS = frozenset({"case", "agency", "coordinator", "until"})


class VoucherRefused(wire.WireError):
    """A voucher that is malformed, not the MDT coordinator's, or not for this request."""


class NotVouched(Exception):
    """The agency takes no part in the case that its coordinating agency vouches for."""


def takes_part(
    db: Session, case: MdtCase, agency: Agency, *, at: datetime, keys: KeyWrapper
) -> bool:
    """Whether `agency` takes part in `case` as this node knows it: its link is confirmed,
    and the release its survivor joined under (when this node holds it) is in effect now."""
    confirmed = db.exec(
        select(CaseLink.id).where(
            CaseLink.case_id == case.id,
            CaseLink.agency_id == agency.id,
            CaseLink.confirmed_at.is_not(None),
        )
    ).first()
    return confirmed is not None and agency.id not in point.lapsed_links(db, case, at=at, keys=keys)


def needed(requester_agency: Agency, case: MdtCase) -> bool:
    """Whether this agency's requests about the case carry a voucher: a community-based
    agency other than the coordinator, whose taking part owners are not told of."""
    return (
        requester_agency.kind == AgencyKind.COMMUNITY
        and requester_agency.id != case.coordinating_agency_id
    )


def mint(
    db: Session,
    case: MdtCase,
    agency: str,
    *,
    coordinator: Agency,
    asked_by: Requester,
    keys: KeyWrapper,
    at: datetime,
    entries_into: list | None = None,
) -> dict:
    """The coordinating agency's voucher that `agency` (public id) takes part in `case`,
    asked for by `asked_by` (of that agency); raises NotVouched when it does not
    (`takes_part`), and nothing is written then.

    A voucher tells owners on other nodes that the agency serves a survivor on the case: a
    disclosure of the coordinating agency's, entered in its log (`vouched_entry`).
    `entries_into`: a list in which to leave that entry instead of writing it, for a caller
    that writes it with its other entries, its logs locked together (it must write it)."""
    asking = db.exec(select(Agency).where(Agency.public_id == agency)).first()
    if asking is None or not takes_part(db, case, asking, at=at, keys=keys):
        raise NotVouched(agency)
    claim = {
        "case": case.reference,
        "agency": agency,
        "coordinator": coordinator.public_id,
        "until": (at + LIFETIME).isoformat(),
    }
    key_id, signing_key = transport.signing_key_of(db, coordinator, keys=keys)
    signature = signing_key.sign(LABEL + consent.canonical_bytes(claim)).signature
    entry = vouched_entry(case, coordinator, claim, asked_by=asked_by, at=at)
    if entries_into is None:
        record_many(db, [entry])
    else:
        entries_into.append(entry)
    return {"claim": claim, "key_id": key_id, "signature": b64url_encode(signature)}


def vouched_entry(
    case: MdtCase, coordinator: Agency, claim: dict, *, asked_by: Requester, at: datetime
) -> dict:
    """The coordinating agency's entry for a voucher: who asked (the agency vouched for, by
    its staff member), the case, and until when owners take it. Released, in "taking part",
    so the lead's search by case, agency or decision finds it; no survivor of the
    coordinator's own is named (the fact told is of the agency vouched for)."""
    return entry_values(
        AuditTag.CASE_PARTICIPATION_VOUCHED,
        agency_id=coordinator.id,
        actor=asked_by,
        subject=case.reference,
        detail={"agency": claim["agency"], "until": claim["until"]},
        at=at,
        disclosure=DisclosureFacts(
            case_ref=case.reference,
            client_ref=None,
            section_key=point.PARTICIPATION,
            purpose=consent.Purpose.MDT_CASE_REVIEW.value,
            decision="released",
            viewer_role=asked_by.audit_role(),
        ),
    )


def check(db: Session, voucher: object, *, case: MdtCase, requester: Requester, at: datetime):
    """Raises VoucherRefused unless `voucher` is the MDT coordinator's, now, that this
    requester's agency takes part in this case (coordinated by that agency)."""
    if not isinstance(voucher, dict) or not isinstance(voucher.get("claim"), dict):
        raise VoucherRefused("participation: expected a voucher")
    claim, key_id, signature = voucher["claim"], voucher.get("key_id"), voucher.get("signature")
    if set(claim) != CLAIM_FIELDS or not all(isinstance(v, str) for v in claim.values()):
        raise VoucherRefused("participation: the voucher's claim is not one")
    if not isinstance(key_id, str) or not isinstance(signature, str) or len(signature) > 200:
        raise VoucherRefused("participation: the voucher is not signed")
    roster, _url = transport.roster_and_url(db)
    found = None if roster is None else transport.current_key_of(roster, key_id)
    coordinating = db.get(Agency, case.coordinating_agency_id) if case.id is not None else None
    if (
        found is None
        or coordinating is None
        or found[0].agency != claim["coordinator"]
        or claim["coordinator"] != coordinating.public_id
        or claim["coordinator"] != membership.coordinating_agency_id(db)
    ):
        raise VoucherRefused("participation: not vouched for by the MDT's coordinating agency")
    if claim["case"] != case.reference or claim["agency"] != requester.agency:
        raise VoucherRefused("participation: the voucher is for another case or agency")
    try:
        until = datetime.fromisoformat(claim["until"])
    except ValueError:
        raise VoucherRefused("participation: the voucher's time does not read") from None
    if until.tzinfo is None or not (at - SKEW <= until <= at + LIFETIME + SKEW):
        raise VoucherRefused("participation: the voucher is out of date")
    try:
        found[1].verify(LABEL + consent.canonical_bytes(claim), b64url_decode(signature))
    except (BadSignatureError, ValueError):
        raise VoucherRefused("participation: the voucher's signature does not verify") from None


# Vouchers fetched from a coordinating node elsewhere, by (coordinator's node, case,
# agency), until shortly before they run out: one fetch serves ten minutes of pages.
_held: dict[tuple[str, str, str], dict] = {}
# A coordinating node that did not answer is not asked again for this long: each page
# would otherwise wait out the federation's timeout again while it is down.
ASK_AGAIN_AFTER = timedelta(seconds=30)
_unanswered: dict[tuple[str, str, str], datetime] = {}
_held_lock = threading.Lock()
# Session.info: the vouchers a coordinating agency hosted here minted for this session's
# requests, by (case id, agency id).
_MINTED = "participation_vouchers_minted"


def for_request(
    db: Session,
    requester: Requester,
    requester_agency: Agency,
    case: MdtCase,
    *,
    keys: KeyWrapper,
    federation: Federation,
    at: datetime,
    entries_into: list | None = None,
) -> dict | None:
    """The voucher this requester's calls about the case carry (None when none is
    needed); raises Unavailable when the coordinating node elsewhere does not give one.
    A coordinating agency hosted here mints it at once, and its entry is written now or
    left in `entries_into` (`mint`)."""
    if not needed(requester_agency, case):
        return None
    if not takes_part(db, case, requester_agency, at=at, keys=keys):
        # Asked of no one (a request for a voucher would tell the coordinator's node).
        raise Unavailable(
            "your agency takes no part in the case now: its link is not confirmed, or the "
            "release its client joined under is no longer in effect"
        )
    coordinator = db.get(Agency, case.coordinating_agency_id)
    if membership.is_local(db, coordinator):
        # One voucher for every call of the request (a page asks elsewhere more than once),
        # so one entry: minted and entered once per session, which is one request's.
        minted = db.info.setdefault(_MINTED, {})
        held = minted.get((case.id, requester_agency.id))
        if held is None or datetime.fromisoformat(held["claim"]["until"]) - at <= RENEW_BEFORE:
            held = minted[(case.id, requester_agency.id)] = mint(
                db,
                case,
                requester_agency.public_id,
                coordinator=coordinator,
                asked_by=requester,
                keys=keys,
                at=at,
                entries_into=entries_into,
            )
        return held
    roster, local_url = transport.roster_and_url(db)
    member = None if roster is None else roster.member(coordinator.public_id)
    if member is None or local_url is None:
        raise Unavailable("the case's coordinating agency is not in the MDT's roster")
    held_as = (member.node, case.reference, requester_agency.public_id)
    with _held_lock:
        held = _held.get(held_as)
        quiet_until = _unanswered.get(held_as)
    if held is not None and datetime.fromisoformat(held["claim"]["until"]) - at > RENEW_BEFORE:
        return held
    if quiet_until is not None and at < quiet_until:
        raise Unavailable("the coordinating agency's node did not answer a moment ago")
    (call,) = transport.calls_for(
        db,
        requester_agency,
        [member],
        PATH,
        lambda _m: {
            "requester": wire.requester_dict(replace(requester, node=local_url)),
            "case": case.reference,
        },
        keys=keys,
    )
    (answer,) = federation.send([call])
    if isinstance(answer, Unavailable):
        with _held_lock:
            for past in [k for k, until in _unanswered.items() if until <= at]:
                del _unanswered[past]
            _unanswered[held_as] = at + ASK_AGAIN_AFTER
        raise Unavailable(f"the coordinating agency's node did not vouch for yours ({answer})")
    voucher = answer.get("voucher")
    try:
        check(db, voucher, case=case, requester=requester, at=at)
    except VoucherRefused as refused:
        raise Unavailable(f"the coordinating agency's voucher does not hold: {refused}") from None
    with _held_lock:
        _unanswered.pop(held_as, None)
        gone = [k for k, v in _held.items() if datetime.fromisoformat(v["claim"]["until"]) <= at]
        for held_before in gone:  # run out: kept no longer than they serve
            del _held[held_before]
        _held[held_as] = voucher
    return voucher
