"""A record that does not open for its place (moved onto this survivor's row from another's,
or damaged), met by a partner on the case summary: that one section is withheld with a
placeholder that says so, and logged as withheld in the owner's log; every other section
and owner is shown as before. It used to refuse the whole page (409), so one moved row hid
every agency's safety information from the whole MDT. Synthetic data only."""

from __future__ import annotations

import html
import logging
from dataclasses import replace
from datetime import UTC, timedelta

import pytest
from disclosure_helpers import SECRET_NOTE, release, world, write
from sqlalchemy import update
from sqlmodel import select
from starlette.testclient import TestClient

from portal.app import create_app
from portal.disclosure import Released, Withheld
from portal.disclosure.point import disclose_sections
from portal.models import AuditEntry, Role, SectionEntry

import factories as make

OTHER_NOTE = "SYNTHETIC-OTHER-SURVIVORS-NOTE"
UNREADABLE = (
    "the agency's record of medical cannot be opened: it was moved or damaged, so nothing "
    "of it is shown; ask the agency to restore it"
)


@pytest.fixture
def moved(db, keys):
    """A partner released medical and care plan; the owner's medical version replaced, by
    a database writer with no key, with another survivor's."""
    w = world(db, keys)
    entry = write(db, keys, w, "medical", {"follow_up": SECRET_NOTE})
    write(db, keys, w, "care_plan", {"goals": "SYNTHETIC-CARE-GOALS"})
    other = make.client_record(db, w.owner, keys, given="Sky", family="Sample")
    mine, w.client = w.client, other
    theirs = write(db, keys, w, "medical", {"follow_up": OTHER_NOTE})
    w.client = mine
    release(db, keys, w, ["medical", "care_plan", "identity"])
    db.execute(
        update(SectionEntry)
        .where(SectionEntry.id == entry.id)
        .values(content_sealed=db.get(SectionEntry, theirs.id).content_sealed)
    )
    db.flush()
    db.expire_all()
    return w


def test_the_moved_section_alone_is_withheld_and_logged_so(db, keys, moved, caplog):
    w = moved
    caplog.set_level(logging.ERROR, logger="portal")
    medical, care_plan = disclose_sections(
        db,
        w.viewer(Role.CASE_MANAGER),
        w.case,
        w.owner,
        ["medical", "care_plan"],
        make.AT + timedelta(hours=1),
        tz=UTC,
        keys=keys,
    )
    assert isinstance(medical, Withheld) and medical.gate == "unreadable"
    assert isinstance(care_plan, Released)
    assert OTHER_NOTE not in repr(medical)
    logged = db.exec(
        select(AuditEntry).where(
            AuditEntry.agency_id == w.owner.id, AuditEntry.section_key == "medical"
        )
    ).one()
    assert (logged.decision, logged.gate) == ("withheld", "unreadable")
    assert UNREADABLE in logged.detail
    assert any("does not open for its place" in r.getMessage() for r in caplog.records)


def test_the_summary_page_shows_everything_else(
    db, keys, clock, moved, settings, engine, connection
):
    w = moved
    clock.advance(hours=1)
    user = make.user(db, w.partner, Role.CASE_MANAGER)
    app = create_app(replace(settings, summary_budget_ms=60_000), engine=engine, bind=connection)
    with TestClient(app, follow_redirects=False) as browser:
        make.login(browser, user.username)
        page = browser.get(f"/cases/{w.case.public_id}/summary?purpose=mdt_case_review")
    assert page.status_code == 200, page.status_code
    assert UNREADABLE in html.unescape(page.text)
    assert "SYNTHETIC-CARE-GOALS" in page.text and "Robin" in page.text
    assert OTHER_NOTE not in page.text and SECRET_NOTE not in page.text
