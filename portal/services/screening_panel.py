"""The coordinator's rows for issue 20, beside the convening clock: screenings begun and
not finalised, running risk-screen clocks, minors with a clear concern and no MDT case,
safety plans past review or due after a move, and mandated reports made. Each is read
from the viewer's own agency's records (or, for reports, the timelines of the cases it
coordinates), filtered and counted in SQL; the minors partners screened are what their
own disclosure points told the coordinating agency (`portal.federation.referrals`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from portal.disclosure import own
from portal.models import Agency
from portal.requester import Requester
from portal.services import mandated_reports, risk_screens, safety_plans, screenings
from portal.services.referrals import PartnerAnswer

REPORT_DAYS = 30


@dataclass(frozen=True)
class ScreeningPanel:
    drafts_total: int
    drafts_overdue: int
    drafts: list
    due_hours: int  # a screening begun is to be finalised within these hours
    risk_due_from_hours: int  # a risk screen is due from these hours after identification
    clock_counts: risk_screens.ClockCounts
    clocks: list
    minors_total: int
    minors: list
    review_total: int
    reviews: list
    reports_recent: int
    report_days: int
    # What each partner's point answered the coordinating agency (None: not asked, the
    # viewer's agency does not coordinate the MDT).
    partners: list[PartnerAnswer] | None = None

    @property
    def partner_minors(self) -> int:
        """Minors partners screened: those told of, and those only counted."""
        return sum(p.count for p in self.partners or ())

    @property
    def empty(self) -> bool:
        return not (
            self.drafts_total
            or self.clock_counts.running
            or self.minors_total
            or self.partner_minors
            or self.review_total
            or self.reports_recent
        )


SAFETY_PLAN, PLACEMENT = "safety_plan", "placement_housing"


def _screenings_seen_by(
    db: Session, requester: Requester, agency: Agency, named: list, *, at: datetime
) -> bool:
    """Whether the agency's own policy lets this requester read its screenings: a row that
    names a client begun, screened with a clear concern, or on a risk screen's clock tells
    what the screening found, as the screening's own page does; each client so named is a
    read in the agency's log, as on that page."""
    (answer,) = own.decide_many(db, requester, [screenings.SECTION], agency=agency)
    if answer.allowed:
        _record_dashboard_reads(db, requester, agency, answer, named, at=at)
    return answer.allowed


def _reviews_seen_by(
    db: Session, requester: Requester, agency: Agency, reviews: list, *, at: datetime
) -> list[safety_plans.ReviewRow]:
    """The plans due for review as this requester may be told of them, under the agency's
    own policy: none by name without the safety plan; that a survivor moved, and when,
    only with where they live (placement and housing), else only that a review is due.
    Each survivor so named is a read of the plan (its review date), and of placement where
    the move is told, in the agency's log, as on the plan's own page."""
    answers = {
        answer.section.key: answer
        for answer in own.decide_many(db, requester, [SAFETY_PLAN, PLACEMENT], agency=agency)
    }
    if not answers[SAFETY_PLAN].allowed:
        return []
    told = reviews
    if not answers[PLACEMENT].allowed:
        told = [replace(row, moved_at=None, move_withheld=row.after_move) for row in reviews]
    _record_dashboard_reads(db, requester, agency, answers[SAFETY_PLAN], told, at=at)
    moves = [row for row in told if row.after_move]
    _record_dashboard_reads(db, requester, agency, answers[PLACEMENT], moves, at=at)
    return told


def _record_dashboard_reads(db, requester, agency, answer, rows, *, at: datetime) -> None:
    """Each client the dashboard's rows name, once: a read of `answer`'s section."""
    if not rows:
        return
    clients = dict.fromkeys(row.client_id for row in rows)
    own.record_reads(
        db,
        answer,
        requester=requester,
        agency=agency,
        reads=[(client, client) for client in clients],
        at=at,
        detail={"on": "dashboard"},
    )


def screening_panel(
    db: Session,
    agency: Agency,
    *,
    requester: Requester,
    now: datetime,
    tz: ZoneInfo,
    today: date,
    due_hours: int = screenings.DUE_HOURS,
    partners: list[PartnerAnswer] | None = None,
) -> ScreeningPanel:
    drafts_total, drafts_overdue, drafts = screenings.drafts(
        db, agency.id, now=now, due_hours=due_hours
    )
    minors_total, minors = screenings.minors_without_case(db, agency.id)
    clocks = risk_screens.running_rows(db, agency.id, now=now)
    if not _screenings_seen_by(db, requester, agency, [*drafts, *minors, *clocks], at=now):
        drafts, minors, clocks = [], [], []  # counted, but none by name
    review_total, reviews = safety_plans.due_for_review(db, agency.id, today=today)
    reviews = _reviews_seen_by(db, requester, agency, reviews, at=now)
    return ScreeningPanel(
        drafts_total=drafts_total,
        drafts_overdue=drafts_overdue,
        drafts=drafts,
        due_hours=due_hours,
        risk_due_from_hours=risk_screens.FIRST_MARK_HOURS,
        clock_counts=risk_screens.counts(db, agency.id, now=now, tz=tz),
        clocks=clocks,
        minors_total=minors_total,
        minors=minors,
        review_total=review_total,
        reviews=reviews,
        reports_recent=mandated_reports.count_recent(
            db, agency.id, since=now - timedelta(days=REPORT_DAYS)
        ),
        report_days=REPORT_DAYS,
        partners=partners,
    )
