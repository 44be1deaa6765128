"""Translations for what a survivor reads: gettext catalogues, compiled with Babel at first use.

Catalogues live in portal/locale/<language>/LC_MESSAGES/messages.po (layout and how to add
a language: portal/locale/README.md). They are compiled in memory the first time a
language is asked for, so a clean checkout, an editable install and a wheel all work
without a build step and without writing into the package.
"""

from __future__ import annotations

import gettext as gettext_module
from datetime import date, time
from functools import cache
from importlib.resources import files
from io import BytesIO
from pathlib import Path

from babel import Locale
from babel.dates import format_date, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

import consent
from consent.document import STATEMENT_KEYS
from portal.models.agency import AgencyKind
from portal.models.staff import Role
from portal.sections import IDENTITY_FIELDS, catalogue

DOMAIN = "messages"
SOURCE_LANGUAGE = "en"  # the msgids are the English text


def N_(message: str) -> str:
    """Marks a message for extraction where it is defined; translated where it is shown."""
    return message


def locale_dir() -> Path:
    found = files("portal") / "locale"
    if not isinstance(found, Path):
        raise RuntimeError("the portal package has no locale/ directory; reinstall it")
    return found


def catalogue_path(language: str) -> Path:
    return locale_dir() / _folder(language) / "LC_MESSAGES" / f"{DOMAIN}.po"


def _folder(language: str) -> str:
    # A catalogue's folder is named as gettext names a locale (pt_BR); a release, a page's
    # lang= and the forms carry the language's BCP-47 tag (pt-BR).
    return language.replace("-", "_")


@cache
def languages() -> dict[str, str]:
    """Every language with a catalogue, by BCP-47 tag ("es", "pt-BR"), named in its own
    language ("Español", "Português (Brasil)")."""
    folders = sorted(p.parent.parent.name for p in locale_dir().glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    names = {}
    for folder in folders:
        name = Locale.parse(folder).get_display_name(folder) or folder
        names[folder.replace("_", "-")] = name[:1].upper() + name[1:]
    return names


def language_or_default(language: object) -> str:
    return language if isinstance(language, str) and language in languages() else SOURCE_LANGUAGE


@cache
def translations(language: str) -> gettext_module.NullTranslations:
    """The language's catalogue compiled to gettext form; untranslated text stays English."""
    path = catalogue_path(language)
    if language not in languages() or not path.is_file():
        return gettext_module.NullTranslations()
    with path.open("rb") as handle:
        catalogue = read_po(handle, locale=_folder(language), domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalogue, use_fuzzy=False)  # a fuzzy guess is never shown
    compiled.seek(0)
    return gettext_module.GNUTranslations(compiled)


def gettext(language: str | None, message: str) -> str:
    return translations(language or SOURCE_LANGUAGE).gettext(message)


def ngettext(language: str | None, singular: str, plural: str, n: int) -> str:
    return translations(language or SOURCE_LANGUAGE).ngettext(singular, plural, n)


def written_date(language: str | None, day: date) -> str:
    """A calendar day as the language writes it out ("31 de enero de 2027"): on what a
    survivor reads, where staff pages write 2027-01-31."""
    return format_date(day, format="long", locale=_folder(language or SOURCE_LANGUAGE))


def written_time(language: str | None, moment: time) -> str:
    return format_time(moment, format="short", locale=_folder(language or SOURCE_LANGUAGE))


def statements(language: str) -> consent.Statements:
    """The four statements of rights in the language, exactly as the client will read them."""
    english = consent.default_statements()
    return consent.Statements(
        **{key: gettext(language, getattr(english, key)) for key in STATEMENT_KEYS}
    )


def dynamic_messages() -> list[str]:
    """Messages that no source file spells out where they are shown: the statements (in
    the consent library), the section titles and notices (policies/sections.toml), the
    agency kinds, the roles (a recipient's, in the accounting of disclosures), the sections' field
    labels and the words their choices are recorded in (the release preview, read with the
    survivor), the survivor's safety plan copy's labels and options."""
    english = consent.default_statements()
    return [
        *(getattr(english, key) for key in STATEMENT_KEYS),
        *(section.title for section in catalogue().sections),
        *{section.notice: None for section in catalogue().sections if section.notice},
        *field_labels(),
        *option_words(),
        *(kind.label for kind in AgencyKind),
        *(role.label for role in Role),
        *safety_plan_copy_words(),
    ]


def field_labels() -> list[str]:
    """The labels of every section's fields, the identity's included."""
    labels = list(IDENTITY_FIELDS.values())
    for section in catalogue().sections:
        labels += [field.label for field in section.fields]
    return labels


def option_words() -> list[str]:
    """The fixed words a section's choices are recorded in: a choice's or checklist's
    options, a needs list's domains and their statuses (each once)."""
    words: dict[str, None] = {}
    for section in catalogue().sections:
        for field in section.fields:
            words.update(dict.fromkeys((*field.options, *field.statuses)))
    return list(words)


@cache
def option_word_set() -> frozenset[str]:
    return frozenset(option_words())


def safety_plan_copy_words() -> list[str]:
    """The fixed words the survivor's copy of the safety plan may print (its fields' labels
    and the options the form offers); agency notes and the address choice never print."""
    never = {"agency_notes", "print_address"}  # services.safety_plan_copy.NEVER_ON_THE_COPY
    words = []
    for field in catalogue().get("safety_plan").fields:
        if field.key not in never:
            words += [field.label, *field.options]
    return words
