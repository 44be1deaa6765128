"""The audit chain's fast canonical form is RFC 8785, byte for byte."""

import hashlib
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

import consent
from portal.audit.chain import _spelled
from portal.audit.hashing import FORMAT_1_FIELDS, HASHED_FIELDS, canonical_content, entry_hash
from portal.audit.times import format_at
from portal.disclosure.gates import Gate
from portal.models import ENTRY_FORMAT

values = st.one_of(
    st.none(),
    st.text(),  # every code point but lone surrogates, control characters included
    st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1),
    st.sampled_from(list(Gate)),  # a str enum, as a withheld decision's gate is written
)


@given(st.fixed_dictionaries({name: values for name in HASHED_FIELDS}))
def test_an_entrys_content_has_the_rfc8785_bytes(content):
    assert canonical_content(content) == consent.canonical_bytes(content)


@given(
    st.dictionaries(st.sampled_from(HASHED_FIELDS), st.one_of(values, st.floats(), st.booleans()))
)
def test_any_other_shape_falls_back_to_the_general_encoder(content):
    try:
        expected = consent.canonical_bytes(content)
    except consent.CanonicalFormError:
        return
    assert canonical_content(content) == expected


entry_values_ = st.fixed_dictionaries(
    {
        **{name: values for name in HASHED_FIELDS if name not in ("at", "format")},
        "at": st.datetimes(timezones=st.just(UTC)),
        "format": st.just(ENTRY_FORMAT),
    }
)
format_1_values = st.fixed_dictionaries(
    {
        **{name: values for name in FORMAT_1_FIELDS if name != "at"},
        "at": st.datetimes(timezones=st.just(UTC)),
    }
)


@given(format_1_values, st.sampled_from([None, 1]))
def test_an_entry_of_format_1_hashes_the_fields_it_had(row, stated):
    """Entries written before format 2 keep their hashes: the format-2 columns (empty, or
    the public ids filled in beside the old ids by the migration) are not in them."""
    content = {**row, "at": format_at(row["at"])}
    expected = hashlib.sha256(consent.canonical_bytes(content)).hexdigest()
    filled = {**row, "format": stated, "actor_user_ref": "a-public-id", "client_ref": "c"}
    assert entry_hash(filled) == expected


@given(entry_values_, st.one_of(st.none(), st.integers(min_value=1, max_value=2**40)))
def test_an_entrys_hash_is_sha256_of_its_rfc8785_content(row, seq):
    content = {**row, "at": format_at(row["at"])}
    if seq is not None:
        content["seq"] = seq
    expected = hashlib.sha256(consent.canonical_bytes(content)).hexdigest()
    assert entry_hash(row, seq=seq) == expected


@given(entry_values_, st.sampled_from(HASHED_FIELDS), st.one_of(st.floats(), st.booleans()))
def test_an_entry_with_a_value_of_another_kind_hashes_by_the_general_encoder(row, name, value):
    if name in ("at", "format"):
        return
    row = {**row, name: value}
    try:
        expected = consent.canonical_bytes({**row, "at": format_at(row["at"])})
    except consent.CanonicalFormError:
        return
    assert entry_hash(row) == hashlib.sha256(expected).hexdigest()


@given(entry_values_, st.sampled_from(list(Gate)))
def test_a_gate_hashes_as_the_plain_string_the_log_reads_back(row, gate):
    """A withheld decision's gate is written as a str enum and read back (by `verify`) as
    the plain string: both hash alike, through the fast canonical form."""
    assert entry_hash({**row, "gate": gate}) == entry_hash({**row, "gate": str(gate.value)})
    assert _spelled({**row, "gate": gate}) is not None  # the fast form, not the general one


@given(
    st.datetimes(
        min_value=datetime(1, 1, 2),  # a day's margin: the offset must not leave the calendar
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5))]),
    )
)
def test_an_instant_is_spelled_as_it_always_was(moment):
    # Every stored hash covers this text: the fast spelling must be strftime's, any year.
    expected = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert format_at(moment) == expected
