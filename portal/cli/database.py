"""Which database a command uses, and opening it so that any problem is one line, not a
traceback. Every command goes through here, so they all agree on the database."""

from __future__ import annotations

import errno
import fcntl
import os
import re
import time
import zoneinfo
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, exists, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from portal import migrate
from portal.cli.errors import REFUSED, CommandError
from portal.db import PROCESS_QUEUE_SUFFIX, make_engine, normalise_url
from portal.db_faults import is_lock_wait
from portal.settings import (
    DEFAULT_DATABASE_URL,
    SecretsMissing,
    Settings,
    database_url_from,
    from_environment,
    mdt_timezone_from,
    time_zone,
)

SUPPORTED = "postgresql://USER@HOST:5432/NAME or sqlite:///PATH"
NEW_NODE = "`portal demo --no-serve` for the demo, or `portal db upgrade` then `portal init`"


@dataclass(frozen=True)
class Database:
    url: str
    source: str  # "DATABASE_URL", or why the demo's file was chosen

    @property
    def is_demo_file(self) -> bool:
        return _sqlite_path(self.url) == _sqlite_path(DEFAULT_DATABASE_URL)

    def shown(self) -> str:
        """The database for a person to read: never its password."""
        path = _sqlite_path(self.url)
        if path is not None:
            return str(path)
        try:
            url = make_url(self.url)
        except (ArgumentError, ValueError):  # ValueError: a port that is not a number
            return _without_credentials(self.url)
        # libpq also takes a password in the query string (?password=...).
        secret = [name for name in url.query if _SECRET_PARAMETER.search(name)]
        shown = url.difference_update_query(secret).render_as_string(hide_password=True)
        if secret:
            shown += ("&" if "?" in shown else "?") + "&".join(f"{name}=***" for name in secret)
        return shown

    def line(self) -> str:
        kind = "SQLite file " if _sqlite_path(self.url) is not None else ""
        return f"database: {kind}{self.shown()} ({self.source})"


def chosen() -> Database:
    return Database(*database_url_from())


def help_text() -> str:
    """For every command's --help: which database it would use now, and how to change it."""
    return f"{chosen().line()}. Set DATABASE_URL to use another ({SUPPORTED})."


def open_engine(database: Database, *, schema: bool = True) -> Engine:
    """An engine on a database that answers. A missing SQLite file is refused, so reading
    never leaves an empty file behind (the commands that make one use `setting_up`).
    `schema`: the migrations must be applied up to this code's head."""
    url = _parse(database.url)
    path = _sqlite_path(database.url)
    if path is not None and not path.exists():
        raise CommandError(f"no database at {path}; run {NEW_NODE} (or set DATABASE_URL)")
    try:
        # make_engine bounds the connection attempt itself (portal.db.CONNECT_TIMEOUT_SECONDS):
        # a mistyped host must not hang the command.
        engine = make_engine(database.url)
    except NoSuchModuleError:
        raise CommandError(
            f"the portal does not know databases of kind {url.drivername!r}; set DATABASE_URL "
            f"to {SUPPORTED}"
        ) from None
    except ImportError as error:
        raise CommandError(
            f"the driver for {url.drivername!r} is not installed ({error}); the portal runs on "
            f"PostgreSQL or SQLite: set DATABASE_URL to {SUPPORTED}"
        ) from None
    try:
        current = migrate.current_revision(engine)
    except DBAPIError as error:
        engine.dispose()
        raise problem(error, database) from None
    if schema:
        head = migrate.head_revision()
        if current is None:
            engine.dispose()
            raise CommandError(
                f"the database at {database.shown()} has no portal tables yet; run "
                "`portal db upgrade` (then `portal init` for a new node)"
            )
        if current != head and not migrate.known_revision(current):
            engine.dispose()
            raise CommandError(newer_portal(database, current), REFUSED)
        if current != head:
            engine.dispose()
            raise CommandError(
                f"the database at {database.shown()} is at migration {current}, this portal "
                f"needs {head}; run `portal db upgrade`"
            )
    return engine


@contextmanager
def setting_up(database: Database) -> Iterator[Engine]:
    """An engine on the database a command sets up (`portal db upgrade`, `portal init`,
    `portal demo`), made here if it is a new SQLite file. Should the block fail (a
    migration, the seeding, Ctrl-C), the file made here is removed again with what SQLite
    and the portal made beside it: a command that stopped part way left a database file
    migrated part way, or empty. A file that was there before is never removed, nor one
    that holds an agency by then (another `portal init` may have set the node up in it
    meanwhile, and reported it done). The command checks what it was given before it comes
    here; this is for what fails after.

    A SQLite database is set up by one command at a time in its folder (`_setting_up_alone`):
    else a stopped init removed the file it made while another init, which had opened and
    migrated it meanwhile, went on to set its node up in it and report it done."""
    path = _sqlite_path(database.url)
    folder = None
    if path is not None:
        is_new_file(database)  # a folder that does not exist is refused before waiting on it
        folder = _setting_up_alone(path.parent)
    try:
        made: list[Path] = []
        if is_new_file(database):
            beside = [path.with_name(path.name + suffix) for suffix in _BESIDE_THE_FILE]
            left_before = {file for file in beside if file.exists()}
            if _make_private(path):  # else another process made it meanwhile: its file
                made = [path, *(file for file in beside if file not in left_before)]
        engine = None
        try:
            engine = open_engine(database, schema=False)
            yield engine
        except BaseException:
            if engine is not None:
                engine.dispose()
            if made and not _holds_a_node(database):
                for file in made:
                    file.unlink(missing_ok=True)
            raise
    finally:
        if folder is not None:
            os.close(folder)  # releases the folder to the next command setting up in it


