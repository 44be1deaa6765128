"""The demo in Chromium as its users meet it, on a phone and a desk, as a UX review found it.

Each test is named after a defect the review found and failed before it was fixed.
None of them changes the demo's data: the one-click checks read the page's forms rather than
pressing the button, so a failing check does not deactivate anyone or cancel anything.
"""

from __future__ import annotations

import re
import sqlite3

import pytest
from page_walk import overflow, sign_in

pytestmark = pytest.mark.e2e

PHONE = {"width": 360, "height": 800}
DESK = {"width": 1280, "height": 900}


def _page(browser, portal_url, username, viewport=PHONE):
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, portal_url, username)
    return context, page


def _one(database, sql: str) -> str:
    with sqlite3.connect(database) as connection:
        row = connection.execute(sql).fetchone()
    assert row, sql
    return row[0]


# Forms that POST straight to an action: one tap and it is done, no page that asks first.
ONE_CLICK_FORMS = """(suffix) => [...document.querySelectorAll('main form')]
  .filter(f => (f.getAttribute('method') || 'get').toLowerCase() === 'post'
               && (f.getAttribute('action') || '').endsWith(suffix))
  .map(f => [f.getAttribute('action'),
             [...f.querySelectorAll('button, input[type=submit]')]
               .map(b => (b.innerText || b.value).trim()).join(' | '),
             [...f.querySelectorAll('input:not([type=hidden]), textarea, select')].length])"""


def test_client_page_with_a_compelled_disclosure_runs_off_a_360_px_phone(
    browser, portal_url, demo_database
):
    """/clients/{id} of RIV-1000 as the coordinator: the "Compelled disclosures" table
    (Date, To whom, Legal basis, What, Client told) is the only table on the page not in a
    `.scroll` wrapper, so the whole page is 47 px wider than the phone and "Client told"
    runs past the panel's edge. The every-page walk opens one client per kind of page, one
    without a compelled disclosure, and so never saw it."""
    client = _one(
        demo_database,
        "SELECT client.public_id FROM compelled_disclosure"
        " JOIN client ON client.id = compelled_disclosure.client_id"
        " JOIN agency ON agency.id = client.agency_id"
        " WHERE agency.name LIKE 'Riverbend%' ORDER BY compelled_disclosure.id LIMIT 1",
    )
    context, page = _page(browser, portal_url, "coordinator")
    try:
        page.goto(f"{portal_url}/clients/{client}")
        page.get_by_role("heading", name="Compelled disclosures").wait_for()
        rows = page.locator("#compelled table tbody tr").count()
        wider = overflow(page)
    finally:
        context.close()
    assert rows >= 1, "the demo seeds a compelled disclosure for this client"
    assert wider == 0, f"the client page is {wider}px wider than a 360 px phone"


def test_deactivating_a_staff_account_is_one_click_with_no_confirmation(
    browser, portal_url, demo_database
):
    """/admin/staff/{id}: the red "Deactivate" button posts at once. Deactivation ends every
    session and revokes every API token the person issued "for good: a reactivated account
    does not revive them" (services/staff.py), so a partner system's calls start failing and
    Reactivate does not bring them back; the panel's text does not even mention tokens.
    Revoking a single token asks first (/admin/api-tokens/{id}/revoke); this does not."""
    member = _one(demo_database, "SELECT public_id FROM staff_user WHERE username = 'mentor2'")
    context, page = _page(browser, portal_url, "admin", DESK)
    try:
        page.goto(f"{portal_url}/admin/staff/{member}")
        page.get_by_role("heading", name="Access").wait_for()
        one_click = page.evaluate(ONE_CLICK_FORMS, "/deactivate")
        access = page.locator("section", has=page.get_by_role("heading", name="Access"))
        said = access.inner_text()
    finally:
        context.close()
    assert not one_click, (
        f"Deactivate posts on the first click (action, button, other fields): {one_click};"
        f" the panel says only: {said!r}"
    )


def test_cancelling_a_mentor_court_date_is_one_tap_with_no_confirmation(browser, portal_url):
    """/mentor/cases/{id} on the mentor's phone: each upcoming court date or appointment has
    a full-width "Cancel date" button right under it that cancels it on the first tap; there
    is no way to un-cancel a date (the mentor must enter it again), while deleting a log
    entry, cancelling a meeting and revoking a release each ask first."""
    context, page = _page(browser, portal_url, "mentor")
    try:
        page.goto(portal_url + "/mentor")
        cases = page.eval_on_selector_all(
            "main a[href^='/mentor/cases/']", "els => els.map(e => e.getAttribute('href'))"
        )
        one_click = []
        for href in sorted({h for h in cases if h.count("/") == 3}):
            page.goto(portal_url + href)
            one_click += page.evaluate(ONE_CLICK_FORMS, "/cancel")
    finally:
        context.close()
    assert cases, "the demo mentor has a caseload"
    assert not one_click, f"dates cancelled by one tap (action, button, fields): {one_click}"


