"""`portal db upgrade|downgrade|current|check|revision`: the database's migrations."""

from __future__ import annotations

import argparse

from portal import migrate
from portal.cli.database import (
    chosen,
    has_agencies,
    mdt_zone,
    newer_portal,
    open_engine,
    setting_up,
)
from portal.cli.errors import BAD_INPUT, NEGATIVE, OK, REFUSED, CommandError
from portal.cli.parsing import CREATES, READS, command, group


def add_commands(commands) -> None:
    db = group(commands, "db", "the database's migrations (Alembic)", dest="db_command")
    up = command(
        db,
        "upgrade",
        "apply migrations up to REVISION (a new SQLite file is created)",
        uses=CREATES,
        run=cmd_upgrade,
    )
    up.add_argument("revision", nargs="?", default="head", help="the revision to reach")
    down = command(db, "downgrade", "revert migrations down to REVISION", run=cmd_downgrade)
    down.add_argument("revision", help="the revision to go back to ('base': none applied)")
    down.add_argument(
        "--yes",
        action="store_true",
        help="go ahead on a database that holds records: what the reverted migrations "
        "added is dropped with them (back up first)",
    )
    command(
        db,
        "current",
        "show the applied revision; exit status 1 when behind the code's head",
        run=cmd_current,
    )
    command(
        db,
        "check",
        "apply migrations, then fail if the models and the migrations disagree",
        run=cmd_check,
    )
    revision = command(
        db,
        "revision",
        "autogenerate a migration from the models (for developers)",
        run=cmd_revision,
    )
    revision.add_argument("-m", "--message", required=True, help="what the migration does")


def _known_target(revision: str) -> None:
    if revision not in ("head", "base") and not migrate.known_revision(revision):
        raise CommandError(
            f"no migration {revision!r} in this portal; `portal db current` shows where the "
            "database is, and 'head' is the newest",
            BAD_INPUT,
        )


def _not_newer(engine, database) -> str | None:
    """The database's revision, refused when a newer portal migrated it (this one cannot
    know what its migrations did)."""
    current = migrate.current_revision(engine)
    if current is not None and not migrate.known_revision(current):
        raise CommandError(newer_portal(database, current), REFUSED)
    return current


def cmd_upgrade(args: argparse.Namespace) -> int:
    database = chosen()
    print(database.line())
    _known_target(args.revision)
    # Read by the migrations: a zone that is not one failed in the middle of them, said as
    # "unexpected ZoneInfoNotFoundError", and left a new database file behind.
    mdt_zone()
    with setting_up(database) as engine:
        _not_newer(engine, database)
        migrate.upgrade(engine, args.revision)
    print(f"database at {migrate.current_revision(engine)}")
    return OK


def cmd_downgrade(args: argparse.Namespace) -> int:
    database = chosen()
    _known_target(args.revision)
    engine = open_engine(database, schema=False)
    _not_newer(engine, database)
    if not args.yes and has_agencies(engine):
        raise CommandError(
            f"the database at {database.shown()} holds records: reverting migrations drops "
            "the tables and columns they added, with what is in them. Back up first "
            "(ops/README.md), then run again with --yes",
            REFUSED,
        )
    migrate.downgrade(engine, args.revision)
    print(f"database at {migrate.current_revision(engine) or 'base'}")
    return OK


def cmd_current(args: argparse.Namespace) -> int:
    database = chosen()
    engine = open_engine(database, schema=False)
    current, head = migrate.current_revision(engine), migrate.head_revision()
    if current is not None and not migrate.known_revision(current):
        print(f"current {current}; head {head} (a newer portal's migration: not known here)")
        return NEGATIVE
    behind = " (behind: run `portal db upgrade`)"
    print(f"current {current or 'base'}; head {head}" + ("" if current == head else behind))
    return OK if current == head else NEGATIVE


def cmd_check(args: argparse.Namespace) -> int:
    database = chosen()
    mdt_zone()  # the migrations it applies first read it, as `cmd_upgrade`'s do
    engine = open_engine(database, schema=False)
    _not_newer(engine, database)
    migrate.upgrade(engine)
    differences = migrate.schema_differences(engine)
    for difference in differences:
        print(difference)
    print("models and migrations agree" if not differences else "models and migrations differ")
    return NEGATIVE if differences else OK


def cmd_revision(args: argparse.Namespace) -> int:
    database = chosen()
    mdt_zone()  # the migrations it applies first read it, as `cmd_upgrade`'s do
    engine = open_engine(database, schema=False)
    _not_newer(engine, database)
    migrate.upgrade(engine)
    migrate.new_revision(engine, args.message)
    return OK


__all__ = ["READS", "add_commands"]
