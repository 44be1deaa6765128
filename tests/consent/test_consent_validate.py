"""Validation names every missing or contradictory element, in words staff can act on."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from consent import (
    Capacity,
    DateExpiry,
    EventExpiry,
    Release,
    Signer,
    Statements,
    default_statements,
    remaining_capacities,
    validate,
)

from consent_fixtures import AGENCY_KINDS, DISCLOSER, SECTION_KEYS, SYSTEM, build_release

SUSPECTED_EXPLOITER = "Rex Fictional"


def problems_of(release: Release, **kwargs) -> list:
    return validate(release, section_keys=SECTION_KEYS, agency_kinds=AGENCY_KINDS, **kwargs)


def fields_of(release: Release, **kwargs) -> list[str]:
    return [problem.field for problem in problems_of(release, **kwargs)]


def test_complete_release_has_no_problems() -> None:
    assert problems_of(build_release()) == []


def test_every_problem_is_named_at_once() -> None:
    release = build_release(
        recipients=(DISCLOSER, SYSTEM), sections=("contact", "tax_returns"), language=None
    )
    assert fields_of(release) == ["recipients[0]", "sections[1]", "language"]


def test_minor_with_required_second_signer_missing() -> None:
    release = build_release(client_is_minor=True, second_signer_required=True)
    problems = problems_of(release)
    assert [p.field for p in problems] == ["second_signer"]
    assert "second signer" in problems[0].message.lower()


def test_minor_with_parent_as_second_signer_is_valid() -> None:
    release = build_release(
        client_is_minor=True,
        second_signer_required=True,
        second_signer=Signer("Pat Example", Capacity.PARENT),
    )
    assert problems_of(release) == []


def test_minor_where_nobody_signs_as_parent_or_guardian() -> None:
    release = build_release(
        client_is_minor=True,
        second_signer_required=True,
        second_signer=Signer("Robin Example", Capacity.SELF),
    )
    assert fields_of(release) == ["second_signer.capacity"]


def test_minor_may_sign_alone_when_the_form_allows_it() -> None:
    assert problems_of(build_release(client_is_minor=True)) == []


def test_parent_cannot_sign_for_an_adult() -> None:
    release = build_release(signer=Signer("Pat Example", Capacity.PARENT))
    assert fields_of(release) == ["signer.capacity"]


@pytest.mark.parametrize("spelling", ["Rex Fictional", "  rex   FICTIONAL ", "REX\tfictional"])
def test_excluded_person_can_never_sign_as_signer(spelling: str) -> None:
    release = build_release(
        client_is_minor=True,
        second_signer_required=True,
        signer=Signer(spelling, Capacity.PARENT),
        second_signer=Signer("Alex Example", Capacity.SELF),
    )
    problems = problems_of(release, excluded_signers=[SUSPECTED_EXPLOITER])
    assert [p.field for p in problems] == ["signer"]
    assert "can never sign" in problems[0].message
    # The message does not repeat the person's name back.
    assert "rex" not in problems[0].message.lower()


def test_excluded_person_can_never_sign_as_second_signer() -> None:
    release = build_release(
        client_is_minor=True,
        second_signer_required=True,
        second_signer=Signer("Rex  Fictional", Capacity.PARENT),
    )
    problems = problems_of(release, excluded_signers=["rex fictional"])
    assert [p.field for p in problems] == ["second_signer"]
    assert "can never sign" in problems[0].message


@pytest.mark.parametrize("blanket", ["*", "all", "ANY"])
def test_blanket_recipient_is_refused(blanket: str) -> None:
    problems = problems_of(build_release(recipients=(blanket,)))
    assert [p.field for p in problems] == ["recipients[0]"]
    assert "one by one" in problems[0].message


def test_recipient_problems() -> None:
    assert fields_of(build_release(recipients=())) == ["recipients"]
    assert fields_of(build_release(recipients=("agency-unknown",))) == ["recipients[0]"]
    assert fields_of(build_release(recipients=(SYSTEM, SYSTEM))) == ["recipients[1]"]


def test_section_problems() -> None:
    assert fields_of(build_release(sections=())) == ["sections"]
    assert fields_of(build_release(sections=("legal", "legal"))) == ["sections[1]"]


def test_expiry_at_or_before_start() -> None:
    release = build_release()
    at_start = replace(release, expiry=DateExpiry(at=release.effective_at))
    assert fields_of(at_start) == ["expiry.at"]


def test_event_expiry_needs_latest_at() -> None:
    release = build_release(expiry=EventExpiry(event="case closed", latest_at=None))
    problems = problems_of(release)
    assert [p.field for p in problems] == ["expiry.latest_at"]
    assert "never open-ended" in problems[0].message


def test_every_missing_statement_is_named() -> None:
    statements = Statements(
        revocation=default_statements().revocation,
        no_conditioning=None,
        redisclosure="  ",
        compelled_disclosure=None,
    )
    assert fields_of(build_release(statements=statements)) == [
        "statements.no_conditioning",
        "statements.redisclosure",
        "statements.compelled_disclosure",
    ]


def test_missing_record_of_signing() -> None:
    release = build_release(language="", witness=None, signed_at=None)
    assert fields_of(release) == ["language", "witness", "signed_at"]


def test_release_cannot_start_before_it_is_signed() -> None:
    release = build_release(effective_at=datetime(2026, 1, 1, tzinfo=UTC))
    assert fields_of(release) == ["effective_at"]


def test_remaining_capacities_when_the_parent_is_not_safe() -> None:
    assert remaining_capacities(["parent"]) == (
        Capacity.LEGAL_GUARDIAN,
        Capacity.CUSTODIAN_BY_COURT_ORDER,
    )
    assert remaining_capacities([]) == (
        Capacity.PARENT,
        Capacity.LEGAL_GUARDIAN,
        Capacity.CUSTODIAN_BY_COURT_ORDER,
    )
