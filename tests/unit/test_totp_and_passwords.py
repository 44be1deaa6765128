"""Password rules, Argon2id, TOTP steps and recovery codes."""

from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from portal.auth import passwords, totp
from portal.errors import Invalid


def test_hash_is_argon2id_and_verifies():
    stored = passwords.hash_password("a long enough passphrase")
    assert stored.startswith("$argon2id$")
    assert passwords.verify_password(stored, "a long enough passphrase")
    assert not passwords.verify_password(stored, "a wrong passphrase!!")


def test_no_account_never_verifies():
    assert not passwords.verify_password(None, "not-a-real-password-for-timing-only")


@pytest.mark.parametrize("candidate", ["short", "x" * 300, "aaaaaaaaaaaaaaaa", "robin-example-123"])
def test_weak_passwords_are_refused(candidate):
    with pytest.raises(Invalid):
        passwords.check_new_password(candidate, username="robin-example")


def test_totp_code_accepted_once_within_window():
    secret = totp.new_secret()
    at = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
    code = pyotp.TOTP(secret).at(at)
    step = totp.matching_step(secret, code, at=at, last_step=None)
    assert step is not None
    assert totp.matching_step(secret, code, at=at, last_step=step) is None  # replay refused
    assert totp.matching_step(secret, code, at=at + timedelta(seconds=30), last_step=None)
    assert totp.matching_step(secret, code, at=at + timedelta(minutes=5), last_step=None) is None
    assert totp.matching_step(secret, "12ab56", at=at, last_step=None) is None


def test_recovery_codes_are_distinct_and_hash_ignores_formatting():
    codes = totp.new_recovery_codes()
    assert len(set(codes)) == 10
    assert totp.recovery_code_hash(codes[0]) == totp.recovery_code_hash(
        codes[0].upper().replace("-", " ")
    )


def test_qr_is_inline_svg_without_script():
    svg = totp.qr_svg(totp.provisioning_uri(totp.new_secret(), "someone"))
    assert svg.startswith("<svg") and "<script" not in svg
