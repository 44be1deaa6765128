"""Why a section is withheld: the gate and the typed facts a placeholder's sentence needs,
and the one place that turns them into the sentence a person reads.

The disclosure point returns these facts, never sentences. The pages, the API and the
services that refuse a read word them here; the owner's audit entry keeps the same sentence
as its "reason" (the entry format predates this module and is kept byte for byte), so the
point calls `sentence()` for that entry and for nothing else.

Neutral ground: this module imports only models, sections, the catalogues (i18n) and the
consent library, so every layer (web, api, services, disclosure) may use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import consent
from portal import i18n
from portal.i18n import N_
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
            # Not "not linked": an agency confirmed on the case whose survivor's release to
            # join has lapsed is answered so too, and its link shows as confirmed.
            Gate.NOT_LINKED: "not shared on this case",
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


UNREADABLE = N_(
    "the agency's record of %(section)s cannot be opened: it was moved or damaged, so "
    "nothing of it is shown; ask the agency to restore it"
)
NOT_LINKED = N_("this agency's records are not shared on this case")
NOT_COORDINATOR = N_("%(section)s is told only to the MDT's coordinating agency")
POLICY = N_("the disclosure policy does not release %(section)s to %(who)s for %(purpose)s")
RELEASE_NOT_IN_EFFECT = N_("the release covering %(section)s for your agency: %(status)s")
NO_RELEASE = N_("no current release covers %(section)s for your agency")
NO_RELEASE_FOR = N_("no current release covers %(section)s for your agency for %(purpose)s")
CASE_NOT_LINKED = N_(
    "%(section)s are shared only with agencies confirmed on this case, and only once a "
    "survivor is linked to it"
)
CASE_NOT_COVERED = N_(
    "%(section)s concern every survivor on this case, and not every one of them has a "
    "release in effect that covers them for your agency"
)
OWN_STAFF = N_("your agency's own staff in the role %(roles)s")
A_ROLE_AT = N_("a %(roles)s at a %(kind)s agency")
AN_ROLE_AT = N_("an %(roles)s at a %(kind)s agency")
ROLES_OR = N_("%(roles)s or %(role)s")
NO_ROLE = N_("no role")
# A survivor-mentor keeps their program's accompaniment log on their caseload page, not as
# a section: where their agency's policy keeps it from the summary, the page they read says
# so and where the log is, not that it is not released to them (see `for_the_reader`).
OWN_LOG = N_(
    "the case summary does not show %(section)s to survivor-mentors (your agency's "
    "disclosure policy); you read and keep the accompaniment log on your caseload page"
)
# The consent library states a release's state in English with ISO dates (kept as the
# audit entry's words); a page in another language says the gate's state in its own words.
RELEASE_STATES = {
    Gate.CONSENT_REVOKED: N_("the release covering %(section)s for your agency was revoked"),
    Gate.CONSENT_EXPIRED: N_("the release covering %(section)s for your agency has ended"),
    Gate.NO_CONSENT: N_("the release covering %(section)s for your agency is not in effect yet"),
}


@dataclass(frozen=True)
class _Words:
    """The words of one language: its catalogue, or English as the source says it."""

    language: str | None

    def say(self, message: str, **values: str) -> str:
        said = message if self.language is None else i18n.gettext(self.language, message)
        return said % values if values else said

    def title(self, section: Section) -> str:
        # English lowers a title inside a sentence; a translation names the section by its
        # title as the catalogue writes it (the translator quotes it where the language does).
        return phrase(section.title) if self.language is None else self.say(section.title)


def sentence(why: Withholding, language: str | None = None) -> str:
    """The placeholder's sentence: that the section is withheld and by which gate, never
    what it holds or whether the owner holds anything in it. With no `language`, the
    source's English (the audit entry's reason, byte for byte); with one, composed from that
    language's catalogue, for a page read with the survivor."""
    # English is the catalogues' source: said as the source spells it, title casing and all.
    words = _Words(None if language == i18n.SOURCE_LANGUAGE else language)
    title = words.title(why.section)
    if why.gate is Gate.UNREADABLE:
        return words.say(UNREADABLE, section=title)
    if why.section.of_case and why.gate is not Gate.POLICY:
        return _of_case(why, title, words)
    if why.gate is Gate.NOT_LINKED:
        return words.say(NOT_LINKED)
    if why.gate is Gate.NOT_COORDINATOR:
        return words.say(NOT_COORDINATOR, section=title)
    if why.gate is Gate.POLICY:
        purpose = words.say(consent.Purpose(why.purpose).label)
        return words.say(POLICY, section=title, who=_who(why, words), purpose=purpose)
    if why.release_status is not None:
        if words.language is None or why.gate not in RELEASE_STATES:
            return words.say(RELEASE_NOT_IN_EFFECT, section=title, status=why.release_status)
        return words.say(RELEASE_STATES[why.gate], section=title)
    if why.purpose == "mdt_case_review":
        return words.say(NO_RELEASE, section=title)
    return words.say(NO_RELEASE_FOR, section=title, purpose=_purpose(why.purpose, words))


def kept_by_the_reader(why: Withholding) -> bool:
    """The section withheld is the reader's own program's accompaniment, which they keep as
    a survivor-mentor in the program's log: their agency's policy alone withheld it."""
    return (
        why.gate is Gate.POLICY
        and why.own_agency
        and why.section.source == "mentoring"
        and Role.SURVIVOR_MENTOR.value in why.roles
    )


def for_the_reader(why: Withholding, language: str | None = None) -> str:
    """The placeholder's sentence as a page says it to the person who asked: `sentence`, but
    for a survivor-mentor's own program's accompaniment, which they read and keep in its log,
    where they read it (the audit entry and the API keep the policy's sentence)."""
    if not kept_by_the_reader(why):
        return sentence(why, language)
    words = _Words(None if language == i18n.SOURCE_LANGUAGE else language)
    return words.say(OWN_LOG, section=words.title(why.section))


def _purpose(purpose: str, words: _Words) -> str:
    if words.language is None:
        return purpose.replace("_", " ")
    known = {p.value: p.label for p in consent.Purpose}
    return words.say(known[purpose]) if purpose in known else purpose.replace("_", " ")


def _who(why: Withholding, words: _Words) -> str:
    known = {r.value: r.label for r in Role}
    labels = sorted(words.say(known[r]) if r in known else r for r in why.roles)
    named = labels[0] if labels else words.say(NO_ROLE)
    for label in labels[1:]:
        named = words.say(ROLES_OR, roles=named, role=label)
    if why.own_agency:
        return words.say(OWN_STAFF, roles=named)
    english = " or ".join(sorted(known.get(r, r) for r in why.roles)) or NO_ROLE
    article = AN_ROLE_AT if english[:1] in ("a", "e", "i", "o", "u") else A_ROLE_AT
    kind = words.say(AgencyKind(why.agency_kind).label)
    return words.say(article, roles=named, kind=kind)


def _of_case(why: Withholding, title: str, words: _Words) -> str:
    """An MDT record (a decision, a task) is about every survivor on the case: it is shared
    only with an agency confirmed on the case, under every survivor's release. Never says
    which survivor, or which agency, is missing one."""
    if why.gate is Gate.NOT_LINKED:
        return words.say(CASE_NOT_LINKED, section=title)
    return words.say(CASE_NOT_COVERED, section=title)
