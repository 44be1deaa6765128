"""Sections, case summary, owner blocks, preview and policy pages over HTTP."""

import re
from dataclasses import replace
from pathlib import Path

import pytest
from disclosure_helpers import SECRET_NOTE, release, world, write
from sqlmodel import func, select
from starlette.testclient import TestClient

from portal.app import create_app
from portal.models import AuditEntry, Role, SectionEntry

import factories as make


def _login(client, db, agency, *roles):
    user = make.user(db, agency, *roles)
    make.login(client, user.username)
    return user


@pytest.fixture
def roomy_client(settings, engine, connection):
    """A budget no machine's pause can exhaust: for tests of what the page shows when it
    decides every owner itself, not of how fast it does (the benchmark measures that; a
    garbage collection or a busy CPU must not turn such a test into a timing test)."""
    app = create_app(replace(settings, summary_budget_ms=60_000), engine=engine, bind=connection)
    with TestClient(app, follow_redirects=False) as browser:
        yield browser


def test_summary_shows_released_and_withheld_side_by_side(roomy_client, db, keys, clock):
    client = roomy_client
    w = world(db, keys)
    write(db, keys, w, "medical", {"follow_up": SECRET_NOTE})
    write(db, keys, w, "mental_health", {"summary": "NOT-RELEASED-NOTE"})
    release(db, keys, w, ["medical", "identity"])
    clock.advance(hours=1)
    _login(client, db, w.partner, Role.CASE_MANAGER)
    page = client.get(f"/cases/{w.case.public_id}/summary")
    assert page.status_code == 200
    # Decided in the page itself: one round trip, and no JavaScript needed.
    assert w.owner.name in page.text and 'hx-trigger="load"' not in page.text
    assert SECRET_NOTE in page.text and "Robin" in page.text
    assert "NOT-RELEASED-NOTE" not in page.text
    assert "no current release covers mental health for your agency" in page.text
    assert page.headers["cache-control"] == "no-store"
    block_url = f"/cases/{w.case.public_id}/summary/owners/{w.owner.public_id}"
    block = client.get(block_url + "?purpose=mdt_case_review")
    assert block.status_code == 200
    assert block.headers["cache-control"] == "no-store"
    assert SECRET_NOTE in block.text and "Robin" in block.text
    assert "NOT-RELEASED-NOTE" not in block.text
    assert "no current release covers mental health for your agency" in block.text
    assert "<html" in block.text.lower()
    fragment = client.get(block_url, headers={"HX-Request": "true"})
    assert "<html" not in fragment.text.lower() and SECRET_NOTE in fragment.text
    assert fragment.headers["vary"] == "HX-Request"


def _decisions_logged(db) -> int:
    return db.exec(
        select(func.count(AuditEntry.id)).where(
            AuditEntry.tag.in_(["disclosure:section:released", "disclosure:section:withheld"])
        )
    ).one()


def test_owners_past_the_page_budget_load_on_their_own(
    db, keys, clock, settings, engine, connection
):
    """With no budget left, every owner is a placeholder that htmx (or a link) loads, and
    nothing is decided, so nothing is logged, until it does."""
    from dataclasses import replace

    from starlette.testclient import TestClient

    from portal.app import create_app

    w = world(db, keys)
    write(db, keys, w, "medical", {"follow_up": SECRET_NOTE})
    release(db, keys, w, ["medical"])
    clock.advance(hours=1)
    user = make.user(db, w.partner, Role.CASE_MANAGER)
    app = create_app(replace(settings, summary_budget_ms=0), engine=engine, bind=connection)
    with TestClient(app, follow_redirects=False) as browser:
        make.login(browser, user.username)
        before = _decisions_logged(db)
        page = browser.get(f"/cases/{w.case.public_id}/summary?purpose=mdt_case_review")
        assert page.status_code == 200
        assert 'hx-trigger="load"' in page.text and SECRET_NOTE not in page.text
        block_url = f"/cases/{w.case.public_id}/summary/owners/{w.owner.public_id}"
        assert block_url + "?purpose=mdt_case_review" in page.text  # reachable without JavaScript
        assert _decisions_logged(db) == before
        fragment = browser.get(block_url, headers={"HX-Request": "true"})
        assert SECRET_NOTE in fragment.text
        assert _decisions_logged(db) > before


