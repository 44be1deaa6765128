"""Configuration from the environment and the node's secrets file."""

from __future__ import annotations

import base64
import json
import os
import secrets
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

from starlette.config import Config
from starlette.datastructures import Secret

from portal.crypto import KeyWrapper

# The demo's file in the current folder: every command, the demo included, uses it when
# DATABASE_URL is unset, so the demo's own database is what the README's commands read.
DEMO_DATABASE_FILE = "portal-demo.db"
DEFAULT_DATABASE_URL = f"sqlite:///{DEMO_DATABASE_FILE}"
DEFAULT_SECRETS_FILE = ".portal-secrets.json"
# Put it where the database's writers cannot write (another disk, an append-only mount).
DEFAULT_AUDIT_JOURNAL = "portal-audit-journal.jsonl"
MINOR_SIGNERS = ("minor_and_guardian", "minor_alone")  # consent.MinorRule's values


class SecretsMissing(Exception):
    """No secrets in the environment and no secrets file, where one must not be made."""


def database_url_from(env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The one place that decides the database: (URL, where that choice came from)."""
    env = os.environ if env is None else env
    if env.get("DATABASE_URL"):
        return env["DATABASE_URL"], "DATABASE_URL"
    return DEFAULT_DATABASE_URL, "the demo's file; DATABASE_URL is not set"


def audit_journal_from(env: Mapping[str, str]) -> str:
    """Where the node keeps its journal of signed audit checkpoints (PORTAL_AUDIT_JOURNAL);
    read without the secrets, so `portal audit verify` needs none."""
    return env.get("PORTAL_AUDIT_JOURNAL") or DEFAULT_AUDIT_JOURNAL


def mdt_timezone_from(env: Mapping[str, str] | None = None) -> str:
    """The MDT's time zone (PORTAL_MDT_TIMEZONE), in which staff read dates; read without
    the secrets, so `portal consent verify` needs none."""
    env = os.environ if env is None else env
    return Config(environ=dict(env))("PORTAL_MDT_TIMEZONE", default="America/New_York")


def time_zone(name: str) -> zoneinfo.ZoneInfo:
    """The time zone PORTAL_MDT_TIMEZONE names, or ValueError naming the setting ('America',
    a folder of zones, raised IsADirectoryError, and that was said as unexpected)."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"PORTAL_MDT_TIMEZONE is {name!r}, not a time zone: give an IANA name such as "
            "America/New_York"
        ) from None


def ratelimit_storage_from(env: Mapping[str, str]) -> str:
    """PORTAL_RATELIMIT_STORAGE if given, else the node's Redis (REDIS_URL), else the node's
    database ("database"), which every worker of the node shares. A Redis is shared by the
    nodes that use it too; memory:// counts in each process alone."""
    if env.get("PORTAL_RATELIMIT_STORAGE"):
        return env["PORTAL_RATELIMIT_STORAGE"]
    if env.get("REDIS_URL"):
        from portal.redis_store import limits_storage_uri

        return limits_storage_uri(env["REDIS_URL"])
    return "database"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class NodeSecrets:
    """The node's two secrets: never in the repository, never logged."""

    session_key: Secret
    key_encryption_key: Secret  # wraps every agency's private keys
    # Earlier KEKs, accepted for opening only while `portal keys rewrap` moves what they
    # wrapped under the current one (PORTAL_KEK_PREVIOUS, or the secrets file's list).
    previous_key_encryption_keys: tuple[Secret, ...] = ()

    def kek_bytes(self) -> bytes:
        return base64.b64decode(str(self.key_encryption_key))

    def previous_kek_bytes(self) -> tuple[bytes, ...]:
        return tuple(base64.b64decode(str(key)) for key in self.previous_key_encryption_keys)


