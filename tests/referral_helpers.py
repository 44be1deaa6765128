"""Builders for the referral tests (issue 20): a coordinating agency, a community-based
shelter and a system-based child-welfare office, minors screened at the partners, and the
releases (signed by the minor and a parent) that name the coordinator."""

from __future__ import annotations

from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import select

import consent
from portal.disclosure import RequestCache
from portal.disclosure import referrals as point
from portal.models import AgencyKind, AuditEntry, Discipline, Role
from portal.services import releases, screenings
from portal.services.releases import MinorSigning
from portal.web import screening_forms

import factories as make

NY = ZoneInfo("America/New_York")
AT = make.AT
LATER = AT + timedelta(hours=2)
NOTE = "SYNTHETIC-SCREENER-NOTE"
MINOR_BIRTH = make.MINOR_BIRTH
CLIENT = consent.Signer("Robin Example", consent.Capacity.SELF)
PARENT = consent.Signer("Pat Example", consent.Capacity.PARENT)
CITATION = "Synthetic State Code 39.3035 (example)"


class Mdt:
    """A coordinating agency and two partners: a shelter (community-based) and a child
    welfare office (system-based), each with its own staff."""

    def __init__(self, db, keys):
        self.db, self.keys = db, keys
        self.cac = make.agency(db, keys, discipline=Discipline.ADVOCACY)
        self.shelter = make.agency(db, keys, discipline=Discipline.SHELTER)
        self.welfare = make.agency(
            db, keys, kind=AgencyKind.SYSTEM, discipline=Discipline.CHILD_WELFARE
        )
        self.coordinator = make.user(db, self.cac, Role.MDT_COORDINATOR)
        self.advocate = make.user(db, self.cac, Role.ADVOCATE)
        self.shelter_staff = make.user(db, self.shelter, Role.ADVOCATE, Role.MDT_COORDINATOR)
        self.welfare_lead = make.user(db, self.welfare, Role.AGENCY_LEAD, Role.CASE_MANAGER)

    def requester(self, user=None, agency=None, *roles):
        user = user or self.coordinator
        agency = agency or self.cac
        roles = roles or (Role.MDT_COORDINATOR,)
        return make.requester(user, agency, {r.value for r in roles}, purpose=point.PURPOSE)

    def minor(self, owner, staff, *, birth=MINOR_BIRTH, age="minor", finalise=True, band=None):
        client = make.client_record(self.db, owner, self.keys, birth=birth)
        raw = {
            "tool": "cse_it",
            "tool_version": "2.0",
            "screened_at": f"{(AT - timedelta(days=2)).astimezone(NY):%Y-%m-%dT%H:%M}",
            "trigger": "indicator",
            "band": band or "clear_concern",
            "age_group": age,
            "action": "mdt_referral",
            "action_reason": "",
            "notes": NOTE,
        }
        given = screening_forms.read_screening(raw, tz=NY, now=AT)
        made = screenings.start(
            self.db, client, given=given, actor=staff, keys=self.keys, at=AT, minors=MinorSigning()
        )
        if finalise:
            screenings.finalise(
                self.db, made, actor=staff, keys=self.keys, tz=NY, window_hours=48, at=AT
            )
        self.db.flush()
        return client, made

    def release(
        self, client, staff, *, recipients=None, purpose="referral", sections=None, adult=False
    ):
        row = releases.draft_release(
            self.db,
            client,
            recipients=recipients or [self.cac.public_id],
            sections=sections or ["mdt_referral"],
            purpose=purpose,
            effective_at=AT,
            expiry=consent.DateExpiry(AT + timedelta(days=90)),
            keys=self.keys,
            language="en",
            actor=staff,
            at=AT,
        )
        releases.sign(
            self.db,
            row,
            signer=CLIENT,
            second_signer=None if adult else PARENT,
            method=consent.SignatureMethod.TYPED,
            actor=staff,
            keys=self.keys,
            at=AT,
        )
        self.db.flush()
        return row

    def ask(self, owner, requester=None, *, coordinating="cac", at=LATER):
        coordinating = self.cac.public_id if coordinating == "cac" else coordinating
        return point.answer(
            self.db,
            requester or self.requester(),
            owner,
            coordinating=coordinating,
            at=at,
            tz=UTC,
            age_of_majority=18,
            keys=self.keys,
            cache=RequestCache(),
        )

    def owner_entries(self, owner):
        return self.db.exec(
            select(AuditEntry)
            .where(AuditEntry.agency_id == owner.id, AuditEntry.section_key == "mdt_referral")
            .order_by(AuditEntry.seq)
        ).all()
