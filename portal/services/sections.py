"""An agency's own sections for its own clients: versioned, sealed, never overwritten.

Every save adds a version; the owner reads its history. Partners never come here: they
ask the owner's disclosure point (`portal.disclosure`), the only other reader.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlmodel import Session, select

from portal.audit import lock_logs
from portal.crypto import KeyWrapper
from portal.disclosure import own
from portal.disclosure.gates import Withholding
from portal.errors import Conflict, Forbidden, Invalid, NotFound, Unprocessable
from portal.models import Actor, Agency, Client, SectionEntry, StaffUser
from portal.placeholders import sentence
from portal.requester import Requester
from portal.sections import Section, SectionContent, SectionField, catalogue
from portal.services import safety_plans, section_versions, validation

TEXT_MAX = 300
TEXTAREA_MAX = 4000
NOTE_MAX = 500


def section_or_404(key: str) -> Section:
    section = catalogue().get(key)
    if section is None:
        raise NotFound("section")
    return section


def clean_content(section: Section, raw: dict) -> SectionContent:
    """The submitted values checked field by field; every bad field reported at once."""
    checks = {f.key: (lambda f=f: _clean_field(f, raw.get(f.key))) for f in section.fields}
    values = validation.collect(**checks)
    if not any(_filled(v) for v in values.values()):
        first = section.fields[0].key if section.fields else "section"
        raise Invalid(first, "Fill in at least one field before saving.")
    return values


def _filled(value) -> bool:
    if isinstance(value, dict):
        return any(d["status"] or d["note"] for d in value.values())
    return bool(value)


def _clean_field(field: SectionField, value):
    label = field.label
    if field.type == "text":
        return validation.text(value, field.key, max_length=TEXT_MAX, required=False, label=label)
    if field.type == "textarea":
        return validation.text(
            value, field.key, max_length=TEXTAREA_MAX, required=False, label=label, multiline=True
        )
    if field.type == "date":
        if value in (None, ""):
            return ""
        # A date of the work (a review, a hearing, a move): held to the request's window,
        # so a slip of the keyboard (9999, 0001) never makes a plan never or always due.
        return validation.domain_date(value, field.key, label=label).isoformat()
    if field.type == "choice":
        if value in (None, ""):
            return ""
        if not isinstance(value, str) or value not in field.options:
            raise Invalid(field.key, f"Choose {label.lower()} from the list.")
        return value
    if field.type == "checklist":
        if value in (None, ""):
            value = []
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise Invalid(field.key, f"{label} must be a list of choices.")
        chosen = list(value)
        if any(v not in field.options for v in chosen):
            raise Invalid(field.key, f"Choose {label.lower()} only from the list.")
        return [o for o in field.options if o in chosen]  # catalogue order, no duplicates
    if field.type == "domains":
        given = value or {}
        if not isinstance(given, dict):
            raise Invalid(field.key, f"{label} could not be read.")
        cleaned, errors = {}, []
        if set(given) - set(field.options):
            raise Invalid(field.key, f"{label}: only the listed needs can be recorded.")
        for domain in field.options:
            item = given.get(domain) or {}
            if not isinstance(item, dict):
                raise Invalid(field.key, f"{label}: {domain} could not be read.")
            status = item.get("status") or ""
            if not isinstance(status, str) or (status and status not in field.statuses):
                errors.append(f"choose a status for {domain} from the list")
                status = ""
            try:
                note = validation.text(
                    item.get("note"), field.key, max_length=NOTE_MAX, required=False
                )
            except Invalid:
                errors.append(f"the note on {domain} is too long or has odd characters")
                note = ""
            cleaned[domain] = {"status": status, "note": note}
        if errors:
            raise Invalid(field.key, "In the needs: " + "; ".join(errors) + ".")
        return cleaned
    raise Invalid(field.key, "This field cannot be saved.")  # pragma: no cover - catalogue checked


@dataclass(frozen=True)
class Version:
    version: int
    content: SectionContent
    author: str | None
    at: datetime


def save_section(
    db: Session,
    client: Client,
    section_key: str,
    raw: dict,
    *,
    actor: Actor,
    keys: KeyWrapper,
    at: datetime,
) -> SectionEntry:
    """Add a new version of one section of the agency's own client."""
    section = section_or_404(section_key)
    if not section.editable:  # kept by the meetings or the mentor log, never as versions
        raise NotFound("section")
    content = clean_content(section, raw)
    previous = section_versions.latest(db, client, section.key)
    before = section_versions.open_content(db, previous, keys=keys) if previous else None
    entry = section_versions.add_version(
        db, client, section.key, content, actor=actor, keys=keys, at=at
    )
    # The safety plan's clocks follow its sections (issue 20): a plan version, a move.
    safety_plans.section_saved(
        db,
        client,
        section.key,
        entry.version,
        content,
        before=before,
        actor=actor,
        keys=keys,
        at=at,
    )
    return entry


