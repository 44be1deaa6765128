"""`portal init`, `portal agency create|list`, `portal staff add`: setting up a node's
agencies and accounts from a shell."""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from sqlalchemy import Engine
from sqlmodel import select

from portal import migrate
from portal.cli.database import (
    Database,
    chosen,
    has_agencies,
    is_new_file,
    node_settings,
    open_engine,
    setting_up,
)
from portal.cli.errors import BAD_INPUT, OK, REFUSED, CommandError
from portal.cli.parsing import CREATES, choices_help, command, group, web_address
from portal.db import unit_of_work
from portal.errors import NotFound
from portal.models import Agency, AgencyKind, Discipline, Node, Role
from portal.settings import utc_now

# `portal init` reads each answer from its option, else from this variable, else asks.
INIT_ENVIRONMENT = {
    "agency": "PORTAL_INIT_AGENCY",
    "kind": "PORTAL_INIT_KIND",
    "discipline": "PORTAL_INIT_DISCIPLINE",
    "username": "PORTAL_INIT_USERNAME",
    "name": "PORTAL_INIT_NAME",
    "password": "PORTAL_INIT_PASSWORD",
}
INIT_QUESTIONS = {
    "agency": "The first agency's name",
    "kind": "Its kind (community or system)",
    "discipline": "Its discipline (" + ", ".join(d.value for d in Discipline) + ")",
    "username": "The administrator's username",
    "name": "The administrator's full name",
}


def _given(name: str) -> str:
    return f"--{name} (or {INIT_ENVIRONMENT[name]})"


# The services' fields as `portal init` takes them: the agency's name is --agency, and
# --name the administrator's.
_INIT_FIELDS = {
    "name": _given("agency"),
    "kind": _given("kind"),
    "discipline": _given("discipline"),
    "username": _given("username"),
    "display_name": _given("name"),
    "password": "the password",
}
# Those of `portal staff add`, which take no name of their own.
_STAFF_FIELDS = {"display_name": "--name", "roles": "--role", "password": "the password"}


def add_commands(commands) -> None:
    init = command(
        commands,
        "init",
        "set up a new node: its first agency and the administrator who runs the node",
        uses=CREATES,
        run=cmd_init,
        fields=_INIT_FIELDS,
        description=(
            "Set up a new node: apply the migrations to an empty database, then create the "
            "first agency and its administrator. Each value comes from its option, else from "
            "its environment variable (" + ", ".join(INIT_ENVIRONMENT.values()) + "), else "
            "it is asked for. The password comes from PORTAL_INIT_PASSWORD, else the first "
            "line of standard input when it is not a terminal, else a prompt. Refused on a "
            "database that already has an agency."
        ),
    )
    init.add_argument("--agency", help="the first agency's name")
    init.add_argument("--kind", choices=[k.value for k in AgencyKind], help=_kinds_help())
    init.add_argument(
        "--discipline",
        choices=[d.value for d in Discipline],
        metavar="DISCIPLINE",
        help=choices_help(Discipline, "the agency's discipline"),
    )
    init.add_argument("--username", help="the administrator's username")
    init.add_argument("--name", help="the administrator's full name")
    init.add_argument(
        "--require-totp", action="store_true", help="the agency's staff must use two-step sign-in"
    )

    agency = group(commands, "agency", "agencies on this node", dest="agency_command")
    create = command(agency, "create", "create an agency with its keys", run=cmd_agency_create)
    create.add_argument("--name", required=True, help="the agency's name, as its staff know it")
    create.add_argument(
        "--kind", required=True, choices=[k.value for k in AgencyKind], help=_kinds_help()
    )
    create.add_argument(
        "--discipline",
        required=True,
        choices=[d.value for d in Discipline],
        metavar="DISCIPLINE",
        help=choices_help(Discipline, "the agency's discipline"),
    )
    create.add_argument(
        "--require-totp", action="store_true", help="its staff must use two-step sign-in"
    )
    command(agency, "list", "every agency on this node", run=cmd_agency_list)

    staff = group(commands, "staff", "staff accounts", dest="staff_command")
    add = command(
        staff,
        "add",
        "add the node's first administrator (password from the first line of standard "
        "input, or a prompt), or another administrator or an agency's first lead (prints a "
        "one-time enrolment link)",
        run=cmd_staff_add,
        fields=_STAFF_FIELDS,
    )
    add.add_argument(
        "--base-url",
        type=web_address,
        help="the portal's address as staff open it, for the enrolment link (default: this "
        "node's address in the roster, else http://127.0.0.1:8000)",
    )
    add.add_argument("--agency", required=True, help="the agency's name or public id")
    add.add_argument("--username", required=True, help="the name they sign in with")
    add.add_argument("--name", required=True, help="their full name, as shown to colleagues")
    add.add_argument(
        "--role",
        action="append",
        required=True,
        choices=[r.value for r in Role],
        metavar="ROLE",
        # Every role is accepted here so that the refusal can say who adds the others.
        help="administrator (the first one's password is asked here; later ones get a "
        "link), or agency_lead for an agency's first lead; the lead adds everyone else, in "
        "any role, on the portal",
    )


