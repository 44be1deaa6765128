"""Client and release pages through HTTP: own agency only, every form's bad input, downloads."""

import json
from datetime import date, timedelta

import pytest
from form_markup import Page
from mentor_helpers import in_caseload
from page_text import page_text
from sqlmodel import func, select

import consent
from portal.models import (
    AgencyKind,
    AuditEntry,
    Client,
    ConsentRelease,
    ReleaseRevocation,
    RestrictedPerson,
    Role,
)
from portal.services import releases
from portal.web import client_pages

import factories as make

TODAY = "2026-11-02"  # the clock fixture's day in the MDT's time zone (America/New_York)
MISSING = "11111111-1111-4111-8111-111111111111"


class Team:
    """An owner agency with a signed-in advocate, and two partner agencies."""

    def __init__(self, client, db, keys, role=Role.ADVOCATE):
        self.owner = make.agency(db, keys)
        self.system = make.agency(db, keys, kind=AgencyKind.SYSTEM, name="Police Unit (synthetic)")
        self.community = make.agency(db, keys, name="Shelter House (synthetic)")
        self.user = make.user(db, self.owner, role)
        self.client_row = make.client_record(db, self.owner, keys)
        make.login(client, self.user.username)
        self.token = make.csrf_of_page(client, "/clients")

    def sign_in_again(self, client):
        """After the clock jumps past the idle timeout the session has ended."""
        client.cookies.clear()
        make.login(client, self.user.username)
        self.token = make.csrf_of_page(client, "/clients")


@pytest.fixture
def team(client, db, keys):
    return Team(client, db, keys)


def count(db, model, *where):
    return db.exec(select(func.count()).select_from(model).where(*where)).one()


def tags(db, agency_id):
    return [e.tag for e in db.exec(select(AuditEntry).where(AuditEntry.agency_id == agency_id))]


def release_form(team, **changes):
    form = {
        "csrf_token": team.token,
        "recipients": [team.community.public_id],
        "sections": ["safety_plan", "needs_assessment"],
        "purpose": "mdt_case_review",
        "effective_date": TODAY,
        "expiry_kind": "date",
        "end_date": "2027-01-31",
        "language": "en",
    }
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


def create_release(client, team, **changes):
    response = client.post(
        f"/clients/{team.client_row.public_id}/releases", data=release_form(team, **changes)
    )
    assert response.status_code == 303, response.text
    return response.headers["location"]


def sign_form(team, **changes):
    form = {
        "csrf_token": team.token,
        "signer_name": "Robin Example",
        "signer_capacity": "self",
        "method": "typed",
        "signed_date": TODAY,
    }
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


def signed_release(client, team, **changes):
    url = create_release(client, team, **changes)
    response = client.post(f"{url}/sign", data=sign_form(team))
    assert response.status_code == 303, response.text
    return url


# --- clients ---------------------------------------------------------------------------


def test_client_list_pages_in_sql_and_decrypts_only_the_page(client, db, keys, monkeypatch):
    team = Team(client, db, keys)
    for n in range(29):
        make.client_record(db, team.owner, keys, given=f"Person{n}", family="Listed")
    outsider = make.client_record(db, team.system, keys, given="Outside", family="Elsewhere")
    opened = []
    original = client_pages.clients.reveal_identity
    monkeypatch.setattr(
        client_pages.clients,
        "reveal_identity",
        lambda db, c, **kw: opened.append(c.id) or original(db, c, **kw),
    )
    first = client.get("/clients")
    assert first.status_code == 200
    assert '<span class="count">30</span>' in first.text and "Page 1 of 2" in first.text
    assert len(opened) == 25
    second = client.get("/clients?page=2").text
    assert second.count("/clients/") - second.count('href="/clients/new"') >= 5
    assert "Outside" not in first.text + second
    assert outsider.id not in opened
    assert client.get("/clients?page=banana").status_code == 200


