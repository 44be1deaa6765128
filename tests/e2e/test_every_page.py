"""Every page of the demo, as each role, on a phone: nothing runs off the screen and axe
finds nothing serious (issue 17). Screenshots of the main pages land in test-results/."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from page_walk import AxeMissing, axe_problems, axe_source, overflow, sign_in, walk

pytestmark = pytest.mark.e2e

ROLES = (
    "admin",
    "coordinator",
    "lead",
    "advocate",
    "casemanager",
    "investigator",
    "clinician",
    "mentor",
    "mentor.lead",
)
PHONE = {"width": 360, "height": 780}
DESK = {"width": 1280, "height": 900}
# The folder the README names; gitignored.
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-results" / "screenshots"


@pytest.fixture(scope="session")
def axe():
    try:
        return axe_source()
    except AxeMissing as error:
        pytest.fail(str(error)) if __import__("os").environ.get("CI") else pytest.skip(str(error))


@pytest.mark.parametrize("username", ROLES)
def test_every_page_reflows_at_360_px_and_passes_axe(browser, portal_url, axe, username):
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        sign_in(page, portal_url, username)
        result = walk(page, portal_url, axe=axe)
    finally:
        context.close()
    assert len(result.visited) >= 8, result.visited  # the walk really went round
    assert not result.findings, "\n".join(f"{f.url}: {f.problem}" for f in result.findings)


def _pages_behind_forms(database) -> dict[str, str]:
    """Pages a link does not reach: an accounting, a search that found nothing."""
    with sqlite3.connect(database) as connection:
        reference = connection.execute(
            "SELECT client.reference FROM client JOIN agency ON agency.id = client.agency_id"
            " WHERE agency.name LIKE 'Riverbend%' ORDER BY client.id LIMIT 1"
        ).fetchone()[0]
    return {
        "accounting": f"/audit/accounting?client={reference}",
        "accounting, mistyped": "/audit/accounting?client=NO-SUCH-REF",
        "audit, withheld": "/audit?decision=withheld",
    }


def test_pages_behind_forms_reflow_and_pass_axe(browser, portal_url, axe, demo_database):
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    try:
        sign_in(page, portal_url, "lead")
        problems = []
        for name, path in _pages_behind_forms(demo_database).items():
            page.goto(portal_url + path)
            if overflow(page) > 0:
                problems.append(f"{name}: {overflow(page)}px wider than the viewport")
            problems += [f"{name}: {p}" for p in axe_problems(page, axe)]
        # the release form with its errors, as a person who pressed the button too soon
        page.goto(portal_url + "/clients")
        page.locator("table tbody tr a").first.click()
        page.get_by_role("link", name="New release").click()
        page.get_by_role("button", name="Prepare the release").click()
        if overflow(page) > 0:
            problems.append(f"release form errors: {overflow(page)}px wider")
        problems += [f"release form errors: {p}" for p in axe_problems(page, axe)]
    finally:
        context.close()
    assert not problems, "\n".join(problems)


def test_every_meeting_page_as_the_coordinator(browser, portal_url, axe):
    """Held, scheduled and cancelled meetings differ (attendance, recommendation types):
    the walk opens one meeting, this opens them all."""
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    try:
        sign_in(page, portal_url, "coordinator")
        page.goto(portal_url + "/meetings")
        hrefs = page.eval_on_selector_all(
            "main a[href^='/meetings/']", "els => els.map(e => e.getAttribute('href'))"
        )
        problems = []
        for href in sorted({h for h in hrefs if h.count("/") == 2 and h != "/meetings/new"}):
            page.goto(portal_url + href)
            if overflow(page) > 0:
                problems.append(f"{href}: {overflow(page)}px wider than the viewport")
            problems += [f"{href}: {p}" for p in axe_problems(page, axe)]
    finally:
        context.close()
    assert len(hrefs) >= 3
    assert not problems, "\n".join(problems)


def test_screenshots_of_the_main_pages(browser, portal_url, demo_database):
    """For a reviewer's eye, not a pixel comparison: dashboard, summary, release form, audit."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shots = {
        "coordinator": ("dashboard", "/"),
        "casemanager": ("summary", None),
        "lead": ("audit-log", "/audit"),
    }
    for size_name, size in (("360", PHONE), ("1280", DESK)):
        for username, (name, path) in shots.items():
            context = browser.new_context(viewport=size)
            page = context.new_page()
            try:
                sign_in(page, portal_url, username)
                if path is None:
                    page.get_by_role("link", name="Case summary").first.click()
                    page.get_by_role("heading", level=1).wait_for()
                else:
                    page.goto(portal_url + path)
                page.screenshot(path=SCREENSHOTS / f"{name}-{size_name}.png", full_page=True)
                if username == "coordinator":
                    page.goto(portal_url + "/clients")
                    page.locator("table tbody tr a").first.click()
                    page.get_by_role("link", name="New release").click()
                    page.get_by_role("button", name="Prepare the release").click()
                    page.screenshot(
                        path=SCREENSHOTS / f"release-form-{size_name}.png", full_page=True
                    )
            finally:
                context.close()
    written = sorted(p.name for p in SCREENSHOTS.glob("*.png"))
    for name in ("dashboard", "summary", "release-form", "audit-log"):
        for size_name in ("360", "1280"):
            assert f"{name}-{size_name}.png" in written
