"""`record()`: the single way anything is written to an agency's audit log.

It writes the entry on the caller's session's transaction, so the entry commits or rolls
back with the change it describes. The hash chain (portal/audit/chain.py) hangs off this function
alone: the entry gets its seq, prev_hash and entry_hash here, under its log's head lock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlmodel import Session

from portal.audit import chain
from portal.models import ENTRY_FORMAT, Actor, Agency
from portal.requester import Requester


class AuditTag(StrEnum):
    """`source:subject:action`."""

    SIGNED_IN = "auth:session:signed_in"
    PASSWORD_ACCEPTED = "auth:session:password_accepted"  # a second factor still to come
    SIGN_IN_FAILED = "auth:session:sign_in_failed"
    SIGN_IN_THROTTLED = "auth:session:sign_in_throttled"
    SIGNED_OUT = "auth:session:signed_out"
    SESSION_ENDED = "auth:session:ended_by_admin"
    SECOND_FACTOR_FAILED = "auth:totp:verify_failed"
    PASSWORD_CHANGED = "auth:password:changed"
    PASSWORD_RESET = "auth:password:reset_by_admin"
    TOTP_ENROLLED = "auth:totp:enrolled"
    TOTP_DISABLED = "auth:totp:disabled"
    RECOVERY_CODE_USED = "auth:recovery_code:used"
    RECOVERY_CODES_REGENERATED = "auth:recovery_code:regenerated"
    AGENCY_CREATED = "admin:agency:created"
    AGENCY_UPDATED = "admin:agency:updated"
    STAFF_CREATED = "admin:staff:created"
    STAFF_ROLES_CHANGED = "admin:staff:roles_changed"
    STAFF_DEACTIVATED = "admin:staff:deactivated"
    STAFF_REACTIVATED = "admin:staff:reactivated"
    # issue 12: accounts start from a one-time link; an administrator's refused attempt
    STAFF_ENROLMENT_ISSUED = "auth:enrolment:issued"
    STAFF_ENROLLED = "auth:enrolment:completed"
    ADMINISTRATOR_REFUSED = "admin:staff:refused"
    CLIENT_CREATED = "record:client:created"
    CLIENT_IDENTITY_VIEWED = "record:client:identity_viewed"  # own staff opening a client
    CASE_OPENED = "mdt:case:opened"
    CASE_LINKED = "mdt:case:linked"
    CASE_LINK_CONFIRMED = "mdt:case:link_confirmed"
    CASE_LINK_WITHDRAWN = "mdt:case:link_withdrawn"
    RELEASE_DRAFTED = "consent:release:drafted"
    RELEASE_DISCARDED = "consent:release:discarded"
    RELEASE_SIGNED = "consent:release:signed"
    RELEASE_REVOKED = "consent:release:revoked"
    KEY_ROTATED = "admin:key:rotated"
    KEY_RESEALED = "admin:key:resealed"  # records sealed the old way, sealed for their place
    API_TOKEN_CREATED = "admin:api_token:created"
    API_TOKEN_REVOKED = "admin:api_token:revoked"
    # each agency's keys wrapped under the node's current KEK (`portal keys rewrap`)
    KEY_REWRAPPED = "admin:key:rewrapped"
    # a retired data key that sealed nothing any more, erased (`portal keys erase-data`)
    KEY_ERASED = "admin:key:erased"
    # survivor-mentors (issue 7)
    MENTOR_ASSIGNED = "mentoring:assignment:assigned"
    MENTOR_REASSIGNED = "mentoring:assignment:reassigned"
    MENTOR_ASSIGNMENT_ENDED = "mentoring:assignment:ended"
    ACCOMPANIMENT_LOGGED = "mentoring:accompaniment:logged"
    ACCOMPANIMENT_EDITED = "mentoring:accompaniment:edited"
    ACCOMPANIMENT_DELETED = "mentoring:accompaniment:deleted"
    ACCOMPANIMENT_AMENDED = "mentoring:accompaniment:amended"
    # A program lead read an entry, or a mentor a colleague's notes on a case passed to them
    ACCOMPANIMENT_VIEWED = "mentoring:accompaniment:viewed"
    APPOINTMENT_ADDED = "mentoring:appointment:added"
    APPOINTMENT_CANCELLED = "mentoring:appointment:cancelled"
    # Someone other than the mentor holding the case read its dates (a program lead's page)
    APPOINTMENT_VIEWED = "mentoring:appointment:viewed"
    MENTOR_REPORT_EXPORTED = "mentoring:report:exported"
    # consent releases (issue 4)
    RESTRICTED_PERSON_RECORDED = "record:restricted_person:recorded"
    # consent for minors and in the client's language (issue 19)
    RESTRICTED_PERSON_ENDED = "record:restricted_person:ended"
    CLIENT_LANGUAGE_SET = "record:client:language_set"
    COMPELLED_DISCLOSURE = "disclosure:compelled:recorded"  # owner's log, one per section
    # Audit log (issue 5, audit log)
    AUDIT_CHECKPOINTED = "audit:log:checkpointed"
    AUDIT_EXPORTED = "audit:log:exported"
    AUDIT_SEARCHED = "audit:log:searched"  # a lead's search narrowed to a case, person, ...
    ACCOUNTING_VIEWED = "audit:accounting:viewed"
    # Sections, disclosure policy and the disclosure point (issue 5)
    SECTION_SAVED = "record:section:saved"
    SECTION_VIEWED = "record:section:viewed"  # own staff reading a section's history
    POLICY_LINE_ADDED = "policy:line:added"
    POLICY_LINE_RETIRED = "policy:line:retired"
    LEGAL_BASIS_RECORDED = "policy:legal_basis:recorded"  # issue 14
    LEGAL_BASIS_RETIRED = "policy:legal_basis:retired"
    DISCLOSURE_RELEASED = "disclosure:section:released"  # owner's log
    DISCLOSURE_WITHHELD = "disclosure:section:withheld"  # owner's log
    DISCLOSURE_RECEIVED = "disclosure:section:received"  # viewer agency's log
    # Another agency's MDT record released under our survivor's release or our legal basis:
    # our log, naming our client, for its accounting of disclosures.
    DISCLOSURE_RELIED_ON = "disclosure:release:relied_on"
    DISCLOSURE_PREVIEWED = "disclosure:preview:viewed"  # owner's log, own staff
    # MDT workflow (issue 6)
    CASE_CLOSED = "mdt:case:closed"
    CASE_REOPENED = "mdt:case:reopened"
    CASE_REVIEWED = "mdt:case:reviewed"
    CASE_CADENCE_SET = "mdt:case:cadence_set"
    MEETING_SCHEDULED = "mdt:meeting:scheduled"
    MEETING_RESCHEDULED = "mdt:meeting:rescheduled"
    MEETING_CANCELLED = "mdt:meeting:cancelled"
    MEETING_HELD = "mdt:meeting:held"
    MEETING_AGENDA_CHANGED = "mdt:meeting:agenda_changed"
    MEETING_ATTENDANCE = "mdt:meeting:attendance_recorded"
    MINUTES_RECORDED = "mdt:minutes:recorded"
    DECISION_RECORDED = "mdt:decision:recorded"
    RECOMMENDATION_TYPE_ADDED = "mdt:recommendation_type:added"
    RECOMMENDATION_TYPE_CHANGED = "mdt:recommendation_type:changed"
    TASK_CREATED = "mdt:task:created"
    TASK_CHANGED = "mdt:task:changed"
    TASK_COMMENTED = "mdt:task:commented"
    CALENDAR_FEED_ISSUED = "account:calendar_feed:issued"
    CALENDAR_FEED_REVOKED = "account:calendar_feed:revoked"
    # Screening, risk screen, safety plans, mandated reports (issue 20)
    SCREENING_STARTED = "record:screening:started"
    SCREENING_EDITED = "record:screening:edited"
    SCREENING_FINALISED = "record:screening:finalised"
    SCREENING_AMENDED = "record:screening:amended"
    SCREENING_MDT_CHOICE = "record:screening:mdt_choice"
    SCREENING_MDT_PATH = "record:screening:mdt_path_started"
    # The coordinator's log: a case opened from a minor a partner's point referred
    REFERRAL_CASE_OPENED = "mdt:referral:case_opened"
    RISK_SCREEN_STARTED = "record:risk_screen:started"
    RISK_SCREEN_RECORDED = "record:risk_screen:recorded"
    RISK_SCREEN_PERSON_ADDED = "record:risk_screen:person_added"
    RISK_SCREEN_STOPPED = "record:risk_screen:stopped"  # its screening no longer a clear concern
    RISK_SCREEN_RESUMED = "record:risk_screen:resumed"  # ... and a clear concern again
    SAFETY_PLAN_REVIEW_DUE = "record:safety_plan:review_due"
    SAFETY_PLAN_PRINTED = "record:safety_plan:printed"
    # A compelled disclosure: the accounting of disclosures lists it (issue 19 aligns).
    MANDATED_REPORT_MADE = "record:mandated_report:made"
    # Integration of issues 5-7
    ACCOMPANIMENT_TASK_CREATED = "mentoring:accompaniment:task_created"
    # Federation (issue 16)
    ROSTER_IMPORTED = "federation:roster:imported"  # the node's log
    ROSTER_SIGNED = "federation:roster:signed"  # the coordinating agency's log
    CASE_LINK_DECLINED = "mdt:case:link_declined"  # owner's log: no release names the coordinator
    CASE_PARTICIPANTS_UPDATED = "mdt:case:participants_updated"  # owner's log, from the coordinator
    # An agency on another node said what may be told of its part in a case changed (a
    # release revoked): the coordinator's log, and the agency's own that it told it.
    CASE_PARTICIPATION_CHANGED = "mdt:case:participation_changed"
    COORDINATOR_TOLD = "mdt:case:coordinator_told"
    # The coordinating agency's log: it vouched to owners on other nodes that an agency
    # takes part in a case (a participation voucher, `portal.federation.vouchers`).
    CASE_PARTICIPATION_VOUCHED = "mdt:case:participation_vouched"


@dataclass(frozen=True)
class DisclosureFacts:
    """What one decision of a disclosure point concerned; stored as searchable columns."""

    case_ref: str | None
    client_ref: str | None  # the owner's client, by public id
    section_key: str
    purpose: str
    decision: str  # "released" | "withheld"
    gate: str | None = None
    release_ref: str | None = None
    policy_rule: str | None = None
    viewer_role: str | None = None


# An entry's detail, as every entry has always spelled it (built once: a disclosure
# writes an entry per section).
_DETAIL = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


def entry_values(
    tag: AuditTag,
    *,
    agency_id: int | None,
    actor: tuple[str | None, str | None] | Requester | None = None,
    subject: str | None = None,
    detail: dict | None = None,
    at: datetime,
    client_address: str | None = None,
    disclosure: DisclosureFacts | None = None,
) -> dict:
    """The columns of one entry, before the chain gives it its place (see `record()`).

    `actor` is (user public id, agency public id) — see `actor_refs()` — so that a log can
    name a person who lives on another node; or a Requester, whose API token, if it acts
    through one, the entry's detail names (`api_token`)."""
    if isinstance(actor, Requester):
        detail = _through(actor, detail)
        actor = (actor.user, actor.agency)
    user_ref, agency_ref = actor or (None, None)
    values = {
        "agency_id": agency_id,
        "format": ENTRY_FORMAT,
        "tag": str(tag),
        "at": at,
        "actor_user_ref": user_ref,
        "actor_agency_ref": agency_ref,
        "subject": subject,
        "detail": _DETAIL.encode(detail or {}),
        "client_address": client_address,
    }
    if disclosure is not None:
        values.update(
            actor_role=disclosure.viewer_role,
            case_ref=disclosure.case_ref,
            client_ref=disclosure.client_ref,
            section_key=disclosure.section_key,
            purpose=disclosure.purpose,
            decision=disclosure.decision,
            gate=disclosure.gate,
            release_ref=disclosure.release_ref,
            policy_rule=disclosure.policy_rule,
        )
    return values


