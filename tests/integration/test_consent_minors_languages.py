"""The pages of issue 19: a minor's form, the client's language, a Spanish release printed
and verified, restrictions ended by a lead, compelled disclosures in the accounting."""

from datetime import date

from sqlmodel import select
from test_release_pages import TODAY, Team, create_release, sign_form, verify_post

from portal.models import AuditEntry, CompelledDisclosure, RestrictedPerson, Role, StaffUser

import factories as make


def test_the_form_says_who_signs_for_a_minor_and_there_is_no_checkbox(client, db, keys):
    team = Team(client, db, keys)
    team.client_row = make.client_record(db, team.owner, keys, birth=date(2013, 1, 1))
    page = client.get(f"/clients/{team.client_row.public_id}/releases/new").text
    assert 'name="client_is_minor"' not in page
    assert "The client is a minor. The client signs, and so does a parent" in page
    url = create_release(client, team)
    missing = client.post(f"{url}/sign", data=sign_form(team))
    assert missing.status_code == 400
    assert "The client is a minor: the name of the parent, legal guardian or custodian" in (
        missing.text
    )
    signed = client.post(
        f"{url}/sign",
        data=sign_form(team, second_signer_name="Pat Example", second_signer_capacity="parent"),
    )
    assert signed.status_code == 303
    assert "Signed as a minor" in client.get(url).text


def test_a_release_prepared_printed_and_verified_in_spanish(client, db, keys):
    team = Team(client, db, keys)
    client_url = f"/clients/{team.client_row.public_id}"
    changed = client.post(
        f"{client_url}/language", data={"csrf_token": team.token, "preferred_language": "es"}
    )
    assert changed.status_code == 303
    bad = client.post(
        f"{client_url}/language", data={"csrf_token": team.token, "preferred_language": "tlh"}
    )
    assert bad.status_code == 400 and "Choose a language from the list" in bad.text
    form = client.get(f"{client_url}/releases/new").text
    assert "Nuevo permiso" in form and "Quién puede recibirla" in form
    url = create_release(client, team, language=None)  # the client's language by default
    printed = client.get(f"{url}/print").text
    assert "Permiso para compartir información" in printed and 'lang="es"' in printed
    assert "Usted puede retirar (revocar) este permiso en cualquier momento" in printed
    assert "Idioma de este formulario: Español." in printed
    assert client.post(f"{url}/sign", data=sign_form(team)).status_code == 303
    envelope = client.get(f"{url}/signed.json").content
    result = client.post(
        "/consent/verify",
        data={"csrf_token": team.token, "language": "es"},
        files={"document": ("release.json", envelope, "application/json")},
    )
    assert (
        "Válida y en vigor ahora" in result.text
        and "La firma es válida y el permiso está vigente" in result.text
    )
    english = verify_post(client, team.token, envelope)
    assert "The signature is valid and the release is in effect until" in english.text


def test_only_a_lead_ends_a_restriction_and_the_history_stays(client, db, keys):
    team = Team(client, db, keys)
    client.post(
        f"/clients/{team.client_row.public_id}/restricted-persons",
        data={
            "csrf_token": team.token,
            "name": "Dana Suspect",
            "reason": "other",
            "note": "",
        },
    )
    assert db.exec(select(RestrictedPerson)).first() is None  # "other" needs a note
    ok = client.post(
        f"/clients/{team.client_row.public_id}/restricted-persons",
        data={
            "csrf_token": team.token,
            "name": "Dana Suspect",
            "reason": "other",
            "note": "Threatened the client (fictional)",
        },
    )
    assert ok.status_code == 303
    person = db.exec(select(RestrictedPerson)).one()
    assert person.created_by_id == team.user.id
    advocate_id = team.user.id
    end_url = f"/restrictions/{person.public_id}/end"
    refused = client.post(end_url, data={"csrf_token": team.token, "end_reason": "error"})
    assert refused.status_code == 403  # an advocate may record, never end
    lead = _sign_in_as_lead(client, db, team)
    empty = client.post(end_url, data={"csrf_token": lead.token, "end_reason": ""})
    assert empty.status_code == 400
    ended = client.post(
        end_url, data={"csrf_token": lead.token, "end_reason": "Recorded in error (fictional)."}
    )
    assert ended.status_code == 303
    db.refresh(person)
    assert person.ended_at is not None and person.ended_by_id == lead.user.id
    assert person.created_by_id == advocate_id != lead.user.id
    page = client.get(f"/clients/{team.client_row.public_id}").text
    assert "Ended restrictions (1)" in page
    # The reason a lead typed can name people: a lead, kept from names by the default
    # policy, reads that it ended; an advocate, who reads the person's name, reads why.
    assert "Recorded in error (fictional)." not in page
    advocate = db.get(StaffUser, advocate_id)
    client.cookies.clear()
    make.login(client, advocate.username)
    page = client.get(f"/clients/{team.client_row.public_id}").text
    assert "Ended restrictions (1)" in page and "Recorded in error (fictional)." in page
    lead.sign_in_again(client)  # the lead again, for the last check
    assert db.exec(
        select(AuditEntry).where(AuditEntry.tag == "record:restricted_person:ended")
    ).one()
    again = client.post(end_url, data={"csrf_token": lead.token, "end_reason": "again"})
    assert again.status_code == 409


def _sign_in_as_lead(client, db, team):
    team.user = make.user(db, team.owner, Role.AGENCY_LEAD)
    db.flush()
    team.sign_in_again(client)
    return team