def test_panels_side_by_side_in_a_grid_do_not_line_up_at_1280_px(
    browser, portal_url, demo_database
):
    """At 1280 px the panels of a `.grid` (admin staff page: Roles | Sessions | Access; a
    task: Status | Assignee) sit on one row, but every panel after the first starts 16 px
    lower: portal.css's `.panel + .panel { margin-top:1rem }`, meant for stacked panels,
    also applies to grid items, so the row's tops and borders are ragged."""
    member = _one(demo_database, "SELECT public_id FROM staff_user WHERE username = 'mentor2'")
    context, page = _page(browser, portal_url, "admin", DESK)
    try:
        page.goto(f"{portal_url}/admin/staff/{member}")
        tops = page.eval_on_selector_all(
            "main .grid > .panel",
            "els => els.map(e => [e.querySelector('h2').innerText,"
            " Math.round(e.getBoundingClientRect().top)])",
        )
    finally:
        context.close()
    assert len(tops) == 3, tops
    assert len({top for _, top in tops}) == 1, f"panel tops on one row differ: {tops}"


UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def test_accounting_of_disclosures_names_each_release_by_its_raw_id(
    browser, portal_url, demo_database
):
    """/audit/accounting?client=RIV-1015, the page the lead prints for the survivor: the
    "Release" column of every ordinary disclosure reads "013ffc1e-58de-4e1c-bc45-
    96731216ce09", wrapped over three lines, where the survivor needs the release they
    signed in words (its date, what it covered). The compelled rows say "none: required by
    law" in words; the others give only a UUID nobody outside the database can use."""
    reference = _one(
        demo_database,
        "SELECT client.reference FROM audit_entry"
        " JOIN client ON client.public_id = audit_entry.client_ref"
        " JOIN agency ON agency.id = client.agency_id"
        " WHERE audit_entry.tag = 'disclosure:section:released'"
        " AND audit_entry.release_ref IS NOT NULL AND agency.name LIKE 'Riverbend%'"
        " ORDER BY audit_entry.id LIMIT 1",
    )
    context, page = _page(browser, portal_url, "lead", DESK)
    try:
        page.goto(f"{portal_url}/audit/accounting?client={reference}")
        page.get_by_role("heading", name="Accounting of disclosures").wait_for()
        cells = page.eval_on_selector_all(
            "article.accounting tbody tr:not(.compelled) td:last-child",
            "els => els.map(e => e.innerText.trim())",
        )
    finally:
        context.close()
    assert cells, f"the demo disclosed {reference} under a release"
    raw = sorted({c for c in cells if re.fullmatch(UUID, c)})
    assert not raw, f"release column shows raw ids: {raw}"


def test_task_history_shows_the_status_code_in_progress(browser, portal_url, demo_database):
    """/tasks/{id} as the coordinator: the History list reads "status: open → in_progress"
    (the stored enum value), while the same page's title and every task list say
    "in progress"."""
    task = _one(
        demo_database,
        "SELECT task.public_id FROM task_change JOIN task ON task.id = task_change.task_id"
        " JOIN agency ON agency.id = task.owner_agency_id"
        " WHERE task_change.field = 'status' AND task_change.new_value = 'in_progress'"
        " AND agency.name LIKE 'Riverbend%' ORDER BY task_change.id LIMIT 1",
    )
    context, page = _page(browser, portal_url, "coordinator")
    try:
        page.goto(f"{portal_url}/tasks/{task}")
        history = page.locator(
            "section", has=page.get_by_role("heading", name="History")
        ).inner_text()
    finally:
        context.close()
    assert "status" in history, history
    assert "in_progress" not in history, f"task history shows a code: {history!r}"


