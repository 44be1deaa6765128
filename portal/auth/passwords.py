"""Argon2id password hashing and the password rules staff see."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from portal.errors import Invalid

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified when the account does not exist, so a wrong name costs the same as a wrong
# password and timing tells nothing.
_DUMMY_HASH = _hasher.hash("not-a-real-password-for-timing-only")

MIN_LENGTH = 12
MAX_LENGTH = 256


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


def check_new_password(password: str, *, field: str = "new_password", username: str = "") -> None:
    if len(password) < MIN_LENGTH:
        raise Invalid(field, f"Use at least {MIN_LENGTH} characters; a passphrase works well.")
    if len(password) > MAX_LENGTH:
        raise Invalid(field, f"Use at most {MAX_LENGTH} characters.")
    if username and username.casefold() in password.casefold():
        raise Invalid(field, "The password must not contain your username.")
    if len(set(password)) < 5:
        raise Invalid(field, "This password is too easy to guess.")
