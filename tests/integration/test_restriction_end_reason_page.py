"""The client's page: a restriction's end reason, typed by a lead, is shown only to roles
that may read restricted persons' names (a lead, by the default policy, may not)."""

from datetime import timedelta

from page_text import page_text

from portal.models import RestrictionReason, Role
from portal.services import restricted_persons

import factories as make

END_REASON = "Synthetic: the order against Dana Example was lifted"


def test_the_end_reason_is_shown_only_to_roles_that_read_names(client, db, keys):
    agency = make.agency(db, keys)
    survivor = make.client_record(db, agency, keys)
    lead = make.user(db, agency, Role.AGENCY_LEAD)  # no names by the default policy
    advocate = make.user(db, agency, Role.ADVOCATE)
    person = restricted_persons.record_restricted_person(
        db,
        survivor,
        name="Dana Example",
        reason=RestrictionReason.COURT_ORDER.value,
        actor=lead,
        keys=keys,
        at=make.AT - timedelta(days=3),
    )
    restricted_persons.end_restriction(
        db, person, reason=END_REASON, actor=lead, keys=keys, at=make.AT - timedelta(days=1)
    )
    db.flush()
    url = f"/clients/{survivor.public_id}"
    make.login(client, lead.username)
    kept = client.get(url)
    assert kept.status_code == 200
    ended = kept.text.split("Ended restrictions", 1)[1].split("</details>", 1)[0]
    assert "Dana Example" not in kept.text, "the end reason names the person to a lead"
    assert "a court order keeps them away" in ended and "ended 2026-11-01" in page_text(ended)
    client.cookies.clear()
    make.login(client, advocate.username)
    assert END_REASON in client.get(url).text
