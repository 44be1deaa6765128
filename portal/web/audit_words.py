"""The audit log as a lead reads it: event codes, gates, roles and purposes in words, and
what one request (grouped by the service) was, in words."""

from __future__ import annotations

import consent
from portal.audit import AuditTag
from portal.disclosure import Gate
from portal.models import Role
from portal.services.audit_log import EntryGroup

# Tags read `source:subject:action`; the words here are what a lead sees. Every tag of the
# enum is named (a test holds it); one this node does not know (a newer node's) falls back
# to its subject and action in plain words, never the raw code.
EVENT_WORDS = {
    AuditTag.SIGNED_IN: "signed in",
    AuditTag.PASSWORD_ACCEPTED: "password accepted; two-step code still to come",
    AuditTag.SIGN_IN_FAILED: "sign-in failed",
    AuditTag.SIGN_IN_THROTTLED: "sign-in refused: too many attempts",
    AuditTag.SIGNED_OUT: "signed out",
    AuditTag.SESSION_ENDED: "sessions ended",
    AuditTag.SECOND_FACTOR_FAILED: "two-step code wrong",
    AuditTag.PASSWORD_CHANGED: "password changed",
    AuditTag.PASSWORD_RESET: "password reset by the administrator",
    AuditTag.TOTP_ENROLLED: "two-step sign-in turned on",
    AuditTag.TOTP_DISABLED: "two-step sign-in turned off",
    AuditTag.RECOVERY_CODE_USED: "recovery code used",
    AuditTag.RECOVERY_CODES_REGENERATED: "recovery codes made anew",
    AuditTag.AGENCY_CREATED: "agency added to the node",
    AuditTag.AGENCY_UPDATED: "agency's details changed",
    AuditTag.STAFF_CREATED: "staff account created",
    AuditTag.STAFF_ROLES_CHANGED: "staff roles changed",
    AuditTag.STAFF_DEACTIVATED: "staff account turned off",
    AuditTag.STAFF_REACTIVATED: "staff account turned on again",
    AuditTag.STAFF_ENROLMENT_ISSUED: "sign-up link issued",
    AuditTag.STAFF_ENROLLED: "sign-up completed",
    AuditTag.ADMINISTRATOR_REFUSED: "administrator's change refused",
    AuditTag.CLIENT_CREATED: "client registered",
    AuditTag.CLIENT_IDENTITY_VIEWED: "client's identity opened",
    AuditTag.CASE_OPENED: "MDT case opened",
    AuditTag.CASE_LINKED: "client record linked to an MDT case",
    AuditTag.CASE_LINK_CONFIRMED: "link to an MDT case confirmed",
    AuditTag.CASE_LINK_WITHDRAWN: "link to an MDT case withdrawn",
    AuditTag.RELEASE_DRAFTED: "release prepared",
    AuditTag.RELEASE_DISCARDED: "draft release discarded",
    AuditTag.RELEASE_SIGNED: "release signed",
    AuditTag.RELEASE_REVOKED: "release revoked",
    AuditTag.KEY_ROTATED: "agency key replaced",
    AuditTag.KEY_RESEALED: "sealed records sealed again for their place, under the current key",
    AuditTag.API_TOKEN_CREATED: "API token created",
    AuditTag.API_TOKEN_REVOKED: "API token revoked",
    AuditTag.KEY_REWRAPPED: "keys wrapped under the node's new key-encryption key",
    AuditTag.KEY_ERASED: "retired data key erased: it sealed no record any more",
    AuditTag.MENTOR_ASSIGNED: "survivor-mentor assigned",
    AuditTag.MENTOR_REASSIGNED: "survivor-mentor changed",
    AuditTag.MENTOR_ASSIGNMENT_ENDED: "survivor-mentor assignment ended",
    AuditTag.ACCOMPANIMENT_LOGGED: "accompaniment logged",
    AuditTag.ACCOMPANIMENT_EDITED: "accompaniment edited",
    AuditTag.ACCOMPANIMENT_DELETED: "accompaniment deleted",
    AuditTag.ACCOMPANIMENT_AMENDED: "accompaniment corrected",
    AuditTag.ACCOMPANIMENT_VIEWED: "accompaniment read",
    AuditTag.APPOINTMENT_ADDED: "appointment added",
    AuditTag.APPOINTMENT_CANCELLED: "appointment cancelled",
    AuditTag.APPOINTMENT_VIEWED: "a mentor's court dates and appointments read",
    AuditTag.MENTOR_REPORT_EXPORTED: "mentoring report exported",
    AuditTag.RESTRICTED_PERSON_RECORDED: "person who may never sign recorded",
    AuditTag.RESTRICTED_PERSON_ENDED: "person who may never sign: record ended",
    AuditTag.CLIENT_LANGUAGE_SET: "client's language set",
    AuditTag.COMPELLED_DISCLOSURE: "compelled disclosure recorded",
    AuditTag.AUDIT_CHECKPOINTED: "audit log signed (checkpoint)",
    AuditTag.AUDIT_EXPORTED: "audit log exported as CSV",
    AuditTag.AUDIT_SEARCHED: "audit log searched",
    AuditTag.ACCOUNTING_VIEWED: "accounting of disclosures printed",
    AuditTag.SECTION_SAVED: "record section saved",
    AuditTag.SECTION_VIEWED: "record section's history opened",
    AuditTag.POLICY_LINE_ADDED: "disclosure policy line added",
    AuditTag.POLICY_LINE_RETIRED: "disclosure policy line removed",
    AuditTag.LEGAL_BASIS_RECORDED: "legal basis for sharing recorded",
    AuditTag.LEGAL_BASIS_RETIRED: "legal basis for sharing retired",
    AuditTag.DISCLOSURE_RELEASED: "section released to a viewer",
    AuditTag.DISCLOSURE_WITHHELD: "section withheld from a viewer",
    AuditTag.DISCLOSURE_RECEIVED: "section received from a partner",
    AuditTag.DISCLOSURE_RELIED_ON: (
        "another agency's MDT record released, relying on our client's release or our legal basis"
    ),
    AuditTag.DISCLOSURE_PREVIEWED: "release preview viewed",
    AuditTag.CASE_CLOSED: "MDT case closed",
    AuditTag.CASE_REOPENED: "MDT case reopened",
    AuditTag.CASE_REVIEWED: "case reviewed at an MDT meeting",
    AuditTag.CASE_CADENCE_SET: "case review cadence set",
    AuditTag.MEETING_SCHEDULED: "meeting scheduled",
    AuditTag.MEETING_RESCHEDULED: "meeting moved",
    AuditTag.MEETING_CANCELLED: "meeting cancelled",
    AuditTag.MEETING_HELD: "meeting marked held",
    AuditTag.MEETING_AGENDA_CHANGED: "meeting agenda changed",
    AuditTag.MEETING_ATTENDANCE: "meeting attendance recorded",
    AuditTag.MINUTES_RECORDED: "meeting minutes recorded",
    AuditTag.DECISION_RECORDED: "MDT decision recorded",
    AuditTag.RECOMMENDATION_TYPE_ADDED: "recommendation type added",
    AuditTag.RECOMMENDATION_TYPE_CHANGED: "recommendation type changed",
    AuditTag.TASK_CREATED: "task created",
    AuditTag.TASK_CHANGED: "task changed",
    AuditTag.TASK_COMMENTED: "task commented on",
    AuditTag.CALENDAR_FEED_ISSUED: "calendar feed link issued",
    AuditTag.CALENDAR_FEED_REVOKED: "calendar feed link revoked",
    AuditTag.SCREENING_STARTED: "screening begun",
    AuditTag.SCREENING_EDITED: "screening edited",
    AuditTag.SCREENING_FINALISED: "screening finalised",
    AuditTag.SCREENING_AMENDED: "screening amended",
    AuditTag.SCREENING_MDT_CHOICE: "survivor's choice on MDT involvement recorded",
    AuditTag.SCREENING_MDT_PATH: "MDT path started from a screening",
    AuditTag.REFERRAL_CASE_OPENED: "MDT case opened from a partner's referral of a minor",
    AuditTag.RISK_SCREEN_STARTED: "risk-screen clock started",
    AuditTag.RISK_SCREEN_RECORDED: "risk screen recorded",
    AuditTag.RISK_SCREEN_PERSON_ADDED: "family member added to a risk screen",
    AuditTag.RISK_SCREEN_STOPPED: "risk-screen clock stopped: no longer a clear concern",
    AuditTag.RISK_SCREEN_RESUMED: "risk-screen clock running again",
    AuditTag.SAFETY_PLAN_REVIEW_DUE: "safety plan due for review",
    AuditTag.SAFETY_PLAN_PRINTED: "survivor's safety plan printed",
    AuditTag.MANDATED_REPORT_MADE: "mandated report made",
    AuditTag.ACCOMPANIMENT_TASK_CREATED: "task created from an accompaniment",
    AuditTag.ROSTER_IMPORTED: "MDT roster imported",
    AuditTag.ROSTER_SIGNED: "MDT roster signed",
    AuditTag.CASE_LINK_DECLINED: "case link declined: no release names the coordinating agency",
    AuditTag.CASE_PARTICIPANTS_UPDATED: "case's agencies updated by the coordinating agency",
    AuditTag.CASE_PARTICIPATION_CHANGED: (
        "an agency's part in the case changed on its node: the case's agencies told again"
    ),
    AuditTag.COORDINATOR_TOLD: (
        "coordinating agency told that what may be said of our part in the case changed"
    ),
    AuditTag.CASE_PARTICIPATION_VOUCHED: (
        "we vouched that an agency takes part in the case, for owners on other nodes to see"
    ),
}

