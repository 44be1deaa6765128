"""`portal demo`: migrate, seed the synthetic MDT once, and serve it."""

from __future__ import annotations

import argparse
from dataclasses import replace

from sqlalchemy import Engine
from sqlmodel import func, select

from portal import migrate
from portal.audit import lock_order
from portal.cli.database import Database, chosen, is_new_file, node_settings, setting_up
from portal.cli.errors import BAD_INPUT, OK, REFUSED, CommandError
from portal.cli.parsing import CREATES, command, port
from portal.db import unit_of_work
from portal.settings import Settings


def add_commands(commands) -> None:
    demo = command(
        commands,
        "demo",
        "migrate, seed synthetic data once and serve the demo",
        uses=CREATES,
        run=cmd_demo,
        description=(
            "Prepare the demo's database (migrate, seed the synthetic MDT once; later runs "
            "reuse it) and serve it. Its database is portal-demo.db in the current folder. "
            "When DATABASE_URL names another database the demo refuses, unless "
            "--use-database-url says to seed that one; it never seeds a database that holds "
            "other data."
        ),
    )
    demo.add_argument("--host", default="127.0.0.1", help="address to listen on")
    demo.add_argument(
        "--port",
        type=port,
        help=f"port to listen on (default: {DEMO_PORT}; with --federated the first of the "
        f"three nodes' ports, default {FEDERATED_FIRST_PORT})",
    )
    demo.add_argument(
        "--no-serve", action="store_true", help="prepare the database only; do not serve"
    )
    demo.add_argument(
        "--federated",
        action="store_true",
        help="three nodes on loopback ports (--port and the next two), each its own SQLite "
        "database and keys, the demo's agencies split among them, one signed roster; kept "
        f"in {FEDERATED_FOLDER}/ in the current folder and reused",
    )
    demo.add_argument(
        "--use-database-url",
        action="store_true",
        help="put the demo in the database DATABASE_URL names, not in portal-demo.db",
    )


FEDERATED_FOLDER = "portal-federated-demo"
DEMO_PORT = 8000
# Apart from the one-node demo's port, so both demos can run side by side.
FEDERATED_FIRST_PORT = 8101


