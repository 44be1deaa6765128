"""Pages as a UX review at 360 and 1280 px left them: what a coordinator or a lead could not
read without opening something else, or read only in an engineer's words. Each test is
named after what should hold and failed before its fix. Synthetic data only."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta

from page_text import page_text
from test_release_pages import Team, signed_release
from test_workflow_pages import NY, TODAY, a_case, sign_in

from portal.models import Role
from portal.services import meetings, release_documents

import factories as make

# What an operator needs to check a record by machine is kept for them, in a <details>
# addressed to them: the page's own words are the staff's.
FOR_IT = re.compile(
    r"<details\b[^>]*>\s*<summary>For your IT administrator</summary>(.*?)</details>", re.S
)


def _staff_words(html: str) -> str:
    return page_text(FOR_IT.sub("", html))


def test_the_meetings_list_says_when_each_meeting_starts(client, db, keys):
    """/meetings listed each meeting by its date alone ("2026-11-03"): when it starts was
    only on the meeting's own page."""
    agency = make.agency(db, keys)
    coordinator, _ = sign_in(client, db, agency, Role.MDT_COORDINATOR)
    meetings.schedule_meeting(
        db,
        agency,
        day=(TODAY + timedelta(days=1)).isoformat(),
        clock="14:30",
        place="Room 1 (synthetic)",
        actor=coordinator,
        at=make.AT,
        tz=NY,
    )
    db.flush()
    page = client.get("/meetings")
    assert page.status_code == 200
    # The weekday style of every appointment's start (render.TIME_STYLES), in the MDT's zone.
    assert "Tue 03 Nov 2026, 14:30 EST" in page_text(page.text)


def test_the_release_page_says_in_staff_words_what_it_holds(client, db, keys):
    """A signed release's page wrote "statements shown: SHA-256 76ae1fbd4597deff…", an agency
    key "19fa5575-…:7739f3a1c16778be" and "FHIR R4 Consent (JSON)" among the signer and the
    witness: words for a machine, read by an advocate with the survivor."""
    team = Team(client, db, keys)
    html = client.get(signed_release(client, team)).text
    said = _staff_words(html)
    assert "Download the signed release" in said
    engineers = [w for w in ("SHA-256", "FHIR", "JSON", "Agency key") if w in said]
    assert not engineers, f"the release page says {engineers} to staff"
    (kept,) = FOR_IT.findall(html)
    assert "SHA-256" in kept and "/fhir.json" in kept and "Agency key" in kept


def test_the_audit_page_says_in_staff_words_how_a_checkpoint_is_checked(client, db, keys):
    """/audit told the lead to run "portal audit verify --checkpoint FILE" and "portal audit
    verify": commands for the node's operator, in the middle of the lead's page."""
    agency = make.agency(db, keys)
    lead = make.user(db, agency, Role.AGENCY_LEAD)
    make.login(client, lead.username)
    form = client.get("/audit").text.split('action="/audit/checkpoint"')[1].split("</form>")[0]
    signed = client.post("/audit/checkpoint", data={"csrf_token": make.csrf_from(form)})
    assert signed.status_code == 303
    html = client.get("/audit").text
    said = _staff_words(html)
    assert "Download the latest signed checkpoint" in said
    assert "portal audit" not in said, "the audit page gives the lead a command to run"
    (kept,) = FOR_IT.findall(html)
    assert "portal audit verify --checkpoint" in kept


def test_the_packet_and_the_summary_call_the_case_start_the_same(client, db, keys):
    """The case summary's timeline begins "Intake (abuse report received)"; the review packet
    printed from it began "2026-11-02 · intake", the same day in other words."""
    agency = make.agency(db, keys)
    sign_in(client, db, agency, Role.MDT_COORDINATOR)
    case = a_case(db, agency)
    summary = page_text(client.get(f"/cases/{case.public_id}/summary").text)
    packet = page_text(client.get(f"/cases/{case.public_id}/packet").text)
    assert "2026-11-02 — Intake (abuse report received)" in summary
    assert "2026-11-02 · Intake (abuse report received)" in packet


def test_the_packet_reads_its_timeline_in_date_order_as_the_summary_does(client, db, keys):
    """The packet printed its timeline in three runs: intake, then the case's history, then
    its meetings, so "Case opened" (the day the case was entered) sat before an earlier
    meeting, and the dates went back and forth. The summary sorts its own by date."""
    agency = make.agency(db, keys)
    coordinator, _ = sign_in(client, db, agency, Role.MDT_COORDINATOR)
    case = a_case(db, agency, intake=date(2026, 10, 20))  # entered on 2026-11-02 (make.AT)
    meetings.schedule_meeting(
        db,
        agency,
        day="2026-10-26",
        clock="10:00",
        place="Room 1 (synthetic)",
        case_ids=[case.public_id],
        actor=coordinator,
        at=datetime(2026, 10, 1, tzinfo=UTC),
        tz=NY,
    )
    db.flush()
    html = client.get(f"/cases/{case.public_id}/packet").text
    section = html.split('aria-labelledby="timeline-h"')[1].split("</section>")[0]
    lines = [page_text(li) for li in re.findall(r"<li\b.*?</li>", section, re.S)]
    assert lines == [
        "2026-10-20 · Intake (abuse report received)",
        "2026-10-26 · MDT meeting (not marked held)",
        "2026-11-02 · Case opened",
        "2026-11-03 · MDT convening due (intake + 14 days)",
    ]
    summary = page_text(client.get(f"/cases/{case.public_id}/summary").text)
    assert "2026-10-26 — MDT meeting (not marked held)" in summary


