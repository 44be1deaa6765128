"""`portal bench federation`'s signature figure measures what it says (issue 16)."""

from portal.bench import federation


def test_signature_rates_are_measured_on_a_signature_that_verifies():
    ours, bare = federation.verify_rate(seconds=0.05)
    assert ours > 0 and bare > 0
    assert bare > ours  # the whole acceptance does the bare verify and more
