"""Seed the demo MDT: its agencies, staff, clients and cases, then each area's own data."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from portal.crypto import KeyWrapper
from portal.demo import audit as demo_audit
from portal.demo import sections as demo_sections
from portal.demo import workflow as demo_workflow
from portal.demo.api import seed_api_token
from portal.demo.integration import seed_integration
from portal.demo.logins import AGENCY_LEADS, DEMO_LOGINS, DEMO_PASSWORD, LEADS_ALSO_HOLD
from portal.demo.mentoring import seed_mentoring
from portal.demo.releases import seed_consent
from portal.demo.screening import seed_screening
from portal.models import Agency, AgencyKind, CaseLink, Discipline, MdtCase, ReferralSource, Role
from portal.services import agencies, cases, casework, clients, staff


@dataclass(frozen=True)
class DemoAgency:
    key: str
    name: str
    kind: AgencyKind
    discipline: Discipline


AGENCIES = (
    DemoAgency(
        "cac",
        "Riverbend Children's Advocacy Center (demo)",
        AgencyKind.COMMUNITY,
        Discipline.ADVOCACY,
    ),
    DemoAgency(
        "cw",
        "Harbor County Child Welfare Office (demo)",
        AgencyKind.SYSTEM,
        Discipline.CHILD_WELFARE,
    ),
    DemoAgency(
        "pd",
        "Harbor County Police Special Victims Unit (demo)",
        AgencyKind.SYSTEM,
        Discipline.LAW_ENFORCEMENT,
    ),
    DemoAgency(
        "shelter",
        "Lantern House Shelter and Advocacy (demo)",
        AgencyKind.COMMUNITY,
        Discipline.SHELTER,
    ),
    DemoAgency(
        "mentor",
        "Bright Path Survivor-Mentor Program (demo)",
        AgencyKind.COMMUNITY,
        Discipline.SURVIVOR_MENTOR,
    ),
    DemoAgency(
        "clinic",
        "Northside Community Health Clinic (demo)",
        AgencyKind.COMMUNITY,
        Discipline.HEALTH,
    ),
)

GIVEN = (
    "Ash",
    "Birch",
    "Cedar",
    "Dove",
    "Ember",
    "Fern",
    "Gale",
    "Hazel",
    "Iris",
    "Juniper",
    "Kestrel",
    "Lark",
    "Maple",
    "Nova",
    "Onyx",
    "Pine",
    "Quill",
    "Rain",
    "Sage",
    "Tansy",
)
FAMILY = (
    "Fictional",
    "Example",
    "Placeholder",
    "Sampleton",
    "Testwell",
    "Demoson",
    "Mockridge",
    "Synthetica",
)


def is_seeded(db: Session) -> bool:
    return db.exec(select(Agency.id)).first() is not None


def seed(
    db: Session,
    *,
    keys: KeyWrapper,
    at: datetime,
    today: date,
    case_count: int = 18,
    rng: random.Random | None = None,
    tz: ZoneInfo | None = None,
) -> dict[str, Agency]:
    """Build the demo MDT in the caller's transaction. Deterministic for a given rng."""
    rng = rng or random.Random(2026)
    tz = tz or ZoneInfo("America/New_York")
    by_key = {}
    for spec in AGENCIES:
        by_key[spec.key] = agencies.create_agency(
            db,
            name=spec.name,
            kind=spec.kind,
            discipline=spec.discipline,
            actor=None,
            keys=keys,
            at=at,
        )
    for username, display_name, agency_key, roles in DEMO_LOGINS:
        staff.create_staff(
            db,
            by_key[agency_key],
            username=username,
            display_name=display_name,
            password=DEMO_PASSWORD,
            roles=[r.value for r in roles],
            actor=None,
            at=at,
        )
    for agency_key, (username, display_name) in AGENCY_LEADS.items():
        staff.create_staff(
            db,
            by_key[agency_key],
            username=username,
            display_name=display_name,
            password=DEMO_PASSWORD,
            roles=[r.value for r in (Role.AGENCY_LEAD, *LEADS_ALSO_HOLD.get(agency_key, ()))],
            actor=None,
            at=at,
        )

    coordinating = by_key["cac"]
    partners = [by_key[k] for k in ("cw", "pd", "shelter", "mentor", "clinic")]
    sources = list(ReferralSource)
    for number in range(case_count):
        intake = today - timedelta(days=rng.randint(0, 60))
        case = cases.open_case(
            db,
            coordinating,
            intake_date=intake,
            referral_source=rng.choice(sources).value,
            actor=None,
            # Opened the day its report came in, as a coordinator would: its history then
            # reads in order beside the meetings that reviewed it since.
            at=min(at, datetime.combine(intake, time(9), tzinfo=tz)),
            today=today,
        )
        person = clients.Identity(
            given_name=GIVEN[number % len(GIVEN)],
            family_name=FAMILY[(number * 3) % len(FAMILY)],
            birth_date=date(2008 + number % 8, 1 + number % 12, 1 + (number * 7) % 28),
            # 555-01xx numbers are reserved for fiction; the street does not exist.
            phone=f"555-01{number % 100:02d}",
            address=f"{10 + number} Example Street, Faketown (fictional)",
        )
        for agency in [coordinating, *rng.sample(partners, rng.randint(1, 2))]:
            client = clients.register_client(
                db,
                agency,
                person,
                reference=f"{agency.name[:3].upper()}-{1000 + number}",
                actor=None,
                keys=keys,
                at=at,
            )
            cases.link_client(db, case, agency, client, actor=None, at=at, confirmed=True)
    seed_mentoring(db, by_key, keys=keys, at=at, today=today, rng=rng)
    seed_consent(db, by_key, keys=keys, at=at, today=today, rng=rng)  # consent releases (issue 4)
    demo_sections.seed_sections(db, by_key, keys=keys, at=at, today=today, rng=rng)
    demo_workflow.seed_workflow(db, by_key, at=at, today=today, rng=rng)  # issue 6
    _link_waiting_on_a_release(db, by_key, keys=keys, at=at)  # issue 14
    demo_audit.seed_audit(db, by_key, keys=keys, at=at, tz=tz, rng=rng)
    seed_integration(db, by_key, at=at, today=today)  # follow-ups made into tasks (5-7)
    # Screening, risk screens, a plan due after a move, a mandated report (issue 20)
    seed_screening(db, by_key, keys=keys, at=at, today=today, tz=tz, rng=rng)
    seed_api_token(db, by_key, at=at)  # a partner system's token (issue 18)
    return by_key


WAITING_REFERENCE = "CLI-WAITING"


def _link_waiting_on_a_release(db, by_key, *, keys, at) -> None:
    """One link waiting on a release (issue 14): the clinic is asked to join the newest case
    it is not on, and its client there has signed nothing naming the advocacy center yet,
    so confirming the link asks for that release first."""
    clinic, cac = by_key["clinic"], by_key["cac"]
    on = select(CaseLink.case_id).where(CaseLink.agency_id == clinic.id)
    case = db.exec(
        select(MdtCase)
        .where(MdtCase.coordinating_agency_id == cac.id, MdtCase.id.not_in(on))
        .order_by(MdtCase.id.desc())
    ).first()
    if case is None:
        return
    casework.add_agency(db, case, clinic.public_id, actor=None, at=at)
    clients.register_client(
        db,
        clinic,
        clients.Identity(given_name="Wren", family_name="Example", birth_date=date(2009, 6, 2)),
        reference=WAITING_REFERENCE,
        actor=None,
        keys=keys,
        at=at,
    )
