"""A worker signs with its agency's current key, unwrapped once; a key rotated by another
process (`portal keys rotate`) is replaced at the next signature, and the retired key does
not stay unwrapped in the worker (services/keys.py: "no retired key stays unwrapped").

Before, the memo was keyed by key id and kept every key it had ever unwrapped."""

from portal.federation import transport
from portal.services import keys as agency_keys

import factories as make


def test_a_rotated_signing_key_is_replaced_in_the_memo_at_the_next_signature(db, keys):
    agency = make.agency(db, keys)
    first_id, first = transport.signing_key_of(db, agency, keys=keys)
    assert transport.signing_key_of(db, agency, keys=keys)[1] is first  # unwrapped once
    new = agency_keys.rotate_signing_key(db, agency, keys=keys, actor=None, at=make.AT)
    second_id, second = transport.signing_key_of(db, agency, keys=keys)
    assert second_id == new.key_id != first_id
    assert bytes(second.verify_key) != bytes(first.verify_key)
    assert not keys.holds(first_id) and keys.holds(second_id)  # the memo is the KeyWrapper's
