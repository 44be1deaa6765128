"""Disclosures an agency was compelled to make (a subpoena, a court order, a mandated
report): outside any release, yet disclosures all the same. Recorded by a lead, they enter
the owner's audit log, one entry per section like any disclosure, and so the client's
accounting of disclosures, marked as compelled. VAWA expects the victim to be told, so
whether (and how) the client was told is part of the record."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, select

from portal.audit import AuditTag, DisclosureFacts, record
from portal.disclosure import own
from portal.errors import Conflict, Invalid
from portal.i18n import N_
from portal.models import Actor, Agency, Client, CompelledBasis, CompelledDisclosure
from portal.requester import Requester
from portal.sections import catalogue
from portal.services.clients import lock_client

BASIS_LABELS = {
    CompelledBasis.SUBPOENA: N_("subpoena"),
    CompelledBasis.COURT_ORDER: N_("court order"),
    CompelledBasis.MANDATED_REPORT: N_("mandated report"),
}
# The purpose written on the audit entries: no release's purpose, so never mistaken for one.
COMPELLED_PURPOSE = "compelled"


@dataclass(frozen=True)
class CompelledDisclosureInput:
    """A compelled disclosure as the client page's form gave it (`portal.web.forms` reads
    it), or as a mandated report makes it: to whom, on what basis, which sections, the day
    (in the MDT's zone), and whether the client was told, with why not if not."""

    recipient: str
    basis: CompelledBasis
    basis_detail: str
    sections: tuple[str, ...]
    disclosed_on: date
    client_told: bool
    client_notice: str | None = None


def check_disclosed_on(day: date, today: date) -> date:
    """A compelled disclosure is recorded once made: never a day after `today`."""
    if day > today:
        raise Invalid("disclosed_on", "Record a disclosure once it has been made.")
    return day


def record_compelled_disclosure(
    db: Session,
    client: Client,
    *,
    given: CompelledDisclosureInput,
    today: date,
    actor: Actor,
    at: datetime,
) -> CompelledDisclosure:
    check_disclosed_on(given.disclosed_on, today)
    if not given.client_told and not given.client_notice:
        # Not telling the client is sometimes right (their safety); it is never silent.
        raise Invalid("client_notice", "Why the client was not told is required.")
    values = {
        "recipient": given.recipient,
        "basis": CompelledBasis(given.basis).value,
        "basis_detail": given.basis_detail,
        "sections": list(dict.fromkeys(given.sections)),
        "disclosed_on": given.disclosed_on,
        "client_told": given.client_told,
        "client_notice": given.client_notice,
    }
    lock_client(db, client)  # the check below and the insert as one
    same = db.exec(
        select(CompelledDisclosure.id).where(
            CompelledDisclosure.client_id == client.id,
            CompelledDisclosure.recipient == values["recipient"],
            CompelledDisclosure.basis == values["basis"],
            CompelledDisclosure.basis_detail == values["basis_detail"],
            CompelledDisclosure.disclosed_on == values["disclosed_on"],
            CompelledDisclosure.sections == json.dumps(values["sections"]),
        )
    ).first()
    if same is not None:  # a double click, a resent form: one subpoena, one disclosure
        raise Conflict(
            "basis_detail",
            "This disclosure is recorded already (same recipient, order, day and sections).",
        )
    disclosure = CompelledDisclosure(
        agency_id=client.agency_id,
        client_id=client.id,
        recipient=values["recipient"],
        basis=values["basis"],
        basis_detail=values["basis_detail"],
        sections=json.dumps(values["sections"]),
        disclosed_on=values["disclosed_on"],
        client_told=values["client_told"],
        client_notice=values["client_notice"] or None,
        recorded_at=at,
        recorded_by_id=actor.id if actor else None,
    )
    db.add(disclosure)
    db.flush()
    for section in values["sections"]:
        record(
            db,
            AuditTag.COMPELLED_DISCLOSURE,
            agency_id=client.agency_id,
            actor=actor,
            subject=disclosure.public_id,
            detail={
                "basis": values["basis"],
                "disclosed_on": values["disclosed_on"].isoformat(),
                "client_told": values["client_told"],
            },
            at=at,
            disclosure=DisclosureFacts(
                case_ref=None,
                client_ref=client.public_id,
                section_key=section,
                purpose=COMPELLED_PURPOSE,
                decision="released",
                gate=None,
            ),
        )
    return disclosure


def compelled_disclosures_of(db: Session, client: Client) -> list[CompelledDisclosure]:
    return list(
        db.exec(
            select(CompelledDisclosure)
            .where(CompelledDisclosure.client_id == client.id)
            .order_by(CompelledDisclosure.disclosed_on.desc(), CompelledDisclosure.id.desc())
        )
    )


def shown_to(
    db: Session, requester: Requester, agency: Agency, client: Client, *, at: datetime
) -> tuple[list[CompelledDisclosure], int]:
    """The client's compelled disclosures this requester may read, and how many others.

    A record of one names the sections disclosed, to whom and under which order or report
    number: it tells what those sections hold (a screening found a reportable concern,
    substance-use records were subpoenaed). It is shown only to a role the agency's own
    policy lets read every section it names, and that read is in the agency's log: one
    entry per section the records shown name."""
    found = compelled_disclosures_of(db, client)
    named = {key for disclosure in found for key in sections_of(disclosure)}
    answers = own.decide_many(db, requester, sorted(named), agency=agency)
    readable = {answer.section.key for answer in answers if answer.allowed}
    shown = [d for d in found if set(sections_of(d)) <= readable]
    told = {key for disclosure in shown for key in sections_of(disclosure)}
    for answer in answers:
        if answer.section.key in told:
            own.record_read(
                db,
                answer,
                requester=requester,
                agency=agency,
                client_ref=client.public_id,
                subject=client.public_id,
                at=at,
                detail={
                    "compelled_disclosures": [
                        d.public_id for d in shown if answer.section.key in sections_of(d)
                    ]
                },
            )
    return shown, len(found) - len(shown)


def sections_of(disclosure: CompelledDisclosure) -> list[str]:
    return json.loads(disclosure.sections)


def section_titles(disclosure: CompelledDisclosure) -> list[str]:
    """The sections a disclosure names, as a person reads them (their titles)."""
    found = catalogue()
    return [
        section.title if (section := found.get(key)) is not None else key
        for key in sections_of(disclosure)
    ]
