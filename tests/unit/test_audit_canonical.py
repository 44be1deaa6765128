"""The audit chain's fast canonical form is RFC 8785, byte for byte."""

from hypothesis import given
from hypothesis import strategies as st

import consent
from portal.audit.chain import HASHED_FIELDS, canonical_content

values = st.one_of(
    st.none(),
    st.text(),  # every code point but lone surrogates, control characters included
    st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1),
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
