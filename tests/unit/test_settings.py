"""Secrets come from the environment or a 0600 file created on first run."""

import base64
import json
import stat

import pytest

from portal.settings import Settings, from_environment


def test_secrets_file_is_created_with_0600_and_reused(tmp_path):
    path = tmp_path / "secrets.json"
    env = {"PORTAL_SECRETS_FILE": str(path)}
    first = from_environment(env)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    second = from_environment(env)
    assert str(first.secrets.session_key) == str(second.secrets.session_key)
    assert len(first.secrets.kek_bytes()) == 32


def test_environment_overrides_the_file(tmp_path):
    kek = base64.b64encode(b"k" * 32).decode()
    settings = from_environment(
        {
            "PORTAL_SESSION_KEY": "s" * 40,
            "PORTAL_KEK": kek,
            "PORTAL_SECRETS_FILE": str(tmp_path / "none.json"),
        }
    )
    assert settings.secrets.kek_bytes() == b"k" * 32
    assert not (tmp_path / "none.json").exists()


def test_a_world_readable_secrets_file_is_refused(tmp_path):
    path = tmp_path / "secrets.json"
    from_environment({"PORTAL_SECRETS_FILE": str(path)})
    path.chmod(0o644)
    with pytest.raises(PermissionError, match="chmod 600"):
        from_environment({"PORTAL_SECRETS_FILE": str(path)})


def test_secrets_are_not_shown_in_repr(tmp_path):
    settings = from_environment({"PORTAL_SECRETS_FILE": str(tmp_path / "s.json")})
    assert str(settings.secrets.session_key) not in repr(settings)


def test_unknown_time_zone_fails_at_start_naming_the_setting(tmp_path):
    # Before: "'No time zone found with key Mars/Olympus_Mons'", naming no setting.
    with pytest.raises(ValueError, match=r"PORTAL_MDT_TIMEZONE is 'Mars/Olympus_Mons'.*IANA"):
        from_environment(
            {
                "PORTAL_SECRETS_FILE": str(tmp_path / "s.json"),
                "PORTAL_MDT_TIMEZONE": "Mars/Olympus_Mons",
            }
        )


def test_a_folder_of_time_zones_is_refused_naming_the_setting(tmp_path):
    # Before: IsADirectoryError ('[Errno 21] Is a directory: .../tzdata/zoneinfo/America'),
    # which `portal` said as unexpected, to be reported.
    with pytest.raises(ValueError, match=r"PORTAL_MDT_TIMEZONE is 'America', not a time zone"):
        from_environment(
            {"PORTAL_SECRETS_FILE": str(tmp_path / "s.json"), "PORTAL_MDT_TIMEZONE": "America"}
        )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORTAL_MDT_TIMEZONE", "Mars/Olympus_Mons"),
        ("PORTAL_SESSION_IDLE_MINUTES", "0"),
        ("PORTAL_MINOR_SIGNERS", "anyone"),
        ("PORTAL_KEK", "not-a-key"),  # the session key from the file, the KEK from here
        ("PORTAL_SEALED_BOUND_ONLY", "perhaps"),
    ],
)
def test_a_refused_setting_makes_no_secrets_file(tmp_path, name, value):
    # Before: the secrets file was made first, then the setting refused: `portal demo` and
    # `portal init` left a new secrets file behind with their refusal.
    with pytest.raises(ValueError, match=name):
        from_environment({"PORTAL_SECRETS_FILE": str(tmp_path / "s.json"), name: value})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORTAL_DATABASE_LOCK_WAIT_MS", "-1"),
        ("PORTAL_SESSION_IDLE_MINUTES", "0"),
        ("PORTAL_SESSION_ABSOLUTE_HOURS", "-1"),
        ("PORTAL_CONVENING_WINDOW_DAYS", "-1"),
        ("PORTAL_RELEASE_MAX_TERM_DAYS", "-3"),
        ("PORTAL_DATE_WINDOW_YEARS", "0"),
        ("PORTAL_SUMMARY_BUDGET_MS", "-7"),
        ("PORTAL_BODY_TIMEOUT_SECONDS", "-1"),
    ],
)
def test_a_number_setting_out_of_its_range_fails_at_start(tmp_path, name, value):
    # Before: each was accepted, and `portal serve` started with, say, every database call
    # failing (a negative lock wait) or sessions ending before they began.
    with pytest.raises(ValueError, match=f"{name} must be between"):
        from_environment({"PORTAL_SECRETS_FILE": str(tmp_path / "s.json"), name: value})


def test_a_secrets_file_that_is_a_folder_is_said_as_one(tmp_path):
    # Before: a folder others may read (/tmp) was refused with "run: chmod 600 /tmp".
    folder = tmp_path / "secrets"
    folder.mkdir()
    folder.chmod(0o777)
    with pytest.raises(Exception, match="it is a folder") as refused:
        from_environment({"PORTAL_SECRETS_FILE": str(folder)})
    assert "chmod" not in str(refused.value)


