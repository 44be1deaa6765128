"""The section catalogue, read from policies/sections.toml (data, not code)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TypeAlias

from portal.resources import POLICIES_DIR

CATALOGUE_PATH = POLICIES_DIR / "sections.toml"
FIELD_TYPES = frozenset({"text", "textarea", "date", "choice", "checklist", "domains"})
GUARDED_TYPES = frozenset({"domains", "checklist"})  # fields whose lines may be guarded
# Sections whose content lives outside the section versions: the workflow's meeting minutes
# and the mentor program's accompaniment log. Only the disclosure point reads them for others.
# "referrals": the screenings of minors with a clear concern and no MDT case (issue 20).
SOURCES = frozenset({"meetings", "mentoring", "decisions", "tasks", "participation", "referrals"})
# What a section's consent is asked of: one client's releases (held by the owner), or, for
# the MDT's own records, the releases of every survivor linked to the case (issue 14).
SCOPES = frozenset({"client", "case"})
# The fields of the client's sealed identity record (portal/services/clients.py), and their
# labels: a section names the ones it carries, so the name and the address can be released
# apart (issue 14).
IDENTITY_FIELDS = {
    "given_name": "Given name",
    "family_name": "Family name",
    "birth_date": "Date of birth",
    "phone": "Phone",
    "email": "Email",
    "address": "Address",
}
# Sections kept as versions but written by a service of their own rather than by the
# section form (issue 20): the screening record, and the safety plan's strategies.
WRITERS = frozenset({"screenings", "safety_plans"})

# A section's content once checked against its fields (`services.sections.clean_content`),
# as it is sealed in a version: text, an ISO date, a choice, a checklist or the needs'
# statuses and notes, by field key.
SectionContent: TypeAlias = dict[str, object]


@dataclass(frozen=True)
class SectionField:
    key: str
    label: str
    type: str
    options: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    # (option, section key): a line of a "domains" or "checklist" field that tells what
    # another section holds (a needs assessment's substance use line, the substance use
    # section's matter; an immigration proceeding, the immigration section's). Released only
    # to whom that section's gates would release it (`disclosure.point`, `disclosure.own`).
    guarded: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    disciplines: tuple[str, ...]
    fields: tuple[SectionField, ...]
    identity_fields: tuple[str, ...] = ()  # fields of the sealed identity record it carries
    source: str | None = None  # None: kept as section versions; else one of SOURCES
    written_by: str | None = None  # None: the section form writes it; else one of WRITERS
    scope: str = "client"  # one of SCOPES
    part_of: str | None = None  # a few fields of another section, read from its versions
    # The statement every disclosure of the section outside its owner carries (42 CFR 2.32's
    # for substance use records), in the catalogue's words.
    notice: str | None = None

    @property
    def of_case(self) -> bool:
        """An MDT record: about the case and every survivor on it, not one client."""
        return self.scope == "case"

    @property
    def identifying(self) -> bool:
        return bool(self.identity_fields)

    @property
    def identity_labels(self) -> tuple[tuple[str, str], ...]:
        return tuple((name, IDENTITY_FIELDS[name]) for name in self.identity_fields)

    @property
    def editable(self) -> bool:
        return self.source is None and self.written_by is None and self.part_of is None

    @property
    def stored_as(self) -> str:
        """The section whose versions hold this one's content: itself, or its whole."""
        return self.part_of or self.key


@dataclass(frozen=True)
class Catalogue:
    sections: tuple[Section, ...]

    def keys(self) -> frozenset[str]:
        return frozenset(s.key for s in self.sections)

    def get(self, key: str) -> Section | None:
        return next((s for s in self.sections if s.key == key), None)

    def for_discipline(self, discipline: str) -> tuple[Section, ...]:
        """Sections an agency of this discipline could contribute."""
        return tuple(s for s in self.sections if discipline in s.disciplines)


def parse(data: dict) -> Catalogue:
    notices = data.get("notices", {})
    sections = []
    for raw in data.get("section", []):
        fields = []
        for f in raw.get("fields", []):
            if f["type"] not in FIELD_TYPES:
                raise ValueError(f"section {raw['key']}: unknown field type {f['type']!r}")
            fields.append(
                SectionField(
                    f["key"],
                    f["label"],
                    f["type"],
                    tuple(f.get("options", ())),
                    tuple(f.get("statuses", ())),
                    tuple(f.get("guarded", {}).items()),
                )
            )
        sections.append(
            Section(
                raw["key"],
                raw["title"],
                tuple(raw.get("disciplines", ())),
                tuple(fields),
                tuple(raw.get("identity_fields", ())),
                raw.get("source"),
                raw.get("written_by"),
                raw.get("scope", "client"),
                raw.get("part_of"),
                _notice(raw, notices),
            )
        )
    keys = {section.key for section in sections}
    for section in sections:
        for f in section.fields:
            for option, guard in f.guarded:
                if f.type not in GUARDED_TYPES or option not in f.options:
                    raise ValueError(f"section {section.key}: guarded {option!r} is no option")
                if guard not in keys:
                    raise ValueError(f"section {section.key}: {option!r} guarded by {guard!r}")
        if section.source is not None and section.source not in SOURCES:
            raise ValueError(f"section {section.key}: unknown source {section.source!r}")
        if section.scope not in SCOPES:
            raise ValueError(f"section {section.key}: unknown scope {section.scope!r}")
        unknown = set(section.identity_fields) - IDENTITY_FIELDS.keys()
        if unknown:
            raise ValueError(f"section {section.key}: unknown identity fields {sorted(unknown)}")
        if section.written_by is not None and section.written_by not in WRITERS:
            raise ValueError(f"section {section.key}: unknown writer {section.written_by!r}")
    keys = [s.key for s in sections]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicate section key in the catalogue")
    by_key = {s.key: s for s in sections}
    for section in sections:
        if section.part_of is None:
            continue
        whole = by_key.get(section.part_of)
        if whole is None or not whole.editable:
            raise ValueError(f"section {section.key}: part of {section.part_of!r}, not a section")
        missing = {f.key for f in section.fields} - {f.key for f in whole.fields}
        if missing:
            raise ValueError(f"section {section.key}: {sorted(missing)} not in {whole.key}")
        # A part is left out beside its whole released (`disclosure.point`): each line of
        # it must be guarded there as in the part, or the whole would show a line the part
        # withholds.
        whole_fields = {f.key: f for f in whole.fields}
        for f in section.fields:
            if set(f.guarded) != set(whole_fields[f.key].guarded):
                raise ValueError(
                    f"section {section.key}: field {f.key} guards "
                    f"{dict(sorted(f.guarded)) or 'no line'}, where {whole.key} guards "
                    f"{dict(sorted(whole_fields[f.key].guarded)) or 'no line'}: a part's lines "
                    "are guarded as in its whole"
                )
    return Catalogue(tuple(sections))


def _notice(raw: dict, notices: dict) -> str | None:
    named = raw.get("notice")
    if named is None:
        return None
    text = notices.get(named)
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"section {raw['key']}: notice {named!r} is not in [notices]")
    return text


@cache
def catalogue(path: Path = CATALOGUE_PATH) -> Catalogue:
    with path.open("rb") as handle:
        return parse(tomllib.load(handle))
