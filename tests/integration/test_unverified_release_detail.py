"""A signed release whose stored copy does not verify opens on its own page, for the lead
who must act on it: that it counts as no release, what differs where that can be told
safely, what to do, and nothing that would treat it as a release. Synthetic data only."""

from dataclasses import replace
from datetime import timedelta

import pytest
from disclosure_helpers import SIGNER, release, world
from sqlalchemy import update
from sqlmodel import select
from tamper_helpers import altered, moved, shows_the_altered_end, unsealable

import consent
from portal.models import AuditEntry, ConsentRelease, ReleaseRevocation, Role
from portal.services import releases

import factories as make

SAID = (
    "The stored copy of this release does not match what was signed",
    "The portal treats it as no release.",
    "Nothing is disclosed to any partner under it, and it does not let the client join an "
    "MDT case.",
    "ask them to sign a new release",
    "portal audit verify",
)
SHOWN_IN = "page of a release that does not verify"


def _tampered(db, keys, clock, tamper):
    w = world(db, keys)
    medical = release(db, keys, w, ["medical"])
    other = release(db, keys, w, ["safety_plan"])
    if tamper == "unsealable":
        unsealable(db, medical)
    elif tamper == "altered":
        altered(db, keys, medical)
    else:
        moved(db, keys, other, medical)
    clock.at = make.AT + timedelta(hours=1)
    return w, medical, other


@pytest.mark.parametrize("tamper", ["unsealable", "altered", "moved"])
def test_the_lead_opens_the_page_and_reads_what_happened_and_what_to_do(
    client, db, keys, clock, tamper
):
    w, medical, other = _tampered(db, keys, clock, tamper)
    make.login(client, make.user(db, w.owner, Role.AGENCY_LEAD).username)
    url = f"/releases/{medical.public_id}"
    page = client.get(url)
    assert page.status_code == 200
    text = page.text.replace("&#39;", "'")
    for words in SAID:
        assert words in text
    assert medical.public_id in text and w.client.reference in text
    # Nothing offered that would treat it as a release; the client's withdrawal is theirs.
    for action in ("/print", "/signed.json", "/fhir.json", "/preview", "/sign"):
        assert f'href="{url}{action}' not in page.text and f'action="{url}{action}' not in page.text
    assert f'href="{url}/revoke"' in page.text and "Record the client's withdrawal" in text
    assert not shows_the_altered_end(text)
    assert "As signed" in text if tamper == "moved" else "As signed" not in text
    if tamper == "unsealable":
        assert "does not open as this release's" in text
    elif tamper == "altered":
        assert "<li>when it ends</li>" in text
        assert "<li>what is shared</li>" not in text
    else:
        assert f"another release of this client (release {other.public_id})" in text
        assert "<li>release number</li>" in text and "<li>what is shared</li>" in text
        # The lead's role does not read clients' names (the default policy).
        assert SIGNER.name not in text
        assert "Name withheld by your agency's policy" in text


def test_the_signed_values_name_the_signer_only_to_a_role_that_reads_names(client, db, keys, clock):
    w, medical, _other = _tampered(db, keys, clock, "moved")
    make.login(client, make.user(db, w.owner, Role.ADVOCATE).username)
    page = client.get(f"/releases/{medical.public_id}")
    assert page.status_code == 200
    assert SIGNER.name in page.text
    assert "Safety plan" in page.text  # what the genuine signed document says it shares


def test_a_genuine_release_of_another_client_moved_onto_it_shows_none_of_its_words(
    client, db, keys, clock
):
    w = world(db, keys)
    medical = release(db, keys, w, ["medical"])
    stranger = make.client_record(db, w.owner, keys)
    theirs = release(db, keys, replace(w, client=stranger), ["legal_court"])
    moved(db, keys, theirs, medical)
    clock.at = make.AT + timedelta(hours=1)
    make.login(client, make.user(db, w.owner, Role.ADVOCATE).username)
    page = client.get(f"/releases/{medical.public_id}")
    assert page.status_code == 200
    assert "a signed release of another client or agency" in page.text
    assert "As signed" not in page.text and SIGNER.name not in page.text
    assert theirs.public_id not in page.text and stranger.reference not in page.text


@pytest.mark.parametrize("tamper", ["unsealable", "altered"])
def test_its_form_files_and_preview_are_refused_in_words(client, db, keys, clock, tamper):
    w, medical, _other = _tampered(db, keys, clock, tamper)
    make.login(client, make.user(db, w.owner, Role.AGENCY_LEAD).username)
    url = f"/releases/{medical.public_id}"
    for action in ("/print", "/signed.json", "/fhir.json", "/preview"):
        answer = client.get(url + action)
        assert answer.status_code == 409, action
        said = answer.text.replace("&#39;", "'")
        assert "could not be verified and is not in force" in said, action
        assert not shows_the_altered_end(said), action