def open_entry(db: Session, entry: SectionEntry, *, keys: KeyWrapper) -> dict:
    return section_versions.open_content(db, entry, keys=keys)


def latest_versions(db: Session, client: Client) -> dict[str, tuple[int, datetime]]:
    """Section key -> (latest version, saved at), for the owner's own overview."""
    rows = db.exec(
        select(SectionEntry.section_key, SectionEntry.version, SectionEntry.at)
        .where(SectionEntry.client_id == client.id, SectionEntry.agency_id == client.agency_id)
        .order_by(SectionEntry.section_key, SectionEntry.version)
    ).all()
    return {key: (version, at) for key, version, at in rows}


def history(db: Session, client: Client, section_key: str, *, keys: KeyWrapper) -> list[Version]:
    """Every version, newest first. Only `read_section()` and the owner's own writes call
    this, after the owner's policy allowed the reader (need to know inside the agency)."""
    section = section_or_404(section_key)
    rows = db.exec(
        select(SectionEntry, StaffUser.display_name)
        .join(StaffUser, StaffUser.id == SectionEntry.author_id, isouter=True)
        .where(
            SectionEntry.client_id == client.id,
            SectionEntry.agency_id == client.agency_id,
            SectionEntry.section_key == section.key,
        )
        .order_by(SectionEntry.version.desc())
    ).all()
    # Only the section's own fields: a version copied whole when the address left the
    # identity section (issue 14) still holds the other's fields, sealed.
    fields = [field.key for field in section.fields]
    return [
        Version(entry.version, _only(open_entry(db, entry, keys=keys), fields), author, entry.at)
        for entry, author in rows
    ]


def _only(content: dict, fields: list[str]) -> dict:
    return {key: content[key] for key in fields if key in content}


@dataclass(frozen=True)
class SectionView:
    """One section of an own client as the requester may see it: its versions, or nothing
    and the reason the agency's policy withholds it from the requester's role."""

    section: Section
    answer: own.OwnAnswer
    versions: list[Version]
    # Its lines that tell what another section holds, as the requester may read them: a
    # withheld one shows, in every version, only the placeholder's words.
    parts: tuple[own.GuardedPart, ...] = ()

    def withheld_options(self, field_key: str) -> dict[str, Withholding]:
        """The options of a checklist the requester may not read, with why (the page says
        each is withheld where a box would be, ticked or not)."""
        return {
            part.option: part.answer.why
            for part in self.parts
            if part.withheld and part.field_key == field_key and part.field_type == "checklist"
        }


def read_section(
    db: Session,
    client: Client,
    section_key: str,
    *,
    requester: Requester,
    keys: KeyWrapper,
    at: datetime,
) -> SectionView:
    """The owner's own staff reading a section: the agency's policy decides for the
    requester's roles and purpose, the read is audited either way, and content is opened
    only if allowed. A line that tells what another section holds (a needs assessment's
    substance use line) is shown only where that section's policy lets the requester read
    it, its read audited under that section too."""
    agency = _own_agency(db, client, requester)
    section = section_or_404(section_key)
    answer = own.read(
        db,
        requester,
        section,
        agency=agency,
        client_ref=client.public_id,
        subject=client.public_id,
        at=at,
    )
    if answer.withheld:
        return SectionView(section, answer, [])
    parts = own.guarded_parts(db, requester, section, agency=agency)
    own.record_parts_read(
        db,
        parts,
        of=section,
        requester=requester,
        agency=agency,
        client_ref=client.public_id,
        subject=client.public_id,
        at=at,
    )
    versions = [
        replace(version, content=own.without_parts(version.content, parts))
        for version in history(db, client, section.key, keys=keys)
    ]
    return SectionView(section, answer, versions, tuple(parts))


def readable(
    db: Session, client: Client, section_list, *, requester: Requester
) -> dict[str, own.OwnAnswer]:
    """Section key -> the agency's policy answer for the requester's roles (nothing
    audited: no content is read, the caller shows only what is allowed)."""
    agency = _own_agency(db, client, requester)
    answers = own.decide_many(db, requester, section_list, agency=agency)
    return {answer.section.key: answer for answer in answers}


