"""How a command fails: one line on stderr that says what to do, and a distinct exit status."""

from __future__ import annotations

# Exit statuses, the same for every command (`portal --help` lists them).
OK = 0
NEGATIVE = 1  # the command ran and its check said no: not valid, a broken log, behind
BAD_INPUT = 2  # the command line or its input is wrong (argparse uses 2 too)
COULD_NOT_RUN = 3  # a setting is wrong, or the database, the secrets or Redis cannot be used
REFUSED = 4  # the database is not in a state the command may act on

EXIT_STATUSES = (
    "exit status: 0 done; 1 the check said no (not valid, a broken log, migrations "
    "behind); 2 bad command line or input (also: no such agency); 3 could not run (a "
    "setting is wrong, or the database, the secrets or Redis cannot be used as "
    "configured); 4 refused (the database is not in a state the command may act on)"
)


class CommandError(Exception):
    """Raised anywhere under a command; `portal` prints it as one line and exits with it."""

    def __init__(self, message: str, status: int = COULD_NOT_RUN) -> None:
        super().__init__(message)
        self.status = status
