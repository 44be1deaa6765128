"""A placeholder's sentence in the reader's language: composed from the catalogue's
messages (the section, roles, kind of agency and purpose said in the language too), while
the English (staff pages, API answers, the audit entry's reason) stays byte for byte."""

from __future__ import annotations

import pytest

from portal.placeholders import Gate, Withholding, sentence
from portal.sections import catalogue


def _why(gate, section="substance_use", *, own=False, status=None, purpose="mdt_case_review"):
    return Withholding(
        gate,
        catalogue().get(section),
        roles=frozenset({"investigator", "case_manager"}),
        agency_kind="system",
        own_agency=own,
        purpose=purpose,
        release_status=status,
    )


ENGLISH = [
    (
        _why(Gate.POLICY),
        "the disclosure policy does not release substance use to a case manager or "
        "investigator at a system-based agency for MDT case review",
    ),
    (
        _why(Gate.POLICY, own=True, purpose="referral"),
        "the disclosure policy does not release substance use to your agency's own staff in "
        "the role case manager or investigator for referral",
    ),
    (
        _why(Gate.NO_CONSENT, purpose="care_coordination"),
        "no current release covers substance use for your agency for care coordination",
    ),
    (
        _why(Gate.CONSENT_EXPIRED, status="the release expired on 2027-01-31"),
        "the release covering substance use for your agency: the release expired on 2027-01-31",
    ),
    (
        _why(Gate.NOT_LINKED, "mdt_decisions"),
        "MDT decisions are shared only with agencies confirmed on this case, and only once a "
        "survivor is linked to it",
    ),
    (
        _why(Gate.NOT_COORDINATOR, "mdt_referral"),
        "MDT referral of a minor is told only to the MDT's coordinating agency",
    ),
]


@pytest.mark.parametrize("why,said", ENGLISH)
def test_english_is_said_as_before_with_or_without_a_page_language(why, said):
    assert sentence(why) == said
    assert sentence(why, "en") == said


SPANISH = [
    (
        _why(Gate.POLICY),
        "la política de la agencia no comparte «Consumo de sustancias» con alguien con el rol "
        "de gestor/a de casos o investigador/a en una agencia del sistema (gobierno) para la "
        "revisión del caso por el equipo (MDT)",
    ),
    (
        _why(Gate.NO_CONSENT, purpose="care_coordination"),
        "ningún permiso vigente permite compartir «Consumo de sustancias» con esta agencia "
        "para la coordinación de la atención",
    ),
    (
        # The library's English statement of the release's state is not shown: the gate's.
        _why(Gate.CONSENT_EXPIRED, status="the release expired on 2027-01-31"),
        "el permiso que cubre «Consumo de sustancias» para esta agencia terminó",
    ),
    (
        _why(Gate.NOT_LINKED, "mdt_decisions"),
        "«Decisiones del equipo (MDT)» solo se comparten con las agencias confirmadas en este "
        "caso, y solo cuando hay una persona sobreviviente vinculada a él",
    ),
]


@pytest.mark.parametrize("why,said", SPANISH)
def test_a_spanish_page_composes_the_sentence_from_the_catalogue(why, said):
    assert sentence(why, "es") == said


@pytest.mark.parametrize("gate", list(Gate))
@pytest.mark.parametrize("section", ["substance_use", "mdt_tasks"])
def test_no_gate_leaves_english_words_in_a_spanish_sentence(gate, section):
    said = sentence(_why(gate, section, status="the release expired on 2027-01-31"), "es")
    for english in (" the ", "release", "agency", "policy", " for ", "withheld", "case manager"):
        assert english not in said, (gate, said)
