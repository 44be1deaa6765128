"""The client's page with one release that does not verify: the page shows, the other
releases with their status, and that one as not verified and not in force."""

from datetime import timedelta

import pytest
from disclosure_helpers import release, world, write
from tamper_helpers import altered, shows_the_altered_end, unsealable

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


def test_an_altered_releases_own_page_does_not_show_it_in_force(client, db, keys):
    w = world(db, keys)
    medical = release(db, keys, w, ["medical"])
    altered(db, keys, medical)
    advocate = make.user(db, w.owner, Role.ADVOCATE)  # reads names: the FHIR file has them
    make.login(client, advocate.username)
    # Its page opens to say it is no release (test_unverified_release_detail); its file,
    # which would hand the altered words on as a release, is refused.
    page = client.get(f"/releases/{medical.public_id}")
    assert page.status_code == 200
    assert "The portal treats it as no release." in page.text
    assert not shows_the_altered_end(page.text)
    fhir = client.get(f"/releases/{medical.public_id}/fhir.json")
    assert fhir.status_code == 409
    assert "could not be verified and is not in force" in fhir.text
    assert not shows_the_altered_end(fhir.text)
