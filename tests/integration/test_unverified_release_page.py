"""The client's page with one release that does not verify: the page shows, the other
releases with their status, and that one as not verified and not in force."""

from datetime import timedelta

import pytest
from disclosure_helpers import release, world, write
from tamper_helpers import altered, unsealable

from portal.models import Role

import factories as make


@pytest.mark.parametrize("tamper", ["unsealable", "altered"])
def test_the_client_page_shows_one_release_marked_not_verified(client, db, keys, clock, tamper):
    w = world(db, keys)
    write(db, keys, w, "medical", {"exam_done": "completed"})
    medical = release(db, keys, w, ["medical"])
    other = release(db, keys, w, ["safety_plan"])
    if tamper == "unsealable":
        unsealable(db, medical)
    else:
        altered(db, keys, medical)
    lead = make.user(db, w.owner, Role.AGENCY_LEAD)
    clock.at = make.AT + timedelta(hours=1)
    make.login(client, lead.username)
    page = client.get(f"/clients/{w.client.public_id}")
    assert page.status_code == 200
    rows = {
        public_id: page.text.split(f'href="/releases/{public_id}"', 1)[1].split("</tr>", 1)[0]
        for public_id in (medical.public_id, other.public_id)
    }
    assert "Not verified" in rows[medical.public_id]
    assert "could not be verified and is not in force" in rows[medical.public_id]
    assert "Not verified" not in rows[other.public_id]
    assert "state-active" in rows[other.public_id]
    assert w.client.reference in page.text