@dataclass(frozen=True)
class Settings:
    database_url: str
    secrets: NodeSecrets
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    cookie_secure: bool = True
    mdt_timezone: str = "America/New_York"
    convening_window_days: int = 14
    # The 24–48 hour risk screen (issue 20): hours from identification, fixed at its start.
    risk_screen_window_hours: int = 48
    # A screening begun is due to be finalised within this many hours (issue 20); after
    # them the coordinator's row shows it overdue.
    screening_due_hours: int = 24
    # How long the case summary page may spend deciding owners' blocks itself; owners it
    # has not reached by then load on their own (htmx). 0: every block loads on its own.
    summary_budget_ms: int = 250
    ratelimit_storage: str = "database"  # portal.auth.throttle.DATABASE
    redis_url: str | None = None
    allowed_hosts: tuple[str, ...] = ("*",)
    # Peers whose X-Forwarded-For is believed (the reverse proxy's addresses or networks);
    # empty: nobody's, the peer's own address is the client's.
    trusted_proxies: tuple[str, ...] = ()
    # The write-once journal of signed audit checkpoints, outside the database (issue 12).
    # None: no journal (tests that do not look at it); the environment always names one.
    audit_journal: str | None = None
    # Dates a person may type for tasks, meetings, releases and filters: within this many
    # years of today. Further out is a typing mistake, and arithmetic on it overflows.
    date_window_years: int = 10
    # The longest a consent release may last. Set it to what the jurisdiction and the MDT's
    # policy allow; one year is the common ceiling for a written authorization.
    release_max_term_days: int = 365
    # How long a request waits for a database lock (SQLite's busy timeout, PostgreSQL's
    # lock_timeout) before it is answered 503 "try again" with nothing saved.
    database_lock_wait_ms: int = 10_000
    # The longest a request body may take to arrive; a client that stalls is answered 408.
    body_timeout_seconds: float = 30.0
    # Requests one worker process admits at once (pages and API); the rest wait in arrival
    # order. One of them runs at a time (portal.turns): the others wait for their turn or
    # for a partner node (portal.serving.RequestThreads).
    request_threads: int = 40
    # Federation (issue 16): how far a signed node-to-node message's creation time may be
    # from now (either way) and still be accepted; and how long the case summary waits for
    # an owner on another node before showing it as unavailable.
    federation_window_seconds: int = 60
    federation_timeout_ms: int = 2000
    # Notices one agency elsewhere may send in a window that set this node to work for every
    # owner (participation changed); past them, 429 and the sender sends it again later.
    federation_notices_per_window: int = 30
    federation_notice_window_s: int = 600
    demo: bool = False
    # The jurisdiction's rule for minors' releases: "minor_and_guardian" (the minor and a
    # parent, guardian or custodian sign: VAWA's rule for grantees) or "minor_alone".
    minor_signers: str = "minor_and_guardian"
    age_of_majority: int = 18
    # On a node without a roster: the agency that coordinates the MDT (its public id or
    # its name), the one agency partners' disclosure points tell of minors with a clear
    # concern and no MDT case (issue 20). With a roster, the roster's coordinating agency
    # counts and this is not read. None: no agency is told.
    coordinating_agency: str | None = None
    # PORTAL_SEALED_BOUND_ONLY: open survivor records only sealed for their place (agency,
    # client, row); one still sealed the old way (the agency's key alone) is refused, since
    # anyone able to write the database could have copied it from another survivor's row
    # or a backup. Set it once `portal keys reseal` says every record is bound. In the
    # environment or the secrets file (`sealed_bound_only`; the environment wins), not the
    # database: a database writer could clear a marker kept there.
    sealed_bound_only: bool = False
    clock: Callable[[], datetime] = field(default=utc_now, compare=False)

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.mdt_timezone)

    def key_wrapper(self) -> KeyWrapper:
        """The node's keys, opening sealed records as PORTAL_SEALED_BOUND_ONLY says."""
        return KeyWrapper(
            self.secrets.kek_bytes(),
            previous=self.secrets.previous_kek_bytes(),
            bound_only=self.sealed_bound_only,
        )


def load_secrets(env: Mapping[str, str], path: Path, *, create: bool = True) -> NodeSecrets:
    """Secrets from PORTAL_SESSION_KEY / PORTAL_KEK, else from the secrets file.

    The file is created on first run with mode 0600 so that a fresh node works without
    any manual step, and so that the repository never holds a secret. `create=False`
    for a database that already holds agencies: their keys are wrapped by the KEK of the
    missing file, and a new one would quietly lock them out.
    """
    return _secrets_and_file(env, path, create=create)[0]


WRONG_KEK = "PORTAL_KEK (or the secrets file's key) must be 32 bytes, base64-encoded"


