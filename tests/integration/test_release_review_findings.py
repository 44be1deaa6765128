"""Consent releases as a review found them: restricted persons' names and a guessed
signer's name kept from a role the policy keeps from names, look-alike and invisible names
refused, times at the calendar's edge a clear refusal, the preview's reasons in words. Each
test is named after a defect the review found and failed before it was fixed. Synthetic
data only."""

from __future__ import annotations

import json
import re

import pytest
from disclosure_helpers import SECRET_NOTE, release, world, write
from sqlmodel import select
from test_release_pages import Team, create_release, sign_form, signed_release

import consent
from portal.models import AuditEntry, Role

import factories as make


def _login(client, db, agency, *roles):
    user = make.user(db, agency, *roles)
    make.login(client, user.username)
    return user


def test_preview_tells_staff_why_a_shared_section_is_not_shown_to_them(client, db, keys, clock):
    w = world(db, keys)
    write(db, keys, w, "medical", {"follow_up": SECRET_NOTE})
    row = release(db, keys, w, ["medical"])
    clock.advance(hours=1)
    _login(client, db, w.owner, Role.ADVOCATE)
    page = client.get(
        f"/releases/{row.public_id}/preview?agency={w.partner.public_id}&role=case_manager"
    )
    assert page.status_code == 200
    assert SECRET_NOTE not in page.text
    text = re.sub(r"\s+", " ", page.text)
    found = re.search(r"Their content is not shown to you: ([^<]*)", text)
    assert found, text[-3000:]
    assert found.group(1).strip(" .") != "", (
        "the preview says 'Their content is not shown to you: .' with no reason"
    )


# --- a team on one node, through the pages (test_release_pages's) -------------------


def verify_text(client, team, text):
    return client.post(
        "/consent/verify",
        data={"csrf_token": team.token, "pasted": text, "language": "en"},
    )


@pytest.mark.parametrize(
    "field,value",
    [
        ("effective_at", "0001-01-01T00:00:00+01:00"),
        ("signed_at", "9999-12-31T23:59:59-01:00"),
    ],
)
def test_verify_page_answers_a_time_at_the_edge_of_the_calendar_with_4xx_not_500(
    client, db, keys, field, value
):
    """parse_time checks a time's one spelling by converting it to UTC, which overflows
    for a time in year 1 east of UTC or year 9999 west of it: an OverflowError nobody
    catches, so the verify page (and `portal consent verify`) crashes."""
    team = Team(client, db, keys)
    url = signed_release(client, team, keys=keys)
    envelope = json.loads(client.get(f"{url}/signed.json").content)
    envelope["release"][field] = value
    try:
        response = verify_text(client, team, json.dumps(envelope))
    except OverflowError as error:  # the test client re-raises what the app did not catch
        pytest.fail(f"verifying a release with {field}={value!r} crashed: {error!r}")
    assert response.status_code < 500
    assert "malformed" in response.text.lower() or "not valid" in response.text.lower()


RESTRICTED = "Pepe Sosa"  # recorded on the client's file as a suspected exploiter


@pytest.mark.parametrize(
    "typed",
    [
        # Every letter of each word from one other alphabet, each a look-alike of the
        # Latin one: CYRILLIC ER, IE, ER, IE / DZE, O, DZE, A. No word mixes alphabets.
        "\u0420\u0435\u0440\u0435 \u0405\u043e\u0455\u0430",
        # The surname only, whole, in Cyrillic look-alikes.
        "Pepe \u0405\u043e\u0455\u0430",
        # The name as a form writes it, family name first.
        "Sosa, Pepe",
    ],
)
def test_a_restricted_person_cannot_sign_by_writing_their_name_another_way(client, db, keys, typed):
    team = Team(client, db, keys)
    recorded = client.post(
        f"/clients/{team.client_row.public_id}/restricted-persons",
        data={"csrf_token": team.token, "name": RESTRICTED, "reason": "suspected_exploiter"},
    )
    assert recorded.status_code == 303, recorded.text
    url = create_release(client, team)
    response = client.post(
        f"{url}/sign",
        data=sign_form(team, signer_name=typed, signer_capacity="legal_guardian"),
    )
    assert response.status_code == 400, (
        f"{RESTRICTED!r}, recorded as a suspected exploiter, signed the client's release "
        f"as their legal guardian by typing {typed!r} (status {response.status_code})"
    )


