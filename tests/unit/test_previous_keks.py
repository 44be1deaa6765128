"""The node's earlier key-encryption keys: accepted for opening only, from PORTAL_KEK_PREVIOUS
or the secrets file."""

import base64
import json
import secrets

import pytest
from nacl.exceptions import CryptoError

from portal.crypto import KeyWrapper
from portal.settings import from_environment, load_secrets


def _key() -> bytes:
    return secrets.token_bytes(32)


def _text(key: bytes) -> str:
    return base64.b64encode(key).decode()


def test_it_wraps_under_the_current_kek_and_opens_under_the_current_or_a_previous_one():
    old, older, new = _key(), _key(), _key()
    wrapper = KeyWrapper(new, previous=(old, older))
    assert wrapper.has_previous
    wrapped = wrapper.wrap(b"agency secret")
    assert KeyWrapper(new).unwrap(wrapped) == b"agency secret"
    with pytest.raises(CryptoError):
        KeyWrapper(old).unwrap(wrapped)
    assert wrapper.opened(wrapped) == (b"agency secret", True)
    assert wrapper.opened(KeyWrapper(older).wrap(b"from before")) == (b"from before", False)
    assert wrapper.unwrap(KeyWrapper(old).wrap(b"from before")) == b"from before"
    with pytest.raises(CryptoError):
        wrapper.unwrap(KeyWrapper(_key()).wrap(b"another node's"))
    assert not KeyWrapper(new, previous=(new,)).has_previous  # the current one is no earlier


def test_previous_keks_come_from_the_environment_and_with_the_files_kek_from_the_file(
    tmp_path,
):
    path = tmp_path / "secrets.json"
    env = {"PORTAL_SECRETS_FILE": str(path)}
    from_environment(env)
    stored = json.loads(path.read_text())
    in_file, in_env = _text(_key()), _text(_key())
    path.write_text(json.dumps({**stored, "previous_key_encryption_keys": [in_file]}))

    loaded = load_secrets({"PORTAL_KEK_PREVIOUS": f" {in_env} ,"}, path)
    assert loaded.previous_kek_bytes() == (base64.b64decode(in_env), base64.b64decode(in_file))
    # With PORTAL_KEK from a secret store, the file's earlier KEKs are not this KEK's.
    from_store = load_secrets({"PORTAL_KEK": in_env}, path)
    assert from_store.previous_kek_bytes() == ()


@pytest.mark.parametrize("value", ["nope", _text(b"short"), f"{_text(b'k' * 32)},x"])
def test_a_bad_previous_kek_in_the_environment_names_the_setting(tmp_path, value):
    env = {"PORTAL_SECRETS_FILE": str(tmp_path / "s.json"), "PORTAL_KEK_PREVIOUS": value}
    with pytest.raises(ValueError, match=r"^PORTAL_KEK_PREVIOUS must be base64 keys of 32 bytes"):
        from_environment(env)