# How long a command that sets up a SQLite database waits for another one setting up in
# the same folder before it refuses.
SETUP_WAIT_SECONDS = 30.0
_SETUP_POLL_SECONDS = 0.1


def _setting_up_alone(folder: Path) -> int | None:
    """An open descriptor of the database's folder, flock-ed for this command alone; closing
    it releases the folder. A lock on the folder makes no file in it, and is not SQLite's
    (its POSIX locks are on the database's files, which closing this cannot release).
    None where the folder's file system keeps no such locks (some network file systems):
    the command then sets up unguarded, as it did before."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError as error:
        raise CommandError(
            f"cannot open the database's folder {folder}: {error.strerror}; make it readable "
            "for this account, or put the database in another folder"
        ) from None
    deadline = time.monotonic() + SETUP_WAIT_SECONDS
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise CommandError(
                    "another `portal init`, `portal demo` or `portal db upgrade` is setting up "
                    f"a database in {folder}; try again once it has finished",
                    REFUSED,
                ) from None
            time.sleep(_SETUP_POLL_SECONDS)
        except OSError as error:
            os.close(fd)
            if error.errno in _NO_LOCKS_HERE:
                return None
            raise
        except BaseException:
            os.close(fd)
            raise


# What flock says on a file system that keeps no locks of its kind.
_NO_LOCKS_HERE = frozenset({errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL})


def _holds_a_node(database: Database) -> bool:
    """Whether the database holds an agency: someone's node, kept whatever failed here."""
    engine = make_engine(database.url)
    try:
        return has_agencies(engine)
    except DBAPIError:
        return False  # no agency table yet: nothing was set up in it
    finally:
        engine.dispose()


# What SQLite (its log, its shared memory, a rollback journal) and the portal (the
# writers' queue) make beside a database file.
_BESIDE_THE_FILE = ("-wal", "-shm", "-journal", PROCESS_QUEUE_SUFFIX)


def is_new_file(database: Database) -> bool:
    """Whether the database is a SQLite file not made yet, in a folder that exists (one
    that does not is refused here, before any question is asked)."""
    path = _sqlite_path(database.url)
    if path is None or path.exists():
        return False
    if not path.parent.is_dir():
        raise CommandError(f"no folder {path.parent} for the database; create it first")
    return True


def newer_portal(database: Database, current: str) -> str:
    return (
        f"the database at {database.shown()} was migrated by a newer portal (to {current}, "
        "which this one does not know); run that portal's version, or restore the backup "
        "taken before it"
    )


def _make_private(path: Path) -> bool:
    """A new SQLite file readable by this account only, as the secrets file is: it holds
    task text, mentors' notes and who serves whom in the clear (SQLite gives its -wal and
    -shm files the same mode). False: another process made it first."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        return False
    except OSError as error:
        raise CommandError(f"cannot create the database file {path}: {error.strerror}") from None
    return True


def has_agencies(engine: Engine) -> bool:
    from portal.models import Agency

    with engine.connect() as connection:
        return bool(connection.execute(select(exists().where(Agency.id.is_not(None)))).scalar())


def node_settings(engine: Engine | None = None, **overrides) -> Settings:
    """Settings with the node's secrets. A secrets file is made only for a database that
    holds no agency yet: a new key-encryption key could not open existing agencies' keys."""
    create = engine is None or not has_agencies(engine)
    try:
        settings = from_environment(create_secrets=create, **overrides)
    except SecretsMissing as error:
        raise CommandError(str(error)) from None
    except (PermissionError, ValueError, KeyError) as error:
        # A secrets file open to others, a bad PORTAL_KEK, a setting that is not a number,
        # an unknown time zone: each message names the setting.
        raise CommandError(f"cannot read the settings: {error}") from None
    if not create:
        _check_kek(engine, settings)
    return settings


def mdt_zone() -> zoneinfo.ZoneInfo:
    """The MDT's time zone (PORTAL_MDT_TIMEZONE), in which commands print times, and which
    the migrations read too (a case closed before its first meeting is dated in it)."""
    try:
        return time_zone(mdt_timezone_from())
    except ValueError as error:
        raise CommandError(f"cannot read the settings: {error}") from None