def cmd_demo(args: argparse.Namespace) -> int:
    if args.federated:
        return cmd_federated_demo(args)
    if args.port is None:
        args.port = DEMO_PORT
    from portal import assets
    from portal.app import create_app
    from portal.cli.serve import check_listening, run_in_process

    if not args.no_serve:  # a port already taken is said first, not after the seeding
        check_listening(args.host, args.port)
    from portal.demo import api as demo_api
    from portal.demo import seed as demo
    from portal.demo.logins import DEMO_LOGINS, DEMO_PASSWORD

    database = chosen()
    if not database.is_demo_file and not args.use_database_url:
        raise CommandError(
            f"DATABASE_URL is set ({database.shown()}); the demo keeps to portal-demo.db: "
            "unset DATABASE_URL, or pass --use-database-url to seed that database",
            REFUSED,
        )
    print(database.line())
    _journal_writable()
    # Every setting is checked before a new database is made, or an empty one migrated (the
    # migrations read the time zone): a refused one left the demo's database migrated, and
    # a new secrets file beside it.
    if is_new_file(database):
        _demo_settings()
    with setting_up(database) as engine:
        if migrate.current_revision(engine) is None:
            _demo_settings()
        else:
            # Before migrating: a database that is not the demo's is left exactly as it was.
            with unit_of_work(engine) as db:
                if _demo_state(db) == "other":
                    raise CommandError(
                        f"the database at {database.shown()} holds agencies that are not the "
                        "demo's; the demo seeds only an empty database or its own: "
                        + _elsewhere_hint(database),
                        REFUSED,
                    )
        migrate.upgrade(engine)
        settings = _demo_settings(engine)
        if settings.coordinating_agency is None:
            # No roster on the demo's one node: the advocacy center coordinates the MDT, so
            # partners' points may refer minors with a clear concern to it (issue 20).
            settings = replace(settings, coordinating_agency=demo.AGENCIES[0].name)
        with unit_of_work(engine) as db:
            lock_order.alone_on_the_node(db)  # seeded before the node serves: nothing beside it
            if settings.audit_journal:  # the demo's checkpoints are journaled like any others
                from portal.audit.journal import Journal

                Journal(settings.audit_journal).attach(db)
            if _demo_state(db) == "demo":
                print("reusing the demo data already in the database")
            else:
                now = settings.clock()
                demo.seed(
                    db,
                    keys=settings.key_wrapper(),
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
    print("\nMDT Portal demo (synthetic data only)")
    if args.no_serve:
        print("The database is ready; `portal demo` serves it (or `portal serve`).")
    else:
        print(f"Open http://{args.host}:{args.port}/")
    print(f"Every demo login uses the password: {DEMO_PASSWORD}")
    for username, display_name, _agency, roles in DEMO_LOGINS:
        print(f"  {username:<13} {roles[0].label:<16} {display_name}")
    print(
        "  (each partner agency also has a lead: cw.lead, pd.lead, shelter.lead, "
        "mentor.lead, clinic.lead)"
    )
    with unit_of_work(engine) as db:
        case = demo_api.example_case(db)
    if case is not None:
        base = f"http://{args.host}:{args.port}"
        print(
            "A partner system's API token (child welfare, acting as a case manager):\n"
            f'  curl -s -H "Authorization: Bearer {demo_api.DEMO_TOKEN}" '
            f"{base}/api/v1/cases/{case}/summary"
        )
    if args.no_serve:
        return OK
    run_in_process(create_app(settings, engine=engine), args.host, args.port)
    return OK


def _journal_writable() -> None:
    """The audit journal (PORTAL_AUDIT_JOURNAL) checked as `portal serve` checks it, before
    the seeding signs checkpoints for it: a mistyped folder was made, and a journal of its
    own started there, which a node served on the right one then lacked."""
    import os

    from portal.audit.journal import Journal, JournalError
    from portal.settings import audit_journal_from

    path = audit_journal_from(os.environ)
    if path:
        try:
            Journal(path).check_writable()
        except JournalError as error:
            raise CommandError(str(error)) from None


def _demo_settings(engine: Engine | None = None) -> Settings:
    """The demo's settings: served over plain HTTP on loopback, with its conveniences."""
    return node_settings(engine, cookie_secure=False, demo=True)


def _demo_state(db) -> str:
    """'empty', 'demo' (the demo's agencies and logins are all there) or 'other'."""
    from portal.demo.logins import AGENCY_LEADS, DEMO_LOGINS
    from portal.demo.seed import AGENCIES
    from portal.models import Agency, StaffUser

    if db.exec(select(Agency.id)).first() is None:
        return "empty"
    names = [spec.name for spec in AGENCIES]
    usernames = [login[0] for login in DEMO_LOGINS] + [u for u, _ in AGENCY_LEADS.values()]
    agencies = db.exec(select(func.count(Agency.id)).where(Agency.name.in_(names))).one()
    logins = db.exec(
        select(func.count(StaffUser.id)).where(StaffUser.username.in_(usernames))
    ).one()
    return "demo" if (agencies, logins) == (len(names), len(usernames)) else "other"


def _elsewhere_hint(database: Database) -> str:
    if database.is_demo_file:
        return "run the demo from another folder, or move portal-demo.db away"
    return "point DATABASE_URL at a new database, or unset it for portal-demo.db"


def cmd_federated_demo(args: argparse.Namespace) -> int:
    """Three nodes, each a `portal serve` process of its own (issue 16)."""
    import json
    import os
    import time
    from pathlib import Path

    from portal.demo import federated
    from portal.demo.logins import DEMO_PASSWORD
    from portal.demo.seed import AGENCIES

    first_port = FEDERATED_FIRST_PORT if args.port is None else args.port
    if first_port + 2 > 65535:  # said before anything is built: node-c's port is past the last
        raise CommandError(
            f"--port {first_port}: the three nodes take it and the next two, so at most 65533",
            BAD_INPUT,
        )
    folder = Path(FEDERATED_FOLDER).resolve()
    state_file = folder / "nodes.json"
    if not state_file.exists() and any(folder.glob("node-*.db")):
        raise CommandError(
            f"{folder} holds a federated demo that never finished being prepared; move the "
            "folder away (or remove it) to start a new one",
            REFUSED,
        )
    nodes = federated.plan(folder, host=args.host, port=first_port)
    reusing = state_file.exists()
    if reusing:
        state = _federated_state(state_file)
        if [n["url"] for n in state["nodes"]] != [n.url for n in nodes]:
            raise CommandError(
                f"{folder} holds a federated demo on other addresses "
                f"({', '.join(n['url'] for n in state['nodes'])}); run it with those, or "
                "move the folder away",
                REFUSED,
            )
        for node, saved in zip(nodes, state["nodes"], strict=True):
            node.kek, node.session_key = saved["kek"], saved["session_key"]
    if not (reusing and args.no_serve):  # the nodes are started: to link them, or to serve
        _nodes_can_serve(nodes, args.host)
    if reusing:
        print(f"reusing the federated demo in {folder}")
        fresh = None
    else:
        print(f"preparing three nodes in {folder} (synthetic data only)")
        fresh = federated.prepare(nodes, cases_count=4)
        federated.seed_partner_minors(fresh)  # issue 20: minors partners screened
    if args.no_serve and fresh is None:
        print("The nodes are ready; `portal demo --federated` serves them.")
        return OK
    try:
        for node in nodes:
            federated.start(node, log=folder / f"{node.name}.log")
        for node in nodes:
            try:
                federated.wait_until_serving(node)
            except RuntimeError as error:  # a port in use, most often
                raise CommandError(
                    f"{error}; its log is {folder / (node.name + '.log')} (is the port free?)"
                ) from None
        if fresh is not None:
            federated.link(fresh)  # through the protocol: each owner confirms its client
            print("linked each case to the clients on the other nodes (each owner confirmed)")
            # Saved once the demo is whole, never before: a run that failed on the way (a
            # node that would not start) was reused by the next as "ready", its cases never
            # linked. The secrets are readable by this user only; a later run opens the
            # same keys with them.
            fd = os.open(state_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                saved = [{"url": n.url, "kek": n.kek, "session_key": n.session_key} for n in nodes]
                json.dump({"nodes": saved}, handle)
        names = {a.key: a.name for a in AGENCIES}
        print("\nMDT Portal federated demo (synthetic data only)")
        print(f"Every demo login uses the password: {DEMO_PASSWORD}")
        for node in nodes:
            print(f"\n{node.name}: {node.url}/  (its own database {node.database.name})")
            for key in node.agencies:
                logins = [u for u, _n, _r in federated.staff_of(key)]
                print(f"  {names[key]}: {', '.join(logins)}")
        if args.no_serve:
            print(f"\nThe nodes are ready in {folder}; `portal demo --federated` serves them.")
            return OK
        print(
            "\nSign in on node-a as `coordinator` or `lead`, or on node-b as `casemanager`, "
            "and open a case summary: each owner's sections come from its own node. Logs of "
            f"each node are in {folder}. Stop with Ctrl-C."
        )
        while all(node.process.poll() is None for node in nodes):
            time.sleep(1)
        raise CommandError("a node stopped; see its log in " + str(folder))
    except KeyboardInterrupt:
        return OK
    finally:
        for node in nodes:
            federated.stop(node)


def _nodes_can_serve(nodes, host: str) -> None:
    """What would stop a node's `portal serve`, said before anything is built: a port
    taken, or a setting of the environment (which the nodes inherit) it refuses. Found
    only once the nodes were prepared, it left a folder the next run refused as a demo
    that never finished being prepared."""
    import os

    from portal.cli.serve import check_listening
    from portal.settings import from_environment

    for node in nodes:
        check_listening(host, node.port)
    try:  # the nodes' own secrets are given them: no secrets file is read or made
        from_environment({**os.environ, **nodes[0].environment()})
    except (ValueError, KeyError) as error:
        raise CommandError(f"cannot read the settings: {error}") from None


def _federated_state(path) -> dict:
    """What an earlier federated demo in the folder saved: its nodes' addresses and keys."""
    import json

    wanted = {"url", "kek", "session_key"}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        if not all(isinstance(n, dict) and wanted <= n.keys() for n in state["nodes"]):
            raise ValueError
    except (OSError, ValueError, TypeError, KeyError):
        raise CommandError(
            f"{path} is not a federated demo's saved state; move the folder "
            f"{path.parent} away to start a new demo",
            REFUSED,
        ) from None
    return state
