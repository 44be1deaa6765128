"""A coordinator prepares a release with a client, prints it, records the signature, revokes it."""

import re

import pytest
from playwright.sync_api import Page, expect

from portal.demo.logins import DEMO_PASSWORD

pytestmark = pytest.mark.e2e

POLICE = "Harbor County Police Special Victims Unit (demo)"
SHELTER = "Lantern House Shelter and Advocacy (demo)"


def test_create_sign_print_and_revoke_a_release(page: Page, portal_url: str):
    page.set_default_timeout(15_000)
    console_errors = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.goto(portal_url + "/login")
    page.get_by_label("Username").fill("coordinator")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Clients").click()
    expect(page.get_by_role("heading", name=re.compile("Clients of"))).to_be_visible()
    page.locator("table tbody tr a").first.click()
    client_url = page.url
    page.get_by_role("link", name="New release").click()

    # Choosing a system-based recipient shows the warning at once (htmx fragment).
    page.get_by_label(SHELTER).check()
    expect(page.get_by_text("Some of these agencies are system-based")).to_have_count(0)
    page.get_by_label(POLICE).check()
    expect(page.get_by_text("Some of these agencies are system-based")).to_be_visible()
    page.get_by_label("Safety plan", exact=True).check()
    page.get_by_label("Needs assessment").check()
    page.get_by_label("Care coordination").check()
    page.get_by_role("button", name="Prepare the release").click()

    expect(page.get_by_role("heading", name=re.compile("Release for client"))).to_be_visible()
    expect(page.get_by_text("Draft — not signed")).to_be_visible()
    release_url = page.url

    # Before signing, the survivor sees what each agency named would see, by name.
    page.get_by_role("link", name="Preview what each recipient would see").click()
    expect(page.get_by_text("This release is a draft: nothing has been shared")).to_be_visible()
    page.get_by_label("Someone at a recipient agency, in their role").select_option(
        label=f"Investigator at {POLICE}"
    )
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("heading", name=f"What {POLICE} would see")).to_be_visible()
    expect(page.get_by_role("heading", name=f"An investigator at {POLICE}")).to_be_visible()
    expect(page.get_by_text(f"{POLICE} is system-based")).to_be_visible()
    page.goto(release_url)

    # The printable form the survivor reads, with the print stylesheet.
    page.get_by_role("link", name="Printable form for the client to read").click()
    expect(page.get_by_role("heading", name="Permission to share information")).to_be_visible()
    expect(page.get_by_text("You do not have to sign this form.", exact=False)).to_be_visible()
    expect(page.get_by_text("Some of these agencies are system-based")).to_be_visible()
    assert page.locator('link[rel=stylesheet][media=print][href="/static/print.css"]').count() == 1
    page.emulate_media(media="print")
    expect(page.get_by_role("link", name="← Back to the release")).to_be_hidden()
    page.emulate_media(media="screen")
    page.get_by_role("link", name="← Back to the release").click()

    # The signer types their name and today's date on the staff device.
    today = re.search(r"Today is (\d{4}-\d{2}-\d{2})", page.content()).group(1)
    page.get_by_label("Signer's full name, typed by the signer").fill("Client Signature (demo)")
    if "The client is a minor: the client signs as themself" in page.content():
        # Most demo clients are children: a parent signs as well (the default rule).
        page.get_by_label("Second signer's full name").fill("Parent Signature (demo)")
        page.get_by_label("Second signer signs as").select_option("parent")
    page.get_by_label("Today's date, typed by the signer").fill(today)
    page.get_by_role("button", name="Record the signature and sign").click()
    expect(page.get_by_text("The signature is recorded")).to_be_visible()
    expect(page.locator(".state-active")).to_have_text("Active")
    expect(page.get_by_role("link", name="Download the signed release")).to_be_visible()

    # Revoking asks first, on its own page, naming what will happen.
    page.get_by_role("link", name="Revoke this release").click()
    expect(page.get_by_role("heading", name=re.compile("Revoke the release"))).to_be_visible()
    expect(page.get_by_text("cannot be undone")).to_be_visible()
    page.get_by_label("Reason").fill("The client asked to stop sharing.")
    page.get_by_role("button", name="Revoke this release").click()
    expect(page.get_by_text("The release is revoked.")).to_be_visible()
    expect(page.locator(".state-revoked")).to_have_text("Revoked")
    expect(page.get_by_role("link", name="Revoke this release")).to_have_count(0)

    page.goto(client_url)
    expect(page.locator("#releases .state-revoked").first).to_be_visible()
    assert not [e for e in console_errors if "Content Security Policy" in e], console_errors


