"""A demo user signs in, sees the dashboard, and signs out — in a real browser."""

import pytest
from playwright.sync_api import Page, expect

from portal.demo.logins import DEMO_PASSWORD

pytestmark = pytest.mark.e2e


def test_coordinator_signs_in_sees_dashboard_and_signs_out(page: Page, portal_url: str):
    page.set_default_timeout(15_000)
    console_errors = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)

    page.goto(portal_url + "/")
    expect(page).to_have_url(portal_url + "/login?next=/")
    page.get_by_label("Username").fill("coordinator")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.get_by_text("Corin Coordinator (demo)")).to_be_visible()
    expect(page.locator("table tbody tr").first).to_contain_text("MDT-")
    assert page.evaluate("typeof htmx") == "object", "htmx should load from the node itself"

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You have signed out.")).to_be_visible()
    page.goto(portal_url + "/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert not [e for e in console_errors if "Content Security Policy" in e], console_errors


def test_wrong_password_shows_one_message(page: Page, portal_url: str):
    page.goto(portal_url + "/login")
    page.get_by_label("Username").fill("coordinator")
    page.get_by_label("Password").fill("not the demo password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("do not match an active account")


def test_lead_adds_a_staff_member_without_javascript_help(page: Page, portal_url: str):
    """A plain form post from the admin pages: proves forms carry their CSRF token."""
    page.set_default_timeout(15_000)
    page.goto(portal_url + "/login")
    page.get_by_label("Username").fill("lead")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Agencies & staff").click()
    page.get_by_role("link", name="Riverbend Children's Advocacy Center (demo)").click()
    page.get_by_role("link", name="Add a staff member").click()
    page.get_by_label("Name", exact=True).fill("Tova Trainee (demo)")
    page.get_by_label("Username", exact=True).fill("tova.trainee")
    page.get_by_label("advocate").check()
    page.get_by_role("button", name="Add staff member").click()
    # No password is chosen for them: they get a one-time link to set their own.
    expect(page.get_by_role("heading", name="Tova Trainee (demo) is added")).to_be_visible()
    expect(page.locator("code.secret")).to_contain_text("/enrol/")