def _kinds_help() -> str:
    return (
        "community: community-based, may hold privileged information; system: "
        "system-based (government, law enforcement), what it receives can be compelled"
    )


def find_agency(db, name_or_id: str) -> Agency:
    """The one wording of "no such agency", for every command that names one."""
    from portal.services import keys

    try:
        agency = keys.find_agency(db, name_or_id)
    except NotFound:
        raise CommandError(
            f"no agency named {name_or_id!r} on this node; `portal agency list` shows them",
            BAD_INPUT,
        ) from None
    node = db.get(Node, agency.node_id)
    if node is not None and not node.is_local:  # a roster member hosted elsewhere (issue 16)
        raise CommandError(
            f"{agency.name} is hosted on another node ({node.base_url}); run this there",
            BAD_INPUT,
        )
    return agency


def cmd_init(args: argparse.Namespace) -> int:
    from portal.services import agencies, staff

    database = chosen()
    print(database.line())
    # A new SQLite file is made only once every answer is in and checked: a refused init
    # left an empty database file behind. A database that exists is looked at first, so
    # that one already set up is refused before any question.
    if not is_new_file(database):
        engine = open_engine(database, schema=False)
        try:
            _refuse_unless_new(engine, database)
        finally:
            engine.dispose()
    answers = {name: _answer(args, name) for name in INIT_QUESTIONS}
    for name, allowed in (("kind", AgencyKind), ("discipline", Discipline)):
        if answers[name] not in {member.value for member in allowed}:
            raise CommandError(
                f"{answers[name]!r} is not a {name}; use one of: "
                + ", ".join(m.value for m in allowed),
                BAD_INPUT,
            )
    password = _init_password()
    # Checked as the services check them, before the migrations: a password refused after
    # them left the database migrated and with no agency.
    agencies.agency_fields(
        name=answers["agency"], kind=answers["kind"], discipline=answers["discipline"]
    )
    staff.account_fields(
        username=answers["username"],
        display_name=answers["name"],
        password=password,
        roles=[Role.ADMINISTRATOR.value],
    )
    # Every setting too, before anything is made or migrated (the migrations read the
    # time zone): a refused one left the database migrated with no agency. The node holds
    # no agency yet, so its secrets are read as a new node's (the file made if missing).
    settings = node_settings()
    with setting_up(database) as engine:
        _refuse_unless_new(engine, database)  # looked at again: another init may be done
        if migrate.current_revision(engine) is None:
            migrate.upgrade(engine)
            print(f"applied the migrations (database at {migrate.head_revision()})")
        with unit_of_work(engine) as db:
            if db.exec(select(Agency.id)).first() is not None:  # another init got there first
                raise CommandError("another `portal init` has just set up this node", REFUSED)
            agency = agencies.create_agency(
                db,
                name=answers["agency"],
                kind=answers["kind"],
                discipline=answers["discipline"],
                requires_totp=args.require_totp,
                actor=None,
                keys=settings.key_wrapper(),
                at=settings.clock(),
            )
            administrator = staff.create_staff(
                db,
                agency,
                username=answers["username"],
                display_name=answers["name"],
                password=password,
                roles=[Role.ADMINISTRATOR.value],
                actor=None,
                at=settings.clock(),
            )
    print(f"created {agency.name} ({agency.public_id})")
    print(f"created the administrator {administrator.username}")
    print(
        "next: `portal serve`, sign in as the administrator, and under Agencies & staff add "
        "each agency's lead (the administrator runs the node and sees no survivor information)"
    )
    return OK


def _refuse_unless_new(engine: Engine, database: Database) -> None:
    """Refuses the database `portal init` would set up unless it is empty or migrated with
    no agency."""
    current, head = migrate.current_revision(engine), migrate.head_revision()
    if current is not None and current != head:
        raise CommandError(
            f"the database is at migration {current}, this portal needs {head}; run "
            "`portal db upgrade` first"
        )
    if current is not None and has_agencies(engine):
        raise CommandError(
            f"the database at {database.shown()} already has agencies; `portal init` only sets "
            "up a new node (sign in as its administrator, or use `portal staff add`)",
            REFUSED,
        )


def _answer(args: argparse.Namespace, name: str) -> str:
    value = getattr(args, name) or os.environ.get(INIT_ENVIRONMENT[name], "")
    if value.strip():
        return value.strip()
    if not sys.stdin.isatty():
        raise CommandError(
            f"missing --{name} (or {INIT_ENVIRONMENT[name]}); without a terminal nothing can "
            "be asked",
            BAD_INPUT,
        )
    while not (value := input(f"{INIT_QUESTIONS[name]}: ").strip()):
        pass
    return value