def test_summary_of_a_case_the_viewer_is_not_part_of_is_404(client, db, keys):
    w = world(db, keys)
    outsider = make.agency(db, keys)
    _login(client, db, outsider, Role.CASE_MANAGER)
    missing = client.get("/cases/00000000-0000-4000-8000-000000000000/summary")
    hidden = client.get(f"/cases/{w.case.public_id}/summary")
    block = client.get(f"/cases/{w.case.public_id}/summary/owners/{w.owner.public_id}")
    assert missing.status_code == hidden.status_code == block.status_code == 404
    assert (
        db.exec(select(func.count(AuditEntry.id)).where(AuditEntry.tag.like("disclosure:%"))).one()
        == 0
    )


def test_a_bad_purpose_is_a_400_not_a_500(client, db, keys):
    w = world(db, keys)
    _login(client, db, w.partner, Role.CASE_MANAGER)
    response = client.get(f"/cases/{w.case.public_id}/summary?purpose=gossip")
    assert response.status_code == 400


def test_section_form_saves_versions_and_keeps_history(client, db, keys):
    w = world(db, keys)
    _login(client, db, w.owner, Role.CLINICIAN)
    url = f"/clients/{w.client.public_id}/sections/medical"
    token = make.csrf_of_page(client, url)
    for text in ("first follow-up", "second follow-up"):
        saved = client.post(
            url, data={"csrf_token": token, "exam_done": "completed", "follow_up": text}
        )
        assert saved.status_code == 303
    page = client.get(url)
    assert "Version 2" in page.text and "Version 1" in page.text
    assert "first follow-up" in page.text and "second follow-up" in page.text
    rows = db.exec(
        select(SectionEntry)
        .where(SectionEntry.client_id == w.client.id)
        .order_by(SectionEntry.version)
    ).all()
    assert [r.version for r in rows] == [1, 2]
    assert all(b"follow-up" not in r.content_sealed for r in rows)  # sealed at rest
    viewed = db.exec(select(AuditEntry).where(AuditEntry.tag == "record:section:viewed")).all()
    assert viewed and all(e.agency_id == w.owner.id for e in viewed)


def test_bad_section_form_names_fields_keeps_values_and_writes_nothing(client, db, keys):
    w = world(db, keys)
    _login(client, db, w.owner, Role.CLINICIAN)
    url = f"/clients/{w.client.public_id}/sections/medical"
    token = make.csrf_of_page(client, url)
    response = client.post(
        url, data={"csrf_token": token, "exam_done": "telepathy", "follow_up": "x" * 5000}
    )
    assert response.status_code == 400
    assert "Choose medical exam from the list" in response.text
    assert "at most 4000 characters" in response.text
    assert db.exec(select(func.count(SectionEntry.id))).one() == 0


def test_sections_of_another_agencys_client_are_404(client, db, keys):
    w = world(db, keys)
    _login(client, db, w.partner, Role.CASE_MANAGER)
    assert client.get(f"/clients/{w.client.public_id}/sections").status_code == 404
    assert client.get(f"/clients/{w.client.public_id}/sections/medical").status_code == 404


