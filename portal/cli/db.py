"""`portal db upgrade|downgrade|current|check|revision`: the database's migrations."""

from __future__ import annotations

import argparse

from portal import migrate
from portal.cli.database import chosen, open_engine
from portal.cli.errors import NEGATIVE, OK
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


def cmd_upgrade(args: argparse.Namespace) -> int:
    database = chosen()
    print(database.line())
    engine = open_engine(database, create=True, schema=False)
    migrate.upgrade(engine, args.revision)
    print(f"database at {migrate.current_revision(engine)}")
    return OK


def cmd_downgrade(args: argparse.Namespace) -> int:
    engine = open_engine(chosen(), schema=False)
    migrate.downgrade(engine, args.revision)
    print(f"database at {migrate.current_revision(engine) or 'base'}")
    return OK


def cmd_current(args: argparse.Namespace) -> int:
    engine = open_engine(chosen(), schema=False)
    current, head = migrate.current_revision(engine), migrate.head_revision()
    print(f"current {current or 'base'}; head {head}" + ("" if current == head else " (behind)"))
    return OK if current == head else NEGATIVE


def cmd_check(args: argparse.Namespace) -> int:
    engine = open_engine(chosen(), schema=False)
    migrate.upgrade(engine)
    differences = migrate.schema_differences(engine)
    for difference in differences:
        print(difference)
    print("models and migrations agree" if not differences else "models and migrations differ")
    return NEGATIVE if differences else OK


def cmd_revision(args: argparse.Namespace) -> int:
    engine = open_engine(chosen(), schema=False)
    migrate.upgrade(engine)
    migrate.new_revision(engine, args.message)
    return OK


__all__ = ["READS", "add_commands"]
