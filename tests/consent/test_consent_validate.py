"""Validation names every missing or contradictory element, in words staff can act on."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from consent import (
    Capacity,
    DateExpiry,
    EventExpiry,
    MinorRule,
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


GUARDED = MinorRule.MINOR_AND_GUARDIAN
PARENT = Signer("Pat Example", Capacity.PARENT)


def minor(rule: MinorRule | None = GUARDED, **changes) -> Release:
    """A release for a minor under `rule`, signed by the minor (and a parent when guarded)."""
    values = {
        "client_is_minor": True,
        "minor_rule": rule,
        "second_signer_required": rule is GUARDED,
        "second_signer": PARENT if rule is GUARDED else None,
    }
    return build_release(**{**values, **changes})


def test_minor_with_parent_and_own_signature_is_valid() -> None:
    assert problems_of(minor()) == []


def test_minor_without_the_parent_names_what_is_missing() -> None:
    problems = problems_of(minor(second_signer=None))
    assert [p.field for p in problems] == ["second_signer"]
    assert "parent, legal guardian or custodian must sign" in problems[0].message


def test_minor_without_their_own_signature_names_what_is_missing() -> None:
    release = minor(signer=Signer("Jordan Example", Capacity.LEGAL_GUARDIAN))
    problems = problems_of(release)
    assert [p.field for p in problems] == ["signer.capacity"]
    assert "minor's own signature is missing" in problems[0].message


def test_minor_where_nobody_signs_as_parent_or_guardian() -> None:
    release = minor(second_signer=Signer("Robin Example", Capacity.SELF))
    assert fields_of(release) == ["second_signer.capacity", "second_signer.capacity"]


def test_guarded_rule_needs_the_second_signer_required() -> None:
    assert fields_of(minor(second_signer_required=False)) == ["second_signer"]


def test_minor_may_sign_alone_where_the_jurisdiction_allows() -> None:
    assert problems_of(minor(MinorRule.MINOR_ALONE)) == []
    # ...and a parent may still sign alongside, if the minor wants them to.
    assert problems_of(minor(MinorRule.MINOR_ALONE, second_signer=PARENT)) == []


def test_minor_without_a_rule_is_refused() -> None:
    assert fields_of(minor(None)) == ["minor_rule"]


def test_adult_with_a_rule_for_minors_is_refused() -> None:
    assert fields_of(build_release(minor_rule=GUARDED)) == ["minor_rule"]


def test_statement_digest_must_match_the_text_shown() -> None:
    release = build_release(statements_sha256="0" * 64)
    assert fields_of(release) == ["statements_sha256"]


def test_format_1_keeps_its_own_rule_for_minors() -> None:
    # A minor signing alone was the form's call then, and a release signed so still reads.
    assert problems_of(build_release(version=1, client_is_minor=True)) == []
    release = build_release(
        version=1,
        client_is_minor=True,
        second_signer_required=True,
        second_signer=Signer("Robin Example", Capacity.SELF),
    )
    assert fields_of(release) == ["second_signer.capacity"]


def test_parent_cannot_sign_for_an_adult() -> None:
    release = build_release(signer=Signer("Pat Example", Capacity.PARENT))
    assert fields_of(release) == ["signer.capacity"]


@pytest.mark.parametrize("spelling", ["Rex Fictional", "  rex   FICTIONAL ", "REX\tfictional"])
def test_excluded_person_can_never_sign_as_signer(spelling: str) -> None:
    release = minor(
        signer=Signer(spelling, Capacity.PARENT),
        second_signer=Signer("Alex Example", Capacity.SELF),
    )
    problems = problems_of(release, excluded_signers=[SUSPECTED_EXPLOITER])
    assert [p.field for p in problems] == ["signer"]
    assert "can never sign" in problems[0].message
    # The message does not repeat the person's name back.
    assert "rex" not in problems[0].message.lower()


@pytest.mark.parametrize(
    ("recorded", "typed"),
    [
        ("Rex Fictional", "Rex\u200b Fictional"),  # a zero-width space: looks the same
        ("Rex Fictional", "Rex Fic\u00adtional"),  # a soft hyphen: invisible
        ("Rex Fictional", "\uff32ex Fictional"),  # a full-width R
        ("Rex Fictional", "Rex-Fictional"),
        ("Ren\u00e9e Fictional", "Rene\u0301e Fictional"),  # é as one character, or two
    ],
)
def test_excluded_person_is_known_however_the_name_is_typed(recorded: str, typed: str) -> None:
    # The signer types their own name: a restricted person must not get past the check by
    # typing it with an invisible character, another Unicode form of the same letters or
    # punctuation, which the witness reads as the same name on the screen and on paper.
    release = minor(second_signer=Signer(typed, Capacity.PARENT))
    problems = problems_of(release, excluded_signers=[recorded])
    assert [p.field for p in problems] == ["second_signer"]
    assert "can never sign" in problems[0].message


def test_excluded_person_can_never_sign_as_second_signer() -> None:
    release = minor(second_signer=Signer("Rex  Fictional", Capacity.PARENT))
    problems = problems_of(release, excluded_signers=["rex fictional"])
    assert [p.field for p in problems] == ["second_signer"]
    assert "can never sign" in problems[0].message


@pytest.mark.parametrize("capacity", [c for c in Capacity if c is not Capacity.SELF])
def test_refusal_names_the_recorded_reason(capacity: Capacity) -> None:
    release = minor(second_signer=Signer("Rex Fictional", capacity))
    problems = problems_of(release, excluded_signers={"Rex Fictional": "a suspected exploiter"})
    assert [p.field for p in problems] == ["second_signer"]
    assert "recorded on this client as a suspected exploiter" in problems[0].message


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
