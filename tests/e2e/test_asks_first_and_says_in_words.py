"""Pages as their users meet them: what a person reads has words, not ids, an action that
cannot be undone asks first, and a phone's thumb can hit what it must. Each test failed
before its fix (found by a review)."""

from __future__ import annotations

import re

import pytest
from page_walk import sign_in

pytestmark = pytest.mark.e2e

PHONE = {"width": 360, "height": 800}
DESK = {"width": 1280, "height": 900}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _page(browser, portal_url, username, viewport=PHONE):
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, portal_url, username)
    return context, page


def test_dashboard_referrals_name_their_legal_basis_and_release_in_words(browser, portal_url):
    """The coordinator's "Minors with a clear concern and no MDT case" rows read
    "shared under release bda321fe-40dc-…" and "… referral (demo) (bfbb3c47-1370-…)":
    a partner's release id and a legal basis id, which the coordinator cannot open or use."""
    context, page = _page(browser, portal_url, "coordinator")
    try:
        page.goto(portal_url + "/")
        rows = page.eval_on_selector_all("li[data-referral]", "els => els.map(e => e.innerText)")
        assert rows, "the demo seeds referrals from partners' screenings"
        with_ids = [row for row in rows if UUID.search(row)]
    finally:
        context.close()
    assert not with_ids, "\n".join(with_ids)


def test_referral_page_names_what_it_was_shared_under_without_an_id(browser, portal_url):
    """/referrals/{agency}/{referral}: "Shared under: the legal basis Harbor County Code
    39.3035, … (demo) (bfbb3c47-1370-49b2-b70e-789d9f2d1910)"."""
    context, page = _page(browser, portal_url, "coordinator")
    try:
        page.goto(portal_url + "/")
        hrefs = page.eval_on_selector_all(
            "li[data-referral] a[href^='/referrals/']",
            "els => els.map(e => e.getAttribute('href'))",
        )
        assert hrefs
        shown = {}
        for href in hrefs:
            page.goto(portal_url + href)
            shown[href] = page.locator("main dl").inner_text()
    finally:
        context.close()
    with_ids = {href: text for href, text in shown.items() if UUID.search(text)}
    assert not with_ids, with_ids


def _log_an_entry(page, portal_url) -> str:
    """Log an accompaniment as the mentor; return the address of its edit page."""
    page.goto(portal_url + "/mentor")
    page.get_by_role("link", name="Log accompaniment").first.click()
    page.get_by_label("Medical", exact=True).check()
    page.fill("#duration_minutes", "45")
    page.select_option("#place_type", index=4)
    page.select_option("#outcome", index=1)
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Accompaniment logged").wait_for()
    page.get_by_role("link", name="Dates and history").first.click()
    edit = page.get_by_role("link", name="Edit", exact=True).first.get_attribute("href")
    assert edit and edit.endswith("/edit")
    return edit


def test_deleting_an_accompaniment_entry_asks_first(browser, portal_url):
    """On the mentor's phone, "Delete this entry" sat under the edit form and one tap
    deleted the entry, with no step that says what will go and offers to keep it, as
    cancelling a meeting or revoking a release does."""
    context, page = _page(browser, portal_url, "mentor")
    try:
        edit = _log_an_entry(page, portal_url)
        page.goto(portal_url + edit)
        page.get_by_role("link", name="Delete this entry").click()
        page.get_by_role("heading", name="Delete this entry?").wait_for()
        asked = page.inner_text("main")
        page.get_by_role("link", name="Keep the entry").click()
        kept = page.get_by_role("link", name="Delete this entry").count() == 1
        page.get_by_role("link", name="Delete this entry").click()
        page.get_by_role("button", name="Delete the entry").click()
        page.get_by_text("Entry deleted").wait_for()
    finally:
        context.close()
    assert "cannot be undone" in asked and "leaves your log" in asked
    assert kept


def test_revoking_an_api_token_asks_first(browser, portal_url):
    """/admin/api-tokens: "Revoke" in the token's row revoked it on the first click (calls
    from the partner system fail at once), with no confirmation."""
    context, page = _page(browser, portal_url, "lead", DESK)
    try:
        page.goto(portal_url + "/admin/api-tokens")
        page.get_by_label("Name (which system uses it)").fill("Review s11 system")
        page.locator("input[name=scopes]").first.check()
        page.get_by_role("button", name="Create token").click()
        page.goto(portal_url + "/admin/api-tokens")
        row = page.locator("tr", has_text="Review s11 system")
        row.get_by_role("link", name="Revoke").click()
        page.get_by_role("heading", name="Revoke the token").wait_for()
        asked = page.inner_text("main")
        page.goto(portal_url + "/admin/api-tokens")
        revoked_at_once = "revoked" in page.locator("tr", has_text="Review s11 system").inner_text()
        page.locator("tr", has_text="Review s11 system").get_by_role("link", name="Revoke").click()
        page.get_by_role("button", name="Revoke the token").click()
        page.goto(portal_url + "/admin/api-tokens")
        revoked = "revoked" in page.locator("tr", has_text="Review s11 system").inner_text()
    finally:
        context.close()
    assert not revoked_at_once, "one click revoked the token, with no confirmation"
    assert "fails from now on" in asked and revoked


def test_removing_a_disclosure_policy_line_asks_first(browser, portal_url):
    """/agency/policy: "Remove" beside one of the agency's own lines removed it on the first
    click; removing a deny line releases at once what it withheld from partners."""
    context, page = _page(browser, portal_url, "lead", DESK)
    try:
        page.goto(portal_url + "/agency/policy")
        form = page.locator("form", has=page.get_by_role("button", name="Add the line"))
        for select in form.locator("select").all():
            select.select_option(index=1)
        # A deny line (an allow line must name its role; the first role offered is any).
        form.locator("select[name=effect]").select_option("deny")
        form.get_by_role("button", name="Add the line").click()
        page.goto(portal_url + "/agency/policy")

        def own_lines():
            return page.locator(
                "section", has=page.get_by_role("heading", name="Your agency's own lines")
            ).get_by_role("link", name="Remove")

        before = own_lines().count()
        assert before >= 1
        own_lines().first.click()
        page.get_by_role("heading", name="Remove this policy line?").wait_for()
        asked = page.inner_text("main")
        page.get_by_role("link", name="Keep the line").click()
        kept = own_lines().count()
        own_lines().first.click()
        page.get_by_role("button", name="Remove the line").click()
        page.get_by_text("The policy line was removed").wait_for()
        after = own_lines().count()
    finally:
        context.close()
    assert "stops applying" in asked
    assert kept == before and after == before - 1


def test_mentor_caseload_open_tasks_link_is_a_tap_target(browser, portal_url):
    """/mentor on a phone: "My open tasks" is a bare digit linked to /tasks, about 10 x 19 px,
    under a card whose other actions are full-width buttons; a thumb misses it."""
    context, page = _page(browser, portal_url, "mentor")
    try:
        page.goto(portal_url + "/mentor")
        sizes = page.eval_on_selector_all(
            "main .open-tasks a",
            "els => els.map(e => { const r = e.getBoundingClientRect();"
            " return [e.textContent.trim(), Math.round(r.width), Math.round(r.height)]; })",
        )
    finally:
        context.close()
    assert sizes, "the demo mentor has open tasks"
    small = [s for s in sizes if s[1] < 24 or s[2] < 24]
    assert not small, f"links under 24 x 24 px (text, width, height): {small}"