_THROUGH = "audit_api_token"  # Session.info: the API token this unit of work acts through


def acting_through(db: Session, token_ref: str) -> None:
    """Everything this unit of work records is done through the API token `token_ref`:
    each entry's detail names it (the person an entry names is then the lead who issued
    it, who did not look themself)."""
    db.info[_THROUGH] = token_ref


def _through(actor: AuditActor, detail: dict | None, db: Session | None = None) -> dict | None:
    """The entry's detail, naming the API token the person acted through, if any."""
    via = actor.via if isinstance(actor, Requester) else None
    if via is None and db is not None:
        via = db.info.get(_THROUGH)
    if via is None:
        return detail
    return {**(detail or {}), "api_token": via}


_AGENCY_REFS = "audit_agency_refs"  # Session.info: agency id -> public id (never changes)


# Whoever an entry names as having acted: a service's actor (a staff user of this node, or
# None for the system or an unknown person at sign-in), or a Requester, which names a
# person and agency by public id and may live on another node.
AuditActor = Actor | Requester


def actor_refs(db: Session, actor: AuditActor) -> tuple[str | None, str | None] | None:
    """(user public id, agency public id) of whoever acted. A staff user's agency's public
    id is looked up once per session."""
    if actor is None:
        return None
    if isinstance(actor, Requester):  # already public ids
        return actor.user, actor.agency
    refs = db.info.setdefault(_AGENCY_REFS, {})
    agency_id = actor.agency_id
    if agency_id not in refs:
        refs[agency_id] = db.execute(
            select(Agency.public_id).where(Agency.id == agency_id)
        ).scalar_one()
    return actor.public_id, refs[agency_id]


def record(
    db: Session,
    tag: AuditTag,
    *,
    agency_id: int | None,
    actor: AuditActor = None,
    subject: str | None = None,
    detail: dict | None = None,
    at: datetime,
    client_address: str | None = None,
    disclosure: DisclosureFacts | None = None,
) -> chain.Appended:
    """Append one entry to `agency_id`'s log (None: the node's own log), through the same
    prebuilt batch as `record_many()`; returns where it went (its log, seq and hashes).

    `actor`: see `actor_refs()`. `detail` must never hold survivor content: references
    and decisions only.
    """
    values = entry_values(
        tag,
        agency_id=agency_id,
        actor=actor_refs(db, actor),
        subject=subject,
        detail=_through(actor, detail, db),
        at=at,
        client_address=client_address,
        disclosure=disclosure,
    )
    (written,) = chain.append_many(db, [values])
    return chain.Appended(
        written["log_key"], written["seq"], written["prev_hash"], written["entry_hash"]
    )


def record_many(db: Session, entries: list[dict]) -> None:
    """Append many entries (each made by `entry_values()`) in one batch, in list order."""
    chain.append_many(db, entries)
