"""Findings of an adversarial review of the pages that show an agency's own records: a
needs assessment's lines that tell what another section holds (substance use, mental
health) are its own staff's to read, or to change, only where that section's policy lets
them (DESIGN.md: the owner's policy applies to its own staff too). Each finding's test
failed before its fix. Synthetic data only."""

from __future__ import annotations

import json

from disclosure_helpers import FOOD_NOTE, MH_NOTE, SU_NOTE, assessed, release, world, write
from sqlmodel import select

from portal.models import AuditEntry, Discipline, Role
from portal.sections import catalogue
from portal.services import section_versions

import factories as make


def _signed_in(client, db, keys, clock, role: Role):
    """An assessed client, and one of its agency's own staff in `role` signed in an hour
    later; returns the world and the needs assessment's page address."""
    w = assessed(db, keys)
    person = make.user(db, w.owner, role)
    db.flush()
    clock.advance(hours=1)
    make.login(client, person.username)
    return w, f"/clients/{w.client.public_id}/sections/needs_assessment"


def test_own_needs_assessment_page_withholds_lines_the_role_may_not_read(client, db, keys, clock):
    """Before: the owner's own section page showed a needs assessment's substance use and
    mental health lines to an own advocate, whom the policy keeps from those sections (the
    disclosure point withholds the same lines from the same role on the case summary)."""
    _w, url = _signed_in(client, db, keys, clock, Role.ADVOCATE)
    page = client.get(url)
    assert page.status_code == 200
    assert FOOD_NOTE in page.text  # the section itself is the advocate's to read
    assert SU_NOTE not in page.text, "substance use line shown to an advocate"
    assert MH_NOTE not in page.text, "mental health line shown to an advocate"


def test_release_preview_withholds_guarded_lines_from_the_previewing_role(client, db, keys, clock):
    """Before: the release preview checked the previewing staff member's own policy for
    the needs assessment as a whole, but shows its substance use and mental health lines
    whenever the recipient would receive them, to an own advocate the policy keeps from
    both sections."""
    w, _url = _signed_in(client, db, keys, clock, Role.ADVOCATE)
    row = release(db, keys, w, ["needs_assessment", "substance_use", "mental_health"])
    page = client.get(
        f"/releases/{row.public_id}/preview?agency={w.partner.public_id}&role=case_manager"
    )
    assert page.status_code == 200
    assert FOOD_NOTE in page.text  # the advocate may read the needs assessment itself
    assert SU_NOTE not in page.text, "substance use line shown to the previewing advocate"
    assert MH_NOTE not in page.text, "mental health line shown to the previewing advocate"


def _line_index(option: str) -> tuple[str, int]:
    (needs,) = [f for f in catalogue().get("needs_assessment").fields if f.type == "domains"]
    return needs.key, needs.options.index(option)


def _own_entries(db, agency, section_key: str) -> list[AuditEntry]:
    db.expire_all()
    return list(
        db.exec(
            select(AuditEntry).where(
                AuditEntry.agency_id == agency.id, AuditEntry.section_key == section_key
            )
        ).all()
    )


def test_an_advocates_form_keeps_the_lines_it_may_not_read(client, db, keys, clock):
    """The form offers no input for a line the writer may not read (its placeholder in its
    place), its read is audited under that line's own section, and a save through the form
    keeps what a colleague allowed to recorded there (a save replaces every line)."""
    w, url = _signed_in(client, db, keys, clock, Role.ADVOCATE)
    page = client.get(url)
    field, su = _line_index("substance use")
    assert f'name="{field}__{su}__note"' not in page.text
    assert "A save keeps what is recorded here" in page.text
    read = _own_entries(db, w.owner, "substance_use")
    assert [(e.decision, json.loads(e.detail)["part_of"]) for e in read] == [
        ("withheld", "needs_assessment")
    ]
    _field, food = _line_index("food")
    saved = client.post(
        url,
        data={
            "csrf_token": make.csrf_from(page.text),
            "based_on": "1",
            f"{field}__{food}__status": "met",
            f"{field}__{food}__note": "SYNTHETIC-FOOD-UPDATED",
        },
    )
    assert saved.status_code == 303, saved.text
    db.expire_all()
    latest = section_versions.latest(db, w.client, "needs_assessment")
    content = section_versions.open_content(db, latest, keys=keys)
    assert latest.version == 2
    assert content["domains"]["food"]["note"] == "SYNTHETIC-FOOD-UPDATED"
    assert content["domains"]["substance use"]["note"] == SU_NOTE
    assert content["domains"]["mental health"]["note"] == MH_NOTE


def test_a_hand_made_save_of_a_line_the_writer_may_not_read_is_refused_and_audited(
    client, db, keys, clock
):
    """A form does not offer the line: only a request made by hand sends it."""
    w, url = _signed_in(client, db, keys, clock, Role.ADVOCATE)
    field, su = _line_index("substance use")
    answer = client.post(
        url,
        data={
            "csrf_token": make.csrf_of_page(client, url),
            "based_on": "1",
            f"{field}__{su}__note": "SYNTHETIC-OVERWRITE",
        },
    )
    assert answer.status_code == 403
    assert "Not saved: substance use" in answer.text
    assert SU_NOTE not in answer.text and "SYNTHETIC-OVERWRITE" not in answer.text
    db.expire_all()
    assert section_versions.latest(db, w.client, "needs_assessment").version == 1
    refused = [
        e for e in _own_entries(db, w.owner, "substance_use") if "attempt" in json.loads(e.detail)
    ]
    assert [(e.decision, json.loads(e.detail)["attempt"]) for e in refused] == [
        ("withheld", "save")
    ]


