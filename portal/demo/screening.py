"""Demo screenings (issue 20), at the children's advocacy center, so the coordinator's
rows have something to show: a screening in every band of every tool, a risk screen
overdue, others running or done, a safety plan due after a move, and one mandated report.
And minors with a clear concern screened at partners, which reach the coordinator only
through each partner's disclosure point: the shelter's one under the minor's and a
parent's release naming the advocacy center, child welfare's one under its recorded legal
basis, and another of the shelter's, with no release, which the coordinator sees only as
a count."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

import consent
from portal.crypto import KeyWrapper
from portal.demo.logins import AGENCY_LEADS
from portal.demo.releases import DEMO_TZ, agency_staff, demo_signers
from portal.models import Agency, StaffUser
from portal.models.screening import (
    AgeGroup,
    HouseholdRelation,
    ReportRecipient,
    ScreeningAction,
    ScreeningTrigger,
)
from portal.screening_tools import catalogue
from portal.services import (
    clients,
    legal_bases,
    mandated_reports,
    releases,
    risk_screens,
    screenings,
    sections,
)

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
    staff = agency_staff(db, cac)
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
                    # 15 or 30 on the day of the demo, as their age group says
                    date(at.year - (15 if minor else 30), 1 + number % 12, 1 + number % 27),
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
            made = screenings.start(
                db,
                client,
                given=given,
                actor=staff,
                keys=keys,
                minors=releases.MinorSigning(tz=tz),
                at=when,
            )
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
    seed_partner_minors(db, by_key, keys=keys, tz=tz, at=at)


# The legal basis child welfare refers minors under (fictional, like everything here).
REFERRAL_CITATION = "Harbor County Code 39.3035, child-abuse MDT referral (demo)"
# Minors screened at partners (their own client references): the shelter's first is
# referred under a release, child welfare's under its legal basis, the shelter's second is
# withheld (no release): the coordinator sees it only as a count.
PARTNER_MINORS = (
    ("shelter", "LAN-SCR-01", "release"),
    ("cw", "HAR-SCR-01", "legal_basis"),
    ("shelter", "LAN-SCR-02", None),
)


def seed_partner_minors(db, by_key, *, keys, tz, at, hosted=None) -> None:
    """Clear concerns screened as minors at the shelter and at child welfare, no MDT case.
    `hosted`: the agency keys this node hosts (the federated demo seeds each node's own);
    None: every one. The releases and the legal basis are signed at `at` (now)."""
    cac = by_key["cac"]
    for number, (key, reference, shared) in enumerate(PARTNER_MINORS, start=1):
        if hosted is not None and key not in hosted:
            continue
        owner = by_key[key]
        staff = agency_staff(db, owner)
        when = at - timedelta(days=number, hours=3)
        client = clients.register_client(
            db,
            owner,
            clients.Identity(
                "Demo", f"Partner minor {number} (synthetic)", date(at.year - 15, 3, number)
            ),
            reference=reference,
            actor=staff,
            keys=keys,
            at=when,
        )
        given = screenings.ScreeningInput(
            tool=catalogue().get("fl_htst"),
            tool_version="current edition",
            screened_at=_to_the_minute(when, tz),
            trigger=ScreeningTrigger.DISCLOSURE
            if number == 1
            else ScreeningTrigger.RETURN_FROM_MISSING,
            band="positive",
            age_group=AgeGroup.MINOR,
            action=ScreeningAction.MDT_REFERRAL,
            notes=f"Synthetic partner screening note {number} (never shared).",
        )
        made = screenings.start(
            db,
            client,
            given=given,
            actor=staff,
            keys=keys,
            minors=releases.MinorSigning(tz=tz),
            at=when,
        )
        screenings.finalise(
            db, made, actor=staff, keys=keys, tz=tz, window_hours=WINDOW_HOURS, at=when
        )
        if shared == "release":
            _referral_release(db, client, cac, staff, keys=keys, at=at)
        elif shared == "legal_basis":
            lead = db.exec(
                select(StaffUser).where(StaffUser.username == AGENCY_LEADS[key][0])
            ).one()
            legal_bases.record_basis(
                db,
                owner,
                citation=REFERRAL_CITATION,
                sections=["mdt_referral"],
                purpose=consent.Purpose.REFERRAL.value,
                minors_only=True,
                actor=lead,
                keys=keys,
                at=at,
            )


def _referral_release(db, client, cac: Agency, witness, *, keys, at) -> None:
    """The minor and a parent sign a release naming the advocacy center for the referral."""
    rules = releases.MinorSigning(tz=DEMO_TZ)
    row = releases.draft_release(
        db,
        client,
        recipients=[cac.public_id],
        sections=["mdt_referral"],
        purpose=consent.Purpose.REFERRAL.value,
        effective_at=at,
        expiry=consent.DateExpiry(at + timedelta(days=180)),
        keys=keys,
        rules=rules,
        actor=witness,
        at=at,
    )
    signer, second_signer = demo_signers(db, client, keys=keys, at=at)
    releases.sign(
        db,
        row,
        signer=signer,
        second_signer=second_signer,
        method=consent.SignatureMethod.TYPED,
        actor=witness,
        keys=keys,
        rules=rules,
        at=at,
    )


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
