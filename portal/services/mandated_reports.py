"""Mandated reports for minors (issue 20): to whom, when, by whom, and the report number.

A mandated report is a disclosure the law compels. It is written to the reporting agency's
own audit log under its own tag (`record:mandated_report:made`), so the accounting of
disclosures can list it as compelled; it is noted on the timeline of every MDT case the
client is part of, and counted in the coordinator's figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session, func, select

from portal.audit import AuditTag, record
from portal.auth.permissions import ROLE_PERMISSIONS, Permission
from portal.errors import Conflict, Invalid
from portal.models import Actor, Agency, CaseLink, Client, MdtCase, StaffRole, StaffUser
from portal.models.release import CompelledBasis
from portal.models.screening import AgeGroup, MandatedReport, ReportRecipient, Screening
from portal.models.workflow import CaseEventKind
from portal.services import case_history, compelled_disclosures
from portal.services.clients import lock_client

NUMBER_MAX = 40
REPORTER_REFUSED = (
    "Choose who made the report from your agency's staff who record screenings; "
    "an administrator cannot be named."
)
_UTC = ZoneInfo("UTC")


@dataclass(frozen=True)
class MandatedReportInput:
    """A mandated report as the screening page's form gave it (`portal.web.screening_forms`
    reads it): to whom, when (zone-aware, in the MDT's zone), who of the agency's staff made
    it (their public id), its number, and whether the client was told, with why not if not."""

    recipient: ReportRecipient
    made_at: datetime
    made_by: str
    report_number: str
    client_told: bool
    client_notice: str | None = None

    def __post_init__(self) -> None:
        if self.made_at.tzinfo is None:
            raise ValueError("a report's time needs its time zone")


def require_minor(screening: Screening) -> None:
    """Checked before the form is read, so a report about an adult says so first."""
    if screening.age_group != AgeGroup.MINOR:
        raise Invalid("recipient", "Mandated reports are recorded for minors.")


# Who may be named as having made a report: the staff who record a client's screening
# (the reports form's route asks the same permission). The administrator runs the node and
# never makes survivors' records, so is never offered nor accepted as a report's maker.
_REPORTER_ROLES = sorted(ROLE_PERMISSIONS[Permission.SECTION_WRITE])


def reporter_staff(db: Session, client: Client) -> list[StaffUser]:
    """The client's own agency's active staff who may make a mandated report, by name."""
    may_report = select(StaffRole.user_id).where(StaffRole.role.in_(_REPORTER_ROLES))
    return list(
        db.exec(
            select(StaffUser)
            .where(
                StaffUser.agency_id == client.agency_id,
                StaffUser.is_active.is_(True),
                StaffUser.id.in_(may_report),
            )
            .order_by(StaffUser.display_name)
        ).all()
    )


def reporters(db: Session, client: Client) -> frozenset[str]:
    """The public ids of the staff who may be named as having made a report about the
    client (`reporter_staff`)."""
    return frozenset(user.public_id for user in reporter_staff(db, client))


def record_report(
    db: Session,
    screening: Screening,
    *,
    given: MandatedReportInput,
    actor: Actor,
    tz: ZoneInfo,
    at: datetime,
) -> MandatedReport:
    """Record a report made about the minor a screening concerns. It is a disclosure the
    law compels: it enters the client's accounting of disclosures as one (issue 19's
    compelled disclosures), with whether the client was told."""
    require_minor(screening)
    client = db.get(Client, screening.client_id)
    made_by = next((u for u in reporter_staff(db, client) if u.public_id == given.made_by), None)
    if made_by is None:
        raise Invalid("made_by", REPORTER_REFUSED)
    values = {
        "recipient": ReportRecipient(given.recipient).value,
        "made_at": given.made_at.astimezone(_UTC),  # stored, and audited, in UTC
        "made_by": made_by,
        "report_number": given.report_number,
    }
    lock_client(db, client)  # the check below and the insert as one
    same = select(MandatedReport.id).where(
        MandatedReport.screening_id == screening.id,
        MandatedReport.recipient == values["recipient"],
    )
    same = same.where(
        MandatedReport.report_number == values["report_number"]
        if values["report_number"]
        else MandatedReport.made_at == values["made_at"]
    )
    if db.exec(same).first() is not None:  # a double click, a resent form: one report
        raise Conflict(
            "report_number" if values["report_number"] else "made_at",
            "This report is recorded already (same recipient and "
            + ("report number)." if values["report_number"] else "time)."),
        )
    links = db.exec(
        select(CaseLink, MdtCase)
        .join(MdtCase, MdtCase.id == CaseLink.case_id)
        .where(CaseLink.agency_id == client.agency_id, CaseLink.client_id == client.id)
        .order_by(CaseLink.id)
    ).all()
    report = MandatedReport(
        agency_id=client.agency_id,
        client_id=client.id,
        screening_id=screening.id,
        case_id=links[0][1].id if links else None,
        recipient=values["recipient"],
        made_at=values["made_at"],
        made_by_id=values["made_by"].id,
        report_number=values["report_number"],
        recorded_at=at,
        recorded_by_id=actor.id if actor else None,
    )
    db.add(report)
    db.flush()
    agency = db.get(Agency, client.agency_id)
    to = ReportRecipient(values["recipient"]).label
    for _link, case in links:
        # The timeline says that a report was made, by which agency, to whom: never the
        # number or anything of the report itself.
        case_history.note(
            db,
            case,
            CaseEventKind.MANDATED_REPORT,
            actor=actor,
            at=values["made_at"],
            reason=f"Mandated report to {to} by {agency.name}",
        )
    record(
        db,
        AuditTag.MANDATED_REPORT_MADE,
        agency_id=client.agency_id,
        actor=actor,
        subject=client.public_id,
        detail={
            "compelled": True,
            "basis": "mandated report: a minor",
            "recipient": values["recipient"],
            "report_number": values["report_number"],
            "made_at": values["made_at"].isoformat(),
            "made_by": values["made_by"].public_id,
            "screening": screening.public_id,
            "cases": [case.reference for _link, case in links],
        },
        at=at,
    )
    compelled_disclosures.record_compelled_disclosure(
        db,
        client,
        given=compelled_disclosures.CompelledDisclosureInput(
            recipient=to,
            basis=CompelledBasis.MANDATED_REPORT,
            basis_detail=f"report number {values['report_number']}",
            sections=("screening",),
            disclosed_on=values["made_at"].astimezone(tz).date(),
            client_told=given.client_told,
            client_notice=given.client_notice,
        ),
        today=at.astimezone(tz).date(),
        actor=actor,
        at=at,
    )
    return report


@dataclass(frozen=True)
class ReportRow:
    public_id: str
    recipient: str
    made_at: datetime
    made_by: str | None
    report_number: str

    @property
    def recipient_label(self) -> str:
        return ReportRecipient(self.recipient).label


def for_client(db: Session, client: Client) -> list[ReportRow]:
    rows = db.exec(
        select(
            MandatedReport.public_id,
            MandatedReport.recipient,
            MandatedReport.made_at,
            StaffUser.display_name,
            MandatedReport.report_number,
        )
        .join(StaffUser, StaffUser.id == MandatedReport.made_by_id, isouter=True)
        .where(MandatedReport.agency_id == client.agency_id, MandatedReport.client_id == client.id)
        .order_by(MandatedReport.made_at.desc())
    ).all()
    return [ReportRow(*row) for row in rows]


def count_recent(db: Session, agency_id: int, *, since: datetime) -> int:
    """The dashboard's figure: the reports this agency made. Not a partner's, about a
    client on a case this agency coordinates: that count, read from the partner's records
    with no release and no entry in its log, told the coordinator that a child on one of
    its cases had been reported, which the case page keeps from it."""
    return db.exec(recent_reports(agency_id, since)).one()


def recent_reports(agency_id: int, since: datetime):
    """The statement `count_recent` runs (a test reads its query plan)."""
    return select(func.count()).where(
        MandatedReport.agency_id == agency_id, MandatedReport.made_at >= since
    )
