"""Demo screenings (issue 20), at the children's advocacy center, so the coordinator's
rows have something to show: a screening in every band of every tool, a risk screen
overdue, others running or done, a safety plan due after a move, and one mandated report."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from portal.crypto import KeyWrapper
from portal.models import Agency, StaffUser
from portal.models.screening import (
    AgeGroup,
    HouseholdRelation,
    ReportRecipient,
    ScreeningAction,
    ScreeningTrigger,
)
from portal.screening_tools import catalogue
from portal.services import clients, mandated_reports, risk_screens, screenings, sections

TRIGGERS = (
    ScreeningTrigger.INTAKE,
    ScreeningTrigger.INDICATOR,
    ScreeningTrigger.DISCLOSURE,
    ScreeningTrigger.RETURN_FROM_MISSING,
)
WINDOW_HOURS = 48


def seed_screening(
    db: Session,
    by_key: dict[str, Agency],
    *,
    keys: KeyWrapper,
    at: datetime,
    today: date,
    tz: ZoneInfo,
    rng: random.Random,
) -> None:
    cac = by_key["cac"]
    staff = db.exec(select(StaffUser).where(StaffUser.agency_id == cac.id)).first()
    number = 0
    clear_ones = []
    for tool in catalogue().tools:
        for band in tool.bands:
            number += 1
            minor = number % 2 == 1
            client = clients.register_client(
                db,
                cac,
                clients.Identity(
                    "Demo",
                    f"Screened {number} (synthetic)",
                    date(2011 if minor else 1996, 1 + number % 12, 1 + number % 27),
                ),
                reference=f"SCR-{2000 + number}",
                actor=staff,
                keys=keys,
                at=at,
            )
            # Clear concerns come first at staggered hours ago: the first is overdue.
            when = at - timedelta(hours=60 if not clear_ones else 6 + 10 * len(clear_ones))
            if band.concern != "clear":
                when = at - timedelta(days=rng.randint(1, 20), hours=rng.randint(0, 12))
            given = screenings.ScreeningInput(
                tool=tool,
                tool_version=tool.versions[0],
                screened_at=_to_the_minute(when, tz),
                trigger=TRIGGERS[number % len(TRIGGERS)],
                band=band.key,
                age_group=AgeGroup.MINOR if minor else AgeGroup.ADULT,
                action=ScreeningAction.NONE
                if band.concern == "none"
                else ScreeningAction.MDT_REFERRAL,
                action_reason="No indicators; screened again at the next visit."
                if band.concern == "none"
                else "",
                notes=f"Synthetic demo note for screening {number}.",
            )
            made = screenings.start(db, client, given=given, actor=staff, keys=keys, at=when)
            if number == 2:
                continue  # one screening left as a draft, begun and not finalised
            screenings.finalise(
                db, made, actor=staff, keys=keys, tz=tz, window_hours=WINDOW_HOURS, at=when
            )
            if not minor and band.concern != "none":
                choice = "yes" if number % 4 == 0 else "not_now"
                screenings.record_choice(
                    db, made, choice=choice, actor=staff, keys=keys, tz=tz, at=when
                )
            if band.concern == "clear":
                clear_ones.append((client, made, when))
    _progress(db, clear_ones, staff, keys=keys, tz=tz, at=at)
    _moved(db, cac, staff, keys=keys, at=at, today=today)


def _to_the_minute(when: datetime, tz: ZoneInfo) -> datetime:
    """As a person types it into the form: local time, to the minute."""
    return when.astimezone(tz).replace(second=0, microsecond=0)


def _progress(db, clear_ones, staff, *, keys, tz, at) -> None:
    """The first clear concern is left overdue (a child recorded, no screen, no plan) with
    a mandated report; the second is done; the rest run."""
    for index, (client, made, when) in enumerate(clear_ones):
        clock = risk_screens.open_clock(db, client)
        if index == 0:
            risk_screens.add_person(
                db,
                clock,
                given=risk_screens.HouseholdMemberInput(
                    HouseholdRelation.MINOR_CHILD, "Younger sibling (demo)"
                ),
                actor=staff,
                keys=keys,
                at=when + timedelta(hours=2),
            )
            if made.age_group == "minor":
                mandated_reports.record_report(
                    db,
                    made,
                    given=mandated_reports.MandatedReportInput(
                        recipient=ReportRecipient.CHILD_ABUSE_HOTLINE,
                        made_at=_to_the_minute(when + timedelta(hours=1), tz),
                        made_by=staff.public_id,
                        report_number="DEMO-HL-0001",
                        client_told=True,
                    ),
                    actor=staff,
                    tz=tz,
                    at=when + timedelta(hours=1),
                )
        elif index == 1:
            risk_screens.record_screen(
                db,
                clock,
                given=risk_screens.RiskNotesInput("Synthetic: the recruiter knows the bus route."),
                actor=staff,
                keys=keys,
                at=when + timedelta(hours=5),
            )
            sections.save_section(
                db,
                client,
                "safety_plan",
                {
                    "stage": "leaving",
                    "travelling": "Synthetic: a different route, with the advocate.",
                    "emergency_contacts": "Synthetic: the advocate's line.",
                    "review_date": (when + timedelta(days=30)).date().isoformat(),
                },
                actor=staff,
                keys=keys,
                at=when + timedelta(hours=6),
            )


def _moved(db, cac, staff, *, keys, at, today) -> None:
    """A plan made last month, then a move to new housing: due for review at once."""
    client = clients.register_client(
        db,
        cac,
        clients.Identity("Demo", "Moved (synthetic)", date(2009, 6, 1)),
        reference="SCR-MOVED",
        actor=staff,
        keys=keys,
        at=at,
    )
    before = at - timedelta(days=30)
    sections.save_section(
        db,
        client,
        "safety_plan",
        {
            "stage": "after leaving",
            "at_home": "Synthetic: door code changed.",
            "review_date": (today + timedelta(days=60)).isoformat(),
        },
        actor=staff,
        keys=keys,
        at=before,
    )
    sections.save_section(
        db,
        client,
        "placement_housing",
        {"placement_type": "shelter"},
        actor=staff,
        keys=keys,
        at=before,
    )
    sections.save_section(
        db,
        client,
        "placement_housing",
        {"placement_type": "kinship", "moved_on": (today - timedelta(days=1)).isoformat()},
        actor=staff,
        keys=keys,
        at=at - timedelta(hours=20),
    )
