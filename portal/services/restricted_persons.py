"""Persons recorded on a client's file who may never sign a release for them: why, by whom
and when; ended by a lead with a reason, the history kept."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from consent.validate import same_person_key
from portal.audit import AuditTag, lock_logs, record
from portal.db import stamp_once
from portal.errors import Conflict, Invalid, NotFound
from portal.models import Actor, Agency, Client, RestrictedPerson, RestrictionReason, StaffUser
from portal.services import validation

RESTRICTION_REASONS = {
    RestrictionReason.SUSPECTED_EXPLOITER: "suspected exploiter",
    RestrictionReason.COURT_ORDER: "a court order keeps them away",
    RestrictionReason.OTHER: "other (say why in the note)",
}


def reason_label(person: RestrictedPerson) -> str:
    """Why the person may not sign, in words for staff."""
    if person.reason == RestrictionReason.SUSPECTED_EXPLOITER:
        return "suspected exploiter"
    if person.reason == RestrictionReason.COURT_ORDER:
        return "a court order keeps them away from the client"
    return person.note or "other"


def _refusal_reason(person: RestrictedPerson) -> str:
    # Completes "recorded on this client as …" in the consent library's refusal.
    if person.reason == RestrictionReason.SUSPECTED_EXPLOITER:
        return "a suspected exploiter"
    if person.reason == RestrictionReason.COURT_ORDER:
        return "someone a court order keeps away from them"
    return f"someone who may not sign ({person.note})" if person.note else ""


def restricted_persons_of(db: Session, client: Client) -> list[RestrictedPerson]:
    """Everyone ever recorded, in force or ended: the history stays on the file."""
    return list(
        db.exec(
            select(RestrictedPerson)
            .where(RestrictedPerson.client_id == client.id)
            .order_by(RestrictedPerson.created_at, RestrictedPerson.id)
        )
    )


def staff_names(db: Session, persons: list[RestrictedPerson]) -> dict[int, str]:
    """Who recorded and who ended each restriction, by staff id."""
    ids = {i for p in persons for i in (p.created_by_id, p.ended_by_id) if i is not None}
    if not ids:
        return {}
    rows = db.exec(select(StaffUser.id, StaffUser.display_name).where(StaffUser.id.in_(ids)))
    return dict(rows.all())


def in_force(db: Session, client: Client) -> list[RestrictedPerson]:
    return list(
        db.exec(
            select(RestrictedPerson).where(
                RestrictedPerson.client_id == client.id, RestrictedPerson.ended_at.is_(None)
            )
        )
    )


def excluded_signers(db: Session, client: Client) -> dict[str, str]:
    """Name -> why, for the consent library: the persons who may not sign today."""
    return {person.name: _refusal_reason(person) for person in in_force(db, client)}


def checked(*, name: object, reason: object, note: object = None) -> dict[str, str]:
    """The form's name, reason and note, read; every mistake in one `Invalid`."""
    return validation.collect(
        name=lambda: validation.text(name, "name", max_length=120),
        reason=lambda: _restriction_reason(reason),
        note=lambda: validation.text(
            note,
            "note",
            max_length=500,
            required=reason == RestrictionReason.OTHER,
            label="A note saying why",
        ),
    )


def record_restricted_person(
    db: Session,
    client: Client,
    *,
    name: object,
    reason: object,
    note: object = None,
    actor: Actor,
    at: datetime,
) -> RestrictedPerson:
    """Someone recorded on the client's file who may never sign a release for them."""
    values = checked(name=name, reason=reason, note=note)
    wanted = same_person_key(values["name"])
    # The client's agency's log (where the person is written) before the check: one
    # person recorded twice at once is one restriction, which one ending ends.
    lock_logs(db, [client.agency_id])
    if any(same_person_key(n) == wanted for n in excluded_signers(db, client)):
        raise Conflict("name", "This person is already recorded on this client.")
    person = RestrictedPerson(
        client_id=client.id,
        name=values["name"],
        reason=values["reason"],
        note=values["note"] or None,
        created_at=at,
        created_by_id=actor.id if actor else None,
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
        detail={"reason": values["reason"], "restriction": person.public_id},
        at=at,
    )
    return person


def access_restriction(db: Session, agency: Agency, public_id: str) -> RestrictedPerson:
    """A restriction on one of the agency's own clients; 404 for anything else."""
    person = db.exec(
        select(RestrictedPerson)
        .join(Client, Client.id == RestrictedPerson.client_id)
        .where(RestrictedPerson.public_id == public_id, Client.agency_id == agency.id)
    ).first()
    if person is None:
        raise NotFound("restriction")
    return person


def end_restriction(
    db: Session, person: RestrictedPerson, *, reason: object, actor: Actor, at: datetime
) -> RestrictedPerson:
    """A lead ends a restriction (a court order lifted, a name recorded in error); the row
    stays, with who ended it, when and why."""
    if person.ended_at is not None:
        raise Conflict("end_reason", "This restriction has already ended.")
    why = validation.text(reason, "end_reason", max_length=500, label="The reason for ending it")
    # One conditional statement: of two endings at once the second ends nothing.
    if not stamp_once(db, person, "ended_at", at):
        raise Conflict("end_reason", "This restriction has already ended.")
    person.ended_by_id = actor.id if actor else None
    person.end_reason = why
    client = db.get(Client, person.client_id)
    record(
        db,
        AuditTag.RESTRICTED_PERSON_ENDED,
        agency_id=client.agency_id,
        actor=actor,
        subject=client.public_id,
        detail={"reason": person.reason, "restriction": person.public_id},
        at=at,
    )
    return person


def _restriction_reason(value: object) -> str:
    if not isinstance(value, str) or value not in {r.value for r in RestrictionReason}:
        raise Invalid("reason", "Choose why this person may not sign.")
    return str(value)