@pytest.mark.parametrize("tamper", ["unsealable", "altered"])
def test_the_clients_withdrawal_is_recorded_and_holds_if_the_genuine_copy_comes_back(
    client, db, keys, clock, tamper
):
    """A survivor may always withdraw: a release whose stored copy does not verify shares
    nothing now, but the operator may restore the genuine copy from a backup, and the
    survivor's withdrawal must hold then. The revocation names only the release's number,
    so it is signed and kept whatever the stored copy says."""
    w = world(db, keys)
    medical = release(db, keys, w, ["medical"])
    genuine = {
        "document": medical.document,
        "document_sealed": medical.document_sealed,
        "data_key_id": medical.data_key_id,
    }
    unsealable(db, medical) if tamper == "unsealable" else altered(db, keys, medical)
    clock.at = make.AT + timedelta(hours=1)
    make.login(client, make.user(db, w.owner, Role.AGENCY_LEAD).username)
    url = f"/releases/{medical.public_id}"
    asked = client.get(f"{url}/revoke")
    said = asked.text.replace("&#39;", "'")
    assert asked.status_code == 200 and "Record that client" in said
    assert not shows_the_altered_end(said) and "the genuine copy is ever restored" in said
    assert medical.public_id not in said.replace(url, "")  # words, not the release's code
    revoked = client.post(
        f"{url}/revoke", data={"csrf_token": make.csrf_from(asked.text), "reason": "Synthetic"}
    )
    assert revoked.status_code == 303
    assert len(db.exec(select(ReleaseRevocation)).all()) == 1
    page = client.get(url).text.replace("&#39;", "'")
    assert "The client's withdrawal is recorded" in page and "Record the client's" not in page
    again = client.post(f"{url}/revoke", data={"csrf_token": make.csrf_from(asked.text)})
    assert again.status_code == 409 and "already revoked" in again.text
    assert len(db.exec(select(ReleaseRevocation)).all()) == 1
    # The operator puts the genuine copy back: the release verifies, and stays withdrawn.
    db.execute(update(ConsentRelease).where(ConsentRelease.id == medical.id).values(**genuine))
    db.flush()
    db.expire_all()
    status = releases.status_of(db, db.get(ConsentRelease, medical.id), keys=keys, at=clock())
    assert status.state == consent.ReleaseState.REVOKED


def test_signing_it_again_is_refused_on_its_page(client, db, keys, clock):
    w, medical, _other = _tampered(db, keys, clock, "altered")
    make.login(client, make.user(db, w.owner, Role.ADVOCATE).username)
    url = f"/releases/{medical.public_id}"
    token = make.csrf_of_page(client, url)
    signed = client.post(
        f"{url}/sign",
        data={"csrf_token": token, "signer_name": "X", "signer_capacity": "self"},
    )
    assert 400 <= signed.status_code < 500
    assert "The portal treats it as no release." in signed.text


def test_each_view_is_audited_and_the_leads_audit_page_says_so(client, db, keys, clock):
    w, medical, _other = _tampered(db, keys, clock, "altered")
    make.login(client, make.user(db, w.owner, Role.ADVOCATE).username)
    url = f"/releases/{medical.public_id}"
    assert client.get(url).status_code == 200
    assert client.get(url).status_code == 200
    client.cookies.clear()
    make.login(client, make.user(db, w.owner, Role.AGENCY_LEAD).username)
    assert client.get(url).status_code == 200
    reads = db.exec(
        select(AuditEntry)
        .where(AuditEntry.agency_id == w.owner.id, AuditEntry.subject == medical.public_id)
        .where(AuditEntry.detail.contains(SHOWN_IN))
        .order_by(AuditEntry.id)
    ).all()
    assert [(e.tag, e.client_ref) for e in reads] == [
        ("record:client:identity_viewed", w.client.public_id),
        ("record:client:identity_viewed", w.client.public_id),
        ("disclosure:section:withheld", w.client.public_id),
    ]
    log = client.get("/audit")
    assert log.status_code == 200
    assert log.text.count(f"where: {SHOWN_IN}") == 3
    assert "client&#39;s identity opened" in log.text


def test_another_agency_gets_404_and_no_words(client, db, keys, clock):
    w, medical, _other = _tampered(db, keys, clock, "altered")
    make.login(client, make.user(db, w.partner, Role.AGENCY_LEAD).username)
    page = client.get(f"/releases/{medical.public_id}")
    assert page.status_code == 404
    assert "does not match" not in page.text


def test_a_bad_release_number_is_a_404_sentence(client, db, keys, clock):
    w, _medical, _other = _tampered(db, keys, clock, "unsealable")
    make.login(client, make.user(db, w.owner, Role.AGENCY_LEAD).username)
    for bad in ("nope", "%00", "x" * 300):
        page = client.get(f"/releases/{bad}")
        assert page.status_code == 404, bad