def test_a_role_that_may_read_the_lines_sees_and_changes_them(client, db, keys, clock):
    """The guard takes nothing from a role the policy lets read substance use and mental
    health (the agency's case manager): its page shows the lines, its reads are audited as
    reads of those sections too."""
    w, url = _signed_in(client, db, keys, clock, Role.CASE_MANAGER)
    page = client.get(url)
    assert SU_NOTE in page.text and MH_NOTE in page.text
    field, su = _line_index("substance use")
    assert f'name="{field}__{su}__note"' in page.text
    read = _own_entries(db, w.owner, "substance_use")
    assert [e.decision for e in read] == ["released"]


def test_an_immigration_proceeding_is_its_own_staffs_only_where_immigration_is(
    client, db, keys, clock
):
    """The legal section's "immigration" proceeding tells what the immigration section
    holds: an agency's own MDT coordinator (legal and court yes, immigration no) sees no box
    for it, ticked or not, but its placeholder; a save keeps the tick; one sent by hand is
    refused and audited."""
    w = world(db, keys, owner_discipline=Discipline.ADVOCACY)
    write(
        db,
        keys,
        w,
        "legal_court",
        {"proceedings": ["protective order", "immigration"], "notes": "SYNTHETIC-LEGAL"},
    )
    coordinator = make.user(db, w.owner, Role.MDT_COORDINATOR)
    db.flush()
    clock.advance(hours=1)
    make.login(client, coordinator.username)
    url = f"/clients/{w.client.public_id}/sections/legal_court"
    page = client.get(url)
    assert page.status_code == 200 and "SYNTHETIC-LEGAL" in page.text
    assert 'value="immigration"' not in page.text
    assert page.text.count("immigration</strong>: <span") == 1  # the history's placeholder
    assert "immigration: <span" in page.text  # the form's
    assert 'value="protective order" checked' in page.text
    token = make.csrf_from(page.text)
    saved = client.post(
        url,
        data={
            "csrf_token": token,
            "based_on": "1",
            "proceedings": ["protective order", "family court"],
            "notes": "SYNTHETIC-LEGAL",
        },
    )
    assert saved.status_code == 303, saved.text
    db.expire_all()
    latest = section_versions.latest(db, w.client, "legal_court")
    assert section_versions.open_content(db, latest, keys=keys)["proceedings"] == [
        "protective order",
        "immigration",
        "family court",
    ]
    refused = client.post(
        url,
        data={
            "csrf_token": token,
            "based_on": "2",
            "proceedings": ["immigration"],
            "notes": "SYNTHETIC-LEGAL",
        },
    )
    assert refused.status_code == 403
    assert "Not saved: immigration" in refused.text
    db.expire_all()
    assert section_versions.latest(db, w.client, "legal_court").version == 2
    attempts = [
        e for e in _own_entries(db, w.owner, "immigration") if "attempt" in json.loads(e.detail)
    ]
    assert [e.decision for e in attempts] == ["withheld"]


PART2 = "42 CFR part 2 prohibits unauthorized use or disclosure of these records."


def test_substance_use_reaches_a_partner_with_the_part_2_notice(client, db, keys, clock):
    """42 CFR 2.32: a disclosure of substance use records made with the patient's consent
    carries the notice that they may not be disclosed again. Before, the case summary, its
    owner fragment, the printed packet's decisions and the API showed the records bare. Now
    each shows the owner's notice beside the substance use section, and nowhere else (a
    needs assessment's released substance use line carries it too: `test_redisclosure_notice`)."""
    from test_api import bearer, issue

    w = world(db, keys, owner_discipline=Discipline.HEALTH)
    write(db, keys, w, "substance_use", {"services": "engaged", "summary": "SYNTHETIC-SU"})
    write(db, keys, w, "medical", {"exam_done": "completed"})
    release(db, keys, w, ["substance_use", "medical", "identity"])
    clock.advance(hours=1)
    make.login(client, w.partner_staff.username)
    pages = {
        "summary": client.get(f"/cases/{w.case.public_id}/summary?purpose=mdt_case_review"),
        "owner block": client.get(
            f"/cases/{w.case.public_id}/summary/owners/{w.owner.public_id}?purpose=mdt_case_review",
            headers={"HX-Request": "true"},
        ),
    }
    for name, page in pages.items():
        assert page.status_code == 200, name
        owner_part = page.text.split(f'id="owner-h-{w.owner.public_id}"')[1]
        sections = {part.split('"', 1)[0]: part for part in owner_part.split('data-section="')[1:]}
        assert "SYNTHETIC-SU" in sections["substance_use"], name
        assert PART2 in sections["substance_use"], name
        assert PART2 not in sections["identity"] + sections["medical"], name

    issued, _ = issue(db, w.partner, "summary:read")
    answer = client.get(
        f"/api/v1/cases/{w.case.public_id}/summary?purpose=mdt_case_review",
        headers=bearer(issued),
    )
    assert answer.status_code == 200, answer.text
    (owner,) = [o for o in answer.json()["owners"] if o["agency"] == w.owner.public_id]
    notices = {s["section"]: s["notices"] for s in owner["sections"]}
    assert notices["substance_use"] == [PART2]
    assert notices["identity"] == notices["medical"] == []
