"""Persons recorded on a client's file who may never sign a release for them: why, by whom
and when; ended by a lead with a reason, the history kept.

Their names (and the note, the end's reason) are kept sealed for their row under the
client's agency's data key, as her own name is: read here, opened, as `Restriction`s."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlmodel import Session, select

from consent.validate import same_person_key
from portal.audit import AuditTag, lock_logs, record
from portal.crypto import KeyWrapper
from portal.db import stamp_once
from portal.errors import Conflict, Invalid, NotFound
from portal.models import Actor, Agency, Client, RestrictedPerson, RestrictionReason, StaffUser
from portal.models.release import restriction_sealed_for
from portal.services import validation
from portal.services.keys import open_record, seal_record

RESTRICTION_REASONS = {
    RestrictionReason.SUSPECTED_EXPLOITER: "suspected exploiter",
    RestrictionReason.COURT_ORDER: "a court order keeps them away",
    RestrictionReason.OTHER: "other (say why in the note)",
}


# What is sealed of a restricted person, and what its clear columns hold once it is.
SEALED_DETAILS = ("name", "note", "end_reason")
EMPTIED = {"name": "", "note": None, "end_reason": None}


@dataclass(frozen=True)
class Restriction:
    """A restricted person as staff read them: the row (reason, who recorded and ended it,
    when), its name, note and end's reason opened. Never written back."""

    row: RestrictedPerson
    name: str
    note: str | None
    end_reason: str | None

    def __getattr__(self, attribute: str):
        return getattr(self.row, attribute)


def _details(db: Session, person: RestrictedPerson, agency_id: int, *, keys: KeyWrapper) -> dict:
    """The person's name, note and end's reason: opened for the row, or as kept in clear
    before they were sealed. SealedElsewhere for ones sealed for another row."""
    if person.details_sealed is None:
        return {column: getattr(person, column) for column in SEALED_DETAILS}
    place = restriction_sealed_for(agency_id, person.client_id, person.id)
    return open_record(db, agency_id, keys, person.data_key_id, person.details_sealed, place=place)


def _opened(db: Session, client: Client, persons, *, keys: KeyWrapper) -> list[Restriction]:
    found = []
    for person in persons:
        details = _details(db, person, client.agency_id, keys=keys)
        found.append(Restriction(person, *(details.get(c) for c in SEALED_DETAILS)))
    return found


def _seal_details(
    db: Session, person: RestrictedPerson, agency_id: int, details: dict, *, keys: KeyWrapper
) -> None:
    place = restriction_sealed_for(agency_id, person.client_id, person.id)
    person.data_key_id, person.details_sealed = seal_record(
        db, agency_id, keys, {c: details.get(c) for c in SEALED_DETAILS}, place=place
    )
    for column, empty in EMPTIED.items():
        setattr(person, column, empty)
    db.add(person)
    db.flush()


def reason_label(person: Restriction) -> str:
    """Why the person may not sign, in words for staff."""
    if person.reason == RestrictionReason.SUSPECTED_EXPLOITER:
        return "suspected exploiter"
    if person.reason == RestrictionReason.COURT_ORDER:
        return "a court order keeps them away from the client"
    return person.note or "other"


def _refusal_reason(person: Restriction) -> str:
    # Completes "recorded on this client as …" in the consent library's refusal.
    if person.reason == RestrictionReason.SUSPECTED_EXPLOITER:
        return "a suspected exploiter"
    if person.reason == RestrictionReason.COURT_ORDER:
        return "someone a court order keeps away from them"
    return f"someone who may not sign ({person.note})" if person.note else ""


def restricted_persons_of(db: Session, client: Client, *, keys: KeyWrapper) -> list[Restriction]:
    """Everyone ever recorded, in force or ended: the history stays on the file."""
    rows = db.exec(
        select(RestrictedPerson)
        .where(RestrictedPerson.client_id == client.id)
        .order_by(RestrictedPerson.created_at, RestrictedPerson.id)
    )
    return _opened(db, client, rows, keys=keys)


