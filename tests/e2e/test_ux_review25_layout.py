"""The demo in Chromium as a second UX review (every role, 360 and 1280 px) found it.

Each test is named after what should hold and failed before its fix. None changes the
demo's data."""

from __future__ import annotations

import pytest
from page_walk import sign_in

pytestmark = pytest.mark.e2e

PHONE = {"width": 360, "height": 800}

# How far below a filter form the next thing on the page starts (negative: it overlaps).
GAP_BELOW_FILTERS = """() => {
  const form = document.querySelector('main form.filters');
  let next = form.nextElementSibling;
  while (next && next.getBoundingClientRect().height === 0) next = next.nextElementSibling;
  return next.getBoundingClientRect().top - form.getBoundingClientRect().bottom;
}"""


@pytest.mark.parametrize(
    ("username", "path"),
    [("mentor.lead", "/mentoring/reports"), ("coordinator", "/tasks")],
)
def test_what_a_filter_form_shows_starts_clear_of_its_button(browser, portal_url, username, path):
    """At 360 px the reports' "Show" button sat on the line "2026-10-01 to 2026-12-06: 53
    accompaniments" (the lede's negative margin pulled it under the form), and the tasks'
    "Filter" button touched the table's header: a filter form had no room below it."""
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        sign_in(page, portal_url, username)
        page.goto(portal_url + path)
        gap = page.evaluate(GAP_BELOW_FILTERS)
    finally:
        context.close()
    assert gap >= 12, f"{path}: {gap}px between the filter form and what follows it"