def test_search_by_name_and_birth_date(client, team):
    def search(**fields):
        return client.post("/clients/search", data={"csrf_token": team.token, **fields})

    found = search(given_name="robin", family_name="EXAMPLE", birth_date="2000-05-17")
    assert found.status_code == 200 and f"/clients/{team.client_row.public_id}" in found.text
    assert "Search results" in found.text
    other_day = search(given_name="Robin", family_name="Example", birth_date="2010-05-18")
    assert "No client of your agency" in other_day.text
    bad = search(given_name="Robin", birth_date="17/05/2010")
    assert bad.status_code == 400
    assert "Family name is required" in bad.text and "Birth date must be a date" in bad.text
    forged = client.post("/clients/search", data={"given_name": "Robin", "family_name": "Example"})
    assert forged.status_code == 403  # the form's token is checked
    # A query string no longer searches (it would keep what was typed in the address).
    listed = client.get("/clients", params={"given_name": "Robin", "family_name": "Example"})
    assert listed.status_code == 200 and "All clients" in listed.text


def test_register_a_client_and_bad_input_writes_nothing(client, db, team):
    before = count(db, Client)
    bad = client.post(
        "/clients",
        data={
            "csrf_token": team.token,
            "reference": "",
            "given_name": "Sky",
            "family_name": "",
            "birth_date": "2999-01-01",
        },
    )
    assert bad.status_code == 400
    assert "Agency reference is required" in bad.text and "Family name is required" in bad.text
    assert 'value="Sky"' in bad.text
    assert count(db, Client) == before
    good = client.post(
        "/clients",
        data={
            "csrf_token": team.token,
            "reference": "F-77",
            "given_name": "Sky",
            "family_name": "Sampleton",
            "birth_date": "2009-03-04",
            "phone": "555-0100",
        },
    )
    assert good.status_code == 303
    detail = client.get(good.headers["location"])
    assert "Sky Sampleton" in detail.text and "555-0100" in detail.text
    assert "Releases" in detail.text and "record:client:created" in tags(db, team.owner.id)
    twice = client.post(
        "/clients",
        data={
            "csrf_token": team.token,
            "reference": "F-78",
            "given_name": "sky",
            "family_name": "SAMPLETON",
            "birth_date": "2009-03-04",
        },
    )
    assert twice.status_code == 409 and "already has a client" in twice.text
    assert count(db, Client) == before + 1


def test_restricted_person_is_recorded_and_bad_input_refused(client, db, team):
    url = f"/clients/{team.client_row.public_id}/restricted-persons"
    bad = client.post(url, data={"csrf_token": team.token, "name": "", "reason": "grudge"})
    assert bad.status_code == 400
    assert "Name is required" in bad.text and "Choose why" in bad.text
    assert count(db, RestrictedPerson) == 0
    ok = client.post(
        url,
        data={"csrf_token": team.token, "name": "Dana Suspect", "reason": "suspected_exploiter"},
    )
    assert ok.status_code == 303
    page = client.get(f"/clients/{team.client_row.public_id}").text
    assert "Dana Suspect — suspected exploiter" in page
    again = client.post(
        url,
        data={"csrf_token": team.token, "name": "dana  suspect", "reason": "court_order"},
    )
    assert again.status_code == 409 and "already recorded" in again.text
    assert count(db, RestrictedPerson) == 1
    entry = db.exec(
        select(AuditEntry).where(AuditEntry.tag == "record:restricted_person:recorded")
    ).one()
    assert "Dana" not in entry.detail  # the log names no one


# --- releases ----------------------------------------------------------------------------


def test_new_release_form_offers_partners_sections_and_90_days(client, team):
    page = client.get(f"/clients/{team.client_row.public_id}/releases/new")
    assert page.status_code == 200
    assert team.system.name in page.text and "system-based" in page.text
    assert team.community.name in page.text and "community-based" in page.text
    assert team.owner.name not in page.text.split("<main")[1].split("Who may receive it")[1]
    assert 'value="2027-01-31"' in page.text  # today + 90 days, offered
    assert "Health" in page.text and "Mental health" in page.text
    assert "Some of these agencies are system-based" not in page.text