def test_agency_lead_edits_own_policy_and_it_counts_next_request(client, db, keys, clock):
    w = world(db, keys)
    write(db, keys, w, "medical", {"follow_up": SECRET_NOTE})
    release(db, keys, w, ["medical"])
    clock.advance(hours=1)
    partner_client = client
    _login(partner_client, db, w.partner, Role.CASE_MANAGER)
    url = f"/cases/{w.case.public_id}/summary/owners/{w.owner.public_id}"
    assert SECRET_NOTE in partner_client.get(url).text
    lead = make.user(db, w.owner, Role.AGENCY_LEAD)
    from starlette.testclient import TestClient

    with TestClient(client.app, follow_redirects=False) as lead_client:
        make.login(lead_client, lead.username)
        token = make.csrf_of_page(lead_client, "/agency/policy")
        bad = lead_client.post("/agency/policy", data={"csrf_token": token, "kind": "martian"})
        assert bad.status_code == 400 and "Choose a recipient agency kind" in bad.text
        added = lead_client.post(
            "/agency/policy",
            data={
                "csrf_token": token,
                "kind": "*",
                "role": "case_manager",
                "section": "medical",
                "purpose": "*",
                "effect": "deny",
            },
        )
        assert added.status_code == 303
        assert "case_manager" in lead_client.get("/agency/policy").text
    assert SECRET_NOTE not in partner_client.get(url).text
    entry = db.exec(select(AuditEntry).where(AuditEntry.tag == "policy:line:added")).one()
    assert entry.agency_id == w.owner.id


def test_preview_shows_what_the_recipient_would_see(client, db, keys, clock):
    w = world(db, keys)
    write(db, keys, w, "medical", {"follow_up": SECRET_NOTE})
    row = release(db, keys, w, ["medical"])
    clock.advance(hours=1)
    _login(client, db, w.owner, Role.CLINICIAN)
    url = f"/releases/{row.public_id}/preview?agency={w.partner.public_id}&role=case_manager"
    page = client.get(url)
    assert page.status_code == 200 and SECRET_NOTE in page.text
    assert "withheld" in page.text
    assert (
        db.exec(
            select(func.count(AuditEntry.id)).where(AuditEntry.tag == "disclosure:preview:viewed")
        ).one()
        > 0
    )


def test_preview_of_another_agencys_release_is_404(client, db, keys):
    w = world(db, keys)
    row = release(db, keys, w, ["medical"])
    _login(client, db, w.partner, Role.CASE_MANAGER)
    assert client.get(f"/releases/{row.public_id}/preview").status_code == 404


def test_only_the_disclosure_point_reads_section_entries():
    root = Path(__file__).resolve().parents[2] / "portal"
    allowed = {
        "models/section.py",
        "models/__init__.py",
        "services/sections.py",
        "disclosure/sources/base.py",
        "disclosure/sources/sealed.py",
        # The one writer of section versions (the form, the screening, the plan's
        # strategies); it reads only the latest version of the section it adds to.
        "services/section_versions.py",
        # Writes synthetic rows into its own scratch database in bulk; reads none.
        "bench/disclosure.py",
        # `portal keys reseal`: opens each version only to seal it again for its place,
        # under the same key; it shows nothing and returns no content.
        "services/reseal.py",
    }
    readers = {
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if "SectionEntry" in path.read_text()
    }
    assert readers <= allowed, readers - allowed


def test_cases_a_viewer_may_not_see_change_no_list_or_count(roomy_client, db, keys):
    client = roomy_client  # a summary past its budget would differ by its placeholders
    w = world(db, keys)
    _login(client, db, w.partner, Role.CASE_MANAGER)
    pages = ("/", f"/cases/{w.case.public_id}/summary")
    before = [client.get(page).text for page in pages]
    other = make.agency(db, keys)
    hidden = make.mdt_case(db, other, intake=w.case.intake_date)
    hidden_client = make.client_record(db, other, keys, given="Hidden")
    from portal.services import cases

    cases.link_client(db, hidden, other, hidden_client, actor=None, at=make.AT, confirmed=True)
    db.flush()
    assert [client.get(page).text for page in pages] == before
    assert client.get(f"/cases/{hidden.public_id}/summary").status_code == 404