# One request's sections together, by the kind of per-section event they are.
REQUEST_WORDS = {
    "previewed": "release preview",
    "compelled": "compelled disclosure",
    "relied": (
        "another agency's MDT records released, relying on our client's release or our legal basis"
    ),
}


def event_words(tag: str | None) -> str:
    if not tag:
        return ""
    if tag in EVENT_WORDS:
        return EVENT_WORDS[tag]
    parts = tag.split(":")
    subject, action = (parts[-2], parts[-1]) if len(parts) >= 2 else ("", parts[-1])
    return f"{subject} {action}".replace("_", " ").strip()


def request_words(group: EntryGroup) -> str:
    if group.family == "viewed":
        what = " and ".join(
            words
            for count, words in (
                (group.released + group.withheld, "sections decided"),
                (group.received, "sections received"),
            )
            if count
        )
        # Which page asked is not recorded (a summary, a task list, a meeting, a packet all
        # ask the same point): the case is in its own column.
        return f"page view: {what}"
    return REQUEST_WORDS.get(group.family or "", event_words(group.first.entry.tag))


def request_counts(group: EntryGroup) -> str:
    """What one view came to, for the decision column."""
    parts = []
    if group.released or group.withheld:
        parts.append(f"{group.released} released · {group.withheld} withheld")
    if group.received:
        parts.append(f"{group.received} received")
    if group.relied:
        parts.append(f"{group.relied} released by another agency")
    return " · ".join(parts)


def gate_words(gate: str | None) -> str:
    if not gate:
        return ""
    try:
        return Gate(gate).label
    except ValueError:
        return gate.replace("_", " ")


def role_words(role: str | None) -> str:
    """A role, or several a viewer held ("advocate,case_manager"), by their labels."""
    if not role:
        return ""
    known = {r.value: r.label for r in Role}
    return ", ".join(known.get(one, one.replace("_", " ")) for one in role.split(","))


def purpose_words(purpose: str | None) -> str:
    if not purpose:
        return ""
    try:
        return consent.Purpose(purpose).label
    except ValueError:
        return purpose.replace("_", " ")