def test_system_based_warning_arrives_by_htmx_and_without_js(client, team):
    url = f"/clients/{team.client_row.public_id}/releases/new"
    fragment = client.get(
        url, params={"recipients": team.system.public_id}, headers={"HX-Request": "true"}
    )
    assert fragment.status_code == 200 and fragment.headers["vary"] == "HX-Request"
    assert "Some of these agencies are system-based" in fragment.text
    assert "<form" not in fragment.text
    quiet = client.get(
        url, params={"recipients": team.community.public_id}, headers={"HX-Request": "true"}
    )
    assert "system-based" not in quiet.text
    release_url = create_release(client, team, recipients=[team.system.public_id])
    assert "Some of these agencies are system-based" in client.get(release_url).text
    printed = client.get(f"{release_url}/print").text
    assert "Some of these agencies are system-based" in printed
    assert team.system.name in printed


def test_bad_release_form_names_every_field_and_writes_nothing(client, db, team):
    before = count(db, ConsentRelease)
    response = client.post(
        f"/clients/{team.client_row.public_id}/releases",
        data=release_form(
            team,
            recipients=[team.owner.public_id],
            sections=["astrology"],
            purpose="marketing",
            end_date="2026-10-01",
        ),
    )
    assert response.status_code == 400
    for message in (
        "Choose agencies from the list",
        "Choose sections from the list",
        "Choose a purpose",
    ):
        assert message in response.text
    assert count(db, ConsentRelease) == before
    ended_early = client.post(
        f"/clients/{team.client_row.public_id}/releases",
        data=release_form(team, end_date="2026-11-02"),
    )
    assert ended_early.status_code == 400 and "must end after" in ended_early.text
    no_latest = client.post(
        f"/clients/{team.client_row.public_id}/releases",
        data=release_form(team, expiry_kind="event", event="", latest_date=""),
    )
    assert no_latest.status_code == 400
    assert "The ending event is required" in no_latest.text
    assert "Latest end date must be a date" in no_latest.text
    assert count(db, ConsentRelease) == before


def test_create_print_sign_download_and_revoke(client, db, team, clock):
    url = create_release(client, team, recipients=[team.community.public_id, team.system.public_id])
    draft = client.get(url).text
    assert "Draft — not signed" in draft and "Record the signature" in draft
    printed = client.get(f"{url}/print")
    assert printed.status_code == 200
    for statement in consent.default_statements().__dict__.values():
        assert statement.replace("'", "&#39;") in printed.text
    assert 'href="/static/print.css" media="print"' in printed.text
    assert "never sign this form" in printed.text
    assert client.get(f"{url}/signed.json").status_code == 400  # a draft has no signature

    signed = client.post(f"{url}/sign", data=sign_form(team))
    assert signed.status_code == 303
    page = client.get(url).text
    assert "Active" in page and "in effect until 2027-01-31" in page_text(page)
    assert "UTC" not in page  # the last day as the MDT's calendar has it, not 05:00 UTC
    row = db.exec(
        select(ConsentRelease).where(ConsentRelease.public_id == url.split("/")[-1])
    ).one()
    assert row.state == "signed"

    download = client.get(f"{url}/signed.json")
    assert download.status_code == 200
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.headers["cache-control"] == "no-store"
    verdict = consent.verify(json.loads(download.content), releases.keyring(db), at=clock.at)
    assert verdict.ok, verdict.reason

    fhir = client.get(f"{url}/fhir.json")
    assert fhir.status_code == 200 and fhir.headers["cache-control"] == "no-store"
    assert "attachment" in fhir.headers["content-disposition"]
    resource = fhir.json()
    assert resource["resourceType"] == "Consent" and resource["status"] == "active"
    assert {a["reference"]["display"] for a in resource["provision"]["actor"]} == {
        team.community.name,
        team.system.name,
    }

    clock.advance(minutes=5)
    revoked = client.post(f"{url}/revoke", data={"csrf_token": team.token, "reason": "asked to"})
    assert revoked.status_code == 303
    page = client.get(url).text
    assert "Revoked" in page and "asked to" in page and "Revoke this release" not in page
    assert client.get(f"{url}/fhir.json").json()["status"] == "inactive"
    again = client.post(f"{url}/revoke", data={"csrf_token": team.token})
    assert again.status_code == 409
    assert count(db, ReleaseRevocation) == 1
    assert {
        "consent:release:drafted",
        "consent:release:signed",
        "consent:release:revoked",
    } <= set(tags(db, team.owner.id))


