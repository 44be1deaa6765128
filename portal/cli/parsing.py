"""How every `portal` subcommand is declared: help with defaults, --verbose, and which
database it would use, so `--help` answers "where will this go?" before it runs."""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import NoReturn
from urllib.parse import urlsplit

from portal.cli import database
from portal.cli.errors import BAD_INPUT

# What a command does with the database: it reads (or changes) one that exists; it may
# create one; or it has nothing to do with the node's database (benchmarks, assets).
READS, CREATES, NONE = "reads", "creates", None


class Parser(argparse.ArgumentParser):
    """Every `portal` parser, the subcommands' too (argparse makes them of the class of
    the parser they hang from): a mistake on the command line is one line, as every other
    error of a command is, and says where to read more. argparse printed the usage
    above it, a second line that said nothing about the mistake."""

    def __init__(self, *args, fields: Mapping[str, str] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields = dict(fields or {})

    def typed_as(self, field: str) -> str:
        """How the operator gave what the services call `field`: its option ('--name'
        for 'display_name'), as `fields` says, else the argument of that name, else the
        field's own name. The services name their fields for every caller (a page's
        form, the API); the command line's words stay here."""
        if field in self.fields:
            return self.fields[field]
        for action in self._actions:
            if action.dest == field:
                return max(action.option_strings, key=len, default=action.metavar or field)
        return field

    def error(self, message: str) -> NoReturn:
        said = " ".join(message.split())
        self.exit(BAD_INPUT, f"{self.prog}: error: {said} (see {self.prog} --help)\n")


class Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Defaults shown beside each option, where there is one worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.required or action.default in (None, False, argparse.SUPPRESS):
            return action.help or ""
        return super()._get_help_string(action)


def _verbose_option() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: `portal -v keys list` and `portal keys list -v` both work; a subcommand's
    # default would otherwise overwrite the top-level flag.
    parent.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="say which database is used; on an unexpected failure, show where it happened",
    )
    return parent


VERBOSE = _verbose_option()


def command(
    subparsers,
    name: str,
    help: str,
    *,
    uses: str | None = READS,
    description: str | None = None,
    run=None,
    fields: Mapping[str, str] | None = None,
) -> argparse.ArgumentParser:
    """A subcommand. `fields`: what the services' field names are on this command line,
    where no argument has the field's name (`{"display_name": "--name"}`)."""
    epilog = database.help_text() if uses else None
    if uses == CREATES:
        epilog += " A missing SQLite file is created."
    elif uses == READS:
        epilog += " It must exist: this command never creates a database."
    parser = subparsers.add_parser(
        name,
        help=help,
        description=description or help,
        epilog=epilog,
        formatter_class=Formatter,
        parents=[VERBOSE],
        fields=fields,
    )
    parser.set_defaults(uses=uses, typed_as=parser.typed_as)
    if run is not None:
        parser.set_defaults(run=run)
    return parser


def group(subparsers, name: str, help: str, *, dest: str):
    """A command made of subcommands (`portal keys list`), which are declared with `command`."""
    parser = subparsers.add_parser(
        name, help=help, description=help, formatter_class=Formatter, parents=[VERBOSE]
    )
    return parser.add_subparsers(dest=dest, required=True, metavar="COMMAND")


def choices_help(enum: type[StrEnum], what: str) -> str:
    """'role: advocate (advocate), case_manager (case manager), ...' for an option's help."""
    return f"{what}, one of: " + ", ".join(
        member.value
        if getattr(member, "label", member.value) == member.value
        else f"{member.value} ({member.label})"
        for member in enum
    )


def whole_number(least: int, most: int | None = None):
    """An option's type: a whole number of at least `least` and, given, at most `most`
    (argparse says which option and why, in one line, before anything runs)."""

    def parse(text: str) -> int:
        try:
            number = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if number < least:
            raise argparse.ArgumentTypeError(f"{number} is too few: at least {least}")
        if most is not None and number > most:
            raise argparse.ArgumentTypeError(f"{number} is too many: at most {most}")
        return number

    return parse


_SCRATCH_PREFIX = re.compile(r"[a-z][a-z0-9_]{0,39}")


def scratch_prefix(text: str) -> str:
    """An option's type: how a scratch database's name begins. It becomes a PostgreSQL
    database's name and an SQLite file's, so only lower-case letters, digits and '_':
    a quote broke the CREATE DATABASE, and '../' put a file outside the scratch folder."""
    if not _SCRATCH_PREFIX.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{text!r}: use lower-case letters, digits and '_' (a letter first, at most 40)"
        )
    return text


def seconds(text: str) -> float:
    """An option's type: a number of seconds above 0."""
    try:
        number = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not number > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text} seconds: give more than 0")
    return number


def whole_numbers(text: str) -> tuple[int, ...]:
    """An option's type: comma-separated whole numbers above 0 ('' for none)."""
    parse = whole_number(1)
    return tuple(parse(part.strip()) for part in text.split(",") if part.strip())


def port(text: str) -> int:
    """An option's type: a TCP port, 1 to 65535."""
    number = whole_number(1)(text)
    if number > 65535:
        raise argparse.ArgumentTypeError(f"{number} is not a port: at most 65535")
    return number


def web_address(text: str) -> str:
    """An option's type: the address people open the portal at, http(s)://host[:port][/path]
    (a link is built on it: 'not a url/enrol/…' was printed as one)."""
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a web address: give one such as https://mdt.example.org"
        )
    return text.strip().rstrip("/")
