"""Builders for disclosure tests: an owner, a partner, a shared case, a signed release."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import consent
from portal.models import Agency, AgencyKind, Client, Discipline, MdtCase, Role, StaffUser
from portal.requester import Requester
from portal.sections import catalogue
from portal.services import cases, releases, section_versions, sections

import factories as make

SIGNER = consent.Signer("Robin Example", consent.Capacity.SELF)
GUARDIAN = consent.Signer("Pat Guardian (synthetic)", consent.Capacity.LEGAL_GUARDIAN)
SECRET_NOTE = "SYNTHETIC-SECRET-NOTE"


def Viewer(user: StaffUser, agency: Agency, roles: frozenset[str]) -> Requester:
    """Who is asking, as the handlers build it (the name kept from when it was a viewer)."""
    return make.requester(user, agency, roles)


@dataclass
class World:
    owner: Agency
    partner: Agency
    client: Client
    partner_client: Client
    case: MdtCase
    owner_staff: StaffUser
    partner_staff: StaffUser

    def viewer(self, *roles: Role) -> Requester:
        return Viewer(self.partner_staff, self.partner, frozenset(r.value for r in roles))

    def own_viewer(self, *roles: Role) -> Requester:
        return Viewer(self.owner_staff, self.owner, frozenset(r.value for r in roles))


def world(
    db,
    keys,
    *,
    owner_discipline=Discipline.HEALTH,
    partner_kind=AgencyKind.COMMUNITY,
    **identity,  # the owner's client's phone, address
):
    owner = make.agency(db, keys, discipline=owner_discipline)
    partner = make.agency(db, keys, kind=partner_kind)
    client = make.client_record(db, owner, keys, **identity)
    partner_client = make.client_record(db, partner, keys)
    case = make.mdt_case(db, partner)
    cases.link_client(db, case, partner, partner_client, actor=None, at=make.AT, confirmed=True)
    cases.link_client(db, case, owner, client, actor=None, at=make.AT, confirmed=True)
    owner_staff = make.user(db, owner, Role.CLINICIAN)
    partner_staff = make.user(db, partner, Role.CASE_MANAGER)
    db.flush()
    return World(owner, partner, client, partner_client, case, owner_staff, partner_staff)


def write(db, keys, w: World, section: str, values: dict):
    if catalogue().get(section).written_by:  # the screening, the plan's strategies
        entry = section_versions.add_version(
            db, w.client, section, values, actor=w.owner_staff, keys=keys, at=make.AT
        )
        db.flush()
        return entry
    entry = sections.save_section(
        db, w.client, section, values, actor=w.owner_staff, keys=keys, at=make.AT
    )
    db.flush()
    return entry


# A needs assessment whose lines that tell of other sections are written in.
FOOD_NOTE = "SYNTHETIC-FOOD-NOTE"
SU_NOTE = "SYNTHETIC-SUBSTANCE-NOTE"
MH_NOTE = "SYNTHETIC-MENTAL-HEALTH-NOTE"


def assessed(db, keys) -> World:
    """A shelter's client whose needs assessment holds a food line and its substance use
    and mental health lines (each guarded by its own section)."""
    w = world(db, keys, owner_discipline=Discipline.SHELTER)
    write(
        db,
        keys,
        w,
        "needs_assessment",
        {
            "domains": {
                "food": {"status": "met", "note": FOOD_NOTE},
                "substance use": {"status": "need identified", "note": SU_NOTE},
                "mental health": {"status": "in progress", "note": MH_NOTE},
            },
            "assessed_on": "2026-11-01",
        },
    )
    return w


def release(
    db,
    keys,
    w: World,
    section_keys,
    *,
    purpose="mdt_case_review",
    days=90,
    effective=None,
    recipients=None,
):
    row = releases.draft_release(
        db,
        w.client,
        recipients=recipients or [w.partner.public_id],
        sections=list(section_keys),
        purpose=purpose,
        effective_at=effective or make.AT,
        expiry=consent.DateExpiry((effective or make.AT) + timedelta(days=days)),
        keys=keys,
        language="en",
        actor=w.owner_staff,
        at=make.AT,
    )
    # A minor signs with a guardian, as the default rule for minors asks.
    minor = releases.MinorSigning().is_minor(
        releases.birth_date_of(db, w.client, keys=keys), make.AT
    )
    releases.sign(
        db,
        row,
        signer=SIGNER,
        second_signer=GUARDIAN if minor else None,
        method=consent.SignatureMethod.TYPED,
        actor=w.owner_staff,
        keys=keys,
        at=make.AT,
    )
    db.flush()
    return row
