"""The node's earlier key-encryption keys: accepted for opening only, from PORTAL_KEK_PREVIOUS
or the secrets file; and the secrets file rotated and forgotten whole."""

import base64
import json
import secrets
import stat

import pytest
from nacl.exceptions import CryptoError

from portal.crypto import KeyWrapper
from portal.services import kek
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


def test_the_file_is_rotated_and_forgotten_whole_with_mode_0600(tmp_path):
    path = tmp_path / "secrets.json"
    from_environment({"PORTAL_SECRETS_FILE": str(path)})
    first = json.loads(path.read_text())
    second, third = _text(_key()), _text(_key())

    assert kek.rotate_secrets_file(path, new=second) == 1
    assert kek.rotate_secrets_file(path, new=third) == 2
    rotated = json.loads(path.read_text())
    assert rotated == {
        "session_key": first["session_key"],
        "key_encryption_key": third,
        "previous_key_encryption_keys": [second, first["key_encryption_key"]],
    }
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secrets.json"]  # no file left beside it

    with pytest.raises(kek.SecretsFileChanged):  # checked against another KEK: kept
        kek.forget_previous_keks(path, checked=second)
    assert json.loads(path.read_text()) == rotated
    assert kek.forget_previous_keks(path, checked=third) == 2
    assert json.loads(path.read_text()) == {
        "session_key": first["session_key"],
        "key_encryption_key": third,
    }
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_rotation_that_cannot_write_leaves_the_file_as_it_was(tmp_path, monkeypatch):
    path = tmp_path / "secrets.json"
    from_environment({"PORTAL_SECRETS_FILE": str(path)})
    before = path.read_bytes()

    def refused(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.fsync", refused)
    with pytest.raises(OSError):
        kek.rotate_secrets_file(path, new=_text(_key()))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["secrets.json"]


def test_rotating_and_forgetting_keks_keep_sealed_bound_only_in_the_file(tmp_path):
    path = tmp_path / "secrets.json"
    from_environment({"PORTAL_SECRETS_FILE": str(path)})
    path.write_text(json.dumps({**json.loads(path.read_text()), "sealed_bound_only": True}))
    new = _text(_key())
    kek.rotate_secrets_file(path, new=new)
    assert from_environment({"PORTAL_SECRETS_FILE": str(path)}).sealed_bound_only
    kek.forget_previous_keks(path, checked=new)
    assert from_environment({"PORTAL_SECRETS_FILE": str(path)}).sealed_bound_only