def test_listing_shows_each_release_with_its_status(client, team, clock):
    signed_release(client, team)
    create_release(client, team)
    page = client.get(f"/clients/{team.client_row.public_id}").text
    assert "Draft — not signed" in page and "Active" in page
    clock.advance(days=100)
    team.sign_in_again(client)
    assert "release expired on 2027-01-31" in page_text(
        client.get(f"/clients/{team.client_row.public_id}").text
    )


@pytest.mark.parametrize(
    ("changes", "field_message"),
    [
        ({"signed_date": "2026-11-01"}, "today&#39;s date (2026-11-02)"),
        ({"signer_name": ""}, "The signer&#39;s name is required"),
        ({"signer_capacity": "cousin"}, "Choose in what capacity"),
        ({"method": "paper"}, "Confirm that you saw the paper form"),
        ({"method": "smoke signal"}, "Say how the client signed"),
        ({"signer_capacity": "parent"}, "A parent signs only for a minor"),
    ],
)
def test_bad_signature_form_leaves_the_draft_unsigned(client, db, team, changes, field_message):
    url = create_release(client, team)
    response = client.post(f"{url}/sign", data=sign_form(team, **changes))
    assert response.status_code == 400
    assert field_message in response.text
    row = db.exec(
        select(ConsentRelease).where(ConsentRelease.public_id == url.split("/")[-1])
    ).one()
    assert row.state == "draft" and row.key_id is None
    assert "consent:release:signed" not in tags(db, team.owner.id)


def test_restricted_person_can_never_sign_and_the_form_offers_other_capacities(
    client, db, keys, team
):
    # A minor (born 2012): the client and a parent, guardian or custodian sign.
    team.client_row = make.client_record(db, team.owner, keys, birth=date(2012, 3, 4))
    client.post(
        f"/clients/{team.client_row.public_id}/restricted-persons",
        data={"csrf_token": team.token, "name": "Dana Suspect", "reason": "court_order"},
    )
    url = create_release(client, team)
    form = client.get(url).text
    assert "can never sign" in form
    assert "Dana Suspect (a court order keeps them away from the client)" in form
    assert "legal guardian, custodian by court order" in form
    assert "The client is a minor" in form
    refused = client.post(
        f"{url}/sign",
        data=sign_form(team, second_signer_name="DANA suspect", second_signer_capacity="parent"),
    )
    assert refused.status_code == 400
    assert (
        "recorded on this client as someone a court order keeps away from them, and can never "
        "sign a release" in refused.text.replace("\n", " ")
    )
    assert "Someone else may sign as: legal guardian, custodian by court order." in refused.text
    together = client.post(
        f"{url}/sign",
        data=sign_form(
            team, second_signer_name="Dana Suspect", second_signer_capacity="parent", signed_date=""
        ),
    )
    assert together.status_code == 400  # every mistake in one answer
    assert "can never sign" in together.text and "The date must be a date" in together.text
    missing = client.post(f"{url}/sign", data=sign_form(team))
    assert missing.status_code == 400 and "second signer" in missing.text.lower()
    accepted = client.post(
        f"{url}/sign",
        data=sign_form(
            team, second_signer_name="Gale Guardian", second_signer_capacity="legal_guardian"
        ),
    )
    assert accepted.status_code == 303


def test_discard_a_draft(client, db, team):
    url = create_release(client, team)
    response = client.post(f"{url}/discard", data={"csrf_token": team.token})
    assert response.status_code == 303
    assert "No release yet" in client.get(f"/clients/{team.client_row.public_id}").text
    assert client.get(url).status_code == 404
    assert client.get(f"{url}/print").status_code == 404


