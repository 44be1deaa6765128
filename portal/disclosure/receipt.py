"""The requester's side of a disclosure: what its agency received, in its own log.

Written from what the owner's point returned, never from the owner's records, so the same
step serves an owner on this node and one on another. Only released sections are
receipts; a placeholder carries nothing of the survivor, and the owner's log already holds
the decision.
"""

from __future__ import annotations

import functools
from datetime import datetime

from sqlmodel import Session

from portal.audit import AuditTag, DisclosureFacts, entry_values, record_many
from portal.requester import Requester


def received_entries(
    requester: Requester,
    *,
    case_ref: str,
    owner_ref: str,
    decisions,
    at: datetime,
    agency_id: int,
) -> list[dict]:
    """One entry per section released to another agency, for the requester agency's log;
    and one per line of it released under another section's gates (a needs assessment's
    substance use line), under that section's release, as the owner's log has it."""
    if owner_ref == requester.agency:
        return []  # the owner's own staff: nothing crossed from one agency to another
    received = functools.partial(
        entry_values,
        AuditTag.DISCLOSURE_RECEIVED,
        agency_id=agency_id,
        actor=requester,
        subject=case_ref,
        at=at,
    )
    entries = []
    for decision in decisions:
        if decision.decision != "released":
            continue
        entries.append(
            received(detail={"owner": owner_ref}, disclosure=_facts(requester, case_ref, decision))
        )
        entries.extend(
            received(
                detail={"owner": owner_ref, "part_of": decision.section.key, "line": line.line},
                disclosure=_facts(requester, case_ref, line),
            )
            for line in decision.lines
        )
    return entries


def _facts(requester: Requester, case_ref: str, released) -> DisclosureFacts:
    """What one receipt concerned: a released section, or a line of one (a ReleasedLine,
    whose section is the one whose gates released it)."""
    return DisclosureFacts(
        case_ref=case_ref,
        client_ref=None,  # the client record belongs to the owner, not to us
        section_key=released.section.key,
        purpose=requester.purpose,
        decision="released",
        release_ref=released.release_ref,
        policy_rule=released.policy_rule,
        viewer_role=requester.audit_role(released.role),
    )


def record_received(
    db: Session,
    requester: Requester,
    *,
    case_ref: str,
    owner,
    decisions,
    at: datetime,
    agency_id: int,
) -> None:
    record_many(
        db,
        received_entries(
            requester,
            case_ref=case_ref,
            owner_ref=owner.public_id,
            decisions=decisions,
            at=at,
            agency_id=agency_id,
        ),
    )
