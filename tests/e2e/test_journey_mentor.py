"""At 360 px wide, the demo mentor logs an accompaniment from their caseload."""

import pytest
from playwright.sync_api import Page, expect

from portal.demo.logins import DEMO_PASSWORD

pytestmark = pytest.mark.e2e


def fits_the_screen(page: Page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= 360, f"the page is {overflow}px wide on a 360px screen"


def test_mentor_logs_an_accompaniment_on_a_phone(page: Page, portal_url: str):
    page.set_viewport_size({"width": 360, "height": 740})
    page.set_default_timeout(15_000)
    console_errors = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)

    page.goto(portal_url + "/login")
    page.get_by_label("Username").fill("mentor")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Open my caseload").click()

    expect(page.get_by_role("heading", name="My caseload")).to_be_visible()
    fits_the_screen(page)
    first_case = page.locator(".card").first
    reference = first_case.locator("h2").inner_text()
    log_button = first_case.get_by_role("link", name="Log accompaniment")
    assert log_button.bounding_box()["height"] >= 44  # a thumb-sized target
    log_button.click()

    expect(page.get_by_role("heading", name="Log accompaniment")).to_be_visible()
    expect(page.get_by_text(reference).first).to_be_visible()
    fits_the_screen(page)
    # The date is already today's; one tap for the kind, a few keys for the rest.
    page.get_by_label("Court appearance").check()
    page.get_by_label("How long").fill("1:30")
    page.get_by_label("Type of place").select_option(label="Courthouse")
    page.get_by_label("Outcome").select_option(label="Went ahead")
    page.get_by_label("Follow-up needed").check()
    page.get_by_label("What needs following up").fill("Confirm transport for the next date")
    save = page.get_by_role("button", name="Save")
    assert save.bounding_box()["height"] >= 44
    save.click()

    expect(page.get_by_text(f"Accompaniment logged for {reference}.")).to_be_visible()
    card = page.locator(".card", has=page.get_by_role("link", name=reference))
    expect(card).to_contain_text("today")
    fits_the_screen(page)

    # The entry shows on the case's page, with the edit link its author has for 24 hours.
    card.get_by_role("link", name="Dates and history").click()
    expect(page.locator(".card").first).to_contain_text("Court appearance")
    expect(page.locator(".card").first).to_contain_text("follow-up needed")
    expect(page.get_by_role("link", name="Edit").first).to_be_visible()
    assert not [e for e in console_errors if "Content Security Policy" in e], console_errors


def test_bad_duration_is_explained_on_the_phone(page: Page, portal_url: str):
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(portal_url + "/login")
    page.get_by_label("Username").fill("mentor")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(portal_url + "/mentor")
    page.locator(".card").first.get_by_role("link", name="Log accompaniment").click()
    page.get_by_label("Medical").check()
    page.get_by_label("How long").fill("30h")
    page.get_by_label("Type of place").select_option(label="Hospital or clinic")
    page.get_by_label("Outcome").select_option(label="Went ahead")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text("Nothing was saved")
    expect(page.get_by_text("A duration over 24 hours is not possible")).to_be_visible()
    expect(page.get_by_label("How long")).to_have_value("30h")
