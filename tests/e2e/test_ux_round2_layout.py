"""The demo in Chromium where a second UX review at 360 and 1280 px still found tables that
scroll sideways on a phone. Each test is named after what should hold and failed before its
fix. None changes the demo's data."""

from __future__ import annotations

import sqlite3

import pytest
from page_walk import assert_tables_are_cards_on_a_phone, overflow, sign_in

pytestmark = pytest.mark.e2e

PHONE = {"width": 360, "height": 800}

# Ids the seed made (the coordinator's own agency's), as the page's user would reach them.
IDS = {
    "client": "SELECT c.public_id FROM client c JOIN consent_release r ON r.client_id = c.id"
    " WHERE c.agency_id = (SELECT agency_id FROM staff_user WHERE username = 'coordinator')"
    " AND c.reference NOT LIKE 'SCR-%' LIMIT 1",
    "screened": "SELECT c.public_id FROM client c JOIN screening s ON s.client_id = c.id"
    " WHERE c.agency_id = (SELECT agency_id FROM staff_user WHERE username = 'coordinator')"
    " LIMIT 1",
    "case": "SELECT m.public_id FROM mdt_case m JOIN task t ON t.case_id = m.id"
    " WHERE m.status = 'open' AND m.coordinating_agency_id ="
    " (SELECT agency_id FROM staff_user WHERE username = 'coordinator') LIMIT 1",
    "agency": "SELECT public_id FROM agency"
    " WHERE id = (SELECT agency_id FROM staff_user WHERE username = 'coordinator')",
}


WIDE_TABLES = [
    ("coordinator", "/clients"),
    ("coordinator", "/clients/{client}"),
    ("coordinator", "/clients/{client}/sections"),
    ("coordinator", "/clients/{screened}/screenings"),
    ("coordinator", "/cases/{case}"),
    ("admin", "/"),
    ("admin", "/admin/agencies"),
    ("lead", "/admin/agencies/{agency}"),
]


@pytest.mark.parametrize(("username", "path"), WIDE_TABLES)
def test_every_table_of_a_client_a_case_and_the_agencies_reads_on_a_phone(
    browser, portal_url, demo_database, username, path
):
    """At 360 px these tables were wider than the phone, in a box that scrolls sideways
    with nothing to say so: a client's releases (their status, whether the release is in
    effect, cut at the edge), its sections and screenings, the clients list, a case's tasks
    (the status off the screen), the administrator's agencies (201 px hidden: active staff,
    leads, who is signed in) and an agency's staff (their status). Each row is to be a card
    on a phone (cards-on-phone), and a table with its headings at 1280 px."""
    with sqlite3.connect(demo_database) as connection:
        ids = {
            name: row[0]
            for name, query in IDS.items()
            if "{" + name + "}" in path and (row := connection.execute(query).fetchone())
        }
    path = path.format(**ids)
    assert_tables_are_cards_on_a_phone(browser, portal_url, username, path)


def test_a_meetings_heading_fits_a_phone(browser, portal_url, demo_database):
    """The meeting's heading says when it starts as the list does ('Tue 08 Dec 2026, 14:00
    EST'); kept on one line like every date, it ran 52 px past a 360 px screen."""
    with sqlite3.connect(demo_database) as connection:
        (meeting,) = connection.execute(
            "SELECT public_id FROM meeting WHERE status = 'scheduled' LIMIT 1"
        ).fetchone()
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    try:
        sign_in(page, portal_url, "coordinator")
        page.goto(f"{portal_url}/meetings/{meeting}")
        assert overflow(page) <= 0, f"the meeting page is {overflow(page)} px wider than a phone"
    finally:
        context.close()
