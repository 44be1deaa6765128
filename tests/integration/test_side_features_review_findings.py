"""Review of the features beside the disclosure point (restricted persons, compelled
disclosures, safety plans, calendar feeds, exports, the lead's audit pages): each test here
failed against the code as it was reviewed. Synthetic data only."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import test_federation_vouchers as vouchers_tests
from page_text import page_text
from sqlmodel import select
from starlette.testclient import TestClient

import consent
from portal.db import unit_of_work
from portal.models import Client, ConsentRelease, ReleaseRevocation, Role
from portal.services import releases

import factories as make
import federation_world as fw

URLS = vouchers_tests.URLS
world = vouchers_tests.world  # the fixture: three nodes, the case linked across them

# A legal guardian of an adult client who signed beside her, later kept away by a court.
GUARDIAN = consent.Signer("Pat Guardian (synthetic)", consent.Capacity.LEGAL_GUARDIAN)


# --- restricted persons: recording one revokes the releases they signed ------------------


def _participation_signed_with_guardian(world, holder: str, recipient: str) -> str:
    """The holder's survivor (node A) lets `recipient` be told her agency takes part, her
    guardian signing beside her; the release's public id."""
    engine = world.a.engine()
    with unit_of_work(engine) as db:
        agency = fw.agency_named(db, holder)
        client = db.exec(select(Client).where(Client.agency_id == agency.id)).one()
        author = fw.staff_named(db, "shelter.cm")
        row = fw.sign_release(
            db,
            world.a,
            client,
            author,
            [world.ids[recipient]],
            ["participation"],
            fw.now() - timedelta(minutes=1),
            second_signer=GUARDIAN,
        )
        found = row.public_id, client.public_id
    engine.dispose()
    return found


def _record_restricted(app, url: str, username: str, client_id: str, name: str, **extra):
    with TestClient(app, base_url=url, follow_redirects=False) as browser:
        fw.login(browser, username)
        page = browser.get(f"/clients/{client_id}").text
        token = page.split('name="csrf_token" value="')[1].split('"')[0]
        return browser.post(
            f"/clients/{client_id}/restricted-persons",
            data={"csrf_token": token, "name": name, "reason": "court_order", **extra},
        )


def test_a_release_revoked_by_recording_its_signer_as_restricted_is_told_elsewhere(world):
    """Recording a person who may never sign revokes the releases they signed, as a
    revocation on the release's page does: the survivor's participation release included.
    Owners elsewhere must stop being told her community-based agency serves her then, as
    they are after the release page's revocation (`links.tell_changed`)."""
    release, client_id = _participation_signed_with_guardian(world, fw.SHELTER, fw.WELFARE)
    vouchers_tests._tell_again(world)
    assert fw.SHELTER in vouchers_tests._links_on(world.c, world.case_ref)
    answer = _record_restricted(
        world.apps["a"], URLS[0], "shelter.cm", client_id, GUARDIAN.name, confirmed="yes"
    )
    assert answer.status_code == 303, answer.text
    engine = world.a.engine()
    with unit_of_work(engine) as db:
        row = db.exec(select(ConsentRelease).where(ConsentRelease.public_id == release)).one()
        assert (
            releases.revoked_at(db, row, keys=world.a.keys, at=fw.now() + timedelta(seconds=1))
            is not None
        )
    engine.dispose()
    assert fw.SHELTER not in vouchers_tests._links_on(world.c, world.case_ref), (
        "child welfare's node still holds that the shelter serves the survivor after the "
        "release letting it be told was revoked by recording its co-signer as restricted"
    )