def _verify(client, token, envelope: bytes, language: str = "en") -> str:
    answer = client.post(
        "/consent/verify",
        data={"csrf_token": token, "language": language},
        files={"document": ("release.json", envelope, "application/json")},
    )
    assert answer.status_code == 200
    return answer.text


def test_the_verify_page_says_in_staff_words_what_a_release_holds(client, db, keys):
    """The result of "Verify a release" told staff "Language of the form: English; statements
    shown, SHA-256: 76ae1fbd…" and "Key: 19fa5575-…:7739f3a1c16778be", in Spanish too: words
    for a machine, in a result a staff member may read with the survivor."""
    team = Team(client, db, keys)
    envelope = client.get(f"{signed_release(client, team)}/signed.json").content
    signed = json.loads(envelope)
    digest, key_id = signed["release"]["statements_sha256"], signed["signature"]["kid"]
    html = _verify(client, team.token, envelope)
    said = _staff_words(html)
    assert "Valid and in effect now" in said and "Language of the form English" in said
    engineers = [w for w in ("SHA-256", digest, key_id) if w in said]
    assert not engineers, f"the verify page says {engineers} to staff"
    (kept,) = FOR_IT.findall(html)
    assert "SHA-256" in kept and digest in kept and key_id in kept
    spanish = _verify(client, team.token, envelope, "es")
    for_it_es = FOR_IT.pattern.replace(
        "For your IT administrator", "Para su administrador de informática"
    )
    (kept,) = re.findall(for_it_es, spanish, re.S)
    assert digest in kept and key_id in kept
    assert "SHA-256" not in page_text(spanish.replace(kept, ""))


def test_the_verify_page_names_what_was_changed_in_words_and_keeps_the_command_for_it(
    client, db, keys
):
    """A release changed after signing was answered "Signature: not valid (bad signature) —
    signature.sig" and "Changed since signing: expiry.at, language", the file's own names for
    its fields (in Spanish too), and under the form every staff member read "From a terminal:
    portal consent verify FILE". These are the IT administrator's, kept in their fold; the
    staff read the fields as the release's page names them."""
    team = Team(client, db, keys)
    signed = json.loads(client.get(f"{signed_release(client, team)}/signed.json").content)
    signed["release"]["expiry"]["at"] = "2030-01-01T00:00:00Z"
    signed["release"]["language"] = "es"
    changed = json.dumps(signed).encode()
    form = client.get("/consent/verify").text
    assert "portal consent verify" not in _staff_words(form)
    (kept,) = FOR_IT.findall(form)
    assert "portal consent verify FILE" in page_text(kept)

    html = _verify(client, team.token, changed)
    said = _staff_words(html)
    assert "Changed since signing when it ends; language of the form" in said
    engineers = [w for w in ("expiry.at", "signature.sig", "portal consent verify") if w in said]
    assert not engineers, f"the verify page says {engineers} to staff"
    (kept,) = FOR_IT.findall(html)
    assert "<code>expiry.at</code>, <code>language</code>" in kept
    assert "<code>signature.sig</code>" in kept
    assert "portal consent verify FILE" in page_text(kept)

    spanish = _verify(client, team.token, changed, "es")
    for_it_es = FOR_IT.pattern.replace(
        "For your IT administrator", "Para su administrador de informática"
    )
    (kept,) = re.findall(for_it_es, spanish, re.S)
    said = page_text(spanish.replace(kept, ""))
    assert "Cambiado después de firmar cuándo termina; idioma del formulario" in said
    assert "expiry.at" not in said and "expiry.at" in kept


def test_the_verify_page_names_what_is_missing_or_wrong_in_words(client, db, keys, monkeypatch):
    """A signed release no longer valid as a release (its recipient gone from the MDT's
    roster) listed each problem by the file's own name for its field ("recipients[0]: … is
    not an agency on the roster"): the staff read it in the release page's words, and the
    file's names are the IT administrator's."""
    team = Team(client, db, keys)
    signed = client.get(f"{signed_release(client, team)}/signed.json").content
    (gone, *_) = json.loads(signed)["release"]["recipients"]
    roster = release_documents.agency_kinds
    monkeypatch.setattr(
        release_documents,
        "agency_kinds",
        lambda db: {agency: kind for agency, kind in roster(db).items() if agency != gone},
    )
    html = _verify(client, team.token, signed)
    said = _staff_words(html)
    assert f"agencies it is shared with: {gone} is not an agency on the roster" in said, said
    assert "recipients[0]" not in said
    (kept,) = FOR_IT.findall(html)
    assert "<code>recipients[0]</code>" in kept


def test_the_printed_release_says_in_words_what_its_fingerprint_is_for(client, db, keys):
    """The client's printed form ended "Fingerprint of the statements above (SHA-256): 76ae1fbd…":
    an engineer's name for it, and nothing to say what it is for. It must stay on the paper
    (a <details> does not print open), said in words."""
    team = Team(client, db, keys)
    url = signed_release(client, team)
    digest = json.loads(client.get(f"{url}/signed.json").content)["release"]["statements_sha256"]
    html = client.get(f"{url}/print").text
    said = page_text(html)
    assert "SHA-256" not in said
    assert (
        f"Fingerprint of the statements above: {digest}. The signed release holds the same "
        "fingerprint, so anyone who checks it can tell these are the statements you were shown."
    ) in said
    assert "<details" not in html.split('<article class="panel printable"')[1]
