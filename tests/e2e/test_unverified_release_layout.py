"""The page of a release whose stored copy does not verify, in Chromium at 360 and 1280 px:
it reads clear of overlap and sideways scrolling. One of the demo's signed releases is
made unreadable for the test and put back after it. Synthetic data only."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from page_walk import overflow, sign_in

pytestmark = pytest.mark.e2e

SIZES = {"360": {"width": 360, "height": 800}, "1280": {"width": 1280, "height": 900}}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-results" / "screenshots"

# Pairs of text blocks on the page whose boxes overlap (neither inside the other).
OVERLAPS = """() => {
  const boxes = [...document.querySelectorAll(
    'main h1, main h2, main p, main li, main dt, main dd, main .state, main .hint, main code')]
    .filter(e => e.getBoundingClientRect().height > 0);
  const found = [];
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i], b = boxes[j];
      if (a.contains(b) || b.contains(a)) continue;
      const r = a.getBoundingClientRect(), s = b.getBoundingClientRect();
      const w = Math.min(r.right, s.right) - Math.max(r.left, s.left);
      const h = Math.min(r.bottom, s.bottom) - Math.max(r.top, s.top);
      if (w > 1 && h > 1) found.push(a.textContent.trim().slice(0, 40) + ' / '
                                     + b.textContent.trim().slice(0, 40));
    }
  }
  return found;
}"""


def _a_leads_signed_release(database: Path) -> tuple[int, str, bytes]:
    with sqlite3.connect(database) as db:
        row = db.execute(
            "SELECT r.id, r.public_id, r.document_sealed FROM consent_release r"
            " JOIN staff_user u ON u.agency_id = r.agency_id"
            " WHERE u.username = 'lead' AND r.state = 'signed'"
            " AND r.document_sealed IS NOT NULL ORDER BY r.id LIMIT 1"
        ).fetchone()
    assert row, "the demo seed should leave a signed release of the lead's agency"
    return row


def _store(database: Path, release_id: int, sealed: bytes) -> None:
    with sqlite3.connect(database) as db:
        db.execute(
            "UPDATE consent_release SET document_sealed = ? WHERE id = ?", (sealed, release_id)
        )


def test_the_page_of_a_release_that_does_not_verify_reads_clear_at_both_widths(
    browser, portal_url, demo_database
):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    release_id, public_id, sealed = _a_leads_signed_release(demo_database)
    _store(demo_database, release_id, b"B1" + bytes(60))  # opens as nothing
    try:
        for size_name, size in SIZES.items():
            context = browser.new_context(viewport=size)
            page = context.new_page()
            page.set_default_timeout(15_000)
            try:
                sign_in(page, portal_url, "lead")
                answer = page.goto(f"{portal_url}/releases/{public_id}")
                assert answer.status == 200
                page.get_by_role(
                    "heading", name="The stored copy of this release does not match"
                ).wait_for()
                page.screenshot(
                    path=SCREENSHOTS / f"release-not-verified-{size_name}.png", full_page=True
                )
                assert overflow(page) <= 0, f"{size_name} px: the page scrolls sideways"
                assert page.evaluate(OVERLAPS) == [], f"{size_name} px"
            finally:
                context.close()
    finally:
        _store(demo_database, release_id, sealed)
