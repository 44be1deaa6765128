"""Disclosures an agency was compelled to make (a subpoena, a court order, a mandated
report): outside any release, yet disclosures all the same. Recorded by a lead, they enter
the owner's audit log, one entry per section like any disclosure, and so the client's
accounting of disclosures, marked as compelled. VAWA expects the victim to be told, so
whether (and how) the client was told is part of the record."""

from __future__ import annotations

import json
from datetime import date, datetime

from sqlmodel import Session, select

from portal.audit import AuditTag, DisclosureFacts, record
from portal.errors import Invalid
from portal.i18n import N_
from portal.models import Actor, Client, CompelledBasis, CompelledDisclosure
from portal.sections import catalogue
from portal.services import validation

BASIS_LABELS = {
    CompelledBasis.SUBPOENA: N_("subpoena"),
    CompelledBasis.COURT_ORDER: N_("court order"),
    CompelledBasis.MANDATED_REPORT: N_("mandated report"),
}
# The purpose written on the audit entries: no release's purpose, so never mistaken for one.
COMPELLED_PURPOSE = "compelled"


def record_compelled_disclosure(
    db: Session,
    client: Client,
    *,
    recipient: object,
    basis: object,
    basis_detail: object,
    sections: list[str],
    disclosed_on: object,
    client_told: object,
    client_notice: object = None,
    today: date,
    actor: Actor,
    at: datetime,
) -> CompelledDisclosure:
    known = catalogue().keys()

    def check_sections() -> list[str]:
        chosen = [s for s in sections if isinstance(s, str) and s]
        if not chosen:
            raise Invalid("sections", "Choose what was disclosed.")
        if any(s not in known for s in chosen):
            raise Invalid("sections", "Choose sections from the list.")
        return list(dict.fromkeys(chosen))

    def check_day() -> date:
        day = validation.iso_date(disclosed_on, "disclosed_on", label="The date of disclosure")
        if day > today:
            raise Invalid("disclosed_on", "Record a disclosure once it has been made.")
        return day

    def check_told() -> bool:
        if client_told not in ("yes", "no"):
            raise Invalid("client_told", "Say whether the client was told.")
        return client_told == "yes"

    values = validation.collect(
        recipient=lambda: validation.text(
            recipient, "recipient", max_length=200, label="To whom it was disclosed"
        ),
        basis=lambda: validation.choice(basis, "basis", CompelledBasis, label="Legal basis"),
        basis_detail=lambda: validation.text(
            basis_detail, "basis_detail", max_length=300, label="The order, subpoena or report"
        ),
        sections=check_sections,
        disclosed_on=check_day,
        client_told=check_told,
        client_notice=lambda: validation.text(
            client_notice,
            "client_notice",
            max_length=500,
            # Not telling the client is sometimes right (their safety); it is never silent.
            required=client_told == "no",
            label="Why the client was not told",
        ),
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


def sections_of(disclosure: CompelledDisclosure) -> list[str]:
    return json.loads(disclosure.sections)