def test_other_agencies_staff_get_404_everywhere(client, db, keys, team):
    release_url = signed_release(client, team, keys=keys)
    client_url = f"/clients/{team.client_row.public_id}"
    outsider = make.user(db, team.system, Role.AGENCY_LEAD)
    client.cookies.clear()
    make.login(client, outsider.username)
    token = make.csrf_of_page(client, "/clients")
    for path in (
        client_url,
        f"{client_url}/releases/new",
        release_url,
        f"{release_url}/print",
        f"{release_url}/signed.json",
        f"{release_url}/fhir.json",
        f"/clients/{MISSING}",
        f"/releases/{MISSING}",
    ):
        assert client.get(path).status_code == 404, path
    for path, data in (
        (f"{client_url}/restricted-persons", {"name": "X Y", "reason": "suspected_exploiter"}),
        (f"{client_url}/releases", release_form(team)),
        (f"{release_url}/sign", sign_form(team)),
        (f"{release_url}/revoke", {}),
        (f"{release_url}/discard", {}),
    ):
        assert client.post(path, data={**data, "csrf_token": token}).status_code == 404, path
    assert team.client_row.reference not in client.get("/clients").text
    assert count(db, ReleaseRevocation) == 0 and count(db, RestrictedPerson) == 0


def test_survivor_mentor_reads_releases_but_cannot_manage_them(client, db, keys, team):
    url = signed_release(client, team, keys=keys)
    mentor = make.user(db, team.owner, Role.SURVIVOR_MENTOR)
    in_caseload(db, team.client_row, mentor)  # a release of a survivor they mentor
    client.cookies.clear()
    make.login(client, mentor.username)
    token = make.csrf_of_page(client, "/clients")
    page = client.get(url)
    assert page.status_code == 200 and "Revoke this release" not in page.text
    assert client.post(f"{url}/revoke", data={"csrf_token": token}).status_code == 403


def test_release_pages_keep_the_clients_name_from_a_role_the_policy_withholds_it_from(
    client, db, keys
):
    # An agency lead manages releases, but the agency's policy (the default one) keeps
    # clients' names from the lead: the client's page shows the reference only, and so must
    # the release, whose signer is the client, named in full.
    team = Team(client, db, keys, role=Role.AGENCY_LEAD)
    url = signed_release(client, team, keys=keys)
    assert "Robin Example" not in client.get(f"/clients/{team.client_row.public_id}").text
    page = client.get(url)
    assert page.status_code == 200 and "Robin Example" not in page.text
    assert "Signed by" in page.text and "withheld" in page.text
    printed = client.get(f"{url}/print")
    assert printed.status_code == 200 and "Robin Example" not in printed.text
    for download in ("signed.json", "fhir.json"):
        response = client.get(f"{url}/{download}")
        assert response.status_code == 403 and "Robin Example" not in response.text
    # A role the policy gives names to still reads them, and downloads the signed file.
    advocate = make.user(db, team.owner, Role.ADVOCATE)
    client.cookies.clear()
    make.login(client, advocate.username)
    assert "Robin Example" in client.get(url).text
    assert "Robin Example" in client.get(f"{url}/print").text
    assert client.get(f"{url}/signed.json").status_code == 200


def test_administrator_sees_no_clients(client, db, keys):
    agency = make.agency(db, keys)
    admin = make.user(db, agency, Role.ADMINISTRATOR)
    make.login(client, admin.username)
    assert client.get("/clients").status_code == 403


# --- verify page and keys ------------------------------------------------------------------


def verify_post(client, token, content: bytes, filename="release.json"):
    return client.post(
        "/consent/verify",
        data={"csrf_token": token},
        files={"document": (filename, content, "application/json")},
    )


def test_a_pasted_text_that_is_no_release_is_told_beside_the_paste_box(client, team):
    # Before: the message sat under the file-upload field, which the person had not used.
    answer = client.post(
        "/consent/verify", data={"csrf_token": team.token, "pasted": "not a signed release"}
    )
    assert 400 <= answer.status_code < 500
    page = Page(answer.text)
    assert page.by_id["pasted"].described_by() == ["pasted-error"]
    assert "pasted-error" in page.by_id and "document-error" not in page.by_id


