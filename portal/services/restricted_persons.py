"""Persons recorded on a client's file who may never sign a release for them."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from consent.validate import normalise_name
from portal.audit import AuditTag, record
from portal.errors import Conflict, Invalid
from portal.models import (
    Client,
    RestrictedPerson,
)
from portal.services import validation
from portal.services.releases import excluded_signers

RESTRICTION_REASONS = {
    "suspected_exploiter": "suspected exploiter",
    "not_safe_to_involve": "not safe to involve",
}


def restricted_persons_of(db: Session, client: Client) -> list[RestrictedPerson]:
    return list(
        db.exec(
            select(RestrictedPerson)
            .where(RestrictedPerson.client_id == client.id)
            .order_by(RestrictedPerson.created_at, RestrictedPerson.id)
        )
    )


def record_restricted_person(
    db: Session, client: Client, *, name: object, reason: object, actor, at: datetime
) -> RestrictedPerson:
    """Someone recorded on the client's file who may never sign a release for them."""
    values = validation.collect(
        name=lambda: validation.text(name, "name", max_length=120),
        reason=lambda: _restriction_reason(reason),
    )
    wanted = normalise_name(values["name"])
    if any(normalise_name(n) == wanted for n in excluded_signers(db, client)):
        raise Conflict("name", "This person is already recorded on this client.")
    person = RestrictedPerson(
        client_id=client.id,
        name=values["name"],
        reason=values["reason"],
        created_at=at,
        created_by_id=getattr(actor, "id", None),
    )
    db.add(person)
    db.flush()
    # The name stays out of the log: the entry says that someone was recorded, and why.
    record(
        db,
        AuditTag.RESTRICTED_PERSON_RECORDED,
        agency_id=client.agency_id,
        actor=actor,
        subject=client.public_id,
        detail={"reason": values["reason"]},
        at=at,
    )
    return person


def _restriction_reason(value: object) -> str:
    if value not in RESTRICTION_REASONS:
        raise Invalid("reason", "Choose why this person may not sign.")
    return str(value)
