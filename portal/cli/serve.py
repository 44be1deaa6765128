"""`portal serve`: check what the node needs, then hand it to uvicorn."""

from __future__ import annotations

import argparse

from portal.cli.database import chosen, has_agencies, node_settings, open_engine
from portal.cli.errors import OK, REFUSED, CommandError
from portal.cli.parsing import command


def add_commands(commands) -> None:
    serve = command(
        commands,
        "serve",
        "serve the portal (settings from the environment)",
        run=cmd_serve,
        description=(
            "Serve the portal with uvicorn. Settings come from the environment (README, "
            "'Settings'). With --workers above 1 set REDIS_URL, so that sign-in throttling "
            "counts across the workers. The database must be migrated (`portal db upgrade`) "
            "and hold an agency (`portal init`)."
        ),
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on")
    serve.add_argument("--workers", type=int, default=1, help="worker processes")


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from portal.redis_store import SCHEMES, problem
    from portal.serving import UVICORN_OPTIONS
    from portal.settings import refuse_unsafe_production

    database = chosen()
    print(database.line())
    engine = open_engine(database)
    try:  # a setting that is wrong is said first, whatever the database holds
        refuse_unsafe_production(node_settings(engine))
    except ValueError as unsafe:
        raise CommandError(str(unsafe), REFUSED) from None
    if not has_agencies(engine):
        raise CommandError(
            f"the database at {database.shown()} has no agency yet, so nobody could sign in; "
            "run `portal init` first",
            REFUSED,
        )
    settings = node_settings(engine)
    engine.dispose()
    storage = settings.ratelimit_storage
    if storage.split(":", 1)[0] in SCHEMES and (reason := problem(storage)):
        raise CommandError(f"cannot reach Redis for sign-in throttling ({reason}); fix REDIS_URL")
    if args.workers > 1 and storage.startswith("memory"):
        print(
            "note: each worker counts failed sign-ins on its own; set REDIS_URL to share the count"
        )
    uvicorn.run(
        "portal.asgi:app", host=args.host, port=args.port, workers=args.workers, **UVICORN_OPTIONS
    )
    return OK


def run_in_process(app, host: str, port: int) -> None:
    """Serve an app object (the demo's) in this process, as `portal serve` would."""
    import uvicorn

    from portal.serving import UVICORN_OPTIONS, settle_worker

    settle_worker()
    uvicorn.run(app, host=host, port=port, log_level="info", **UVICORN_OPTIONS)