def test_consent_verify_cli_says_a_time_at_the_calendar_edge_is_malformed_exit_2(
    tmp_path, capsys, monkeypatch
):
    """The same overflow on the command line: exit 3 ('the check could not run (the
    database)') with 'unexpected OverflowError ... report it', for a file that is only
    malformed (exit 2, or 1 'not valid')."""
    from test_consent_cli import make_release
    from test_consent_cli import node as node_fixture
    from test_consent_cli import verify as cli_verify

    node = node_fixture.__wrapped__(tmp_path, monkeypatch)
    envelope, _ = make_release(node)
    envelope["release"]["effective_at"] = "0001-01-01T00:00:00+01:00"
    code, output = cli_verify(tmp_path, capsys, envelope)
    assert "unexpected" not in output and code in (1, 2), (code, output)


def test_consent_library_verify_reports_a_time_at_the_calendar_edge_as_malformed():
    """consent.verify(), as a partner would call it without the portal, raises
    OverflowError instead of answering MALFORMED."""
    import sys
    from pathlib import Path

    from consent.keys import b64url_encode

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "consent"))
    from consent_fixtures import SIGNED_AT, build_keyring, build_release

    body = build_release().to_dict()
    body["effective_at"] = "0001-01-01T00:00:00+01:00"
    envelope = {
        "release": body,
        "signature": {"alg": "ed25519", "kid": "x:1", "sig": b64url_encode(bytes(64))},
    }
    try:
        verdict = consent.verify(envelope, build_keyring(), at=SIGNED_AT)
    except OverflowError as error:
        pytest.fail(f"consent.verify raised {error!r} instead of answering 'malformed'")
    assert verdict.code == consent.VerifyCode.MALFORMED


@pytest.mark.parametrize("invisible", ["\u200b", "\u2060\u2060", "\u200d", "- . -"])
def test_a_minors_release_needs_a_guardian_with_a_name_not_an_invisible_one(
    client, db, keys, invisible
):
    """The required parent or guardian of a minor (the default rule: the minor and a
    guardian) is satisfied by a name of only invisible characters or punctuation: text
    validation does not take a zero-width space for blank, and the consent library's
    blank check is str.strip(); the name normalises to nothing. The release is signed and
    shows 'Second signer  (parent)'."""
    team = Team(client, db, keys)
    team.client_row = make.client_record(db, team.owner, keys, birth=make.MINOR_BIRTH)
    url = create_release(client, team)
    response = client.post(
        f"{url}/sign",
        data=sign_form(team, second_signer_name=invisible, second_signer_capacity="parent"),
    )
    assert response.status_code == 400, (
        f"a minor's release was signed with the guardian named {invisible!r} "
        f"(status {response.status_code})"
    )


@pytest.mark.parametrize("invisible", ["\u200b", "\u2060"])
def test_a_release_is_not_signed_by_an_invisible_name(client, db, keys, invisible):
    team = Team(client, db, keys)
    url = create_release(client, team)
    response = client.post(f"{url}/sign", data=sign_form(team, signer_name=invisible))
    assert response.status_code == 400, (
        f"the release was signed by {invisible!r}, a name nobody can read "
        f"(status {response.status_code})"
    )


