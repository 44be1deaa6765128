"""A restricted person cannot sign by typing their name with look-alike letters of another
alphabet (found by a review; failed before). Synthetic data only."""

from __future__ import annotations

import pytest

from consent import Capacity, MinorRule, Signer, validate

from consent_fixtures import AGENCY_KINDS, SECTION_KEYS, build_release

RECORDED = "Rex Fictional"  # a suspected exploiter recorded on the client's file


@pytest.mark.parametrize(
    "typed",
    [
        "R\u0435x Fictional",  # CYRILLIC SMALL LETTER IE for the e
        "Rex Fict\u0456onal",  # CYRILLIC SMALL LETTER BYELORUSSIAN-UKRAINIAN I for the i
        "\u0420ex Fictional",  # CYRILLIC CAPITAL LETTER ER for the R
    ],
)
def test_a_restricted_person_typing_look_alike_letters_cannot_sign(typed: str) -> None:
    """normalise_name folds case, compatibility forms, accents and invisible characters so
    that a restricted person cannot sign by typing their name differently. Letters of
    another alphabet that look the same (Cyrillic е, і) passed the check: the release
    validated, with the suspected exploiter as the minor's parent. A word that mixes two
    alphabets is now refused, whoever is recorded."""
    release = build_release(
        client_is_minor=True,
        minor_rule=MinorRule.MINOR_AND_GUARDIAN,
        second_signer_required=True,
        second_signer=Signer(typed, Capacity.PARENT),
    )
    for excluded in ([], [RECORDED]):
        problems = validate(
            release,
            section_keys=SECTION_KEYS,
            agency_kinds=AGENCY_KINDS,
            excluded_signers=excluded,
        )
        assert [p.field for p in problems] == ["second_signer"], (
            f"{typed!r} signed although {RECORDED!r} may never sign for this client"
        )
        # Refused for mixing two alphabets, or (recorded) as the person it reads as.
        message = problems[0].message
        assert "two alphabets" in message or (excluded and "two alphabets" not in message)


@pytest.mark.parametrize(
    "name", ["Анна Иванова", "Jean-Luc O'Fictional", "Ζωή Παράδειγμα", "Rex Fictional"]
)
def test_a_name_in_one_alphabet_a_word_signs(name: str) -> None:
    release = build_release(
        client_is_minor=True,
        minor_rule=MinorRule.MINOR_AND_GUARDIAN,
        second_signer_required=True,
        second_signer=Signer(name, Capacity.PARENT),
    )
    assert validate(release, section_keys=SECTION_KEYS, agency_kinds=AGENCY_KINDS) == []
