"""A survivor revokes the release that let her agency's taking part be told to an agency
elsewhere: that agency's node is told again at once, without her agency, instead of keeping
it until the case next changes. Synthetic data only."""

from __future__ import annotations

import test_federation_vouchers as vouchers_tests
from sqlmodel import select
from starlette.testclient import TestClient

from portal.db import unit_of_work
from portal.models import Client, ConsentRelease, ReleaseSection

import federation_world as fw

URLS = vouchers_tests.URLS
world = vouchers_tests.world  # the fixture: three nodes, the case linked across them


def _participation_release(world) -> str:
    engine = world.a.engine()
    with unit_of_work(engine) as db:
        shelter = fw.agency_named(db, fw.SHELTER)
        client = db.exec(select(Client).where(Client.agency_id == shelter.id)).one()
        found = db.exec(
            select(ConsentRelease.public_id)
            .join(ReleaseSection, ReleaseSection.release_id == ConsentRelease.id)
            .where(
                ConsentRelease.client_id == client.id,
                ReleaseSection.section_key == "participation",
            )
        ).one()
    engine.dispose()
    return found


def test_revoking_the_participation_release_untells_the_agency_elsewhere(world):
    vouchers_tests._sign_participation(world, "a", fw.SHELTER, fw.WELFARE)
    vouchers_tests._tell_again(world)
    assert fw.SHELTER in vouchers_tests._links_on(world.c, world.case_ref)
    release = _participation_release(world)
    with TestClient(world.apps["a"], base_url=URLS[0], follow_redirects=False) as client:
        fw.login(client, "shelter.cm")
        page = client.get(f"/releases/{release}/revoke").text
        token = page.split('name="csrf_token" value="')[1].split('"')[0]
        answer = client.post(
            f"/releases/{release}/revoke",
            data={"csrf_token": token, "reason": "Synthetic: changed her mind"},
        )
        assert answer.status_code == 303, answer.text
    assert fw.SHELTER not in vouchers_tests._links_on(world.c, world.case_ref), (
        "child welfare's node still holds that the shelter serves the survivor after she "
        "revoked the release that let it be told"
    )