def test_roles_are_shown_as_lowercased_codes_not_their_names(browser, portal_url):
    """The coordinator's dashboard says "signed in as mdt coordinator" and the lead's API
    token form offers "mdt coordinator" (roles' stored values with "_" made " "), where the
    portal's own label is "MDT coordinator" (StaffRole labels, the demo's login list)."""
    shown = {}
    for username, path, selector in (
        ("coordinator", "/", "main .lede"),
        ("lead", "/admin/api-tokens", "#acting_role"),
    ):
        context, page = _page(browser, portal_url, username, DESK)
        try:
            page.goto(portal_url + path)
            shown[path] = page.locator(selector).first.inner_text()
        finally:
            context.close()
    coded = {path: text for path, text in shown.items() if "mdt coordinator" in text}
    assert not coded, f"roles as codes: {coded}"


def test_case_references_break_over_three_lines_in_phone_tables(browser, portal_url):
    """The coordinator's dashboard at 360 px: each case reference in the "Awaiting first
    MDT" and "Your agency's MDT cases" tables wraps at its hyphens into "MDT-" / "2026-" /
    "42B6JS", three lines for one identifier that people read aloud and compare in a
    meeting, while the table already scrolls sideways (it could keep it on one line)."""
    context, page = _page(browser, portal_url, "coordinator")
    try:
        page.goto(portal_url + "/")
        lines = page.eval_on_selector_all(
            "main table tbody td:first-child a",
            "els => els.map(e => [e.innerText.replace(/\\s+/g, ' '), e.getClientRects().length,"
            " Math.round(e.getBoundingClientRect().height),"
            " parseFloat(getComputedStyle(e).lineHeight) || 24])",
        )
    finally:
        context.close()
    assert lines, "the demo coordinator has cases"
    broken = [(text, round(h / line)) for text, _, h, line in lines if h > 1.5 * line]
    assert not broken, f"case references on several lines (reference, lines): {broken[:5]}"


def test_awaiting_first_mdt_hides_which_cases_are_overdue_off_a_phone_screen(browser, portal_url):
    """The coordinator's "Awaiting first MDT" table, on the dashboard and on
    /convening/awaiting, at 360 px: Case, Intake and Convene by fill the screen, and "Days
    left" ("⚠ 42 days overdue", "due today") is the fourth column, past the right edge of
    its scrolling box; the panel says "6 overdue" but not which, unless one thinks to swipe."""
    context, page = _page(browser, portal_url, "coordinator")
    cells = {}
    try:
        for path in ("/", "/convening/awaiting"):
            page.goto(portal_url + path)
            cells[path] = page.evaluate(
                """() => [...document.querySelectorAll('main table')]
                  .filter(t => t.tHead && [...t.tHead.rows[0].cells]
                    .some(c => c.innerText.trim() === 'Days left'))
                  .flatMap(t => {
                    const right = t.closest('.scroll').getBoundingClientRect().right;
                    const at = [...t.tHead.rows[0].cells]
                      .findIndex(c => c.innerText.trim() === 'Days left');
                    return [...t.tBodies[0].rows].map(r => [r.cells[at].innerText.trim(),
                      r.cells[at].getBoundingClientRect().right <= right + 1]);
                  })"""
            )
    finally:
        context.close()
    assert all(cells.values()), f"the demo has cases awaiting their first MDT: {cells}"
    off = {path: [text for text, seen in rows if not seen] for path, rows in cells.items()}
    off = {path: texts for path, texts in off.items() if texts}
    assert not off, f"days left past the screen's edge (page: cells): {off}"


SCOPE_CODE = re.compile(r"[a-z]+:[a-z]+")


def test_api_token_scopes_are_offered_and_listed_as_codes(browser, portal_url):
    """/admin/api-tokens as Harbor County's lead: the New token form's Scopes are three
    checkboxes labelled "cases:read", "sections:write" and "summary:read", and the demo
    token's row reads "cases:read summary:read": a lead choosing what a partner system may do
    with survivors' records is shown the API's codes, not what each lets the system do."""
    context, page = _page(browser, portal_url, "cw.lead", DESK)
    try:
        page.goto(portal_url + "/admin/api-tokens")
        offered = page.eval_on_selector_all(
            "input[name=scopes]", "els => els.map(e => e.closest('label').innerText.trim())"
        )
        listed = page.eval_on_selector_all(
            "main table tbody tr td:nth-child(2)", "els => els.map(e => e.innerText.trim())"
        )
    finally:
        context.close()
    assert len(offered) == 3 and listed, (offered, listed)
    coded = [t for t in offered + listed if all(SCOPE_CODE.fullmatch(w) for w in t.split())]
    assert not coded, f"scopes shown as codes: {coded}"


