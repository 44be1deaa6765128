"""Form errors as their users read them: in plain English, and tied to the field they are
about. Each test failed before its fix (found by a review)."""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum

import pytest

from portal.errors import Invalid
from portal.models import Discipline, Role
from portal.services import mentor_assignments, mentor_program, validation

import factories as make


@pytest.fixture
def mentored_case(db, keys):
    coordinating = make.agency(db, keys)
    program = make.agency(db, keys, discipline=Discipline.SURVIVOR_MENTOR)
    coordinator = make.user(db, coordinating, Role.MDT_COORDINATOR, username="s11.coord")
    mentor = make.user(db, program, Role.SURVIVOR_MENTOR, username="s11.mentor")
    case = make.mdt_case(db, coordinating, intake=date(2026, 10, 30))
    mentor_assignments.assign_mentor(
        db,
        case,
        mentor_public_id=mentor.public_id,
        reason=None,
        viewer=mentor_program.Assigner(
            coordinator, coordinating, frozenset({Role.MDT_COORDINATOR.value})
        ),
        at=make.AT,
    )
    db.flush()
    return case


def test_accompaniment_outcome_error_reads_as_english(client, db, mentored_case):
    """The mentor's log form, sent without an outcome, said "Choose a outcome from the
    list." ("a" before every label)."""
    make.login(client, "s11.mentor")
    log = f"/mentor/cases/{mentored_case.public_id}/log"
    token = make.csrf_of_page(client, log)
    response = client.post(
        log,
        data={
            "csrf_token": token,
            "occurred_on": "2026-11-02",
            "kind": "medical",
            "duration_minutes": "45",
            "place_type": "hospital_clinic",
            "outcome": "",
        },
    )
    assert response.status_code == 400
    error = re.search(r'id="outcome-error"[^>]*>([^<]*)<', response.text)
    assert error, response.text
    assert "a outcome" not in error.group(1)
    assert "Choose an outcome" in error.group(1)


def test_new_case_referral_source_error_is_tied_to_its_field(client, db, keys):
    """/cases/new sent without a referral source showed "Choose a referral source from the
    list." under the select, but the select carried no aria-invalid or aria-describedby
    (the intake date beside it does), so a screen reader on the select never heard it."""
    agency = make.agency(db, keys)
    make.user(db, agency, Role.MDT_COORDINATOR, username="s11.opener")
    make.login(client, "s11.opener")
    token = make.csrf_of_page(client, "/cases/new")
    response = client.post(
        "/cases", data={"csrf_token": token, "intake_date": "2026-11-01", "referral_source": ""}
    )
    assert response.status_code == 400
    assert 'id="referral_source-error"' in response.text
    select = re.search(r'<select id="referral_source"[^>]*>', response.text).group(0)
    assert 'aria-invalid="true"' in select, select
    assert 'aria-describedby="referral_source-error"' in select, select


@pytest.mark.parametrize(
    ("label", "article"),
    [
        ("Outcome", "an"),
        ("Effect", "an"),
        ("Kind of place", "a"),
        ("Unit", "a"),
        ("User", "a"),
        ("Ending", "an"),
        ("Reason for screening", "a"),
    ],
)
def test_a_choice_is_asked_for_with_the_article_its_label_takes(label, article):
    class Synthetic(StrEnum):
        ONE = "one"

    with pytest.raises(Invalid) as refused:
        validation.choice("none", "field", Synthetic, label=label)
    assert refused.value.errors == {"field": f"Choose {article} {label.lower()} from the list."}