def test_a_draft_release_page_names_restricted_persons_to_a_role_kept_from_names(client, db, keys):
    """The client page withholds the persons who may never sign from a role the agency's
    policy keeps from clients' names (the lead, by default), as it withholds the client's
    own name, and audits the read. The draft release's signing panel lists them all by
    name (and the 'other' note), with no policy decision and no audit entry."""
    team = Team(client, db, keys)
    recorded = client.post(
        f"/clients/{team.client_row.public_id}/restricted-persons",
        data={"csrf_token": team.token, "name": "Pat Fictional-Relative", "reason": "court_order"},
    )
    assert recorded.status_code == 303
    url = create_release(client, team)
    lead = make.user(db, team.owner, Role.AGENCY_LEAD)
    client.cookies.clear()
    make.login(client, lead.username)
    client_page = client.get(f"/clients/{team.client_row.public_id}").text
    assert "Pat Fictional-Relative" not in client_page  # withheld there, as it should be
    before = db.exec(select(AuditEntry.id)).all()
    release_page = client.get(url).text
    assert "Pat Fictional-Relative" not in release_page, (
        "the draft release page names a person who may never sign to a role the policy "
        "keeps from clients' names"
    )
    logged = db.exec(select(AuditEntry).where(AuditEntry.id.not_in(before))).all()
    assert logged, "the restricted person's name was shown with no audit entry"


def test_verify_page_does_not_confirm_a_guessed_signer_name_to_a_role_kept_from_names(
    client, db, keys
):
    """A file that fails its signature is compared field by field with the uploader's own
    agency's stored release, and the page names the fields that differ. A role the
    agency's policy keeps from clients' names (the lead, by default: the release page
    writes 'Name withheld' and signed.json is refused) uploads a file of its own making
    with a guessed signer name: 'signer.name' is listed as changed for a wrong guess and
    not for the right one. One guess at a time it learns who signed (most often the
    client, by name), and nothing is audited as a read of the name."""
    team = Team(client, db, keys)
    url = signed_release(client, team, keys=keys)
    envelope = json.loads(client.get(f"{url}/signed.json").content)
    lead = make.user(db, team.owner, Role.AGENCY_LEAD)
    client.cookies.clear()
    make.login(client, lead.username)
    team.token = make.csrf_of_page(client, "/consent/verify")
    assert client.get(f"{url}/signed.json").status_code == 403  # names kept from the lead
    answers = {}
    for guess in ("Robin Example", "Sam Otherguess"):
        forged = json.loads(json.dumps(envelope))
        forged["release"]["sections"] = ["safety_plan"]  # any file of the lead's own making
        forged["release"]["signer"]["name"] = guess
        page = verify_text(client, team, json.dumps(forged))
        assert page.status_code == 200
        answers[guess] = "<code>signer.name</code>" in page.text
    assert answers["Robin Example"] == answers["Sam Otherguess"], (
        f"the verify page confirms the signer's name to a role kept from names: "
        f"'signer.name' listed as changed {answers}"
    )


def test_recording_a_restricted_person_revokes_what_they_signed_in_look_alike_letters(
    client, db, keys
):
    """Recording a person who may never sign revokes every release in effect they signed;
    one they signed as 'Рере Ѕоѕа' (all Cyrillic look-alikes) stays in effect."""
    from portal.models import ConsentRelease
    from portal.services import releases as release_service

    team = Team(client, db, keys)
    url = create_release(client, team)
    signed = client.post(
        f"{url}/sign",
        data=sign_form(
            team,
            signer_name="\u0420\u0435\u0440\u0435 \u0405\u043e\u0455\u0430",
            signer_capacity="legal_guardian",
        ),
    )
    assert signed.status_code == 303
    recorded = client.post(
        f"/clients/{team.client_row.public_id}/restricted-persons",
        data={
            "csrf_token": team.token,
            "name": RESTRICTED,
            "reason": "suspected_exploiter",
            "confirmed": "yes",  # shown that it revokes the release they signed
        },
    )
    assert recorded.status_code == 303
    row = db.exec(
        select(ConsentRelease).where(ConsentRelease.public_id == url.rsplit("/", 1)[1])
    ).one()
    state = release_service.status_of(
        db, row, at=make.AT.replace(year=2026, month=11, day=3), keys=keys
    )
    assert state.state == consent.ReleaseState.REVOKED, (
        f"the release {RESTRICTED!r} signed in look-alike letters is still {state.state}"
    )
