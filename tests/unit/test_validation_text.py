"""What `validation.text` keeps of a name or a note typed into a box: no character that
changes how the text shows without showing itself (direction controls, zero-width and
other format characters, control characters), the joiners real spellings need, and one
stored form (NFC) for a name typed two ways. The refusals and the stored form failed
before ("Ana" with a right-to-left override or a zero-width space in it was accepted);
the joiners kept between letters and the message for a value of nothing visible passed
before too, and say the check takes no more."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.errors import Invalid
from portal.services import validation

HIDDEN = "contains an invisible character; retype it without copying and pasting."


def refusal(value: str, *, multiline: bool = False) -> str:
    with pytest.raises(Invalid) as caught:
        validation.text(value, "name", max_length=120, **({"multiline": True} if multiline else {}))
    return caught.value.errors["name"]


@pytest.mark.parametrize(
    "value",
    [
        "Ana\u202eloS",  # a right-to-left override: shows as "AnaSol"
        "Ana\u202aSosa",
        "Ana\u2066Sosa\u2069",  # an isolate
        "Ana\u200eSosa",  # left-to-right mark
        "Ana\u200f",  # right-to-left mark, at the end
        "Ana\u061cSosa",  # Arabic letter mark
        "A\u200bna",  # a zero-width space: a second "Ana" that looks the same
        "Ana\u2060Sosa",  # word joiner
        "\ufeffAna",  # byte-order mark
        "An\u00ada",  # soft hyphen
        "Ana\u180eSosa",  # Mongolian vowel separator
        "Ana\U000e0041\U000e007f",  # tag characters
        "Ana\U000e0000",  # the unassigned start of the tag block
        "Ana\u2064",  # invisible plus, another format character
        "Ana\x00",
        "Ana\x1bSosa",
        "Ana\x1fSosa",  # a unit separator, which Python splits on like a space
        "Ana\x85Sosa",  # next line (C1)
        "Ana\x9bSosa",
        "Ana\x0bSosa",
        "Ana\x7f",
    ],
)
@pytest.mark.parametrize("multiline", [False, True])
def test_a_value_with_an_invisible_character_is_refused_naming_the_field(value, multiline):
    assert refusal(value, multiline=multiline) == f"Name {HIDDEN}"


def test_the_message_names_the_fields_label():
    with pytest.raises(Invalid) as caught:
        validation.text("A\u200bna", "display_name", max_length=120, label="Name of the lead")
    assert caught.value.errors == {"display_name": f"Name of the lead {HIDDEN}"}


@pytest.mark.parametrize(
    "value",
    [
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian: ZWNJ between letters
        "\u0915\u094d\u200d\u0937",  # Hindi: KA, VIRAMA (a mark), ZWJ, SSA
        "\u0915\u094d\u200c\u0937",  # the same with ZWNJ
    ],
)
def test_a_joiner_between_two_letters_is_part_of_the_spelling(value):
    assert validation.text(value, "name", max_length=120) == value


@pytest.mark.parametrize(
    "value",
    [
        "\u200c\u0645\u06cc",  # leading
        "\u0645\u06cc\u200c",  # trailing
        "\u0645\u06cc\u200c\u200c\u0645",  # doubled
        "\u0645\u06cc \u200c\u0645",  # beside a space
        "Ana1\u200d2",  # between digits
        "\U0001f469\u200d\U0001f467",  # between emoji
    ],
)
def test_a_joiner_anywhere_else_is_refused(value):
    assert refusal(value) == (
        "Name has a zero-width joiner or non-joiner that is not between two letters; "
        "retype it without it."
    )


def test_a_name_typed_two_ways_is_stored_once():
    composed = validation.text("Jos\u00e9 Sosa", "name", max_length=120)
    decomposed = validation.text("Jose\u0301 Sosa", "name", max_length=120)
    assert composed == decomposed == "Jos\u00e9 Sosa"


def test_the_length_is_counted_on_what_is_stored():
    # U+0958 has no composed form: NFC stores it as two characters.
    with pytest.raises(Invalid):
        validation.text("\u0958" * 61, "name", max_length=120)


def test_a_one_line_value_reads_tabs_and_line_breaks_as_spaces():
    assert validation.text(" Ana\tBo\r\n Sosa ", "name", max_length=120) == "Ana Bo Sosa"


def test_a_note_keeps_its_line_breaks_and_tabs():
    note = "Called the clinic.\r\n\tNext: court on Monday.\n"
    assert validation.text(note, "notes", max_length=200, multiline=True) == note.strip()


def test_a_value_of_only_invisible_characters_still_says_so():
    assert "has no visible characters" in refusal("\u200b\u2060")


# Characters a person may type or paste, with the ones that hide weighted in.
_TRICKY = st.sampled_from(
    "\t\n\r\x00\x0b\x1f\x85\x9b\u00ad\u061c\u180e\u200b\u200c\u200d\u200e\u200f"
    "\u202a\u202e\u2060\u2066\u2069\ufeff\U000e0001\U000e0041 \u0301\u094d"
)
_LETTERS = st.sampled_from("aAé\u0645\u06cc\u0915\u0937\u3042")
_VALUES = st.text(st.one_of(_TRICKY, _LETTERS, st.characters(exclude_categories=["Cs"])))


def _refused(value: str, *, multiline: bool) -> list[str]:
    """Every character `value` should not hold, read apart from the code under test."""

    def in_word(i: int) -> bool:
        return 0 <= i < len(value) and unicodedata.category(value[i])[0] in "LM"

    def refused(i: int, ch: str) -> bool:
        if ch in "\u200c\u200d":
            return not (in_word(i - 1) and in_word(i + 1))
        if unicodedata.category(ch) == "Cc":
            return not (multiline and ch in "\t\n\r")
        return unicodedata.category(ch) == "Cf" or 0xE0000 <= ord(ch) <= 0xE007F

    return [ch for i, ch in enumerate(value) if refused(i, ch)]


@given(_VALUES, st.booleans())
def test_no_accepted_value_holds_a_refused_character(value, multiline):
    try:
        kept = validation.text(value, "name", max_length=500, required=False, multiline=multiline)
    except Invalid:
        return
    assert _refused(kept, multiline=multiline) == []
    assert unicodedata.is_normalized("NFC", kept)
    # What was stored is accepted as it is, so a form saved again does not change it.
    assert validation.text(kept, "name", max_length=500, required=False, multiline=multiline) == (
        kept
    )
