"""A survivor revokes the release that let her agency's taking part be told to an agency
elsewhere: that agency's node is told again at once, without her agency, instead of keeping
it until the case next changes. Synthetic data only."""

from __future__ import annotations

from datetime import timedelta

import httpx2
import test_federation_vouchers as vouchers_tests
from sqlmodel import select
from starlette.testclient import TestClient

from portal.audit.log import AuditTag, DisclosureFacts, record
from portal.db import unit_of_work
from portal.federation import links
from portal.federation.transport import Federation
from portal.models import Client, ConsentRelease, OwedTell, ReleaseSection

import federation_world as fw
from databases import setup_unit

URLS = vouchers_tests.URLS
world = vouchers_tests.world  # the fixture: three nodes, the case linked across them


def _participation_release(world, node: str = "a", holder: str = fw.SHELTER) -> str:
    engine = getattr(world, node).engine()
    with unit_of_work(engine) as db:
        agency = fw.agency_named(db, holder)
        client = db.exec(select(Client).where(Client.agency_id == agency.id)).one()
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


def _revoke(world, node: str, username: str, release: str) -> str:
    """Revoke the release as its agency's staff do; the page shown next."""
    url = URLS["abc".index(node)]
    with TestClient(world.apps[node], base_url=url, follow_redirects=False) as client:
        fw.login(client, username)
        page = client.get(f"/releases/{release}/revoke").text
        token = page.split('name="csrf_token" value="')[1].split('"')[0]
        answer = client.post(
            f"/releases/{release}/revoke",
            data={"csrf_token": token, "reason": "Synthetic: changed her mind"},
        )
        assert answer.status_code == 303, answer.text
        return client.get(answer.headers["location"]).text


def test_revoking_the_participation_release_untells_the_agency_elsewhere(world):
    vouchers_tests._sign_participation(world, "a", fw.SHELTER, fw.WELFARE)
    vouchers_tests._tell_again(world)
    assert fw.SHELTER in vouchers_tests._links_on(world.c, world.case_ref)
    _revoke(world, "a", "shelter.cm", _participation_release(world))
    assert fw.SHELTER not in vouchers_tests._links_on(world.c, world.case_ref), (
        "child welfare's node still holds that the shelter serves the survivor after she "
        "revoked the release that let it be told"
    )


def test_a_revocation_that_takes_effect_after_a_page_untells_the_agency_all_the_same(world):
    """A page logged a disclosure under the release later than the revoking request's own
    time (it began after, and logged first): the revocation takes effect just after that
    entry (`effective_after_disclosures`). Who takes part is told as of then, when the
    release is no longer in effect, not as of the request's time, when it still was."""
    vouchers_tests._sign_participation(world, "a", fw.SHELTER, fw.WELFARE)
    vouchers_tests._tell_again(world)
    assert fw.SHELTER in vouchers_tests._links_on(world.c, world.case_ref)
    release = _participation_release(world)
    engine = world.a.engine()
    with setup_unit(engine) as db:
        shelter = fw.agency_named(db, fw.SHELTER)
        client = db.exec(select(Client).where(Client.agency_id == shelter.id)).one()
        record(
            db,
            AuditTag.DISCLOSURE_RELEASED,
            agency_id=shelter.id,
            at=fw.now() + timedelta(minutes=1),  # its request time, later than the revoker's
            disclosure=DisclosureFacts(
                case_ref=world.case_ref,
                client_ref=client.public_id,
                section_key="participation",
                purpose="mdt_case_review",
                decision="released",
                release_ref=release,
            ),
        )
    engine.dispose()
    _revoke(world, "a", "shelter.cm", release)
    assert fw.SHELTER not in vouchers_tests._links_on(world.c, world.case_ref)


def test_a_notice_the_coordinators_node_missed_is_sent_when_the_case_page_opens(world):
    """The clinic (node B) revokes its survivor's release letting child welfare be told it
    takes part while the coordinator's node (A) is down: the revocation stands and says
    so; the notice is owed, and B's case page sends it once a while has passed."""
    vouchers_tests._sign_participation(world, "b", fw.CLINIC, fw.WELFARE)
    vouchers_tests._tell_again(world)
    assert fw.CLINIC in vouchers_tests._links_on(world.c, world.case_ref)
    to_c = httpx2.ASGITransport(app=world.apps["c"])
    world.apps["b"].state.federation.close()
    world.apps["b"].state.federation = Federation(
        timeout_seconds=5,
        window_seconds=30,
        mounts={URLS[0]: fw.NodeDown(), URLS[2]: to_c},
    )
    page = _revoke(world, "b", "clinic.cm", _participation_release(world, "b", fw.CLINIC))
    assert "Coordinating CAC (synthetic) did not answer from its node" in page
    assert fw.CLINIC in vouchers_tests._links_on(world.c, world.case_ref)
    world.apps["b"].state.federation.close()
    world.apps["b"].state.federation = Federation(
        timeout_seconds=5,
        window_seconds=30,
        mounts={URLS[0]: httpx2.ASGITransport(app=world.apps["a"]), URLS[2]: to_c},
    )
    mirror = fw.case_on(world.b, world.case_ref)

    def case_page() -> None:
        with TestClient(world.apps["b"], base_url=URLS[1], follow_redirects=False) as client:
            fw.login(client, "clinic.cm")
            assert client.get(f"/cases/{mirror.public_id}").status_code == 200

    case_page()  # tried a moment ago: not sent again yet
    assert fw.CLINIC in vouchers_tests._links_on(world.c, world.case_ref)
    engine = world.b.engine()
    with unit_of_work(engine) as db:
        (owed,) = db.exec(select(OwedTell)).all()
        owed.tried_at -= links.TRY_AGAIN_AFTER
        db.add(owed)
    engine.dispose()
    case_page()
    assert fw.CLINIC not in vouchers_tests._links_on(world.c, world.case_ref)
    engine = world.b.engine()
    with unit_of_work(engine) as db:
        assert db.exec(select(OwedTell)).all() == []
    engine.dispose()