class _Owner:
    """An agency with a client whose release her guardian co-signed, and staff."""

    def __init__(self, client, db, keys):
        self.agency = make.agency(db, keys)
        self.partner = make.agency(db, keys, name="Partner House (synthetic)")
        self.advocate = make.user(db, self.agency, Role.ADVOCATE)
        self.mentor = make.user(db, self.agency, Role.SURVIVOR_MENTOR)
        # Registered by the mentor: the survivor is in their caseload (an intake).
        self.client_row = make.client_record(db, self.agency, keys, actor=self.mentor)
        self.release = releases.draft_release(
            db,
            self.client_row,
            recipients=[self.partner.public_id],
            sections=["safety_plan"],
            purpose="mdt_case_review",
            effective_at=make.AT,
            expiry=consent.DateExpiry(make.AT + timedelta(days=90)),
            keys=keys,
            language="en",
            actor=self.advocate,
            at=make.AT,
        )
        releases.sign(
            db,
            self.release,
            signer=consent.Signer("Robin Example", consent.Capacity.SELF),
            second_signer=GUARDIAN,
            method=consent.SignatureMethod.TYPED,
            actor=self.advocate,
            keys=keys,
            at=make.AT,
        )
        db.flush()

    def sign_in(self, client, user):
        client.cookies.clear()
        make.login(client, user.username)
        return make.csrf_of_page(client, f"/clients/{self.client_row.public_id}")

    def revocations(self, db) -> int:
        return len(
            db.exec(
                select(ReleaseRevocation).where(ReleaseRevocation.release_id == self.release.id)
            ).all()
        )


@pytest.fixture
def owner(client, db, keys):
    return _Owner(client, db, keys)


def test_a_survivor_mentor_cannot_revoke_a_release_by_recording_its_signer(client, db, owner):
    """A survivor-mentor may not revoke releases (the release page answers 403): recording
    the co-signer as someone who may never sign must not revoke the release for them."""
    token = owner.sign_in(client, owner.mentor)
    release_url = f"/releases/{owner.release.public_id}"
    assert client.post(f"{release_url}/revoke", data={"csrf_token": token}).status_code == 403
    client.post(
        f"/clients/{owner.client_row.public_id}/restricted-persons",
        data={
            "csrf_token": token,
            "name": GUARDIAN.name,
            "reason": "court_order",
            "confirmed": "yes",
        },
    )
    assert owner.revocations(db) == 0, (
        "a survivor-mentor revoked the survivor's release through the restricted-person form"
    )


def test_recording_a_signer_as_restricted_asks_before_it_revokes_their_releases(client, db, owner):
    """Revoking a release cannot be undone, and its own page asks first; recording a person
    who signed releases revokes them too, so the form asks first, naming what it revokes."""
    token = owner.sign_in(client, owner.advocate)
    answer = client.post(
        f"/clients/{owner.client_row.public_id}/restricted-persons",
        data={"csrf_token": token, "name": GUARDIAN.name, "reason": "court_order"},
    )
    assert owner.revocations(db) == 0, "the release was revoked without being asked first"
    assert answer.status_code == 200
    assert "cannot be undone" in answer.text and "1 release" in answer.text


def _what_it_says(client, response, *names: str) -> tuple[int, str]:
    """The answer's status and words (the messages on the page a redirect leads to, or the
    page itself), with the names typed and the form's tokens left out."""
    status = response.status_code
    if status == 303:
        response = client.get(response.headers["location"])
        words = " ".join(re.findall(r'<p class="flash[^"]*"[^>]*>(.*?)</p>', response.text, re.S))
    else:
        words = re.sub(r"<[^>]+>", " ", response.text.split('id="main"')[-1])
    for name in names:
        words = words.replace(name, "NAME")
    words = re.sub(r'value="[^"]*"', "", words)
    return status, " ".join(words.split())


def test_recording_a_person_tells_a_role_kept_from_names_nothing_of_who_signed(client, db, owner):
    """The agency's policy keeps clients' names from its lead (the release page withholds
    who signed). Typing a name into the restricted-person form must not tell the lead
    whether that name signed the client's releases: typed as the client's own name, it
    would confirm who the client is."""
    lead = make.user(db, owner.agency, Role.AGENCY_LEAD)
    token = owner.sign_in(client, lead)
    assert "Robin Example" not in client.get(f"/clients/{owner.client_row.public_id}").text
    said = {}
    for name in ("Robin Example", "Sam Nobody (synthetic)"):
        answer = client.post(
            f"/clients/{owner.client_row.public_id}/restricted-persons",
            data={"csrf_token": token, "name": name, "reason": "other", "note": "a test"},
        )
        said[name] = _what_it_says(client, answer, name)
    assert said["Robin Example"] == said["Sam Nobody (synthetic)"], (
        "the answer told the lead whether the name typed signed the client's releases"
    )


