"""A survivor-mentor opens the client records of their caseload, not every one of their
program's.

The program's own policy releases a survivor's identity, safe contact and safety
strategies to the survivor-mentor role. Until the caseload bounded client records too, a
second mentor of the program, never assigned to the survivor, read all of it from the
client pages (list, search, record, sections, screenings, releases) and the API. A mentor
keeps the clients they registered while nobody holds their case (the intake they are
doing); the program's lead reads every client.
"""

import json
import pathlib
from datetime import date

import pytest
from mentor_helpers import as_mentor, case_held_by, end_mentor, mentor_token, mentor_world, sign_in
from sqlmodel import select

from portal.errors import NotFound
from portal.models import CaseLink, Role
from portal.services import cases, casework, clients, releases

import factories as make
from team_helpers import joining_release

CLIENT_PAGES = ("", "/sections", "/screenings")
BIRTH = date(2001, 3, 9)


@pytest.fixture
def world(db, keys):
    w = mentor_world(db, keys)
    w.lead = make.user(db, w.program, Role.AGENCY_LEAD, Role.SURVIVOR_MENTOR)
    # The survivor the mentor holds: the program's record, linked to the case it holds.
    w.survivor = make.client_record(db, w.program, keys, given="Alder", family="Quillon")
    link = db.exec(
        select(CaseLink).where(CaseLink.case_id == w.case.id, CaseLink.agency_id == w.program.id)
    ).one()
    link.client_id, link.confirmed_at = w.survivor.id, make.AT
    db.add(link)
    # One the mentor registered at intake, on no case yet.
    w.intake = make.client_record(
        db, w.program, keys, given="Birch", family="Quillon", actor=w.mentor
    )
    db.flush()
    return w


def test_the_mentor_opens_their_survivor_and_their_intake(client, world):
    sign_in(client, world.mentor)
    for person in (world.survivor, world.intake):
        for page in CLIENT_PAGES:
            path = f"/clients/{person.public_id}{page}"
            assert client.get(path).status_code == 200, path
    listed = client.get("/clients").text
    assert "Clients you mentor" in listed
    assert "Alder Quillon" in listed and "Birch Quillon" in listed


def test_another_mentor_of_the_program_is_answered_as_if_the_client_did_not_exist(client, world):
    sign_in(client, world.other_mentor)
    for person in (world.survivor, world.intake):
        for page in CLIENT_PAGES:
            answer = client.get(f"/clients/{person.public_id}{page}")
            assert answer.status_code == 404, page
            assert "Quillon" not in answer.text
    listed = client.get("/clients").text
    assert "Alder" not in listed and "Birch" not in listed
    assert world.survivor.reference not in listed


def test_a_search_by_name_finds_only_the_caseload(client, world):
    sign_in(client, world.other_mentor)
    listed = client.get("/clients")
    found = client.post(
        "/clients/search",
        data={
            "csrf_token": make.csrf_from(listed.text),
            "given_name": "Alder",
            "family_name": "Quillon",
            "birth_date": "2000-05-17",
        },
    )
    assert found.status_code == 200
    assert world.survivor.public_id not in found.text and "Alder Quillon" not in found.text


def _register(client, reference: str, given: str, birth: str):
    form = client.get("/clients/new")
    return client.post(
        "/clients",
        data={
            "csrf_token": make.csrf_from(form.text),
            "reference": reference,
            "given_name": given,
            "family_name": "Quillon",
            "birth_date": birth,
            "preferred_language": "en",
        },
        follow_redirects=False,
    )


def test_registering_someone_already_registered_tells_a_mentor_to_ask_their_lead(client, world):
    sign_in(client, world.other_mentor)
    answer = _register(client, "R-NEW-1", "Alder", "2000-05-17")
    assert answer.status_code == 409
    assert "ask your lead to assign them" in answer.text
    assert world.survivor.public_id not in answer.text


def test_a_mentor_opens_the_client_they_have_just_registered(client, world):
    """Their intake: in their caseload until a mentor is assigned to the survivor's case."""
    sign_in(client, world.other_mentor)
    answer = _register(client, "R-NEW-2", "Cedar", "2003-08-14")
    assert answer.status_code == 303
    page = client.get(answer.headers["location"])
    assert page.status_code == 200 and "Cedar Quillon" in page.text
    assert "Cedar Quillon" in client.get("/clients").text
    sign_in(client, world.mentor)
    assert client.get(answer.headers["location"]).status_code == 404


