"""The MDT workflow in a real browser: intake → meeting in the window → decision and task →
the assignee sees the task → the dashboard shows the case convened."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from portal.demo.logins import DEMO_PASSWORD

pytestmark = pytest.mark.e2e

SHELTER = "Lantern House Shelter and Advocacy (demo)"


def sign_in(page: Page, url: str, username: str) -> None:
    page.goto(url + "/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def test_coordinator_convenes_a_new_case_and_the_assignee_sees_the_task(
    page: Page, portal_url: str
):
    page.set_default_timeout(15_000)
    sign_in(page, portal_url, "coordinator")

    # Intake: a new case with the shelter involved.
    page.get_by_role("link", name="Open a case").click()
    page.get_by_label("Referral source").select_option("hotline")
    page.get_by_label(SHELTER).check()
    page.get_by_role("button", name="Open case").click()
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text("MDT-")
    reference = heading.inner_text().split()[0]
    expect(page.get_by_text("14 days left")).to_be_visible()

    # A meeting inside the window: today, this very minute, in the MDT's zone.
    now = datetime.now(ZoneInfo("America/New_York"))
    page.goto(portal_url + "/meetings/new")
    page.get_by_label("Date").fill(now.date().isoformat())
    page.get_by_label("Start time").fill(now.strftime("%H:%M"))
    page.get_by_label("Place").fill("Conference room B (demo)")
    page.get_by_label(reference).check()
    page.get_by_role("button", name="Schedule meeting").click()
    expect(page.get_by_text("is scheduled")).to_be_visible()

    # Hold it, record a decision, mark the case reviewed.
    page.get_by_role("link", name="Start meeting (mark held)…").click()
    expect(page.get_by_text("It can no longer be rescheduled or cancelled.")).to_be_visible()
    page.get_by_role("button", name="Start the meeting").click()
    page.get_by_label(f"Recommendation for {reference}").select_option("Safety planning")
    page.get_by_label(f"Decision notes for {reference}").fill("Shelter to lead the safety plan.")
    page.get_by_role("button", name="Record decision").first.click()
    expect(page.get_by_text("The decision is recorded.")).to_be_visible()
    page.get_by_role("link", name=f"Mark {reference} reviewed…").click()
    expect(page.get_by_text("becomes its first MDT date")).to_be_visible()
    page.get_by_role("button", name=f"Mark {reference} reviewed").click()
    expect(page.get_by_text("marked reviewed")).to_be_visible()

    # A task from the decision, for the shelter's advocate.
    page.get_by_role("link", name=f"Add a task for {reference}").click()
    page.get_by_label("Title").fill("Safety plan check-in (demo journey)")
    advocate = page.locator("#assignee option", has_text="Addison Advocate").get_attribute("value")
    page.get_by_label("Assignee").select_option(advocate)
    page.get_by_label("Due date").fill((now.date() + timedelta(days=7)).isoformat())
    page.get_by_label("From decision").select_option(index=1)
    page.get_by_role("button", name="Create task").click()
    expect(page.get_by_text("was created")).to_be_visible()

    # The dashboard shows the case convened within the window.
    page.goto(portal_url + "/")
    convened = page.locator("ul.convened li", has_text=reference)
    expect(convened).to_contain_text("within the window")

    # The assignee sees the task in their list: no survivor is linked to this new case yet,
    # so its text is the coordinator's and withheld (issue 14), its due date and case shown.
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, portal_url, "advocate")
    page.goto(portal_url + "/tasks")
    row = page.locator("tr", has_text=reference)
    expect(row).to_contain_text("details withheld")
    expect(row).not_to_contain_text("Safety plan check-in (demo journey)")

    # And changes its status inline (htmx swaps the row in place): tracked without its text.
    row.locator("select").select_option("in_progress")
    row.get_by_role("button", name="Save").click()
    expect(page.locator("tr", has_text=reference).locator("select")).to_have_value("in_progress")
