"""`portal i18n template` and `portal i18n check`: the message template an agency
translates, and the check that every catalogue translates every message (issue 19)."""

from __future__ import annotations

import argparse
import sys
from io import BytesIO
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_file
from babel.messages.pofile import read_po, write_po

from portal import i18n
from portal.cli.errors import BAD_INPUT, CommandError
from portal.cli.parsing import NONE, command, group
from portal.resources import TEMPLATES_DIR

PORTAL_DIR = Path(i18n.__file__).parent
KEYWORDS = {**DEFAULT_KEYWORDS, "N_": None}


def messages() -> dict[str | tuple[str, str], set[str]]:
    """Every translatable message (a plural one as (singular, plural)), with where it
    appears: templates (`_`, `ngettext`, `{% trans %}`), Python (`N_`), the statements,
    the section titles and the agency kinds."""
    found: dict[str | tuple[str, str], set[str]] = {}

    def add(message, where: str) -> None:
        if message:
            found.setdefault(message, set()).add(where)

    for path in sorted(TEMPLATES_DIR.rglob("*.html")):
        for _line, message, _comments, _context in extract_from_file(
            "jinja2.ext:babel_extract",
            str(path),
            keywords=DEFAULT_KEYWORDS,
            options={"extensions": "jinja2.ext.i18n", "newstyle_gettext": "true"},
        ):
            add(message, f"templates/{path.relative_to(TEMPLATES_DIR)}")
    for path in sorted(PORTAL_DIR.rglob("*.py")):
        for _line, message, _comments, _context in extract_from_file(
            "python", str(path), keywords=KEYWORDS
        ):
            add(message, f"portal/{path.relative_to(PORTAL_DIR)}")
    for text in i18n.dynamic_messages():
        add(text, "consent statements, policies/sections.toml, agency kinds")
    return found


def _singular(message: str | tuple[str, str]) -> str:
    return message[0] if isinstance(message, tuple) else message


def template() -> Catalog:
    catalogue = Catalog(project="mdt-portal", domain=i18n.DOMAIN)
    for message, places in sorted(messages().items(), key=lambda item: _singular(item[0])):
        catalogue.add(message, locations=[(place, None) for place in sorted(places)])
    return catalogue


def missing(language: str) -> list[str]:
    """Messages the language's catalogue leaves untranslated (or only guessed: fuzzy)."""
    with i18n.catalogue_path(language).open("rb") as handle:
        catalogue = read_po(handle, locale=language)
    gaps = []
    for message in messages():
        entry = catalogue.get(_singular(message))
        if entry is None or entry.fuzzy:
            gaps.append(_singular(message))
            continue
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        if not all(strings) or isinstance(message, tuple) != isinstance(entry.id, tuple):
            gaps.append(_singular(message))
    return sorted(gaps)


def add_commands(commands) -> None:
    # Declared like every other command, so `portal -v i18n …` and `--help` work as theirs do.
    i18n_cmd = group(commands, "i18n", "translations", dest="i18n_command")
    tpl = command(
        i18n_cmd,
        "template",
        "write the message template (.pot) to FILE",
        uses=NONE,
        run=cmd_template,
    )
    tpl.add_argument("file", help="where to write it, or - for standard output")
    command(
        i18n_cmd,
        "check",
        "fail (exit status 1) if any catalogue leaves a message untranslated",
        uses=NONE,
        run=cmd_check,
    )


def cmd_template(args: argparse.Namespace) -> int:
    buffer = BytesIO()
    write_po(buffer, template(), width=100, include_lineno=False)
    if args.file == "-":
        sys.stdout.buffer.write(buffer.getvalue())
    else:
        try:
            Path(args.file).write_bytes(buffer.getvalue())
        except OSError as error:
            raise CommandError(
                f"cannot write {args.file}: {error.strerror or error}", BAD_INPUT
            ) from None
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    failed = False
    for language in i18n.languages():
        gaps = missing(language)
        if gaps:
            failed = True
            print(f"{language}: {len(gaps)} message(s) not translated, e.g. {gaps[0]!r}")
        else:
            print(f"{language}: complete")
    return 1 if failed else 0