def test_a_lead_cannot_remove_another_agencys_policy_line(client, db, keys):
    w = world(db, keys)
    from portal.services import policy as policy_service

    owner_lead = make.user(db, w.owner, Role.AGENCY_LEAD)
    line = policy_service.add_line(
        db,
        w.owner,
        kind="*",
        role="advocate",
        section="medical",
        purpose="*",
        effect="deny",
        actor=owner_lead,
        at=make.AT,
    )
    db.flush()
    _login(client, db, w.partner, Role.AGENCY_LEAD)
    token = make.csrf_of_page(client, "/agency/policy")
    assert line.public_id not in client.get("/agency/policy").text
    response = client.post(f"/agency/policy/{line.public_id}/remove", data={"csrf_token": token})
    assert response.status_code == 404
    db.refresh(line)
    assert line.retired_at is None


def test_release_page_links_to_its_preview(client, db, keys):
    w = world(db, keys)
    row = release(db, keys, w, ["medical"])
    make.login(client, w.owner_staff.username)
    page = client.get(f"/releases/{row.public_id}")
    assert page.status_code == 200
    assert f'href="/releases/{row.public_id}/preview"' in page.text


def _draft(db, keys, w, section_keys):
    from datetime import timedelta

    import consent
    from portal.services import releases

    row = releases.draft_release(
        db,
        w.client,
        recipients=[w.partner.public_id],
        sections=list(section_keys),
        purpose="mdt_case_review",
        effective_at=make.AT,
        expiry=consent.DateExpiry(make.AT + timedelta(days=90)),
        keys=keys,
        language="en",
        actor=w.owner_staff,
        at=make.AT,
    )
    db.flush()
    return row


def test_a_draft_is_previewed_before_signing_in_words_about_the_recipient(client, db, keys, clock):
    """Issue 17 (7): the survivor sees, before signing, what each named agency would see;
    nothing of the content and nothing audited as a disclosure, since nothing is shared."""
    from portal.services import policy

    w = world(db, keys)
    write(db, keys, w, "medical", {"follow_up": SECRET_NOTE})
    policy.add_line(
        db,
        w.owner,
        kind="*",
        role="case_manager",
        section="mental_health",
        purpose="*",
        effect="deny",
        actor=w.owner_staff,
        at=make.AT,
    )
    row = _draft(db, keys, w, ["medical", "mental_health"])
    _login(client, db, w.owner, Role.CLINICIAN)
    detail = client.get(f"/releases/{row.public_id}")
    assert f'href="/releases/{row.public_id}/preview"' in detail.text  # offered on the draft
    before = _decisions_logged(db)
    page = client.get(f"/releases/{row.public_id}/preview")
    assert page.status_code == 200 and "nothing to preview" not in page.text
    # The release context: the client, the recipient by name, purpose, sections, dates.
    for words in (w.client.reference, w.partner.name, "MDT case review", "Medical", "Until"):
        assert words in page.text, words
    asked = client.get(f"/releases/{row.public_id}/preview?as={w.partner.public_id} case_manager")
    assert asked.status_code == 200
    text = " ".join(asked.text.split())
    assert f"What {w.partner.name} would see" in text
    assert f"{w.partner.name} would see, once the client signs" in text
    assert 'data-section="medical"' in text.split("Stays with your agency")[0]
    assert (
        "the release names it, but your agency's disclosure policy does not release it "
        f"to a case manager at {w.partner.name}" in text
    )
    assert "not in this release" in text  # the owner's other sections
    assert SECRET_NOTE not in text and "for your agency" not in text
    assert _decisions_logged(db) == before


