"""The audit log as a lead reads it: event codes in words, one page view as one row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

# Tags read `source:subject:action`; the words here are what a lead sees. A tag not named
# falls back to its subject and action in plain words, never the raw code.
EVENT_WORDS = {
    "disclosure:section:released": "section released to a viewer",
    "disclosure:section:withheld": "section withheld from a viewer",
    "disclosure:section:received": "section received from a partner",
    "disclosure:preview:viewed": "release preview viewed",
    "auth:session:signed_in": "signed in",
    "auth:session:sign_in_failed": "sign-in failed",
    "auth:session:sign_in_throttled": "sign-in refused: too many attempts",
    "auth:session:signed_out": "signed out",
    "auth:session:ended_by_admin": "session ended by the administrator",
    "auth:totp:verify_failed": "two-step code wrong",
    "auth:password:changed": "password changed",
    "auth:password:reset_by_admin": "password reset by the administrator",
    "auth:totp:enrolled": "two-step sign-in turned on",
    "auth:totp:disabled": "two-step sign-in turned off",
    "auth:recovery_code:used": "recovery code used",
    "auth:recovery_code:regenerated": "recovery codes made anew",
    "record:client:created": "client registered",
    "record:client:identity_viewed": "client's identity opened",
    "record:section:saved": "record section saved",
    "record:section:viewed": "record section's history opened",
    "record:restricted_person:recorded": "person who may never sign recorded",
    "consent:release:drafted": "release prepared",
    "consent:release:discarded": "draft release discarded",
    "consent:release:signed": "release signed",
    "consent:release:revoked": "release revoked",
    "audit:log:checkpointed": "audit log signed (checkpoint)",
    "audit:log:exported": "audit log exported as CSV",
    "audit:accounting:viewed": "accounting of disclosures printed",
    "policy:line:added": "disclosure policy line added",
    "policy:line:retired": "disclosure policy line removed",
    "federation:roster:imported": "MDT roster imported",
    "federation:roster:signed": "MDT roster signed",
    "mdt:case:link_declined": "case link declined: no release names the coordinating agency",
    "mdt:case:participants_updated": "case's agencies updated by the coordinating agency",
}

DISCLOSURES = ("disclosure:section:released", "disclosure:section:withheld")
SAME_VIEW = timedelta(seconds=2)  # a summary decides all of an owner's sections at once


def event_words(tag: str | None) -> str:
    if not tag:
        return ""
    if tag in EVENT_WORDS:
        return EVENT_WORDS[tag]
    parts = tag.split(":")
    subject, action = (parts[-2], parts[-1]) if len(parts) >= 2 else ("", parts[-1])
    return f"{subject} {action}".replace("_", " ").strip()


@dataclass
class ViewGroup:
    """One row of the log page: an entry, or the sections of one page view together."""

    rows: list

    @property
    def first(self):
        return self.rows[0]

    @property
    def is_view(self) -> bool:
        return len(self.rows) > 1

    @property
    def released(self) -> int:
        return sum(1 for r in self.rows if r.entry.decision == "released")

    @property
    def withheld(self) -> int:
        return sum(1 for r in self.rows if r.entry.decision == "withheld")


def grouped(rows) -> list[ViewGroup]:
    """Consecutive disclosure decisions for one viewer, case and purpose, made within a
    moment of each other, are one page view: one row that opens to its sections."""
    groups: list[ViewGroup] = []
    for row in rows:
        entry = row.entry
        last = groups[-1].rows[-1].entry if groups else None
        if (
            last is not None
            and entry.tag in DISCLOSURES
            and last.tag in DISCLOSURES
            and entry.actor_user_id == last.actor_user_id
            and entry.actor_agency_id == last.actor_agency_id
            and entry.case_ref == last.case_ref
            and entry.purpose == last.purpose
            and abs(entry.at - last.at) <= SAME_VIEW
        ):
            groups[-1].rows.append(row)
        else:
            groups.append(ViewGroup([row]))
    return groups