def test_recording_a_person_twice_tells_a_role_kept_from_names_nothing(client, db, owner):
    """Likewise whether the name typed is already recorded: the names on the client's file
    are withheld from the lead, so the answer must not say which one is there."""
    token = owner.sign_in(client, owner.advocate)
    client.post(
        f"/clients/{owner.client_row.public_id}/restricted-persons",
        data={"csrf_token": token, "name": "Dana Suspect", "reason": "suspected_exploiter"},
    )
    lead = make.user(db, owner.agency, Role.AGENCY_LEAD)
    token = owner.sign_in(client, lead)
    said = {}
    for name in ("Dana Suspect", "Sam Nobody (synthetic)"):
        answer = client.post(
            f"/clients/{owner.client_row.public_id}/restricted-persons",
            data={
                "csrf_token": token,
                "name": name,
                "reason": "suspected_exploiter",
                "confirmed": "yes",  # past any question the form asks first
            },
        )
        said[name] = _what_it_says(client, answer, name)
    assert said["Dana Suspect"] == said["Sam Nobody (synthetic)"], (
        "the answer told the lead that the name typed is already recorded on the client"
    )


# --- safety plans: the coordinator's dashboard --------------------------------------------


def test_the_dashboard_naming_a_plan_past_its_review_is_a_read_in_the_agencys_log(
    client, db, keys, clock
):
    """The coordinator's rows of plans past review name the survivor and the plan's review
    date (a field of the plan), under the agency's policy for the role: a read of the plan,
    which must be in the agency's log as each screening row beside it is."""
    from portal.models import AuditEntry, Discipline
    from portal.services import sections

    agency = make.agency(db, keys, discipline=Discipline.SHELTER)
    advocate = make.user(db, agency, Role.ADVOCATE)
    survivor = make.client_record(db, agency, keys)
    sections.save_section(
        db,
        survivor,
        "safety_plan",
        {"stage": "leaving", "safe_places": "SYNTHETIC-PLACE", "review_date": "2026-10-01"},
        actor=advocate,
        keys=keys,
        at=clock(),
    )
    db.flush()
    coordinator = make.user(db, agency, Role.MDT_COORDINATOR)
    make.login(client, coordinator.username)
    dashboard = client.get("/").text
    assert survivor.reference in dashboard and "review was due 2026-10-01" in page_text(dashboard)
    reads = db.exec(
        select(AuditEntry).where(
            AuditEntry.agency_id == agency.id,
            AuditEntry.client_ref == survivor.public_id,
            AuditEntry.section_key == "safety_plan",
            AuditEntry.actor_user_ref == coordinator.public_id,
        )
    ).all()
    assert reads, "the dashboard showed the plan's review date and nothing is in the log"


# --- names at rest ---------------------------------------------------------------------


def test_no_name_of_the_client_or_their_circle_is_kept_in_clear(client, db, owner):
    """The client's identity is sealed at rest (a database reader or a backup sees no
    name), yet the same name is kept in clear in the signed release she signed herself,
    and her guardian's, and a suspected exploiter's name on her file, in clear too: either
    names her to anyone who reads the database."""
    from portal.models import RestrictedPerson

    token = owner.sign_in(client, owner.advocate)
    client.post(
        f"/clients/{owner.client_row.public_id}/restricted-persons",
        data={"csrf_token": token, "name": "Dana Suspect", "reason": "suspected_exploiter"},
    )

    def kept(*columns) -> str:
        rows = db.exec(select(*columns)).all()
        return " ".join(str(v) for row in rows for v in (row if len(columns) > 1 else [row]))

    client_row = kept(*Client.__table__.columns)
    assert "Robin" not in client_row  # the client's own row holds no name
    stored = " ".join(
        kept(*table.__table__.columns)
        for table in (ConsentRelease, ReleaseRevocation, RestrictedPerson)
    )
    for name in ("Robin Example", GUARDIAN.name, "Dana Suspect"):
        assert name not in stored, f"{name!r} is kept in clear"