def test_a_preview_gives_no_line_to_a_part_whose_whole_would_be_shared(client, db, keys, clock):
    """A case manager shown the whole care plan is not also told that its goals are
    withheld: the goals are in the plan. A survivor-mentor, kept from the plan, is shown
    the goals alone. Before signing and after, as the disclosure point decides."""
    w = world(db, keys)
    w.partner_mentor = make.user(db, w.partner, Role.SURVIVOR_MENTOR)
    sections = ["care_plan", "care_plan_goals"]
    draft = _draft(db, keys, w, sections)
    _login(client, db, w.owner, Role.CLINICIAN)

    def lines(row, role):
        asked = client.get(f"/releases/{row.public_id}/preview?as={w.partner.public_id} {role}")
        assert asked.status_code == 200
        text = " ".join(asked.text.split())
        shown, kept = text.split("Stays with your agency")
        return (
            [s for s in sections if f'data-section="{s}"' in shown],
            [s for s in sections if f'data-section="{s}"' in kept],
            re.findall(r'data-within="(\w+)"><strong>([^<]*)</strong> — ([^<]*)<', shown),
        )

    within = [("care_plan", "Care plan goals", "part of Care plan, shown above")]
    assert lines(draft, "case_manager") == (sections, [], within)
    # The plan withheld, the goals shared.
    assert lines(draft, "survivor_mentor") == (["care_plan_goals"], ["care_plan"], [])
    write(db, keys, w, "care_plan", {"goals": "SYNTHETIC-GOALS"})
    signed = release(db, keys, w, sections)
    clock.advance(hours=1)
    _login(client, db, w.owner, Role.CLINICIAN)  # the session has lapsed meanwhile
    assert lines(signed, "case_manager") == (sections, [], within)
    assert lines(signed, "survivor_mentor") == (["care_plan_goals"], ["care_plan"], [])


def test_a_preview_shows_a_part_beside_a_whole_the_previewer_may_not_read(client, db, keys, clock):
    """A clinician whose own agency's policy keeps the care plan from them but gives them
    its goals previews a release of both for a partner's case manager, to whom the policy
    gives both: the plan is shown
    as its field names ('not shown to you'), and the goals, which they may read, were left
    out as 'part of Care plan, shown above' though nothing of it was shown. The part is
    left out only beside a whole the previewer reads. Found by this session's review."""
    from portal.services import policy

    w = world(db, keys)
    lines = (
        ("clinician", "care_plan", "deny"),
        ("clinician", "care_plan_goals", "allow"),
        ("case_manager", "care_plan_goals", "allow"),
    )
    for role, section, effect in lines:
        policy.add_line(
            db,
            w.owner,
            kind="*",
            role=role,
            section=section,
            purpose="*",
            effect=effect,
            actor=w.owner_staff,
            at=make.AT,
        )
    write(db, keys, w, "care_plan", {"goals": "SYNTHETIC-GOALS"})
    row = release(db, keys, w, ["care_plan", "care_plan_goals"])
    clock.advance(hours=1)
    _login(client, db, w.owner, Role.CLINICIAN)
    page = client.get(f"/releases/{row.public_id}/preview?as={w.partner.public_id} case_manager")
    text = " ".join(page.text.split())
    shown = text.split("Stays with your agency")[0]
    assert 'data-section="care_plan"' in shown and "not shown to you" in shown
    assert 'data-section="care_plan_goals"' in shown and "SYNTHETIC-GOALS" in shown
    assert "shown above" not in text


def test_a_signed_preview_speaks_of_the_recipient_by_name(client, db, keys, clock):
    w = world(db, keys)
    write(db, keys, w, "medical", {"follow_up": SECRET_NOTE})
    # A health clinic keeps no legal and court section: the release may name it all the same.
    row = release(db, keys, w, ["medical", "legal_court"])
    clock.advance(hours=1)
    _login(client, db, w.owner, Role.CLINICIAN)
    page = client.get(f"/releases/{row.public_id}/preview?as={w.partner.public_id} case_manager")
    text = " ".join(page.text.split())
    assert page.status_code == 200 and SECRET_NOTE in text
    assert f"A case manager at {w.partner.name}" in text and w.client.reference in text
    assert "for your agency" not in text and "not in this release" in text
    assert (
        "<strong>Legal and court</strong> — the release names it, but your agency keeps no "
        "such section" in text
    )