def test_a_client_leaves_the_caseload_with_the_case(client, db, world):
    end_mentor(db, world, world.case)
    sign_in(client, world.mentor)
    assert client.get(f"/clients/{world.survivor.public_id}").status_code == 404
    assert client.get(f"/clients/{world.intake.public_id}").status_code == 200


def test_an_intake_passes_to_the_mentor_assigned_to_its_case(client, db, world, keys):
    """The registering mentor keeps their intake only until someone holds its case."""
    case_held_by(db, world, world.other_mentor, intake=date(2026, 10, 22), client=world.intake)
    sign_in(client, world.mentor)
    assert client.get(f"/clients/{world.intake.public_id}").status_code == 404
    sign_in(client, world.other_mentor)
    assert client.get(f"/clients/{world.intake.public_id}").status_code == 200


def test_an_intake_passed_to_another_mentor_does_not_come_back_when_that_mentor_ends(
    client, db, world
):
    """The survivor the registering mentor did the intake of went to another mentor; when
    that mentor is taken off, the survivor is on no case anyone holds, and must not fall
    back to the mentor they were moved away from, with all that their record holds by then."""
    case = case_held_by(
        db, world, world.other_mentor, intake=date(2026, 10, 24), client=world.intake
    )
    end_mentor(db, world, case, reason="Synthetic: the survivor chose to leave the program")
    sign_in(client, world.mentor)
    for page in CLIENT_PAGES:
        assert client.get(f"/clients/{world.intake.public_id}{page}").status_code == 404, page
    listed = client.get("/clients").text
    assert "Birch" not in listed and world.intake.reference not in listed


def _confirmed_then_withdrawn(db, world, case) -> None:
    """The program confirms its client on the case, then its lead withdraws the record (the
    survivor left the case)."""
    link = db.exec(
        select(CaseLink).where(CaseLink.case_id == case.id, CaseLink.agency_id == world.program.id)
    ).one()
    link.confirmed_at = make.AT
    db.add(link)
    casework.withdraw_link(
        db, case, world.program, reason="left_the_case", actor=world.lead, at=make.AT
    )
    db.flush()


def test_an_intake_withdrawn_from_another_mentors_case_does_not_come_back(client, db, world):
    """The survivor the registering mentor did the intake of went to another mentor's case;
    the program then withdraws its client record from that case (the survivor left it).
    The survivor is on no case now, and must not fall back to the mentor who registered
    them, with all that the other mentor wrote since."""
    case = case_held_by(
        db, world, world.other_mentor, intake=date(2026, 10, 24), client=world.intake
    )
    _confirmed_then_withdrawn(db, world, case)
    sign_in(client, world.mentor)
    for page in CLIENT_PAGES:
        assert client.get(f"/clients/{world.intake.public_id}{page}").status_code == 404, page
    assert "Birch" not in client.get("/clients").text
    with pytest.raises(NotFound):
        clients.client_for(db, as_mentor(world, world.mentor), world.intake.public_id)


def test_an_intake_withdrawn_from_a_case_nobody_mentored_stays_the_mentors(client, db, world):
    """The program's record of the mentor's intake was confirmed on a case no mentor was
    assigned to, then withdrawn: the intake was never handed on, so it is still theirs."""
    case = make.mdt_case(db, world.coordinating, intake=date(2026, 10, 24))
    cases.link_client(db, case, world.program, world.intake, actor=world.coordinator, at=make.AT)
    _confirmed_then_withdrawn(db, world, case)
    assert world.intake.intake_ended_at is None
    sign_in(client, world.mentor)
    assert client.get(f"/clients/{world.intake.public_id}").status_code == 200


def test_a_mentors_own_intake_leaves_the_caseload_when_their_assignment_ends(client, db, world):
    case = case_held_by(db, world, world.mentor, intake=date(2026, 10, 24), client=world.intake)
    sign_in(client, world.mentor)
    assert client.get(f"/clients/{world.intake.public_id}").status_code == 200
    end_mentor(db, world, case)
    assert client.get(f"/clients/{world.intake.public_id}").status_code == 404
    mentor = as_mentor(world, world.mentor)
    with pytest.raises(NotFound):
        clients.client_for(db, mentor, world.intake.public_id)


def test_the_programs_lead_reads_every_client(client, world):
    sign_in(client, world.lead)
    for person in (world.survivor, world.intake):
        assert client.get(f"/clients/{person.public_id}").status_code == 200
    listed = client.get("/clients").text
    assert "All clients" in listed and "Alder Quillon" in listed and "Birch Quillon" in listed


