"""What a lead typed when ending a restriction can name people: it is told, with the name
and the note, only to roles that may read restricted persons' names; the others are told
that the restriction ended, why it was recorded (by category), when and by whom."""

from datetime import timedelta

from portal.models import RestrictionReason, Role
from portal.services import restricted_persons

import factories as make

END_REASON = "Synthetic: the order against Dana Example was lifted"
NOTE = "Synthetic: Dana Example, the client's cousin"


def test_an_end_reason_and_note_are_told_only_with_the_name(db, keys):
    agency = make.agency(db, keys)
    survivor = make.client_record(db, agency, keys)
    lead = make.user(db, agency, Role.AGENCY_LEAD)
    person = restricted_persons.record_restricted_person(
        db,
        survivor,
        name="Dana Example",
        reason=RestrictionReason.OTHER.value,
        note=NOTE,
        actor=lead,
        keys=keys,
        at=make.AT,
    )
    restricted_persons.end_restriction(
        db, person, reason=END_REASON, actor=lead, keys=keys, at=make.AT + timedelta(days=1)
    )
    db.flush()
    persons = restricted_persons.restricted_persons_of(db, survivor, keys=keys)
    (told,) = restricted_persons.as_told(persons, details=True)
    assert (told.name, told.note, told.end_reason) == ("Dana Example", NOTE, END_REASON)
    (kept,) = restricted_persons.as_told(persons, details=False)
    assert (kept.name, kept.note, kept.end_reason) == ("", None, None)
    assert kept.reason == RestrictionReason.OTHER and kept.ended_by_id == lead.id
    assert kept.ended_at is not None
    assert restricted_persons.reason_label(kept) == "other"