def local_time(at: datetime, tz: zoneinfo.ZoneInfo) -> str:
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def _check_kek(engine: Engine, settings: Settings) -> None:
    """The key-encryption key must open the node's keys before any command uses it: under
    another one, a rotation would retire a working key for one nobody can open, and an
    agency created would get keys the node can never read."""
    from nacl.exceptions import CryptoError

    from portal.models import AgencyKey

    with engine.connect() as connection:
        wrapped = connection.execute(select(AgencyKey.wrapped_secret).limit(1)).scalar()
    if wrapped is None:
        return
    try:
        settings.key_wrapper().unwrap(wrapped)
    except (CryptoError, ValueError):
        raise CommandError(
            "the key-encryption key (PORTAL_KEK, or the secrets file) does not open this "
            "node's keys: use the secrets file or PORTAL_KEK this node was set up with"
        ) from None


def driver_reason(error: BaseException) -> str:
    """The driver's own words for a failure, in one line: its first line, without the
    connection string it may repeat ("connection to server at … failed: ") or "FATAL:"."""
    cause = getattr(error, "orig", None) or error
    first = (str(cause).strip().splitlines() or [""])[0]
    return first.rsplit("failed: ", 1)[-1].removeprefix("FATAL:").strip()


# A lock waited on past its limit: the database is up and answering, another process holds
# what this command needs. Said before as "unexpected OperationalError … report it", or on
# PostgreSQL as "cannot connect … is it running there?" (its message says "timeout").
BUSY = (
    "the database is busy: another process holds a lock this command needs (a long "
    "command, or a server's request); nothing was changed, try again when it is done"
)


def _sqlite_advice(reason: str, path: Path | None) -> str:
    """What to do about what SQLite said of a file it could not use: its words name the
    symptom ("disk I/O error"), not the file or folder to look at."""
    folder = path.parent if path is not None else "the database's folder"
    name = path.name if path is not None else "the database"
    if "not a database" in reason or "malformed" in reason:
        return (
            "it is not a portal database, or it is damaged: check DATABASE_URL, or restore "
            "the node from its backup (ops/README.md, section 4)"
        )
    if "readonly" in reason:
        return f"this account cannot write {name} or its folder {folder}: fix their permissions"
    if "disk I/O" in reason or "unable to open" in reason:
        return (
            f"check that {folder} exists, has space and that this account can write in it, "
            f"and that {name}-wal and {name}-shm there, if any, are files it can write"
        )
    return f"check DATABASE_URL and the folder {folder}"


def problem(error: DBAPIError, database: Database) -> CommandError:
    """One line for a database that does not answer as configured."""
    if is_lock_wait(error):
        return CommandError(BUSY)
    text = str(error.orig or error).strip().splitlines()[0] if str(error.orig or error) else ""
    reason = driver_reason(error)
    try:
        url = _parse(database.url)
        where = f"{url.host or 'localhost'}:{url.port or 5432}"
    except CommandError:
        url, where = None, database.shown()
    if url is not None and url.get_backend_name() == "sqlite":
        return CommandError(
            f"cannot use the SQLite database {database.shown()}: {reason}; "
            + _sqlite_advice(reason, _sqlite_path(database.url))
        )
    if "does not exist" in reason and reason.startswith("database"):
        name = url.database if url is not None else "?"
        return CommandError(
            f"there is no database {name!r} on {where}; create it (createdb -h "
            f"{url.host if url else 'HOST'} -U {url.username if url else 'USER'} {name}) or fix "
            "DATABASE_URL"
        )
    if "Connection refused" in reason or "timeout" in reason.lower():
        return CommandError(
            f"cannot connect to PostgreSQL at {where} ({reason}); is it running there? "
            "(or fix DATABASE_URL)"
        )
    if "role" in reason or "password" in reason or "authentication" in reason:
        return CommandError(
            f"PostgreSQL at {where} refused the sign-in ({reason}); fix DATABASE_URL"
        )
    return CommandError(f"cannot use the database at {database.shown()}: {reason or text}")


def _parse(url: str) -> URL:
    try:
        return make_url(normalise_url(url))
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise CommandError(
            f"DATABASE_URL {_without_credentials(url)!r} is not a database URL; set it to "
            f"{SUPPORTED}"
        ) from None


def _sqlite_path(url: str) -> Path | None:
    """The absolute path of a SQLite file URL, or None (another database, or in memory)."""
    try:
        parsed = make_url(normalise_url(url))
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).expanduser().resolve()


_SECRET_PARAMETER = re.compile(r"password|secret|token", re.IGNORECASE)


def _without_credentials(url: str) -> str:
    url = re.sub(r"//[^@/]*@", "//…@", url)
    return re.sub(r"([?&][^=&]*(?:password|secret|token)[^=&]*=)[^&]*", r"\1***", url, flags=re.I)