def test_the_screening_due_hours_come_from_the_environment_and_are_checked(tmp_path):
    env = {"PORTAL_SECRETS_FILE": str(tmp_path / "s.json")}
    assert from_environment(env).screening_due_hours == 24
    assert from_environment({**env, "PORTAL_SCREENING_DUE_HOURS": "72"}).screening_due_hours == 72
    with pytest.raises(ValueError, match="PORTAL_SCREENING_DUE_HOURS"):
        from_environment({**env, "PORTAL_SCREENING_DUE_HOURS": "0"})


def test_the_coordinating_agency_comes_from_the_environment_and_is_unset_by_default(tmp_path):
    env = {"PORTAL_SECRETS_FILE": str(tmp_path / "s.json")}
    assert from_environment(env).coordinating_agency is None
    assert from_environment({**env, "PORTAL_COORDINATING_AGENCY": "  "}).coordinating_agency is None
    named = from_environment({**env, "PORTAL_COORDINATING_AGENCY": " Riverbend CAC "})
    assert named.coordinating_agency == "Riverbend CAC"


def test_the_requests_a_worker_works_on_at_once_come_from_the_environment_and_are_checked(
    tmp_path,
):
    env = {"PORTAL_SECRETS_FILE": str(tmp_path / "s.json")}
    assert from_environment(env).request_threads == Settings.request_threads
    assert from_environment({**env, "PORTAL_REQUEST_THREADS": "3"}).request_threads == 3
    with pytest.raises(ValueError, match="PORTAL_REQUEST_THREADS"):
        from_environment({**env, "PORTAL_REQUEST_THREADS": "0"})


def _with_in_file(path, **values) -> None:
    """The node's secrets file, made as on first run, with `values` added."""
    from_environment({"PORTAL_SECRETS_FILE": str(path)})
    stored = json.loads(path.read_text())
    path.write_text(json.dumps({**stored, **values}))


def test_sealed_bound_only_comes_from_the_secrets_file_and_the_environment_wins(tmp_path):
    path = tmp_path / "secrets.json"
    env = {"PORTAL_SECRETS_FILE": str(path)}
    _with_in_file(path, sealed_bound_only=True)
    on = from_environment(env)
    assert on.sealed_bound_only and on.key_wrapper().bound_only
    assert not from_environment({**env, "PORTAL_SEALED_BOUND_ONLY": "0"}).sealed_bound_only
    _with_in_file(path, sealed_bound_only=False)
    assert not from_environment(env).sealed_bound_only
    assert from_environment({**env, "PORTAL_SEALED_BOUND_ONLY": "1"}).sealed_bound_only
    # the file read for one of the secrets is read for it too
    kek = base64.b64encode(b"k" * 32).decode()
    _with_in_file(path, sealed_bound_only=True)
    assert from_environment({**env, "PORTAL_KEK": kek}).sealed_bound_only


@pytest.mark.parametrize("value", ["true", 1, None])
def test_sealed_bound_only_in_the_secrets_file_must_be_true_or_false(tmp_path, value):
    path = tmp_path / "secrets.json"
    _with_in_file(path, sealed_bound_only=value)
    with pytest.raises(ValueError) as wrong:
        from_environment({"PORTAL_SECRETS_FILE": str(path)})
    assert str(wrong.value) == (
        f"sealed_bound_only in the secrets file {path} must be true or false (JSON, without quotes)"
    )


def test_a_throttle_store_the_node_cannot_use_fails_at_start(tmp_path):
    # Before: accepted; `portal serve` said "serving", then "unexpected ConfigurationError:
    # unknown storage scheme … report it".
    env = {"PORTAL_SECRETS_FILE": str(tmp_path / "s.json")}
    with pytest.raises(ValueError, match="PORTAL_RATELIMIT_STORAGE is 'bogus://x'"):
        from_environment({**env, "PORTAL_RATELIMIT_STORAGE": "bogus://x"})
    assert from_environment({**env, "PORTAL_RATELIMIT_STORAGE": "memory://"})


def test_a_redis_url_that_is_none_is_shown_without_its_password(tmp_path):
    # Before: "(got '':)" for REDIS_URL=notaurl, which told nothing of what was set.
    env = {"PORTAL_SECRETS_FILE": str(tmp_path / "s.json")}
    with pytest.raises(ValueError, match="it is 'notaurl'"):
        from_environment({**env, "REDIS_URL": "notaurl"})
    with pytest.raises(ValueError) as refused:
        from_environment({**env, "REDIS_URL": "http://someone:synthetic-secret@cache:6379"})
    assert "synthetic-secret" not in str(refused.value) and "cache:6379" in str(refused.value)