def as_told(persons: list[Restriction], *, details: bool) -> list[Restriction]:
    """The restrictions as a viewer may be told of them. `details`: the viewer's roles may
    read the restricted persons' names (the agency's policy, read and audited as the
    client's own name is). Without it, what a person typed about them (the note, the
    reason a lead gave for ending it) is dropped with the name: it can name them, or
    someone close to the survivor. What is left says that each was recorded, why by
    category, and when and by whom it was recorded or ended."""
    if details:
        return persons
    return [replace(p, name="", note=None, end_reason=None) for p in persons]


def staff_names(db: Session, persons: list[Restriction]) -> dict[int, str]:
    """Who recorded and who ended each restriction, by staff id."""
    ids = {i for p in persons for i in (p.created_by_id, p.ended_by_id) if i is not None}
    if not ids:
        return {}
    rows = db.exec(select(StaffUser.id, StaffUser.display_name).where(StaffUser.id.in_(ids)))
    return dict(rows.all())


def in_force(db: Session, client: Client, *, keys: KeyWrapper) -> list[Restriction]:
    rows = db.exec(
        select(RestrictedPerson).where(
            RestrictedPerson.client_id == client.id, RestrictedPerson.ended_at.is_(None)
        )
    )
    return _opened(db, client, rows, keys=keys)


def excluded_signers(db: Session, client: Client, *, keys: KeyWrapper) -> dict[str, str]:
    """Name -> why, for the consent library: the persons who may not sign today."""
    return {person.name: _refusal_reason(person) for person in in_force(db, client, keys=keys)}


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
    keys: KeyWrapper,
    at: datetime,
) -> Restriction:
    """Someone recorded on the client's file who may never sign a release for them."""
    values = checked(name=name, reason=reason, note=note)
    wanted = same_person_key(values["name"])
    # The client's agency's log (where the person is written) before the check: one
    # person recorded twice at once is one restriction, which one ending ends.
    lock_logs(db, [client.agency_id])
    if any(same_person_key(n) == wanted for n in excluded_signers(db, client, keys=keys)):
        raise Conflict("name", "This person is already recorded on this client.")
    person = RestrictedPerson(
        client_id=client.id,
        name="",
        reason=values["reason"],
        created_at=at,
        created_by_id=actor.id if actor else None,
    )
    db.add(person)
    db.flush()  # its id is part of the place its name is sealed for
    details = {"name": values["name"], "note": values["note"] or None, "end_reason": None}
    _seal_details(db, person, client.agency_id, details, keys=keys)
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
    return Restriction(person, *(details[c] for c in SEALED_DETAILS))


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
    db: Session,
    person: RestrictedPerson | Restriction,
    *,
    reason: object,
    actor: Actor,
    keys: KeyWrapper,
    at: datetime,
) -> Restriction:
    """A lead ends a restriction (a court order lifted, a name recorded in error); the row
    stays, with who ended it, when and why."""
    person = person.row if isinstance(person, Restriction) else person
    if person.ended_at is not None:
        raise Conflict("end_reason", "This restriction has already ended.")
    why = validation.text(reason, "end_reason", max_length=500, label="The reason for ending it")
    # One conditional statement: of two endings at once the second ends nothing.
    if not stamp_once(db, person, "ended_at", at):
        raise Conflict("end_reason", "This restriction has already ended.")
    person.ended_by_id = actor.id if actor else None
    client = db.get(Client, person.client_id)
    # Sealed again with the end's reason (sealing one kept in clear until now too).
    details = {**_details(db, person, client.agency_id, keys=keys), "end_reason": why}
    _seal_details(db, person, client.agency_id, details, keys=keys)
    record(
        db,
        AuditTag.RESTRICTED_PERSON_ENDED,
        agency_id=client.agency_id,
        actor=actor,
        subject=client.public_id,
        detail={"reason": person.reason, "restriction": person.public_id},
        at=at,
    )
    return Restriction(person, *(details[c] for c in SEALED_DETAILS))


def _restriction_reason(value: object) -> str:
    if not isinstance(value, str) or value not in {r.value for r in RestrictionReason}:
        raise Invalid("reason", "Choose why this person may not sign.")
    return str(value)