def test_the_preview_offers_only_roles_held_at_the_recipient(client, db, keys, clock):
    """A real user asks "who there would see it": the roles the agency's staff hold; an
    agency with nobody recorded on this node is offered every role, and says so."""
    w = world(db, keys)  # the partner's staff: one case manager
    empty = make.agency(db, keys)  # no staff recorded
    row = release(db, keys, w, ["medical"], recipients=[w.partner.public_id, empty.public_id])
    _login(client, db, w.owner, Role.CLINICIAN)
    page = client.get(f"/releases/{row.public_id}/preview").text
    assert f'value="{w.partner.public_id} case_manager"' in page
    assert f'value="{w.partner.public_id} clinician"' not in page
    assert f'value="{empty.public_id} clinician"' in page
    assert f'value="{empty.public_id} administrator"' not in page
    assert "no staff recorded on this node is offered every role" in page
    refused = client.get(f"/releases/{row.public_id}/preview?as={w.partner.public_id} clinician")
    assert refused.status_code == 400
    assert f"Choose one of the roles held at {w.partner.name}" in refused.text
    assert 'id="error-summary"' in refused.text


def test_a_discarded_draft_has_no_preview(client, db, keys):
    from portal.services import releases

    w = world(db, keys)
    row = _draft(db, keys, w, ["medical"])
    releases.discard(db, row, actor=w.owner_staff, at=make.AT)
    db.flush()
    _login(client, db, w.owner, Role.CLINICIAN)
    assert client.get(f"/releases/{row.public_id}/preview").status_code == 404


def test_the_policy_page_reads_in_words_with_deny_marked_and_the_form_below(client, db, keys):
    """Issue 17 (10): titles and labels, "any" for "*", each deny line marked in words and
    by its row, and the add form after the policy it adds to."""
    from form_markup import Page

    from portal.services import policy

    w = world(db, keys)
    lead = make.user(db, w.owner, Role.AGENCY_LEAD)
    policy.add_line(
        db,
        w.owner,
        kind="system",
        role="case_manager",
        section="mental_health",
        purpose="*",
        effect="deny",
        actor=lead,
        at=make.AT,
    )
    db.flush()
    make.login(client, lead.username)
    response = client.get("/agency/policy")
    page = Page(response.text)
    cells = [" ".join(c.text.split()) for c in page.all("td")]
    assert cells and not [c for c in cells if "*" in c or "_" in c], cells
    own = [r for r in page.all("tr") if "deny" in r.classes and "Remove" in r.text]
    (row,) = own
    words = [" ".join(c.text.split()) for c in row.children if c.tag == "td"]
    assert words[:4] == ["system-based", "case manager", "Mental health", "any purpose"]
    assert words[4].startswith("Deny") and "always wins" in words[4]
    # The default policy's own deny lines are marked too (administrator, substance use...).
    defaults = page.by_id["default-h"].parent
    marked = [r for r in defaults.descendants() if r.tag == "tr" and "deny" in r.classes]
    assert marked and all("Deny" in r.text for r in marked)
    assert any("administrator" in r.text and "any section" in r.text for r in marked)
    # The form that changes the policy comes after the policy it changes.
    text = response.text
    assert text.index('id="default-h"') < text.index('id="add-form"')
    kinds = {o.get("value"): o.text for o in page.by_id["kind"].children if o.tag == "option"}
    assert kinds["*"] == "any kind of agency" and kinds["system"] == "system-based"


