"""An agency lead answers "who saw what of ours", prints an accounting, signs the log."""

import re
import sqlite3

import pytest
from playwright.sync_api import Page, expect

from portal.demo.logins import DEMO_PASSWORD

pytestmark = pytest.mark.e2e


def _a_client_with_disclosures(database) -> str:
    """A Riverbend client whose information the demo's partners really received."""
    with sqlite3.connect(database) as connection:
        row = connection.execute(
            "SELECT client.reference FROM audit_entry"
            " JOIN client ON client.public_id = audit_entry.client_ref"
            " JOIN agency ON agency.id = audit_entry.agency_id"
            " WHERE audit_entry.decision = 'released'"
            " AND audit_entry.actor_agency_ref != agency.public_id"
            " AND agency.name LIKE 'Riverbend%' ORDER BY audit_entry.id LIMIT 1"
        ).fetchone()
    assert row, "the demo seed should leave real disclosures of Riverbend's clients"
    return row[0]


def test_lead_searches_the_audit_log_and_opens_an_accounting(
    page: Page, portal_url: str, demo_database
):
    page.set_default_timeout(15_000)
    console_errors = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.goto(portal_url + "/login")
    page.get_by_label("Username").fill("lead")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

    page.get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("heading", name="Audit log", exact=True)).to_be_visible()
    results = page.locator("#results")
    expect(results.locator("tbody tr").first).to_be_visible()

    # The search runs through htmx: only the results block is replaced, the URL follows.
    page.get_by_label("Decision").select_option("withheld")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"decision=withheld"))
    expect(results.locator("tbody tr").first).to_contain_text("withheld")
    for row in results.locator("tbody tr").all():
        expect(row).to_contain_text("withheld")

    page.get_by_label("Client reference or id").fill(_a_client_with_disclosures(demo_database))
    page.get_by_role("button", name="Show the accounting").click()
    expect(page.get_by_role("heading", name="Accounting of disclosures")).to_be_visible()
    # A release to a partner (the demo also records one compelled disclosure, shown apart).
    first = page.locator("table tbody tr:not(.compelled)").first
    expect(first).to_contain_text("(demo)")
    expect(first).not_to_contain_text("Riverbend")  # own staff's views are not disclosures

    page.get_by_role("link", name="Back to the audit log").click()
    page.get_by_role("button", name="Sign a checkpoint now").click()
    expect(page.get_by_text("The log is signed up to entry")).to_be_visible()
    assert not [e for e in console_errors if "Content Security Policy" in e], console_errors
