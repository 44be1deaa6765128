"""The demo in Chromium where a third UX review at 360 and 1280 px found case references
broken over two lines in desk tables and a table that scrolls sideways on a phone. Each test
is named after what should hold and failed before its fix. None changes the demo's data."""

from __future__ import annotations

import sqlite3

import pytest
from page_walk import TABLE_BOXES, assert_tables_are_cards_on_a_phone, looked_at

pytestmark = pytest.mark.e2e

PHONE = {"width": 360, "height": 800}
DESK = {"width": 1280, "height": 900}

# Case references ("MDT-2026-XVSERF") in a table's cells laid out over more than one line, as
# broken_dates finds dates; words hidden from the eye (a link's fuller name) are not read.
BROKEN_REFERENCES = """() => {
  const found = [];
  for (const cell of document.querySelectorAll('main td')) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (node.parentElement.closest('.visually-hidden')) continue;
      for (const m of node.data.matchAll(/MDT-\\d{4}-[A-Z0-9]+/g)) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const lines = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
        if (lines.size > 1) found.push(m[0]);
      }
    }
  }
  return found;
}"""

# The case with the most entries in the audit log, as the lead would search for it.
BUSIEST_CASE = (
    "SELECT case_ref FROM audit_entry WHERE case_ref LIKE 'MDT-%'"
    " GROUP BY case_ref ORDER BY count(*) DESC LIMIT 1"
)


REFERENCE_TABLES = [
    ("lead", "/audit?case_ref={case}"),
    ("mentor.lead", "/mentoring/program"),
    ("mentor.lead", "/mentoring/reports"),
]


@pytest.mark.parametrize(("username", "path"), REFERENCE_TABLES)
def test_a_case_reference_in_a_table_stays_on_one_line(
    browser, portal_url, demo_database, username, path
):
    """At 1280 px the audit log's Case column, the mentor program's accompaniment and its
    reports' no-contact list broke a case's reference at its hyphens ('MDT-2026-' over
    'XVSERF'), a reference read aloud and compared in a meeting. It is to stay on one line
    there, and on a phone's cards, without any table scrolling sideways."""
    with sqlite3.connect(demo_database) as connection:
        path = path.format(case=connection.execute(BUSIEST_CASE).fetchone()[0])
    for viewport in (DESK, PHONE):
        broken, boxes = looked_at(
            browser, portal_url, username, path, viewport, BROKEN_REFERENCES, TABLE_BOXES
        )
        width = viewport["width"]
        assert not broken, f"{path} at {width} px: broken over two lines: {broken[:3]}"
        assert all(hidden <= 0 for hidden, _ in boxes), (
            f"{path} at {width} px: px hidden to the side, per table: {[h for h, _ in boxes]}"
        )


def test_the_signing_keys_read_on_a_phone(browser, portal_url):
    """At 360 px each agency's signing keys were a table wider than the phone (84 px hidden),
    in a box that scrolls sideways with nothing to say so: when a key was made and whether it
    is retired were off the screen. Each key is to be a card on a phone (cards-on-phone), and
    a table with its headings at 1280 px."""
    assert_tables_are_cards_on_a_phone(browser, portal_url, "coordinator", "/consent/keys")
