"""The sentences a placeholder carries: that something is withheld and by which gate."""

from __future__ import annotations

import consent
from portal.models import AgencyKind, Role
from portal.sections import Section


def phrase(title: str) -> str:
    """A section title inside a sentence: lower case, but acronyms (MDT) kept."""
    first = title.split(" ")[0]
    return title if first.isupper() and len(first) > 1 else title[0].lower() + title[1:]


def policy_reason(section: Section, *, roles, kind: str, own: bool, purpose: str) -> str:
    """Why the policy gate withheld: to whom, in which role, for which purpose."""
    known = {r.value: r.label for r in Role}
    named = " or ".join(sorted(known.get(r, r) for r in roles)) or "no role"
    article = "an" if named[:1] in ("a", "e", "i", "o", "u") else "a"
    who = (
        f"your agency's own staff in the role {named}"
        if own
        else f"{article} {named} at a {AgencyKind(kind).label} agency"
    )
    return (
        f"the disclosure policy does not release {phrase(section.title)} to {who} "
        f"for {consent.Purpose(purpose).label}"
    )