def _secrets_and_file(
    env: Mapping[str, str], path: Path, *, create: bool
) -> tuple[NodeSecrets, dict | None]:
    """`load_secrets`, and the secrets file's values when the secrets were read from it
    (None when the environment gives both)."""
    stored = None
    session_key = env.get("PORTAL_SESSION_KEY")
    kek = env.get("PORTAL_KEK")
    previous = list(
        _previous_keks(
            _listed(env.get("PORTAL_KEK_PREVIOUS", "")),
            "PORTAL_KEK_PREVIOUS must be base64 keys of 32 bytes, separated by commas",
        )
    )
    if kek and _kek_raw(kek) is None:  # said before a secrets file is made for the session key
        raise ValueError(WRONG_KEK)
    if not (session_key and kek):
        if not create and not path.exists():
            missing = " and ".join(
                name
                for name, value in (("PORTAL_SESSION_KEY", session_key), ("PORTAL_KEK", kek))
                if not value
            )
            raise SecretsMissing(
                f"no secrets file at {path.resolve()} and {missing} not set; restore the "
                "file this node was set up with (or set PORTAL_SECRETS_FILE to it)"
            )
        stored = _read_or_create_secrets_file(path)
        session_key = session_key or stored["session_key"]
        if not kek:  # the file's earlier KEKs go with the file's KEK
            kek = stored["key_encryption_key"]
            previous += stored_previous_keks(stored, path)
    if _kek_raw(kek) is None:
        raise ValueError(WRONG_KEK)
    found = NodeSecrets(
        Secret(session_key),
        Secret(kek),
        tuple(Secret(key) for key in dict.fromkeys(previous) if key != kek),
    )
    return found, stored


# The secrets file's list of earlier KEKs (`portal keys rotate-kek` writes it).
PREVIOUS_KEKS_FIELD = "previous_key_encryption_keys"
# The secrets file's PORTAL_SEALED_BOUND_ONLY: true or false (the environment's wins).
SEALED_BOUND_ONLY_FIELD = "sealed_bound_only"


def sealed_bound_only_from(env: Mapping[str, str], stored: Mapping | None, path: Path) -> bool:
    """PORTAL_SEALED_BOUND_ONLY when the environment sets it, else the secrets file's
    `sealed_bound_only` (when the secrets come from the file), else off. Either way outside
    the database, which a writer could change."""
    if "PORTAL_SEALED_BOUND_ONLY" in env:
        return Config(environ=dict(env))("PORTAL_SEALED_BOUND_ONLY", cast=bool)
    value = (stored or {}).get(SEALED_BOUND_ONLY_FIELD, False)
    if not isinstance(value, bool):
        raise ValueError(
            f"{SEALED_BOUND_ONLY_FIELD} in the secrets file {path} must be true or false "
            "(JSON, without quotes)"
        )
    return value


def _kek_raw(value) -> bytes | None:
    """A KEK's 32 bytes from its base64 text; None for anything else."""
    if not isinstance(value, str):
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:  # binascii.Error is one
        return None
    return raw if len(raw) == 32 else None


def _previous_keks(values, wrong: str) -> tuple[str, ...]:
    """Earlier KEKs as given, each checked: `wrong` (naming the setting) if one is not a key."""
    if not isinstance(values, list | tuple) or any(_kek_raw(value) is None for value in values):
        raise ValueError(wrong)
    return tuple(values)


def stored_previous_keks(stored: Mapping, path: Path) -> tuple[str, ...]:
    """The secrets file's earlier KEKs (none if it has no list), each checked."""
    return _previous_keks(
        stored.get(PREVIOUS_KEKS_FIELD, []),
        f"{PREVIOUS_KEKS_FIELD} in the secrets file {path} must be a JSON list of base64 keys "
        "of 32 bytes",
    )


def kek_from_environment(env: Mapping[str, str] | None = None) -> bool:
    """Whether the node's KEK is PORTAL_KEK (a secret store's), not the secrets file's."""
    env = os.environ if env is None else env
    return bool(env.get("PORTAL_KEK"))


def _secrets_file_values(path: Path) -> dict:
    """The secrets file's two keys, or SecretsMissing naming the file and what to do."""

    def wrong(what: str) -> SecretsMissing:
        return SecretsMissing(
            f"{path} is not a portal secrets file ({what}); restore the one this node was "
            "set up with (or set PORTAL_SECRETS_FILE to it)"
        )

    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except IsADirectoryError:
        raise wrong("it is a folder") from None
    except UnicodeDecodeError:
        raise wrong("it is not UTF-8 text") from None
    except json.JSONDecodeError:
        raise wrong("it is not JSON") from None
    except OSError as error:
        raise wrong(error.strerror or "it cannot be read") from None
    if not isinstance(values, dict):
        raise wrong("it does not hold a JSON object")
    for name in ("session_key", "key_encryption_key"):
        if not isinstance(values.get(name), str) or not values[name]:
            raise wrong(f"it has no {name}")
    return values


def read_secrets_file(path: Path) -> dict:
    """The secrets file's values, refused if others may read it."""
    if path.is_dir():  # said as a folder first: 'chmod 600' on a folder was the advice
        return _secrets_file_values(path)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise PermissionError(
            f"{path} is readable by others (mode {mode:o}); run: chmod 600 {path}"
        )
    return _secrets_file_values(path)


