"""`portal`: the one command for everything an operator does."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from portal import migrate
from portal.cli import audit as audit_commands
from portal.cli import consent as consent_commands
from portal.cli import translations as translation_commands
from portal.db import make_engine, unit_of_work
from portal.errors import DomainError
from portal.settings import Settings, from_environment

DEMO_DATABASE = "portal-demo.db"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="portal", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="migrate, seed synthetic data and serve the demo")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--no-serve", action="store_true", help="prepare the database only")
    demo.set_defaults(run=cmd_demo)

    serve = commands.add_parser("serve", help="serve the portal (settings from the environment)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(run=cmd_serve)

    db = commands.add_parser("db", help="database migrations").add_subparsers(
        dest="db_command", required=True
    )
    up = db.add_parser("upgrade", help="apply migrations")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(run=cmd_db_upgrade)
    down = db.add_parser("downgrade", help="revert migrations")
    down.add_argument("revision")
    down.set_defaults(run=cmd_db_downgrade)
    db.add_parser("current", help="show the applied revision").set_defaults(run=cmd_db_current)
    db.add_parser("check", help="fail if the models and migrations disagree").set_defaults(
        run=cmd_db_check
    )
    rev = db.add_parser("revision", help="autogenerate a migration from the models")
    rev.add_argument("-m", "--message", required=True)
    rev.set_defaults(run=cmd_db_revision)

    commands.add_parser("assets", help="fetch htmx from the npm registry").set_defaults(
        run=cmd_assets
    )

    # Benchmarks (issue 5): scratch databases, printed figures.
    bench = commands.add_parser("bench", help="benchmarks on scratch databases").add_subparsers(
        dest="bench_command", required=True
    )
    bench_disclosure = bench.add_parser("disclosure", help="case summary and disclosure point")
    bench_disclosure.add_argument(
        "--backend", choices=("sqlite", "postgresql", "both"), default="both"
    )
    bench_disclosure.add_argument("--cases", type=int, default=10_000)
    bench_disclosure.add_argument("--agencies", type=int, default=30)
    bench_disclosure.add_argument("--audit-entries", type=int, default=100_000)
    bench_disclosure.add_argument("--runs", type=int, default=50)
    bench_disclosure.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "PORTAL_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    bench_disclosure.set_defaults(run=cmd_bench_disclosure)

    agency = commands.add_parser("agency", help="agencies").add_subparsers(
        dest="agency_command", required=True
    )
    create = agency.add_parser("create", help="create an agency with its keys")
    create.add_argument("--name", required=True)
    create.add_argument("--kind", required=True, choices=["community", "system"])
    create.add_argument("--discipline", required=True)
    create.add_argument("--require-totp", action="store_true")
    create.set_defaults(run=cmd_agency_create)

    staff = commands.add_parser("staff", help="staff accounts").add_subparsers(
        dest="staff_command", required=True
    )
    add = staff.add_parser(
        "add",
        help="add the first administrator (password read from stdin or prompt), or another "
        "administrator or an agency's first lead (prints a one-time enrolment link)",
    )
    add.add_argument("--agency", required=True, help="agency name")
    add.add_argument("--username", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--role", action="append", required=True)
    add.add_argument("--base-url", help="the portal's address, for the enrolment link")
    add.set_defaults(run=cmd_staff_add)

    consent_commands.add_commands(commands)  # consent releases and agency keys (issue 4)
    translation_commands.add_commands(commands)  # catalogues of translations (issue 19)
    # audit log (issue 5): audit verify|checkpoint, bench audit
    audit_commands.add_commands(commands, bench)
    # MDT workflow (issue 6)
    workflow = bench.add_parser(
        "workflow", help="coordinator dashboard and my tasks at scale (scratch databases)"
    )
    workflow.add_argument("--cases", type=int, default=100_000)
    workflow.add_argument("--tasks", type=int, default=500_000)
    workflow.add_argument("--small-cases", type=int, default=1_000)
    workflow.add_argument("--small-tasks", type=int, default=5_000)
    workflow.add_argument(
        "--repeat", type=int, default=200, help="measured runs per page, after warm-up runs"
    )
    workflow.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "PORTAL_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1/postgres"
        ),
        help="server to create (and drop) the scratch database on; '' to skip PostgreSQL",
    )
    workflow.set_defaults(run=cmd_bench_workflow)

    args = parser.parse_args(argv)
    try:
        return args.run(args) or 0
    except DomainError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _settings(**overrides) -> Settings:
    return from_environment(**overrides)


def cmd_db_upgrade(args) -> int:
    engine = make_engine(_settings().database_url)
    migrate.upgrade(engine, args.revision)
    print(f"database at {migrate.current_revision(engine)}")
    return 0


def cmd_db_downgrade(args) -> int:
    engine = make_engine(_settings().database_url)
    migrate.downgrade(engine, args.revision)
    print(f"database at {migrate.current_revision(engine) or 'base'}")
    return 0


def cmd_db_current(args) -> int:
    engine = make_engine(_settings().database_url)
    current, head = migrate.current_revision(engine), migrate.head_revision()
    print(f"current {current or 'base'}; head {head}" + ("" if current == head else " (behind)"))
    return 0 if current == head else 1


def cmd_db_check(args) -> int:
    engine = make_engine(_settings().database_url)
    migrate.upgrade(engine)
    differences = migrate.schema_differences(engine)
    for difference in differences:
        print(difference)
    print("models and migrations agree" if not differences else "models and migrations differ")
    return 1 if differences else 0


def cmd_db_revision(args) -> int:
    engine = make_engine(_settings().database_url)
    migrate.upgrade(engine)
    migrate.new_revision(engine, args.message)
    return 0


def cmd_bench_disclosure(args) -> int:
    from portal.bench import disclosure

    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    disclosure.run(
        backends=backends,
        cases_n=args.cases,
        agencies_n=args.agencies,
        audit_n=args.audit_entries,
        runs=args.runs,
        postgres_url=args.postgres_url,
    )
    return 0


def cmd_assets(args) -> int:
    from portal import assets

    path = assets.fetch_htmx()
    print(f"htmx {assets.HTMX_VERSION} at {path}")
    return 0


def cmd_agency_create(args) -> int:
    from portal.crypto import KeyWrapper
    from portal.services import agencies

    settings = _settings()
    engine = make_engine(settings.database_url)
    with unit_of_work(engine) as db:
        agency = agencies.create_agency(
            db,
            name=args.name,
            kind=args.kind,
            discipline=args.discipline,
            requires_totp=args.require_totp,
            actor=None,
            keys=KeyWrapper(settings.secrets.kek_bytes()),
            at=settings.clock(),
        )
        print(f"created {agency.name} ({agency.public_id})")
    return 0


def cmd_staff_add(args) -> int:
    """The operator's way in: the node's very first administrator gets the password typed
    here (the operator is that person); any other account the operator may add (another
    administrator, an agency's first lead) starts from a one-time enrolment link, shown
    once, so the operator never knows anyone else's password."""
    from sqlmodel import select

    from portal.models import Agency, Node, Role, StaffRole, StaffUser
    from portal.services import enrolment, staff

    settings = _settings()
    roles = sorted(set(args.role))
    engine = make_engine(settings.database_url)
    with unit_of_work(engine) as db:
        agency = db.exec(select(Agency).where(Agency.name == args.agency)).first()
        if agency is None:
            print(f"error: no agency named {args.agency!r}", file=sys.stderr)
            return 2
        has_administrator = db.exec(
            select(StaffUser.id)
            .join(StaffRole, StaffRole.user_id == StaffUser.id)
            .where(StaffRole.role == Role.ADMINISTRATOR, StaffUser.is_active)
        ).first()
        if roles == [Role.ADMINISTRATOR] and has_administrator is None:
            password = (
                sys.stdin.readline().rstrip("\n") if not sys.stdin.isatty() else getpass.getpass()
            )
            user = staff.create_staff(
                db,
                agency,
                username=args.username,
                display_name=args.name,
                password=password,
                roles=roles,
                actor=None,
                at=settings.clock(),
            )
            print(f"added {user.username} to {agency.name}")
            return 0
        if roles != [Role.ADMINISTRATOR]:
            if roles != [Role.AGENCY_LEAD]:
                print(
                    "error: from the command line add an administrator or an agency's first "
                    "lead (--role agency_lead); the lead adds the rest on the portal",
                    file=sys.stderr,
                )
                return 2
            if staff.has_lead(db, agency):
                print(
                    f"error: {agency.name} has a lead already; its lead adds staff on the portal",
                    file=sys.stderr,
                )
                return 2
        user = staff.create_staff(
            db,
            agency,
            username=args.username,
            display_name=args.name,
            password=None,
            roles=roles,
            actor=None,
            at=settings.clock(),
        )
        secret = enrolment.issue(db, user, actor=None, at=settings.clock())
        node = db.exec(select(Node).where(Node.is_local)).first()
        base = args.base_url or (node.base_url if node else "http://127.0.0.1:8000")
        hours = int(enrolment.LINK_LIFETIME.total_seconds() // 3600)
        print(f"added {user.username} to {agency.name}")
        print(
            f"enrolment link (shown once; works once, for {hours} hours): "
            f"{base.rstrip('/')}{enrolment.PATH}{secret}"
        )
    return 0


def cmd_bench_workflow(args) -> int:
    from portal.bench import workflow

    workflow.run(
        sizes=[(args.small_cases, args.small_tasks), (args.cases, args.tasks)],
        postgres_url=args.postgres_url or None,
        repeat=args.repeat,
    )
    return 0


def _serve(app, host: str, port: int) -> None:
    import uvicorn

    from portal.serving import UVICORN_OPTIONS

    uvicorn.run(app, host=host, port=port, log_level="info", **UVICORN_OPTIONS)


def cmd_serve(args) -> int:
    import uvicorn

    from portal.serving import UVICORN_OPTIONS
    from portal.settings import refuse_unsafe_production

    try:
        refuse_unsafe_production(_settings())
    except ValueError as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2

    uvicorn.run(
        "portal.asgi:app", host=args.host, port=args.port, workers=args.workers, **UVICORN_OPTIONS
    )
    return 0


def cmd_demo(args) -> int:
    from portal import assets
    from portal.app import create_app
    from portal.crypto import KeyWrapper
    from portal.demo import seed as demo
    from portal.demo.logins import DEMO_LOGINS, DEMO_PASSWORD

    os.environ.setdefault("DATABASE_URL", f"sqlite:///{Path.cwd() / DEMO_DATABASE}")
    settings = _settings(cookie_secure=False, demo=True)
    engine = make_engine(settings.database_url)
    migrate.upgrade(engine)
    with unit_of_work(engine) as db:
        if settings.audit_journal:  # the demo's checkpoints are journaled like any others
            from portal.audit.journal import Journal

            Journal(settings.audit_journal).attach(db)
        if demo.is_seeded(db):
            print("reusing the demo data already in the database")
        else:
            now = settings.clock()
            demo.seed(
                db,
                keys=KeyWrapper(settings.secrets.kek_bytes()),
                at=now,
                today=now.astimezone(settings.tz).date(),
                tz=settings.tz,
            )
            print("seeded synthetic demo data")
    if not assets.htmx_present():
        try:
            assets.fetch_htmx()
        except assets.AssetError as error:
            print(f"note: {error} (pages still work without JavaScript)")
    url = f"http://{args.host}:{args.port}/"
    print(f"\nMDT Portal demo (synthetic data only) — database {settings.database_url}")
    print(f"Open {url}\nEvery demo login uses the password: {DEMO_PASSWORD}")
    for username, display_name, _agency, roles in DEMO_LOGINS:
        print(f"  {username:<13} {roles[0].label:<16} {display_name}")
    print(
        "  (each partner agency also has a lead: cw.lead, pd.lead, shelter.lead, "
        "mentor.lead, clinic.lead)"
    )
    if args.no_serve:
        return 0
    _serve(create_app(settings, engine=engine), args.host, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
