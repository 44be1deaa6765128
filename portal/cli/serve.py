"""`portal serve`: check what the node needs, then hand it to uvicorn."""

from __future__ import annotations

import argparse
import os

from portal.cli.database import chosen, has_agencies, node_settings, open_engine
from portal.cli.errors import BAD_INPUT, COULD_NOT_RUN, OK, REFUSED, CommandError
from portal.cli.parsing import command, port, whole_number

# Beyond this many, more workers by default would mostly add memory and connections: the
# node's database (one SQLite file's writers, or PostgreSQL's connections) is shared by all.
MOST_WORKERS_BY_DEFAULT = 8
# Asked for, at most this many: each worker holds its own connections (PostgreSQL's
# default limit is 100 for the whole server) and its own memory; 1,000 were accepted, and
# hundreds of processes started before the machine ran out of memory.
MOST_WORKERS = 32


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity (a container's or taskset's
    limit), not every core of the machine."""
    if hasattr(os, "process_cpu_count"):  # Python 3.13
        count = os.process_cpu_count()
    elif hasattr(os, "sched_getaffinity"):
        count = len(os.sched_getaffinity(0))
    else:
        count = os.cpu_count()
    return count or 1


def default_workers() -> int:
    """One worker per usable core (ops/README.md §3), at least one, at most
    MOST_WORKERS_BY_DEFAULT."""
    return max(1, min(usable_cores(), MOST_WORKERS_BY_DEFAULT))


def add_commands(commands) -> None:
    serve = command(
        commands,
        "serve",
        "serve the portal (settings from the environment)",
        run=cmd_serve,
        description=(
            "Serve the portal with uvicorn. Settings come from the environment (README, "
            "'Settings'). Every worker counts failed sign-ins in the node's database (or in "
            "REDIS_URL's Redis, when set). The database must be migrated (`portal db upgrade`) "
            "and hold an agency (`portal init`)."
        ),
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=port, default=8000, help="port to listen on")
    serve.add_argument(
        "--workers",
        type=whole_number(1, MOST_WORKERS),
        default=default_workers(),
        help=f"worker processes, at most {MOST_WORKERS}; by default one per core this process "
        f"may use, at most {MOST_WORKERS_BY_DEFAULT}",
    )


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from portal.audit.journal import Journal, JournalError
    from portal.redis_store import SCHEMES, problem
    from portal.serving import UVICORN_OPTIONS
    from portal.settings import refuse_unsafe_production
    from portal.worker_shares import ENVIRONMENT, WorkerShares

    database = chosen()
    print(database.line())
    engine = open_engine(database)
    try:  # a setting that is wrong is said first, whatever the database holds
        refuse_unsafe_production(node_settings(engine))
    except ValueError as unsafe:  # a setting to write, as any other (exit 3), not a refusal
        raise CommandError(str(unsafe), COULD_NOT_RUN) from None
    if not has_agencies(engine):
        raise CommandError(
            f"the database at {database.shown()} has no agency yet, so nobody could sign in; "
            "run `portal init` first",
            REFUSED,
        )
    settings = node_settings(engine)
    engine.dispose()
    if settings.audit_journal:  # every checkpoint signed while serving is appended to it
        try:
            Journal(settings.audit_journal).check_writable()
        except JournalError as error:
            raise CommandError(str(error)) from None
    storage = settings.ratelimit_storage
    if storage.split(":", 1)[0] in SCHEMES and (reason := problem(storage)):
        raise CommandError(f"cannot reach Redis for sign-in throttling ({reason}); fix REDIS_URL")
    check_listening(args.host, args.port, workers=args.workers)
    if args.workers > 1 and storage.startswith("memory"):
        print(
            "note: each worker counts failed sign-ins on its own (PORTAL_RATELIMIT_STORAGE is "
            "memory://); leave it unset to count in the database"
        )
    print(f"serving with {args.workers} worker process{'es' if args.workers != 1 else ''}")
    shares = None
    if args.workers > 1:  # the workers even out the requests they serve
        shares = WorkerShares.create(args.workers)
        os.environ[ENVIRONMENT] = shares
    try:
        uvicorn.run(
            "portal.asgi:app",
            host=args.host,
            port=args.port,
            workers=args.workers,
            **UVICORN_OPTIONS,
        )
    finally:
        if shares is not None:
            os.unlink(shares)
    return OK


def check_listening(host: str, port: int, *, workers: int = 1) -> None:
    """Bind the address once, as uvicorn will, so that a port already taken (by another
    `portal serve`, say) is said in one line before the workers start, not in their logs.

    One worker: uvicorn binds with asyncio's `create_server(host=…)`, every address the
    host names ('' for all), an IPv6 one IPv6-only. More: one socket of its own, IPv6 (both
    stacks) when the host has a colon, else IPv4."""
    import errno
    import socket

    try:
        found = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as error:
        raise CommandError(
            f"cannot listen on --host {host!r}: {error.strerror}", BAD_INPUT
        ) from None
    if workers > 1:
        family = socket.AF_INET6 if host and ":" in host else socket.AF_INET
        addresses = [(family, (host, port))]
    else:
        addresses = list(dict.fromkeys((info[0], info[4]) for info in found))
    for family, address in addresses:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            if family == socket.AF_INET6 and workers == 1:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)  # as asyncio
            try:
                probe.bind(address)
            except OSError as error:
                if error.errno == errno.EADDRINUSE:
                    raise CommandError(
                        f"port {port} on {host} is already in use (another `portal serve` or "
                        f"`portal demo`?); stop what listens there (`ss -ltnp 'sport = :{port}'` "
                        "shows it) or choose another --port"
                    ) from None
                if error.errno == errno.EACCES:
                    raise CommandError(
                        f"not allowed to listen on port {port}; choose a port above 1023 "
                        "(the proxy in front listens on 443)"
                    ) from None
                raise CommandError(f"cannot listen on {host}:{port}: {error.strerror}") from None


def run_in_process(app, host: str, port: int) -> None:
    """Serve an app object (the demo's) in this process, as `portal serve` would."""
    import uvicorn

    from portal.serving import UVICORN_OPTIONS, settle_worker

    settle_worker()
    uvicorn.run(app, host=host, port=port, log_level="info", **UVICORN_OPTIONS)
