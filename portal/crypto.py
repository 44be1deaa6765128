"""Key material: wrapping under the node's KEK, agency SecretBox sealing, blind indexes."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import time
import unicodedata
from collections.abc import Callable, Iterable

import nacl.bindings
import nacl.exceptions
import nacl.secret
import nacl.signing
import nacl.utils
from nacl.encoding import RawEncoder
from nacl.hash import blake2b

import consent

# How long a process uses the data keys it holds unwrapped before it asks the database
# whether they still exist. Another process may erase one (`portal keys erase-data`): from
# then on nothing may open under it, not even a backup's copy of a record put back into the
# database, so every process forgets it within this time (`portal.keyring.confirm_held`).
CONFIRM_HELD_SECONDS = 10.0


class KeyWrapper:
    """Encrypts agency secrets under the node's key-encryption key (KEK); opens them under
    it or, while a rotation is under way, under one of the node's previous KEKs."""

    def __init__(
        self,
        kek: bytes,
        *,
        previous: tuple[bytes, ...] = (),
        bound_only: bool = False,
        confirm_seconds: float = CONFIRM_HELD_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._box = nacl.secret.SecretBox(kek)
        # PORTAL_KEK_PREVIOUS, or the secrets file's previous_key_encryption_keys: what was
        # wrapped before `portal keys rotate-kek` opens until `portal keys rewrap` re-wraps it.
        self._previous = tuple(nacl.secret.SecretBox(key) for key in previous if key != kek)
        # PORTAL_SEALED_BOUND_ONLY: survivor records open only sealed for their place; one
        # sealed the old way (the key alone) is refused, since a database writer could
        # have copied it from any row. Kept outside the database, which a writer could set.
        self.bound_only = bound_only
        # key id -> (agency id, unwrapped data key): kept for the life of the key, which
        # another process may end: asked of the database every `confirm_seconds`
        self._known: dict[str, tuple[int, bytes]] = {}
        self._confirm_seconds, self._clock = confirm_seconds, clock
        self._confirmed_at = clock()
        # agency public id -> (key id, its current signing key, unwrapped): federation signs
        # every request and answer with it
        self._signing: dict[str, tuple[str, nacl.signing.SigningKey]] = {}

    def wrap(self, secret: bytes) -> bytes:
        return bytes(self._box.encrypt(secret))

    def unwrap(self, wrapped: bytes) -> bytes:
        """The secret, opened under the current KEK or a previous one; CryptoError under
        none of them."""
        return self.opened(wrapped)[0]

    def opened(self, wrapped: bytes) -> tuple[bytes, bool]:
        """(the secret, whether the current KEK opened it): False means it opens only under
        a previous KEK, and is to be re-wrapped before that KEK is forgotten."""
        try:
            return self._box.decrypt(wrapped), True
        except nacl.exceptions.CryptoError:
            for box in self._previous:
                try:
                    return box.decrypt(wrapped), False
                except nacl.exceptions.CryptoError:
                    continue
            raise

    @property
    def has_previous(self) -> bool:
        return bool(self._previous)

    def unwrap_key(self, key_id: str, agency_id: int, wrapped: bytes) -> bytes:
        """An agency's data key unwrapped, remembered by its id (which names one secret: it
        is derived from it) until `forget()`: a page of sealed sections then costs no
        unwrapping, and no key read once its keys are known."""
        known = self._known.get(key_id)
        if known is None or known[0] != agency_id:
            known = self._known[key_id] = (agency_id, self.unwrap(wrapped))
        return known[1]

    def known_key(self, key_id: str) -> tuple[int, bytes] | None:
        return self._known.get(key_id)

    def due_for_confirmation(self) -> list[str]:
        """The data keys held, when it is time to ask whether they still exist; else none."""
        if self._clock() - self._confirmed_at < self._confirm_seconds:
            return []
        return sorted(self._known.copy())  # request threads add keys meanwhile

    def confirmed(self, asked: Iterable[str], existing: Iterable[str]) -> None:
        """The database answered for `asked`: forget those it no longer holds (erased)."""
        self._confirmed_at = self._clock()
        if erased := set(asked) - set(existing):
            self.forget(erased)

    def signing_key(self, agency_ref: str, key_id: str, wrapped: bytes) -> nacl.signing.SigningKey:
        """An agency's current signing key unwrapped, remembered until its key id changes
        (another process rotated it: replaced at the next signature) or `forget()`."""
        held = self._signing.get(agency_ref)
        if held is None or held[0] != key_id:
            held = self._signing[agency_ref] = (
                key_id,
                nacl.signing.SigningKey(self.unwrap(wrapped)),
            )
        return held[1]

    def open_sealed(self, secret: bytes, sealed: bytes, *, bound_to: str | tuple[str, ...]) -> dict:
        """A survivor's sealed record opened for its place, as this node opens them: with
        `bound_only`, never one sealed the old way (SealedUnbound)."""
        return open_json(secret, sealed, bound_to=bound_to, old_form=not self.bound_only)

    def holds(self, key_id: str) -> bool:
        """Whether the key is held unwrapped in this process."""
        return key_id in self._known or any(k == key_id for k, _ in self._signing.values())

    def forget(self, key_ids) -> None:
        """Drop the remembered keys (a rotation retires them): data keys, and signing keys
        no longer to sign with."""
        key_ids = set(key_ids)
        for agency_ref, (key_id, _key) in list(self._signing.items()):
            if key_id in key_ids:
                self._signing.pop(agency_ref, None)
        for key_id in key_ids:
            self._known.pop(key_id, None)
        _seal_box.cache_clear()
        _bound_key.cache_clear()


def new_data_secret() -> bytes:
    return nacl.utils.random(nacl.secret.SecretBox.KEY_SIZE)


def new_signing_key() -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey.generate()


def signing_key_id(agency_public_id: str, verify_key: nacl.signing.VerifyKey) -> str:
    """The consent library's key id, so a partner recomputes it from the roster."""
    return consent.key_id_for(agency_public_id, verify_key)


def data_key_id(agency_public_id: str, secret: bytes) -> str:
    digest = hashlib.sha256(b"key-id:" + secret).hexdigest()[:16]
    return f"{agency_public_id[:8]}-data-{digest}"


def _subkey(secret: bytes, purpose: bytes) -> bytes:
    # Separate keys for sealing and for the blind index, so one never weakens the other.
    return blake2b(
        b"", key=secret, person=purpose.ljust(16, b"\0"), digest_size=32, encoder=RawEncoder
    )


@functools.lru_cache(maxsize=64)
def _seal_box(secret: bytes) -> nacl.secret.SecretBox:
    # A page opens a few dozen records under a handful of keys: the sealing subkey is
    # derived once per key, not once per record. Emptied when a key is forgotten.
    return nacl.secret.SecretBox(_subkey(secret, b"mdt-seal"))


# A record sealed for one place: XChaCha20-Poly1305 with the place (agency, client,
# section, version) as associated data. Sealed with the key alone, one survivor's safety
# plan moved onto another's row by someone who can write the database (no key needed)
# opened as the other's, and was disclosed under the other's release.
_BOUND = b"B1"
_NONCE = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES


class SealedElsewhere(Exception):
    """A sealed record that does not open for the place it was read from: moved, or
    tampered with. Never shown: staff get a page saying a record cannot be opened, the
    operator a log line (portal.web.errors.sealed_elsewhere)."""


class SealedUnbound(SealedElsewhere):
    """A record sealed the old way (the key alone), read on a node that opens only records
    sealed for their place (PORTAL_SEALED_BOUND_ONLY): it may have been copied there from
    another survivor's row or a backup. `portal keys reseal` seals it for its place."""


@functools.lru_cache(maxsize=64)
def _bound_key(secret: bytes) -> bytes:
    return _subkey(secret, b"mdt-bound")


def seal_json(secret: bytes, value: dict, *, bound_to: str | None = None) -> bytes:
    """`value` sealed under the data key; with `bound_to`, for that place only."""
    data = json.dumps(value, sort_keys=True).encode()
    if bound_to is None:
        return bytes(_seal_box(secret).encrypt(data))
    nonce = nacl.utils.random(_NONCE)
    return (
        _BOUND
        + nonce
        + nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(
            data, bound_to.encode(), nonce, _bound_key(secret)
        )
    )


def open_json(
    secret: bytes,
    sealed: bytes,
    *,
    bound_to: str | tuple[str, ...] | None = None,
    old_form: bool = True,
) -> dict:
    """A sealed record opened. With `bound_to` (a place, or the places it may have been
    sealed for), one sealed for another place is refused (SealedElsewhere); one sealed
    before records were bound opens as before, unless `old_form` is False (SealedUnbound:
    KeyWrapper.open_sealed, as the node's PORTAL_SEALED_BOUND_ONLY says)."""
    sealed = bytes(sealed)
    places = (bound_to,) if isinstance(bound_to, str) else (bound_to or ())
    if not old_form and not places:
        raise ValueError("a record opened in the bound form only needs its place")
    if places and sealed[:2] == _BOUND:
        for place in places:
            try:
                return json.loads(
                    nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(
                        sealed[2 + _NONCE :],
                        place.encode(),
                        sealed[2 : 2 + _NONCE],
                        _bound_key(secret),
                    )
                )
            except nacl.exceptions.CryptoError:
                continue  # not this place's; or, 1 in 65,536, an older record starting so
    try:
        value = json.loads(_seal_box(secret).decrypt(sealed))
    except nacl.exceptions.CryptoError:
        if places and sealed[:2] == _BOUND:
            raise SealedElsewhere(
                f"a record sealed for another place was read as {places[0]}"
            ) from None
        raise
    if not old_form:
        raise SealedUnbound(
            f"a record sealed the old way (not for its place) was read as {places[0]}, and "
            "PORTAL_SEALED_BOUND_ONLY is set: run `portal keys reseal`"
        )
    return value


def open_unbound(secret: bytes, sealed: bytes) -> dict | None:
    """A record sealed the old way (the key alone) opened; None for any other: one sealed
    for a place, or one this key does not open. Told apart by the authenticator, not by
    the `B1` prefix, which an old record begins with once in 65,536."""
    try:
        return json.loads(_seal_box(secret).decrypt(bytes(sealed)))
    except nacl.exceptions.CryptoError:
        return None


def opens_bound(secret: bytes, sealed: bytes, places: tuple[str, ...]) -> bool:
    """Whether the record is sealed for one of `places` (not the old form: see above)."""
    sealed = bytes(sealed)
    if sealed[:2] != _BOUND:
        return False
    for place in places:
        try:
            nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(
                sealed[2 + _NONCE :], place.encode(), sealed[2 : 2 + _NONCE], _bound_key(secret)
            )
        except nacl.exceptions.CryptoError:
            continue
        return True
    return False


def normalise_name(text: str) -> str:
    """Casefolded, accents and punctuation removed, whitespace collapsed."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    letters = "".join(
        ch if ch.isalnum() else " " for ch in decomposed if not unicodedata.combining(ch)
    )
    return " ".join(letters.split())


def search_digest(secret: bytes, given_name: str, family_name: str, birth_date: str) -> str:
    message = "|".join(
        (normalise_name(family_name), normalise_name(given_name), birth_date.strip())
    ).encode()
    return hmac.new(_subkey(secret, b"mdt-index"), message, hashlib.sha256).hexdigest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
