"""Why a section is withheld: the gate and the typed facts a placeholder's sentence needs,
and the one place that turns them into the sentence a person reads.

The disclosure point returns these facts, never sentences. The pages, the API and the
services that refuse a read word them here; the owner's audit entry keeps the same sentence
as its "reason" (the entry format predates this module and is kept byte for byte), so the
point calls `sentence()` for that entry and for nothing else.

Neutral ground: this module imports only models, sections and the consent library, so
every layer (web, api, services, disclosure) may use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import consent
from portal.models import AgencyKind, Role
from portal.sections import Section


class Gate(StrEnum):
    """Which gate withheld a section: the vocabulary of every placeholder and audit entry."""

    POLICY = "policy"  # the owner's policy does not release this section to this requester
    NOT_LINKED = "not_linked"  # the owner's records are not (yet) a confirmed part of the case
    NO_CONSENT = "no_consent"  # no release in effect covers it
    CONSENT_EXPIRED = "consent_expired"
    CONSENT_REVOKED = "consent_revoked"
    # Issue 20: a minor's MDT referral goes to the MDT's coordinating agency and no other.
    NOT_COORDINATOR = "not_coordinator"
    # Both gates allowed it, but the owner's record does not open for its place (moved onto
    # this row from another survivor's, or damaged): nothing of it is shown.
    UNREADABLE = "unreadable"

    @property
    def label(self) -> str:
        return {
            Gate.POLICY: "disclosure policy",
            Gate.NOT_LINKED: "not linked to this case",
            Gate.NO_CONSENT: "no consent",
            Gate.CONSENT_EXPIRED: "consent expired",
            Gate.CONSENT_REVOKED: "consent revoked",
            Gate.NOT_COORDINATOR: "not the MDT's coordinating agency",
            Gate.UNREADABLE: "record cannot be opened",
        }[self]


@dataclass(frozen=True)
class Withholding:
    """The facts behind one placeholder: which gate, for which section, asked by whom
    (roles, agency kind, own agency or not) and for which purpose.

    `release_status`: for a consent gate where a release was found but is not in effect,
    the consent library's own statement of its state ("the release expired on ...");
    None where no release covers the section at all."""

    gate: Gate
    section: Section
    roles: frozenset[str]
    agency_kind: str
    own_agency: bool
    purpose: str
    release_status: str | None = None


def phrase(title: str) -> str:
    """A section title inside a sentence: lower case, but acronyms (MDT) kept."""
    first = title.split(" ")[0]
    return title if first.isupper() and len(first) > 1 else title[0].lower() + title[1:]


def sentence(why: Withholding) -> str:
    """The placeholder's sentence: that the section is withheld and by which gate, never
    what it holds or whether the owner holds anything in it."""
    title = phrase(why.section.title)
    if why.gate is Gate.UNREADABLE:
        return (
            f"the agency's record of {title} cannot be opened: it was moved or damaged, so "
            "nothing of it is shown; ask the agency to restore it"
        )
    if why.section.of_case and why.gate is not Gate.POLICY:
        return _of_case(why, title)
    if why.gate is Gate.NOT_LINKED:
        return "this agency's records are not linked to this case"
    if why.gate is Gate.NOT_COORDINATOR:
        return f"{title} is told only to the MDT's coordinating agency"
    if why.gate is Gate.POLICY:
        purpose = consent.Purpose(why.purpose).label
        return f"the disclosure policy does not release {title} to {_who(why)} for {purpose}"
    if why.release_status is not None:
        return f"the release covering {title} for your agency: {why.release_status}"
    return f"no current release covers {title} for your agency" + (
        "" if why.purpose == "mdt_case_review" else f" for {why.purpose.replace('_', ' ')}"
    )


def _who(why: Withholding) -> str:
    known = {r.value: r.label for r in Role}
    named = " or ".join(sorted(known.get(r, r) for r in why.roles)) or "no role"
    if why.own_agency:
        return f"your agency's own staff in the role {named}"
    article = "an" if named[:1] in ("a", "e", "i", "o", "u") else "a"
    return f"{article} {named} at a {AgencyKind(why.agency_kind).label} agency"


def _of_case(why: Withholding, title: str) -> str:
    """An MDT record (a decision, a task) is about every survivor on the case: it is shared
    only with an agency confirmed on the case, under every survivor's release. Never says
    which survivor, or which agency, is missing one."""
    if why.gate is Gate.NOT_LINKED:
        return (
            f"{title} are shared only with agencies confirmed on this case, and only once "
            "a survivor is linked to it"
        )
    return (
        f"{title} concern every survivor on this case, and not every one of them has a "
        "release in effect that covers them for your agency"
    )