def test_verify_page_valid_tampered_revoked_expired(client, db, team, clock):
    url = signed_release(client, team)
    envelope = client.get(f"{url}/signed.json").content
    ok = verify_post(client, team.token, envelope)
    assert (
        ok.status_code == 200 and "verdict-ok" in ok.text and "Valid and in effect now" in ok.text
    )
    # one verdict, agreeing with its details; sections by their titles, not their keys
    assert "Not valid" not in ok.text and "Safety plan" in ok.text and "safety_plan" not in ok.text

    tampered = json.loads(envelope)
    tampered["release"]["sections"].append("mental_health")
    bad = verify_post(client, team.token, json.dumps(tampered).encode())
    assert bad.status_code == 200 and "verdict-bad" in bad.text
    assert "bad signature" in bad.text and "<code>sections</code>" in bad.text

    pasted = client.post(
        "/consent/verify", data={"csrf_token": team.token, "pasted": envelope.decode()}
    )
    assert "verdict-ok" in pasted.text

    clock.advance(days=100)
    team.sign_in_again(client)
    expired = verify_post(client, team.token, envelope)
    # genuine but ended: not the red "not valid" of a forged file
    assert "verdict-warn" in expired.text and "Genuine, but not in effect now" in expired.text
    assert "it has ended" in expired.text and "2027-01-31 00:00" in expired.text
    assert "UTC" not in expired.text

    clock.advance(days=-99)
    team.sign_in_again(client)
    client.post(f"{url}/revoke", data={"csrf_token": team.token})
    revoked = verify_post(client, team.token, envelope)
    assert "verdict-warn" in revoked.text and "it was revoked" in revoked.text


def test_verify_page_tells_no_other_agency_what_a_stored_release_says(client, db, keys, team):
    # A partner knows a release's number (it is named on what they were shown under it)
    # and the document format; a file of their own making, under that number, with a
    # broken signature must not tell them, field by field, whether their guesses (the
    # name of who signed, which agencies are named) match what the client signed.
    url = signed_release(client, team, keys=keys)
    envelope = json.loads(client.get(f"{url}/signed.json").content)
    partner = make.user(db, team.community, Role.CASE_MANAGER)
    client.cookies.clear()
    make.login(client, partner.username)
    token = make.csrf_of_page(client, "/consent/verify")
    answers = []
    for guess in ("Robin Example", "Someone Else"):
        forged = json.loads(json.dumps(envelope))
        forged["release"]["signer"]["name"] = guess
        forged["release"]["recipients"] = [team.community.public_id]
        forged["signature"]["sig"] = "A" * 86
        response = verify_post(client, token, json.dumps(forged).encode())
        assert response.status_code == 200 and "bad signature" in response.text
        assert "Changed since signing" not in response.text
        answers.append(response.text.split("<main")[1])
    assert answers[0] == answers[1]


def test_verify_page_unknown_key(client, team, clock):
    from nacl.signing import SigningKey

    url = signed_release(client, team)
    document = consent.Release.from_dict(
        json.loads(client.get(f"{url}/signed.json").content)["release"]
    )
    stranger = SigningKey.generate()
    forged = consent.sign_release(
        document, stranger, consent.key_id_for(document.disclosing_agency, stranger.verify_key)
    )
    response = verify_post(client, team.token, json.dumps(forged.to_dict()).encode())
    assert "unknown key" in response.text and "not on the roster" in response.text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"release": {}}', "not a signed release"),
        (b"\xff\xfe", "not valid UTF-8"),
        (b"[" + b" " * (70 * 1024) + b"]", "too large"),
        # a surrogate standing for no character, where the page would show it back
        (b'{"release": {"release_id": "\\ud800"}, "signature": {}}', "not valid JSON"),
        (b'{"release": {"x\\ud800": 1}, "signature": {}}', "not valid JSON"),
        (b'{"release": {}, "signature": {"alg": "a", "kid": "\\udfff", "sig": ""}}', "not valid"),
    ],
)
def test_verify_page_refuses_malformed_input_plainly(client, team, content, message):
    response = verify_post(client, team.token, content)
    assert response.status_code == 400
    assert message in response.text and "Traceback" not in response.text