def test_a_release_opens_only_for_a_client_of_the_caseload(client, db, keys, world):
    row = joining_release(db, keys, world.program, world.survivor, world.coordinating)
    db.flush()
    for page in (f"/releases/{row.public_id}", f"/releases/{row.public_id}/preview"):
        sign_in(client, world.mentor)
        assert client.get(page).status_code == 200, page
        sign_in(client, world.other_mentor)
        assert client.get(page).status_code == 404, page
    other = as_mentor(world, world.other_mentor)
    with pytest.raises(NotFound):
        releases.release_for(db, other, row.public_id)


def test_a_forged_copy_of_a_release_tells_another_mentor_nothing_of_what_it_says(
    client, db, keys, world
):
    """The verify page compares a file whose signature fails, field by field, with the
    uploader's agency's stored release. A mentor who knows the number of a release of a
    survivor they do not mentor (named in a task, a message, a page they once held) must not
    learn, guess by guess, who signed it or whom it names."""
    row = joining_release(db, keys, world.program, world.survivor, world.coordinating)
    db.flush()
    sign_in(client, world.mentor)
    envelope = json.loads(client.get(f"/releases/{row.public_id}/signed.json").content)
    forged = json.loads(json.dumps(envelope))
    forged["release"]["signer"]["name"] = "A guessed name"
    forged["signature"]["sig"] = "A" * 86
    body = json.dumps(forged).encode()
    for who, told in ((world.mentor, True), (world.other_mentor, False)):
        sign_in(client, who)
        answer = client.post(
            "/consent/verify",
            data={"csrf_token": make.csrf_of_page(client, "/consent/verify")},
            files={"document": ("release.json", body, "application/json")},
        )
        assert answer.status_code == 200 and "bad signature" in answer.text
        assert ("Changed since signing" in answer.text) is told, who.username


def test_confirming_a_link_cannot_bring_another_survivor_into_the_caseload(client, db, keys, world):
    """The case the other mentor holds waits for the program's client: a reference typed
    must name one of the mentor's own, not any client of the program."""
    case = case_held_by(db, world, world.other_mentor, intake=date(2026, 10, 23))
    joining_release(db, keys, world.program, world.intake, world.coordinating)
    db.flush()
    sign_in(client, world.other_mentor)
    page = client.get(f"/cases/{case.public_id}")
    answer = client.post(
        f"/cases/{case.public_id}/link",
        data={"csrf_token": make.csrf_from(page.text), "client_reference": world.intake.reference},
    )
    assert answer.status_code == 400
    assert "You have no client with this reference" in answer.text
    link = db.exec(
        select(CaseLink).where(CaseLink.case_id == case.id, CaseLink.agency_id == world.program.id)
    ).one()
    db.refresh(link)
    assert link.client_id is None


def test_an_api_token_acting_as_a_mentor_finds_and_writes_only_the_caseload(client, db, world):
    bearer = mentor_token(db, world, "sections:write")
    found = client.get(
        f"/api/v1/clients?reference={world.survivor.reference}", headers=bearer
    ).json()
    assert found["items"] == []
    answer = client.put(
        f"/api/v1/clients/{world.survivor.public_id}/sections/identity",
        headers=bearer,
        json={"content": {"note": "Synthetic"}},
    )
    assert answer.status_code == 404


def test_the_client_loader_narrows_to_the_caseload(db, world):
    mentor, other = as_mentor(world, world.mentor), as_mentor(world, world.other_mentor)
    assert clients.client_for(db, mentor, world.survivor.public_id).id == world.survivor.id
    with pytest.raises(NotFound):
        clients.client_for(db, other, world.survivor.public_id)
    assert clients.count_clients(db, world.program, holder=world.mentor) == 2
    assert clients.count_clients(db, world.program, holder=world.other_mentor) == 0
    assert clients.count_clients(db, world.program) == 2


def test_no_handler_opens_a_client_or_release_by_id_without_the_viewers_caseload():
    """Pages and API operations open a client through `clients.client_for` and a release
    through `releases.release_for`, never the agency-only loaders, which skip the
    caseload."""
    root = pathlib.Path(__file__).resolve().parents[2] / "portal"
    offenders = [
        f"{path.relative_to(root)}:{number}"
        for folder in ("web", "api")
        for path in sorted((root / folder).glob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "access_client(" in line or "access_release(" in line
    ]
    assert offenders == []