def test_audit_log_names_the_release_used_by_eight_hex_digits(browser, portal_url):
    """/audit as the lead, the page that answers "who saw what of ours, under which
    release": each released section's Release column reads "2138eba8", the first eight
    characters of the release's id, which the lead cannot open or match to a signed form;
    the accounting of disclosures already says "signed 2026-12-04"."""
    context, page = _page(browser, portal_url, "lead", DESK)
    try:
        # The partner's clinician's reads of our records: released under our releases.
        page.goto(portal_url + "/audit?user=clinician&decision=released")
        cells = page.eval_on_selector_all(
            "table.audit tbody tr td:last-child", "els => els.map(e => e.innerText.trim())"
        )
        links = page.eval_on_selector_all(
            "table.audit tbody tr td:last-child a[href^='/releases/']",
            "els => els.map(e => e.getAttribute('href'))",
        )
    finally:
        context.close()
    named = [c for c in cells if c]
    assert named, "the demo released sections under a release"
    coded = [c for c in named if re.fullmatch(r"[0-9a-f]{8}", c)]
    assert not coded, f"releases named by id: {coded}"
    assert len(links) == len(named), "each release opens from the log"


def test_finalising_a_screening_is_one_click_that_says_nothing_of_what_follows(
    browser, portal_url, demo_database
):
    """/clients/{id}/screenings/{id} of a draft, as the coordinator: a bare "Finalise"
    button between the record and its edit form posts at once. Finalising cannot be taken
    back (the screening never returns to a draft, and locks after seven days); for a clear
    concern it starts the risk-screen clock and, for a minor, flags the coordinator; the page
    says none of it, while starting a meeting or marking a case reviewed ask first."""
    draft = _one(
        demo_database,
        "SELECT '/clients/' || client.public_id || '/screenings/' || screening.public_id"
        " FROM screening JOIN client ON client.id = screening.client_id"
        " JOIN agency ON agency.id = screening.agency_id"
        " WHERE screening.finalised_at IS NULL AND agency.name LIKE 'Riverbend%'"
        " ORDER BY screening.id LIMIT 1",
    )
    context, page = _page(browser, portal_url, "coordinator")
    try:
        page.goto(portal_url + draft)
        one_click = page.evaluate(ONE_CLICK_FORMS, "/finalise")
        asked = ""
        if not one_click:
            page.get_by_role("link", name="Finalise…").click()
            page.get_by_role("heading", name="Finalise this screening?").wait_for()
            asked = page.inner_text("main")
            page.get_by_role("link", name="Not yet").click()
            page.get_by_role("link", name="Finalise…").wait_for()  # still a draft
    finally:
        context.close()
    assert not one_click, f"Finalise posts on the first click: {one_click}"
    assert "cannot go back to a draft" in asked, asked


def test_printable_safety_plan_is_a_dead_end_on_screen(browser, portal_url, demo_database):
    """/clients/{id}/safety-plan/print on the coordinator's phone: the survivor's copy fills
    the page with no way back to the client and no word on how to print it, where the
    printable release says "← Back to the release · Use your browser's Print command"."""
    client = _one(
        demo_database,
        "SELECT client.public_id FROM client JOIN agency ON agency.id = client.agency_id"
        " WHERE agency.name LIKE 'Riverbend%' ORDER BY client.id LIMIT 1",
    )
    context, page = _page(browser, portal_url, "coordinator")
    try:
        page.goto(f"{portal_url}/clients/{client}")
        page.get_by_role("link", name="Survivor's printable safety plan").click()
        page.get_by_role("heading", name="My safety plan").wait_for()
        back = page.locator(f"main a[href='/clients/{client}']")
        on_screen = back.count() == 1 and back.is_visible()
        page.emulate_media(media="print")
        on_paper = back.count() == 1 and back.is_visible()
    finally:
        context.close()
    assert on_screen, "no link back to the client from the printable safety plan"
    assert not on_paper, "the link back is printed on the survivor's copy"


def test_the_audit_log_and_the_accounting_scroll_sideways_on_a_phone(browser, portal_url):
    """/audit and /audit/accounting at 360 px, as the lead: the log's nine columns (entry,
    time, event, who, case, sections, purpose, decision, release) and the accounting's seven
    sit in a box that scrolls sideways, so a row is read a column at a time, swiping back
    and forth; each row is to read as a card of its own on a phone, its columns named."""
    wider = {}
    context, page = _page(browser, portal_url, "lead")
    try:
        for path in ("/audit", "/audit/accounting?client=RIV-1000"):
            page.goto(portal_url + path)
            page.locator("main table").first.wait_for()
            wider[path] = page.eval_on_selector_all(
                "main .scroll:has(table)",
                "els => els.map(e => e.scrollWidth - e.clientWidth)",
            )
            wider[path + " (page)"] = [overflow(page)]
    finally:
        context.close()
    assert wider["/audit"] and wider["/audit/accounting?client=RIV-1000"], wider
    sideways = {path: px for path, px in wider.items() if any(p > 0 for p in px)}
    assert not sideways, f"tables wider than a 360 px phone (px): {sideways}"


