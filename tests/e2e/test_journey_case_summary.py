"""An MDT member opens a case summary and sees released and withheld sections."""

import pytest
from playwright.sync_api import Page, expect

from portal.demo.logins import DEMO_PASSWORD

pytestmark = pytest.mark.e2e


def test_case_manager_sees_released_and_withheld_side_by_side(page: Page, portal_url: str):
    page.set_default_timeout(20_000)
    console_errors = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.goto(portal_url + "/login")
    page.get_by_label("Username").fill("casemanager")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

    links = page.get_by_role("link", name="Case summary")
    summaries = [links.nth(i).get_attribute("href") for i in range(min(links.count(), 12))]
    released = page.locator("article.released")
    withheld = page.locator("article.withheld")
    # Not every demo case has a partner release for this agency: open summaries until one does.
    for href in summaries:
        page.goto(portal_url + href)
        expect(page.get_by_role("heading", name="Case summary")).to_be_visible()
        expect(page.get_by_text("Agencies involved")).to_be_visible()
        # Decided in the page itself; an owner past the page's budget would come by htmx.
        page.wait_for_load_state("networkidle")
        expect(withheld.first).to_be_visible()
        if released.count():
            break
    expect(released.first).to_be_visible()
    expect(withheld.first).to_be_visible()
    expect(withheld.first).to_contain_text("Withheld:")
    expect(page.get_by_text("Riverbend Children's Advocacy Center (demo)").first).to_be_visible()
    assert not [e for e in console_errors if "Content Security Policy" in e], console_errors


def test_the_summary_needs_no_javascript(browser, portal_url: str):
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.goto(portal_url + "/login")
        page.get_by_label("Username").fill("casemanager")
        page.get_by_label("Password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
        href = page.get_by_role("link", name="Case summary").first.get_attribute("href")
        page.goto(portal_url + href)
        expect(page.get_by_role("heading", name="Sections by owner")).to_be_visible()
        # Every owner's sections are in the page as served: released or withheld, none pending.
        expect(page.locator("article.withheld").first).to_be_visible()
        assert page.locator("[data-deferred]").count() == 0
    finally:
        context.close()