def write_section(
    db: Session,
    client: Client,
    section_key: str,
    raw: dict,
    *,
    requester: Requester,
    keys: KeyWrapper,
    at: datetime,
    exact: bool = False,
    based_on: object = None,
) -> SectionEntry:
    """The owner's own staff saving a section: only what their role may read under the
    agency's policy may they change. A refusal is audited (the caller keeps that entry).
    An agency writes only the sections of its discipline, the ones its pages show.
    `exact`: `raw` holds the section's fields and nothing else (a form's other fields, such
    as its CSRF token, are none of the section's; a program's misspelt key would be lost).
    `based_on`: the version a form was opened at (0: none yet): refused (409) when another
    has been saved since, which this one would silently leave behind."""
    agency = _own_agency(db, client, requester)
    section = section_or_404(section_key)
    if agency.discipline not in section.disciplines:
        raise Unprocessable(
            "section",
            f"{section.title} is not kept by a {agency.discipline_label} agency.",
        )
    answer = own.decide(db, requester, section, agency=agency)
    if answer.withheld:
        own.record_read(
            db,
            answer,
            requester=requester,
            agency=agency,
            client_ref=client.public_id,
            subject=client.public_id,
            at=at,
            detail={"attempt": "save"},
        )
        raise Forbidden(f"Not saved: {sentence(answer.why)}.")
    if exact:
        fields = [f.key for f in section.fields]
        unknown = sorted(set(raw) - set(fields))
        if unknown:
            raise Invalid(
                unknown[0],
                f"{section.title} has no field {unknown[0]!r}; its fields are "
                f"{', '.join(fields)}. Nothing was saved.",
            )
    if based_on is not None:
        _still_latest(db, client, section, based_on)
    hidden = [p for p in own.guarded_parts(db, requester, section, agency=agency) if p.withheld]
    if hidden:
        raw = _hidden_lines_kept(
            db, client, section, raw, hidden, requester=requester, agency=agency, keys=keys, at=at
        )
    author = db.exec(select(StaffUser).where(StaffUser.public_id == requester.user)).first()
    return save_section(db, client, section.key, raw, actor=author, keys=keys, at=at)


def _hidden_lines_kept(
    db: Session,
    client: Client,
    section: Section,
    raw: dict,
    hidden: list[own.GuardedPart],
    *,
    requester: Requester,
    agency: Agency,
    keys: KeyWrapper,
    at: datetime,
) -> dict:
    """`raw` with each line the writer may not read as the last version holds it: a save
    replaces every line, and one that left them out (the form shows them as placeholders)
    erased what someone allowed to had written. A value sent for such a line is refused
    and audited, as a save of a section withheld from the writer is."""
    latest = section_versions.latest(db, client, section.key)
    before = section_versions.open_content(db, latest, keys=keys) if latest else {}
    kept = dict(raw)
    for part in hidden:
        lines = kept.get(part.field_key)
        if part.field_type == "checklist":
            ticked = [] if lines in (None, "") else lines
            if not isinstance(ticked, list | tuple):
                continue  # not a list of choices: `clean_content` says so
            sent = part.option in ticked
        elif lines is not None and not isinstance(lines, dict):
            continue  # not a needs list at all: `clean_content` says so
        else:
            item = (lines or {}).get(part.option)
            sent = item not in (None, "", {}) and (
                not isinstance(item, dict) or bool(item.get("status") or item.get("note"))
            )
        if sent:
            own.record_read(
                db,
                part.answer,
                requester=requester,
                agency=agency,
                client_ref=client.public_id,
                subject=client.public_id,
                at=at,
                detail={"attempt": "save", "part_of": section.key, "line": part.option},
            )
            raise Forbidden(f"Not saved: {part.option} — {sentence(part.answer.why)}.")
        if part.field_type == "checklist":
            was_ticked = part.option in (before.get(part.field_key) or [])
            kept[part.field_key] = [*ticked, *([part.option] if was_ticked else [])]
            continue
        previous = (before.get(part.field_key) or {}).get(part.option)
        kept[part.field_key] = {
            **(lines or {}),
            part.option: previous or {"status": "", "note": ""},
        }
    return kept


def _still_latest(db: Session, client: Client, section: Section, based_on: object) -> None:
    if not isinstance(based_on, str) or not based_on.isdecimal() or len(based_on) > 9:
        raise Invalid("based_on", "The form was not sent whole: open the section again.")
    lock_logs(db, [client.agency_id])  # a save in between cannot slip past the check
    latest = section_versions.latest(db, client, section.key)
    if latest is None and int(based_on) != 0:
        raise Conflict(
            "based_on",
            f"This form names a version of {section.title} that was never saved here: open "
            "the section again, then save.",
        )
    if (latest.version if latest else 0) != int(based_on):
        raise Conflict(
            "based_on",
            f"Someone saved version {latest.version} of {section.title} after you opened "
            "this form. It is in the history below; compare it with what you typed here, "
            "then save again.",
        )


def _own_agency(db: Session, client: Client, requester: Requester) -> Agency:
    agency = db.get(Agency, client.agency_id)
    if agency is None or agency.public_id != requester.agency:
        raise NotFound("client")
    return agency


def form_values(section: Section, content: SectionContent | None) -> dict:
    """Stored content in the shape the form shows, blanks where nothing was saved."""
    content = content or {}
    values = {}
    for field in section.fields:
        value = content.get(field.key)
        if field.type == "checklist":
            values[field.key] = list(value or [])
        elif field.type == "domains":
            value = value or {}
            values[field.key] = {
                d: {
                    "status": (value.get(d) or {}).get("status", ""),
                    "note": (value.get(d) or {}).get("note", ""),
                    # A line the reader may not see (`own.without_parts`): its placeholder.
                    "withheld": (value.get(d) or {}).get("withheld", ""),
                }
                for d in field.options
            }
        else:
            values[field.key] = value or ""
    return values
