"""The survivor-facing printable copy of the safety plan: the survivor's own words and
strategies, no agency notes, and no address unless the survivor asked for it, in the
language the client reads (its fixed words; what staff typed stays as typed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from portal import i18n
from portal.audit import AuditTag, record
from portal.crypto import KeyWrapper
from portal.models import Agency, Client
from portal.placeholders import sentence
from portal.sections import catalogue
from portal.services import sections

NEVER_ON_THE_COPY = frozenset({"agency_notes", "print_address"})  # as i18n.safety_plan_copy_words
ADDRESS = "safe_address"
ASKED = "yes, the survivor asked"


@dataclass(frozen=True)
class SurvivorCopy:
    version: int  # 0: no plan recorded yet
    rows: list[tuple[str, str, object]]  # (label, type, value), blanks left out, translated
    withheld: str | None = None  # why this request may not read the plan, in words
    language: str = i18n.SOURCE_LANGUAGE  # the client's: the copy is printed in it
    has_address: bool = False


def may_print(db: Session, client: Client, *, requester) -> bool:
    """Whether to offer this requester the survivor's copy: their agency keeps safety plans
    and its policy lets their role read the plan (nothing read, nothing audited), so that
    no page links to a copy that would only refuse them."""
    agency = db.get(Agency, client.agency_id)
    plan = next(
        (s for s in catalogue().for_discipline(agency.discipline) if s.key == "safety_plan"),
        None,
    )
    if plan is None:
        return False
    return sections.readable(db, client, [plan], requester=requester)[plan.key].allowed


def survivor_copy(
    db: Session, client: Client, *, requester, keys: KeyWrapper, at: datetime
) -> SurvivorCopy:
    """The copy, or why it is withheld (the role, or the purpose asked for: the read is
    audited either way). A version holding nothing for the survivor's copy is printed as
    such, and no print is logged: nothing was printed."""
    language = i18n.language_or_default(client.preferred_language)
    view = sections.read_section(db, client, "safety_plan", requester=requester, keys=keys, at=at)
    if view.answer.withheld:
        return SurvivorCopy(0, [], withheld=sentence(view.answer.why))
    if not view.versions:
        return SurvivorCopy(0, [], language=language)
    latest = view.versions[0]
    content = latest.content
    rows = []
    has_address = False
    for field in catalogue().get("safety_plan").fields:
        if field.key in NEVER_ON_THE_COPY:
            continue
        if field.key == ADDRESS and content.get("print_address") != ASKED:
            continue
        value = content.get(field.key)
        if value:
            label = i18n.gettext(language, field.label)
            rows.append((label, field.type, _in_language(language, field, value)))
            has_address = has_address or field.key == ADDRESS
    if not rows:
        return SurvivorCopy(latest.version, [], language=language)
    record(
        db,
        AuditTag.SAFETY_PLAN_PRINTED,
        agency_id=client.agency_id,
        actor=requester,
        subject=client.public_id,
        detail={"version": latest.version, "address": content.get("print_address") == ASKED},
        at=at,
    )
    return SurvivorCopy(latest.version, rows, language=language, has_address=has_address)


def _in_language(language: str, field, value):
    # Only an option the form offered is the portal's words; what staff typed is theirs.
    options = set(field.options)
    if field.type == "choice" and value in options:
        return i18n.gettext(language, value)
    if field.type == "checklist" and isinstance(value, list):
        return [i18n.gettext(language, v) if v in options else v for v in value]
    return value
