"""`portal`: the one command for everything an operator does."""

from __future__ import annotations

import argparse
import os
import sys
import traceback

from nacl.exceptions import CryptoError
from sqlalchemy.exc import DBAPIError

from portal.cli import audit as audit_commands
from portal.cli import bench as bench_commands
from portal.cli import consent as consent_commands
from portal.cli import db as db_commands
from portal.cli import demo as demo_commands
from portal.cli import roster as roster_commands
from portal.cli import serve as serve_commands
from portal.cli import setup as setup_commands
from portal.cli import translations as translation_commands
from portal.cli.database import BUSY, chosen, problem
from portal.cli.errors import BAD_INPUT, COULD_NOT_RUN, EXIT_STATUSES, CommandError
from portal.cli.parsing import NONE, Formatter, Parser, command
from portal.db_faults import is_lock_wait
from portal.errors import DomainError, Invalid
from portal.settings import DEMO_DATABASE_FILE

DEMO_DATABASE = DEMO_DATABASE_FILE
# A key the command needed opens under no key-encryption key the node is given: wrapped
# under one no longer given (a rewrap stopped part-way, its previous KEK dropped), or
# damaged. `portal keys rewrap` counts such keys and says what to give.
KEY_UNOPENED = (
    "a key this command needs opens under no key-encryption key this node is given: run "
    "`portal keys rewrap`, which counts such keys and says which KEK to give "
    "(PORTAL_KEK_PREVIOUS), then run this again"
)


def parser() -> argparse.ArgumentParser:
    top = Parser(
        prog="portal",
        description=__doc__
        + "\n\nEvery command that uses the node's database takes it from DATABASE_URL, or, "
        f"when that is unset, from {DEMO_DATABASE_FILE} in the current folder (the demo's). "
        "Now: " + chosen().line() + ".",
        epilog=EXIT_STATUSES,
        formatter_class=Formatter,
    )
    top.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="say which database is used; on an unexpected failure, show where it happened",
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo_commands.add_commands(commands)
    setup_commands.add_commands(commands)  # init, agency, staff
    serve_commands.add_commands(commands)
    db_commands.add_commands(commands)
    consent_commands.add_commands(commands)  # consent releases and agency keys
    roster_commands.add_commands(commands)  # the MDT's signed roster (issue 16)
    bench_commands.add_commands(commands)  # bench disclosure|audit|workflow|federation
    audit_commands.add_commands(commands)
    translation_commands.add_commands(commands)  # catalogues of translations (issue 19)
    command(commands, "assets", "fetch htmx from the npm registry", uses=NONE, run=cmd_assets)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    verbose = getattr(args, "verbose", False)
    if verbose and getattr(args, "uses", None):
        print(chosen().line(), file=sys.stderr)
    try:
        return args.run(args) or 0
    except CommandError as error:
        return _fail(str(error), error.status)
    except Invalid as error:
        return _fail(_as_typed(error, args), BAD_INPUT)
    except DomainError as error:
        return _fail(str(error), BAD_INPUT)
    except DBAPIError as error:  # the database went away (or refused) after it was opened
        return _fail(str(problem(error, chosen())), COULD_NOT_RUN)
    except CryptoError:  # the node's KEK opens its keys (checked first): not this one
        return _fail(KEY_UNOPENED, COULD_NOT_RUN)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader had what it wanted (`| head`): nothing to report
        _stdout_discarded()
        return 0
    except EOFError:  # Ctrl-D at a question
        return _fail("no answer (the input ended); nothing was changed", BAD_INPUT)
    except Exception as error:
        if is_lock_wait(error):  # the driver's own, past SQLAlchemy (the writers' lock)
            return _fail(BUSY, COULD_NOT_RUN)
        if verbose:
            traceback.print_exc()
        first = (str(error).strip().splitlines() or [""])[0]
        return _fail(
            f"unexpected {type(error).__name__}: {first}; run again with --verbose to see "
            "where, and report it",
            COULD_NOT_RUN,
        )


def _stdout_discarded() -> None:
    """What is still buffered for a reader that is gone goes nowhere: flushed at exit to
    the closed pipe, it would raise once more, past any handler."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _as_typed(error: Invalid, args: argparse.Namespace) -> str:
    """The services' refusal, each field said as the operator gave it ('--name: Name is
    required.', not 'display_name: ...')."""
    typed_as = getattr(args, "typed_as", str)
    said = [f"{typed_as(field)}: {message}" for field, message in error.errors.items()]
    return "; ".join(said) or str(error)


def _fail(message: str, status: int) -> int:
    print("error: " + " ".join(message.split()), file=sys.stderr)
    return status


def cmd_assets(args) -> int:
    from portal import assets

    try:
        path = assets.fetch_htmx()
    except assets.AssetError as error:  # npm missing or failing: ./ops/demo goes on without
        raise CommandError(str(error), COULD_NOT_RUN) from None
    print(f"htmx {assets.HTMX_VERSION} at {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