def test_a_release_in_spanish_is_printed_in_spanish(page: Page, portal_url: str):
    page.set_default_timeout(15_000)
    page.goto(portal_url + "/login")
    page.get_by_label("Username").fill("coordinator")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

    # The demo's adult client who reads Spanish, and her signed release.
    page.goto(portal_url + "/clients")
    page.get_by_label("Given name").fill("Lucía")
    page.get_by_label("Family name").fill("Ejemplo (ficticia)")
    page.get_by_label("Birth date").fill("1996-04-12")
    page.get_by_role("button", name="Search").click()
    assert "Lucía" not in page.url  # a search is posted: nothing typed is in the address
    page.locator("table tbody tr a").first.click()
    expect(page.locator("#language")).to_contain_text("Español")
    page.locator("#releases table tbody tr a").first.click()
    page.get_by_role("link", name="Printable form for the client to read").click()

    form = page.locator("article.printable")
    expect(form).to_have_attribute("lang", "es")
    expect(page.get_by_role("heading", name="Permiso para compartir información")).to_be_visible()
    expect(page.get_by_role("heading", name="Sus derechos")).to_be_visible()
    expect(form).to_contain_text("Usted no tiene que firmar este formulario.")
    expect(form).to_contain_text("Usted puede retirar (revocar) este permiso en cualquier momento.")
    expect(form).to_contain_text("Idioma de este formulario: Español.")
    expect(form).to_contain_text("Huella digital de las declaraciones de arriba:")
    expect(form).not_to_contain_text("SHA-256")
    expect(form).not_to_contain_text("You do not have to sign this form.")
    page.emulate_media(media="print")
    expect(page.get_by_role("heading", name="Permiso para compartir información")).to_be_visible()


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_a_release_form_sent_too_soon_leads_to_each_error(browser, portal_url, javascript):
    """Issue 17 (6): the error summary is focused and announced, each message takes the
    person to its field, which says what is wrong with it; the same without JavaScript."""
    context = browser.new_context(java_script_enabled=javascript)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        page.goto(portal_url + "/login")
        page.get_by_label("Username").fill("coordinator")
        page.get_by_label("Password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.goto(portal_url + "/clients")
        page.locator("table tbody tr a").first.click()
        page.get_by_role("link", name="New release").click()
        page.get_by_role("button", name="Prepare the release").click()

        summary = page.get_by_role("alert").filter(has_text="There is a problem")
        expect(summary).to_be_visible()
        expect(summary).to_be_focused()  # autofocus: a screen reader starts here
        links = summary.get_by_role("link")
        expect(links).to_have_count(2)
        summary.get_by_role("link", name="Choose at least one agency to share with.").click()
        first = page.get_by_role("group", name="Who may receive it").get_by_role("checkbox").first
        expect(first).to_be_focused()
        expect(first).to_have_attribute("aria-invalid", "true")
        # The group says what is wrong, with its hint.
        group = page.get_by_role("group", name="Who may receive it")
        expect(group).to_have_accessible_description(
            re.compile("Name each agency one by one.*Choose at least one agency")
        )
        # Correct the first: the second message still leads to its own field.
        first.check()
        page.get_by_role("button", name="Prepare the release").click()
        message = "Choose at least one kind of information to share."
        page.get_by_role("alert").get_by_role("link", name=message).click()
        expect(page.get_by_label("Identity", exact=True)).to_be_focused()
        expect(first).to_be_checked()  # what was chosen is kept
    finally:
        context.close()
