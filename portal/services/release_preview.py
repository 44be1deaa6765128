"""Previewing a release with the survivor, before and after they sign: who at the recipient
agency would see which section.

A signed release is previewed through the disclosure point itself (`disclosure.preview`),
content and all. A draft cannot be: no partner may be shown anything under a document the
client has not signed. Its preview says, section by section, what the recipient would see
once it is signed: shared (the draft names it and the owner's policy releases it to that
role), withheld by the owner's policy although the draft names it, or not in the release.
It shows no content and writes no audit entry, as reading the draft itself does not.

The roles offered are those the recipient agency's staff hold on this node (what a person
there could be asking as), never the administrator's, who receives no survivor
information; an agency with no staff recorded here (another node, or none yet) is offered
every role.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

import consent
from portal.crypto import KeyWrapper
from portal.disclosure import policy
from portal.models import Agency, ConsentRelease, ReleaseState, Role, StaffRole, StaffUser
from portal.sections import Section, catalogue
from portal.services import releases

# The preview of a draft, per section: the words each state is shown with.
WOULD_SHARE = "would_share"
POLICY_WITHHOLDS = "policy_withholds"
NOT_IN_RELEASE = "not_in_release"


@dataclass(frozen=True)
class DraftLine:
    section: Section
    state: str  # WOULD_SHARE | POLICY_WITHHOLDS | NOT_IN_RELEASE


@dataclass(frozen=True)
class RoleChoices:
    roles: list[Role]
    held_by_staff: bool  # False: nobody of the agency is recorded here; every role offered


def role_choices(db: Session, agency: Agency) -> RoleChoices:
    held = set(
        db.exec(
            select(StaffRole.role)
            .join(StaffUser, StaffUser.id == StaffRole.user_id)
            .where(StaffUser.agency_id == agency.id, StaffUser.is_active.is_(True))
            .distinct()
        ).all()
    )
    offered = [r for r in Role if r is not Role.ADMINISTRATOR]
    chosen = [r for r in offered if r.value in held]
    return RoleChoices(chosen, True) if chosen else RoleChoices(offered, False)


def document_of(db: Session, row: ConsentRelease, *, keys: KeyWrapper) -> consent.Release:
    """What the release says, signed or still a draft (a discarded one is gone: 404)."""
    if row.state == ReleaseState.SIGNED:
        return releases.signed_document(db, row, keys=keys)
    return releases.draft_document(db, row, keys=keys)


def recipients(db: Session, row: ConsentRelease, *, keys: KeyWrapper) -> list[Agency]:
    """The agencies the release names (signed or draft), in the order it names them."""
    document = document_of(db, row, keys=keys)
    named = document.recipients
    found = {a.public_id: a for a in db.exec(select(Agency).where(Agency.public_id.in_(named)))}
    return [found[ref] for ref in named if ref in found]


def draft_preview(
    db: Session, row: ConsentRelease, recipient: Agency, role: str, *, keys: KeyWrapper
) -> list[DraftLine]:
    """What `recipient` staff in `role` would see once this draft is signed, for every
    section the owner could contribute (the same list the disclosure point decides: a part
    whose whole would be shared is read in it, and has no line of its own)."""
    owner = db.get(Agency, row.agency_id)
    document = releases.draft_document(db, row, keys=keys)
    in_force = policy.owner_policy(db, owner)
    lines = []
    sections = catalogue().for_discipline(owner.discipline)
    for section in sorted(sections, key=lambda s: s.part_of is not None):  # wholes first
        if any(line.section.key == section.part_of for line in lines if line.state == WOULD_SHARE):
            continue
        if section.key not in document.sections:
            lines.append(DraftLine(section, NOT_IN_RELEASE))
            continue
        answer, _role = policy.decide(
            in_force,
            owner,
            kind=recipient.kind,
            roles={role},
            section=section.key,
            purpose=document.purpose,
        )
        lines.append(DraftLine(section, WOULD_SHARE if answer.allowed else POLICY_WITHHOLDS))
    return lines