def test_the_summary_opens_with_counts_per_owner_and_groups_withheld_after_released(
    client, db, keys, clock
):
    """Issue 17: an overview first (released and withheld per owner, each a jump link to
    its block); inside a block the withheld placeholders come after the released ones."""
    from form_markup import Page

    w = world(db, keys)
    write(db, keys, w, "medical", {"follow_up": SECRET_NOTE})
    # Catalogue order puts identity first and medical later: released ones are not first.
    release(db, keys, w, ["medical", "mental_health"])
    clock.advance(hours=1)
    _login(client, db, w.partner, Role.CASE_MANAGER)
    text = client.get(f"/cases/{w.case.public_id}/summary").text
    page = Page(text)
    assert text.index('id="by-owner-h"') < text.index(f'id="owner-{w.owner.public_id}"')
    block = page.by_id[f"owner-{w.owner.public_id}"]
    articles = [e for e in block.descendants() if e.tag == "article"]
    kinds = ["released" if "released" in a.classes else "withheld" for a in articles]
    assert kinds.count("released") == 2 and kinds.count("withheld") >= 1
    assert kinds == sorted(kinds), kinds  # every released one before every withheld one
    # The overview row: a link to the block and the same counts.
    (row,) = [
        r
        for r in page.all("tr")
        if any(a.get("href") == f"#owner-{w.owner.public_id}" for a in r.descendants())
    ]
    counts = [" ".join(c.text.split()) for c in row.children if c.tag == "td"]
    assert counts == ["2", str(kinds.count("withheld"))]
    assert f"2 released · {kinds.count('withheld')} withheld" in " ".join(block.text.split())


def test_an_owner_loaded_on_its_own_fills_in_its_overview_counts(
    settings, engine, connection, db, keys, clock
):
    from dataclasses import replace

    from starlette.testclient import TestClient

    from portal.app import create_app

    w = world(db, keys)
    release(db, keys, w, ["medical"])
    clock.advance(hours=1)
    user = make.user(db, w.partner, Role.CASE_MANAGER)
    app = create_app(replace(settings, summary_budget_ms=0), engine=engine, bind=connection)
    with TestClient(app, follow_redirects=False) as browser:
        make.login(browser, user.username)
        page = browser.get(f"/cases/{w.case.public_id}/summary").text
        counter = f'<span id="owner-count-{w.owner.public_id}">not counted yet'
        assert counter in page
        url = f"/cases/{w.case.public_id}/summary/owners/{w.owner.public_id}"
        fragment = browser.get(url, headers={"HX-Request": "true"}).text
        assert f'id="owner-count-{w.owner.public_id}" hx-swap-oob="true">1 released' in fragment
        # Without JavaScript the owner's own page carries no out-of-band piece.
        assert "hx-swap-oob" not in browser.get(url).text


def test_a_real_summary_view_is_one_row_in_each_agencys_log(client, db, keys, clock):
    from form_markup import Page
    from starlette.testclient import TestClient

    w = world(db, keys)
    write(db, keys, w, "medical", {"follow_up": SECRET_NOTE})
    release(db, keys, w, ["medical", "identity"])
    clock.advance(hours=1)
    _login(client, db, w.partner, Role.CASE_MANAGER)
    assert client.get(f"/cases/{w.case.public_id}/summary").status_code == 200
    decided = db.exec(
        select(func.count(AuditEntry.id)).where(
            AuditEntry.agency_id == w.owner.id,
            AuditEntry.tag.in_(["disclosure:section:released", "disclosure:section:withheld"]),
        )
    ).one()
    assert decided > 2
    for agency, words, count in (
        (w.owner, "page view: sections decided", decided),
        # The partner's own sections, decided for its own staff, and what came back.
        (w.partner, "page view: sections decided and sections received", None),
    ):
        lead = make.user(db, agency, Role.AGENCY_LEAD)
        with TestClient(client.app, follow_redirects=False) as browser:
            make.login(browser, lead.username)
            table = browser.get("/audit").text.split('class="audit"')[1]
        assert table.count('<tr class="request">') == 1, agency.name
        assert words in table
        if count:
            assert f"<summary>{count} sections</summary>" in table
            assert "2 released" in table
        cells = [" ".join(c.text.split()) for c in Page('<table class="audit"' + table).all("td")]
        assert not [c for c in cells if "_" in c or "disclosure:" in c], cells