def _read_or_create_secrets_file(path: Path) -> dict:
    if path.exists():
        return read_secrets_file(path)
    values = {
        "session_key": secrets.token_urlsafe(32),
        "key_encryption_key": base64.b64encode(secrets.token_bytes(32)).decode(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    if _created_whole(path, values):
        return values
    return read_secrets_file(path)  # another process made it first: its keys are the node's


def _created_whole(path: Path, values: dict) -> bool:
    """`values` written beside `path` (mode 0600), flushed to disk, then linked in as
    `path` unless a file is there already, and the folder flushed: the file is on disk
    before any key is wrapped under its KEK (a power cut must not keep the keys and lose
    the file), and appears whole, never empty to a process starting meanwhile. False:
    another process made it first (never two different keys)."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.new")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(values, handle)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        except OSError:  # a file system without hard links (some mounted volumes)
            if not _written_in_place(path, values):
                return False
    finally:
        temporary.unlink(missing_ok=True)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
    return True


def _written_in_place(path: Path, values: dict) -> bool:
    """`values` written into a new file at `path` (O_EXCL: never two different keys) and
    flushed to disk; False: another process made it first."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(values, handle)
        handle.flush()
        os.fsync(handle.fileno())
    return True


# Numbers read from the environment, and what each may be: a negative lock wait or session
# length was accepted, and the node served with every database call failing, or with
# sessions that end before they begin.
_RANGES = (
    ("PORTAL_SESSION_IDLE_MINUTES", "session_idle_minutes", 1, 24 * 60),
    ("PORTAL_SESSION_ABSOLUTE_HOURS", "session_absolute_hours", 1, 24 * 7),
    ("PORTAL_CONVENING_WINDOW_DAYS", "convening_window_days", 1, 365),
    ("PORTAL_SUMMARY_BUDGET_MS", "summary_budget_ms", 0, 60_000),
    ("PORTAL_DATE_WINDOW_YEARS", "date_window_years", 1, 150),
    ("PORTAL_RELEASE_MAX_TERM_DAYS", "release_max_term_days", 1, 3660),
    ("PORTAL_DATABASE_LOCK_WAIT_MS", "database_lock_wait_ms", 1, 600_000),
    ("PORTAL_BODY_TIMEOUT_SECONDS", "body_timeout_seconds", 0.1, 3600),
)


# The sign-in throttle's stores (portal/auth/throttle.py, `limits`): kept to those the
# node is served with and documented; "database" is the node's own.
_THROTTLE_SCHEMES = ("memory", "redis", "rediss", "redis+unix")


def _listed(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def refuse_unsafe_production(settings: Settings) -> None:
    """What a production start must not run with; the demo keeps its conveniences."""
    if not settings.demo and "*" in settings.allowed_hosts:
        raise ValueError(
            "PORTAL_ALLOWED_HOSTS lets any host name through ('*', or unset): set it to the "
            "host names the portal is served under, separated by commas, e.g. "
            "PORTAL_ALLOWED_HOSTS=mdt.example.org"
        )


def secrets_path_from(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("PORTAL_SECRETS_FILE") or DEFAULT_SECRETS_FILE)


def from_environment(
    env: Mapping[str, str] | None = None, *, create_secrets: bool = True, **overrides
) -> Settings:
    env = dict(os.environ if env is None else env)
    config = Config(environ=env)
    values = dict(
        database_url=database_url_from(env)[0],
        session_idle_minutes=config("PORTAL_SESSION_IDLE_MINUTES", cast=int, default=30),
        session_absolute_hours=config("PORTAL_SESSION_ABSOLUTE_HOURS", cast=int, default=12),
        cookie_secure=config("PORTAL_COOKIE_SECURE", cast=bool, default=True),
        mdt_timezone=mdt_timezone_from(env),
        convening_window_days=config("PORTAL_CONVENING_WINDOW_DAYS", cast=int, default=14),
        risk_screen_window_hours=config("PORTAL_RISK_SCREEN_WINDOW_HOURS", cast=int, default=48),
        screening_due_hours=config("PORTAL_SCREENING_DUE_HOURS", cast=int, default=24),
        summary_budget_ms=config("PORTAL_SUMMARY_BUDGET_MS", cast=int, default=250),
        ratelimit_storage=ratelimit_storage_from(env),
        redis_url=env.get("REDIS_URL") or None,
        trusted_proxies=_listed(config("PORTAL_TRUSTED_PROXIES", default="")),
        audit_journal=audit_journal_from(env),
        allowed_hosts=_listed(config("PORTAL_ALLOWED_HOSTS", default="*")),
        date_window_years=config("PORTAL_DATE_WINDOW_YEARS", cast=int, default=10),
        release_max_term_days=config("PORTAL_RELEASE_MAX_TERM_DAYS", cast=int, default=365),
        database_lock_wait_ms=config("PORTAL_DATABASE_LOCK_WAIT_MS", cast=int, default=10_000),
        body_timeout_seconds=config("PORTAL_BODY_TIMEOUT_SECONDS", cast=float, default=30.0),
        request_threads=config("PORTAL_REQUEST_THREADS", cast=int, default=40),
    )
    values.update(
        federation_window_seconds=config("PORTAL_FEDERATION_WINDOW_SECONDS", cast=int, default=60),
        federation_timeout_ms=config("PORTAL_FEDERATION_TIMEOUT_MS", cast=int, default=2000),
        federation_notices_per_window=config(
            "PORTAL_FEDERATION_NOTICES_PER_WINDOW", cast=int, default=30
        ),
        federation_notice_window_s=config(
            "PORTAL_FEDERATION_NOTICE_WINDOW_SECONDS", cast=int, default=600
        ),
        minor_signers=config("PORTAL_MINOR_SIGNERS", default="minor_and_guardian"),
        age_of_majority=config("PORTAL_AGE_OF_MAJORITY", cast=int, default=18),
        coordinating_agency=config("PORTAL_COORDINATING_AGENCY", default="").strip() or None,
    )
    values.update(overrides)
    _check(SimpleNamespace(**values))
    # The secrets file is read, or made, only once every other setting is taken (and
    # PORTAL_SEALED_BOUND_ONLY, when the environment sets it): a setting refused after it
    # was made left a new secrets file behind (`portal demo`, `portal init`).
    secrets_path = secrets_path_from(env)
    if "PORTAL_SEALED_BOUND_ONLY" in env:
        sealed_bound_only_from(env, None, secrets_path)
    node_secrets, stored = _secrets_and_file(env, secrets_path, create=create_secrets)
    found = {
        "secrets": node_secrets,
        "sealed_bound_only": sealed_bound_only_from(env, stored, secrets_path),
    }
    return Settings(**{**found, **values})


def _check(settings: SimpleNamespace) -> None:
    """Every setting but the secrets, as from_environment takes them: ValueError naming the
    first one that is wrong."""
    time_zone(settings.mdt_timezone)  # fail at start, not at the first date shown
    storage = settings.ratelimit_storage
    if storage != "database" and storage.split("://", 1)[0] not in _THROTTLE_SCHEMES:
        # Said at start: it failed in each worker's first sign-in, after "serving".
        raise ValueError(
            f"PORTAL_RATELIMIT_STORAGE is {storage!r}: leave it unset (the node's database), "
            "or give memory:// or a Redis URL (redis://host:6379/0)"
        )
    for name, attribute, least, most in _RANGES:
        if not least <= getattr(settings, attribute) <= most:
            raise ValueError(f"{name} must be between {least:g} and {most:g}")
    if settings.minor_signers not in MINOR_SIGNERS:
        raise ValueError(
            f"PORTAL_MINOR_SIGNERS must be one of: {', '.join(MINOR_SIGNERS)} "
            f"(not {settings.minor_signers!r})"
        )
    if not 14 <= settings.age_of_majority <= 21:
        raise ValueError("PORTAL_AGE_OF_MAJORITY must be a whole number from 14 to 21")
    if not 1 <= settings.federation_window_seconds <= 3600:
        raise ValueError("PORTAL_FEDERATION_WINDOW_SECONDS must be between 1 and 3600")
    if not 1 <= settings.request_threads <= 200:
        raise ValueError("PORTAL_REQUEST_THREADS must be between 1 and 200")
    if not 50 <= settings.federation_timeout_ms <= 60_000:
        raise ValueError("PORTAL_FEDERATION_TIMEOUT_MS must be between 50 and 60000")
    if not 1 <= settings.federation_notices_per_window <= 10_000:
        raise ValueError("PORTAL_FEDERATION_NOTICES_PER_WINDOW must be between 1 and 10000")
    if not 1 <= settings.federation_notice_window_s <= 86_400:
        raise ValueError("PORTAL_FEDERATION_NOTICE_WINDOW_SECONDS must be between 1 and 86400")
    if not 1 <= settings.risk_screen_window_hours <= 24 * 14:
        raise ValueError("PORTAL_RISK_SCREEN_WINDOW_HOURS must be between 1 and 336")
    if not 1 <= settings.screening_due_hours <= 24 * 14:
        raise ValueError("PORTAL_SCREENING_DUE_HOURS must be between 1 and 336")