def stdin_line(what: str) -> str:
    """One line of standard input, which must be UTF-8 text (a Latin-1 file is refused in
    one line, never stored as something else)."""
    buffer = getattr(sys.stdin, "buffer", None)
    raw = buffer.readline() if buffer is not None else sys.stdin.readline().encode()
    try:
        return raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise CommandError(f"the {what} on standard input is not UTF-8 text", BAD_INPUT) from None


def _init_password() -> str:
    if password := os.environ.get(INIT_ENVIRONMENT["password"]):
        return password
    if not sys.stdin.isatty():
        password = stdin_line("password")
        if not password:
            raise CommandError(
                "no password: set PORTAL_INIT_PASSWORD or give it on standard input", BAD_INPUT
            )
        return password
    while True:
        password = getpass.getpass("The administrator's password: ")
        if password and password == getpass.getpass("The same again: "):
            return password
        print("The two did not match (or were empty); again.", file=sys.stderr)


def cmd_agency_create(args: argparse.Namespace) -> int:
    from portal.services import agencies

    engine = open_engine(chosen())
    settings = node_settings(engine)
    with unit_of_work(engine) as db:
        agency = agencies.create_agency(
            db,
            name=args.name,
            kind=args.kind,
            discipline=args.discipline,
            requires_totp=args.require_totp,
            actor=None,
            keys=settings.key_wrapper(),
            at=settings.clock(),
        )
        print(f"created {agency.name} ({agency.public_id})")
    return OK


def cmd_agency_list(args: argparse.Namespace) -> int:
    engine = open_engine(chosen())
    with unit_of_work(engine) as db:
        rows = db.exec(
            select(Agency, Node).join(Node, Node.id == Agency.node_id).order_by(Agency.name)
        ).all()
        for agency, node in rows:
            kind = AgencyKind(agency.kind).label
            state = "" if agency.is_active else "\tdeactivated"
            where = "" if node.is_local else f"\thosted on {node.base_url}"
            print(f"{agency.name}\t{agency.public_id}\t{kind}\t{agency.discipline}{state}{where}")
    return OK


def cmd_staff_add(args: argparse.Namespace) -> int:
    """The operator's way in: the node's very first administrator gets the password typed
    here (the operator is that person); any other account the operator may add (another
    administrator, an agency's first lead) starts from a one-time enrolment link, shown
    once, so the operator never knows anyone else's password (issue 12)."""
    from portal.models import StaffRole, StaffUser
    from portal.services import enrolment, staff

    roles = sorted(set(args.role))
    engine = open_engine(chosen())
    with unit_of_work(engine) as db:
        agency = find_agency(db, args.agency)
        has_administrator = db.exec(
            select(StaffUser.id)
            .join(StaffRole, StaffRole.user_id == StaffUser.id)
            .where(StaffRole.role == Role.ADMINISTRATOR, StaffUser.is_active)
        ).first()
        if roles != [Role.ADMINISTRATOR] or has_administrator is not None:
            if roles not in ([Role.ADMINISTRATOR], [Role.AGENCY_LEAD]):
                raise CommandError(
                    "from the command line add an administrator or an agency's first lead "
                    "(--role agency_lead); the lead adds the rest on the portal",
                    BAD_INPUT,
                )
            if roles == [Role.AGENCY_LEAD] and staff.has_lead(db, agency, at=utc_now()):
                raise CommandError(
                    f"{agency.name} has a lead already; its lead adds staff on the portal",
                    REFUSED,
                )
            user = staff.create_staff(
                db,
                agency,
                username=args.username,
                display_name=args.name,
                password=None,
                roles=roles,
                actor=None,
                at=utc_now(),
            )
            secret = enrolment.issue(db, user, actor=None, at=utc_now())
            node = db.exec(select(Node).where(Node.is_local)).first()
            base = args.base_url or (node.base_url if node else "http://127.0.0.1:8000")
            hours = int(enrolment.LINK_LIFETIME.total_seconds() // 3600)
            print(f"added {user.username} to {agency.name}")
            print(
                f"enrolment link (shown once; works once, for {hours} hours): "
                f"{base.rstrip('/')}{enrolment.PATH}{secret}"
            )
            return OK
    password = stdin_line("password") if not sys.stdin.isatty() else getpass.getpass()
    with unit_of_work(engine) as db:
        agency = find_agency(db, args.agency)
        user = staff.create_staff(
            db,
            agency,
            username=args.username,
            display_name=args.name,
            password=password,
            roles=roles,
            actor=None,
            at=utc_now(),
        )
        print(f"added {user.username} to {agency.name}")
    return OK