def test_verify_page_refuses_a_release_number_no_database_can_hold(client, team):
    # JSON can spell a NUL; the release number is looked up among this node's releases,
    # which must not be a 500 on PostgreSQL (its text holds no NUL).
    envelope = {
        "release": {"release_id": "a\u0000b"},
        "signature": {"alg": "ed25519", "kid": "k", "sig": "A" * 86},
    }
    response = verify_post(client, team.token, json.dumps(envelope).encode())
    assert response.status_code == 200 and "verdict-bad" in response.text
    assert "malformed" in response.text


def test_verify_page_with_nothing_sent(client, team):
    response = client.post("/consent/verify", data={"csrf_token": team.token})
    assert response.status_code == 400 and "Choose a signed release file" in response.text


def test_any_signed_in_staff_sees_every_agencys_public_keys(client, db, keys, team):
    mentor = make.user(db, team.system, Role.SURVIVOR_MENTOR)
    client.cookies.clear()
    make.login(client, mentor.username)
    page = client.get("/consent/keys")
    assert page.status_code == 200
    key_id = releases.keyring(db).current_key_id(team.owner.public_id, at=make.AT)
    assert key_id in page.text and team.owner.name in page.text and "in use" in page.text
    assert client.get("/consent/verify").status_code == 200


def test_birth_dates_shown_are_the_clients_own(client, db, keys, team):
    # A guard against rendering another row's identity on the detail page.
    other = make.client_record(db, team.owner, keys, given="Quill", birth=date(2011, 2, 3))
    page = client.get(f"/clients/{other.public_id}").text
    assert "Quill Example" in page and "2011-02-03" in page and "2000-05-17" not in page


def test_effective_date_in_the_past_is_refused(client, team):
    yesterday = (date(2026, 11, 2) - timedelta(days=1)).isoformat()
    response = client.post(
        f"/clients/{team.client_row.public_id}/releases",
        data=release_form(team, effective_date=yesterday),
    )
    assert response.status_code == 400 and "cannot be in the past" in response.text


def test_every_form_on_these_pages_carries_the_sessions_csrf_token(client, team):
    import re

    url = signed_release(client, team)
    draft_url = create_release(client, team)
    for path in (
        "/clients/new",
        f"/clients/{team.client_row.public_id}",
        f"/clients/{team.client_row.public_id}/releases/new",
        f"{url}/revoke",  # the page that asks before revoking
        draft_url,
        f"{draft_url}/discard",
        "/consent/verify",
    ):
        tokens = re.findall(r'name="csrf_token" value="([^"]*)"', client.get(path).text)
        assert len(tokens) >= 2 and set(tokens) == {team.token}, path


def test_a_failed_release_form_leads_to_each_error_and_ties_hints_and_messages(client, team):
    """Issue 17 (6): like the accompaniment form, and more: a summary first, announced and
    focused, each message a link to its field; fields marked invalid; every hint and
    message read with its own control. Works without JavaScript (plain HTML attributes)."""
    from form_markup import Page, check_error_markup

    url = f"/clients/{team.client_row.public_id}/releases"
    clean = client.get(url + "/new")
    assert clean.status_code == 200 and 'id="error-summary"' not in clean.text
    assert 'aria-invalid="true"' not in clean.text
    response = client.post(
        url,
        data=release_form(
            team,
            recipients=None,
            sections=["astrology"],
            purpose="marketing",
            language="xx",
        ),
    )
    assert response.status_code == 400
    links = check_error_markup(response.text, form_id="release-form")
    assert set(links) == {"recipients-first", "sections-first", "purpose-first", "language"}
    assert links["recipients-first"] == "Choose at least one agency to share with."
    page = Page(response.text)
    # Each checkbox of a group in error is marked; the group is described by the message.
    boxes = [e for e in page.all("input") if e.get("name") == "sections"]
    assert boxes and all(b.get("aria-invalid") == "true" for b in boxes)
    # The per-section hint (42 CFR Part 2) is read with its own checkbox.
    (substance,) = [b for b in boxes if b.get("value") == "substance_use"]
    assert "42 CFR Part 2" in page.text_of(substance.described_by()[0])
    past = client.post(url, data=release_form(team, effective_date="2026-10-01"))
    links = check_error_markup(past.text, form_id="release-form")
    assert links == {"effective_date": "The effective date cannot be in the past."}
    # The ending: an event without its latest date points at that field.
    ending = client.post(url, data=release_form(team, expiry_kind="event", event="x"))
    assert ending.status_code == 400
    assert "latest_date" in check_error_markup(ending.text, form_id="release-form")