def test_the_screening_panel_and_the_task_list_hide_columns_off_a_phone(browser, portal_url):
    """The coordinator's dashboard and /tasks at 360 px: the screening panel's counts ("begun
    2026-12-04 12:36 E…", "Start th…") and the task list's priority, assignee and status
    control (a 662 px table in a 336 px box) sat off the screen, in boxes that scroll
    sideways with nothing to say so. Each row is to read as a card on a phone."""
    wider = {}
    context, page = _page(browser, portal_url, "coordinator")
    try:
        for path, box in (
            ("/", "section[aria-labelledby=screening-rows-h] .scroll"),
            ("/tasks", "#task-table .scroll"),
        ):
            page.goto(portal_url + path)
            page.locator(box).first.wait_for()
            wider[path] = page.eval_on_selector_all(
                box, "els => els.map(e => e.scrollWidth - e.clientWidth)"
            )
    finally:
        context.close()
    sideways = {path: px for path, px in wider.items() if any(p > 0 for p in px)}
    assert not sideways, f"tables wider than a 360 px phone (px): {sideways}"


def test_the_new_meeting_agenda_choices_break_into_columns_on_a_phone(browser, portal_url):
    """/meetings/new at 360 px, as the coordinator: each agenda choice is a flex label, and
    each element in it (the date, the "overdue" note) became a column of its own, so a
    choice read "MDT-2026-" / "4NJ4TS ·" / "convene" / "by" | date | "(42 days overdue)",
    five lines tall. A choice is to read as a sentence, two lines at most."""
    context, page = _page(browser, portal_url, "coordinator")
    try:
        page.goto(portal_url + "/meetings/new")
        lines = page.eval_on_selector_all(
            "fieldset:has(input[name=case_ids]) label.choice",
            """els => els.map(e => e.getBoundingClientRect().height
                                  / parseFloat(getComputedStyle(e).lineHeight))""",
        )
    finally:
        context.close()
    assert lines, "no agenda choice on the page"
    assert max(lines) <= 2.5, f"agenda choices {max(lines):.1f} lines tall at 360 px"


def test_the_start_time_box_is_the_browsers_own_beside_a_styled_date_box(browser, portal_url):
    """/meetings/new: the date box has the portal's border, padding and height; the start
    time box beside it was the browser's own, small and unbordered (also the screening's
    date-and-time box)."""
    context, page = _page(browser, portal_url, "coordinator")
    try:
        page.goto(portal_url + "/meetings/new")
        looks = page.evaluate(
            """() => ['#date', '#time'].map(s => {
                 const c = getComputedStyle(document.querySelector(s));
                 return [c.borderTopColor, c.minHeight, c.paddingTop].join(' ');
               })"""
        )
    finally:
        context.close()
    assert looks[0] == looks[1], f"date box {looks[0]!r}, time box {looks[1]!r}"


def test_a_refused_inline_status_change_shows_nothing_and_looks_saved(browser, portal_url):
    """/tasks as the coordinator, at 1280 px: "blocked" with nothing in "blocked on…", then
    Save. The server refused it (400, "Say what the task is blocked on.") and answered the
    row with that message, but htmx swaps no 4xx answer: the row still read "blocked", no
    message showed, and after a reload the task was as before. Nothing is saved either way,
    so the demo's data is untouched."""
    context, page = _page(browser, portal_url, "coordinator", viewport=DESK)
    try:
        page.goto(f"{portal_url}/tasks")
        row_id = page.evaluate(
            """() => [...document.querySelectorAll('tr form.inline-status')]
                 .find(f => f.querySelector('select').value === 'open').closest('tr').id"""
        )
        row = page.locator(f"#{row_id}")
        row.locator("select").select_option("blocked")
        row.locator("input[name=reason]").fill("")
        with page.expect_response(lambda r: r.url.endswith("/status")) as answer:
            row.get_by_role("button", name="Save").click()
        assert answer.value.status == 400
        message = page.locator(f"#{row_id} .field-error")
        message.wait_for(state="visible")
        shown = message.inner_text()
    finally:
        context.close()
    assert "Say what the task is blocked on" in shown, shown