def test_a_compelled_disclosure_enters_the_audit_chain_and_the_accounting(client, db, keys):
    team = Team(client, db, keys)
    _sign_in_as_lead(client, db, team)
    url = f"/clients/{team.client_row.public_id}/compelled-disclosures"
    form = {
        "csrf_token": team.token,
        "recipient": "County Circuit Court (fictional)",
        "basis": "subpoena",
        "basis_detail": "Subpoena no. TEST-1 (fictional)",
        "sections": ["safety_plan", "care_plan"],
        "disclosed_on": TODAY,
        "client_told": "no",
        "client_notice": "",
    }
    bad = client.post(url, data={**form, "sections": ["tax_returns"], "basis": "whim"})
    assert bad.status_code == 400
    assert "Choose sections from the list" in bad.text and "client was not told" in bad.text
    form["client_notice"] = "Telling would endanger the client (fictional)."
    # Kept for good in the log and the accounting: the lead checks it on a page of its own.
    asked = client.post(url, data=form)
    assert asked.status_code == 200 and "Record this compelled disclosure?" in asked.text
    assert "Safety plan and Care plan of client" in asked.text
    assert "County Circuit Court (fictional) on November 2, 2026 under a subpoena" in asked.text
    assert "cannot be changed or removed once recorded" in asked.text
    assert db.exec(select(CompelledDisclosure)).all() == []
    ok = client.post(url, data={**form, "confirmed": "yes"})
    assert ok.status_code == 303
    disclosure = db.exec(select(CompelledDisclosure)).one()
    entries = db.exec(
        select(AuditEntry).where(AuditEntry.tag == "disclosure:compelled:recorded")
    ).all()
    assert sorted(e.section_key for e in entries) == ["care_plan", "safety_plan"]
    assert {e.subject for e in entries} == {disclosure.public_id}
    assert all(e.agency_id == team.owner.id and e.decision == "released" for e in entries)
    accounting = client.get(f"/audit/accounting?client={team.client_row.public_id}").text
    assert accounting.count("Compelled</strong>: subpoena") == 2
    assert "County Circuit Court (fictional)" in accounting
    spanish = client.get(f"/audit/accounting?client={team.client_row.public_id}&language=es").text
    assert "Obligatoria por ley</strong>: citación judicial" in spanish
    advocate = make.user(db, team.owner, Role.ADVOCATE)
    db.flush()
    client.cookies.clear()
    make.login(client, advocate.username)
    token = make.csrf_of_page(client, "/clients")
    refused = client.post(url, data={**form, "csrf_token": token, "confirmed": "yes"})
    assert refused.status_code == 403


def test_a_draft_printed_after_the_client_turned_18_asks_for_no_parent(client, db, keys, clock):
    """The printed form says who signs as the sign form does: on the day it is printed, not
    the day it was drafted."""
    team = Team(client, db, keys)
    team.client_row = make.client_record(db, team.owner, keys, birth=date(2008, 11, 5))
    url = create_release(client, team)
    drafted = client.get(f"{url}/print").text
    assert "Parent, legal guardian or custodian" in drafted
    clock.advance(days=4)  # 18 on 5 November, where the MDT is
    team.sign_in_again(client)
    printed = client.get(f"{url}/print").text
    assert "Parent, legal guardian or custodian" not in printed
    assert "Name of the client (the minor)" not in printed
    assert "Name of the person signing" in printed


# --- what a role kept from the date of birth is told of the client's coming of age ---------


def test_only_a_role_that_reads_the_birth_date_is_told_the_client_came_of_age(
    client, db, keys, clock
):
    """ "The client has turned 18 since signing a release as a minor" puts the birthday
    between that signing and today. A lead, whom the default policy keeps from the client's
    name and date of birth, was told it on the client's page; an advocate, who reads them,
    still is."""
    team = Team(client, db, keys)
    team.client_row = make.client_record(db, team.owner, keys, birth=date(2008, 11, 5))
    url = create_release(client, team)
    signed = client.post(
        f"{url}/sign",
        data=sign_form(team, second_signer_name="Pat Example", second_signer_capacity="parent"),
    )
    assert signed.status_code == 303, signed.text
    lead = make.user(db, team.owner, Role.AGENCY_LEAD)
    clock.advance(days=4)  # 18 on 5 November, where the MDT is
    team.sign_in_again(client)
    page = f"/clients/{team.client_row.public_id}"
    assert 'id="may-resign"' in client.get(page).text
    client.cookies.clear()
    make.login(client, lead.username)
    kept = client.get(page)
    assert kept.status_code == 200 and 'data-section="identity"' in kept.text
    assert 'id="may-resign"' not in kept.text and "since signing" not in kept.text, (
        "a lead kept from the date of birth is told the client turned 18 since signing"
    )


def test_a_drafts_page_says_who_signs_now_as_its_notice_does(client, db, keys, clock):
    """A draft prepared when the client was 17, opened after their 18th birthday, said
    "Who signs: The client, a minor, and a parent" beside "The client is an adult and signs
    for themself": to a lead kept from the date of birth, a birthday since the day it was
    prepared. Now it says, as its notice and the printed form do, who signs now."""
    team = Team(client, db, keys)
    team.client_row = make.client_record(db, team.owner, keys, birth=date(2008, 11, 5))
    url = create_release(client, team)
    lead = make.user(db, team.owner, Role.AGENCY_LEAD)
    clock.advance(days=4)
    client.cookies.clear()
    make.login(client, lead.username)
    page = client.get(url)
    assert page.status_code == 200
    assert "The client is an adult and signs for themself" in page.text
    assert "The client, a minor" not in page.text, "the draft dates the client's birthday"
    assert "The client, an adult." in page.text