def test_a_refused_spanish_release_form_says_what_is_wrong_in_spanish(client, team):
    """The form is prepared with the client, in the client's language: a refused Spanish
    form said "Choose at least one agency to share with." under a Spanish heading, half in
    a language the survivor may not read (found by a review)."""
    from form_markup import check_error_markup

    url = f"/clients/{team.client_row.public_id}/releases"
    empty = client.post(url, data=release_form(team, recipients=None, sections=None, language="es"))
    links = check_error_markup(empty.text, form_id="release-form")
    assert links == {
        "recipients-first": "Elija al menos una agencia con la que compartir.",
        "sections-first": "Elija al menos un tipo de información para compartir.",
    }
    past = client.post(url, data=release_form(team, effective_date="2026-10-01", language="es"))
    assert check_error_markup(past.text, form_id="release-form") == {
        "effective_date": "La fecha de entrada en vigor no puede estar en el pasado."
    }
    too_long = client.post(url, data=release_form(team, end_date="2028-11-02", language="es"))
    assert check_error_markup(too_long.text, form_id="release-form") == {
        "end_date": "Un permiso puede durar como máximo 365 días: termínelo el 2027-11-02 o antes."
    }
    event = client.post(
        url, data=release_form(team, expiry_kind="event", event="", latest_date="", language="es")
    )
    assert check_error_markup(event.text, form_id="release-form") == {
        "event": "Falta describir lo que tiene que ocurrir.",
        "latest_date": "La fecha límite de fin debe ser una fecha (AAAA-MM-DD).",
    }
    # Staff's own pages stay in English: the same refusal of an English form.
    english = client.post(url, data=release_form(team, recipients=None, language="en"))
    assert check_error_markup(english.text, form_id="release-form") == {
        "recipients-first": "Choose at least one agency to share with."
    }


def test_a_failed_signature_leads_to_each_error(client, team):
    from form_markup import check_error_markup

    url = create_release(client, team)
    response = client.post(
        f"{url}/sign",
        data=sign_form(team, signer_name="", signed_date="2026-11-01"),
    )
    assert response.status_code == 400
    links = check_error_markup(response.text, form_id="sign-form")
    assert {"signer_name", "signed_date"} <= set(links)
    for changes, target in (
        ({"signer_capacity": "cousin"}, "signer_capacity"),
        ({"method": "smoke signal"}, "method-typed"),
        ({"method": "paper"}, "paper_seen"),
    ):
        response = client.post(f"{url}/sign", data=sign_form(team, **changes))
        assert target in check_error_markup(response.text, form_id="sign-form"), changes


def test_the_spanish_release_form_is_spanish_to_a_screen_reader_from_its_heading(client, team):
    """Before: only the <form> said lang="es"; the heading "Nuevo permiso", its lede, the
    way back and the error summary ("Hay un problema…", announced as an alert) sat under
    <html lang="en">, read aloud with English sounds (found by a review)."""
    from form_markup import Page

    def language_of(element):
        for node in (element, *element.ancestors()):
            if node.get("lang"):
                return node.get("lang")
        return None

    url = f"/clients/{team.client_row.public_id}/releases"
    refused = Page(client.post(url, data=release_form(team, recipients=None, language="es")).text)
    (heading,) = refused.all("h1")
    assert heading.text.strip() == "Nuevo permiso"
    assert language_of(heading) == "es"
    assert language_of(refused.by_id["error-summary"]) == "es"
    (back,) = [a for a in refused.all("a") if "Volver" in a.text]
    assert language_of(back) == "es"
    english = Page(client.get(f"{url}/new?language=en").text)
    assert language_of(english.all("h1")[0]) == "en"
