"""`portal bench federation`'s signature figure measures what it says (issue 16)."""

from portal.bench import federation


def test_signature_rates_are_measured_on_a_signature_that_verifies():
    # Each timed acceptance verifies (a refusal would raise out of the loop). Which rate is
    # the higher is not asserted: a test run on a loaded machine decides that, not the code.
    ours, bare = federation.verify_rate(seconds=0.05)
    assert ours > 0 and bare > 0
