"""Mandated reports for minors (issue 20): to whom, when, by whom, and the report number.

A mandated report is a disclosure the law compels. It is written to the reporting agency's
own audit log under its own tag (`record:mandated_report:made`), so the accounting of
disclosures can list it as compelled; it is noted on the timeline of every MDT case the
client is part of, and counted in the coordinator's figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import exists
from sqlmodel import Session, func, select

from portal.audit import AuditTag, record
from portal.errors import Invalid
from portal.models import Actor, Agency, CaseLink, Client, MdtCase, StaffUser
from portal.models.release import CompelledBasis
from portal.models.screening import AgeGroup, MandatedReport, ReportRecipient, Screening
from portal.models.workflow import CaseEventKind
from portal.services import case_history, compelled_disclosures, validation
from portal.services.screenings import local_datetime

NUMBER_MAX = 40


def record_report(
    db: Session,
    screening: Screening,
    *,
    recipient: object,
    made_at: object,
    made_by: object,
    report_number: object,
    client_told: object,
    client_notice: object = None,
    actor: Actor,
    tz: ZoneInfo,
    at: datetime,
) -> MandatedReport:
    """Record a report made about the minor a screening concerns. It is a disclosure the
    law compels: it enters the client's accounting of disclosures as one (issue 19's
    compelled disclosures), with whether the client was told."""
    if screening.age_group != AgeGroup.MINOR:
        raise Invalid("recipient", "Mandated reports are recorded for minors.")
    client = db.get(Client, screening.client_id)

    def when():
        value = local_datetime(made_at, "made_at", tz, label="When the report was made")
        if value > at + timedelta(minutes=5):
            raise Invalid("made_at", "The report cannot have been made in the future.")
        return value

    def reporter():
        staff = db.exec(
            select(StaffUser).where(
                StaffUser.public_id == (made_by if isinstance(made_by, str) else ""),
                StaffUser.agency_id == client.agency_id,
            )
        ).first()
        if staff is None:
            raise Invalid("made_by", "Choose who made the report from your agency's staff.")
        return staff

    values = validation.collect(
        recipient=lambda: validation.choice(
            recipient, "recipient", ReportRecipient, label="Made to"
        ),
        made_at=when,
        made_by=reporter,
        report_number=lambda: validation.text(
            report_number, "report_number", max_length=NUMBER_MAX, label="Report number"
        ),
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
        recipient=to,
        basis=CompelledBasis.MANDATED_REPORT.value,
        basis_detail=f"report number {values['report_number']}",
        sections=["screening"],
        disclosed_on=values["made_at"].astimezone(tz).date().isoformat(),
        client_told=client_told,
        client_notice=client_notice,
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
    """The coordinator's figure: reports about clients on the cases this agency coordinates
    (whoever made them), plus its own reports about clients in no case yet.

    Read from the reports, which are few, and each one's links looked up (EXISTS): never
    from the coordinator's cases, which grow to the hundred thousand."""
    return db.exec(recent_reports(agency_id, since)).one()


def recent_reports(agency_id: int, since: datetime):
    """The statement `count_recent` runs (a test reads its query plan)."""
    on_coordinated_cases = exists().where(
        CaseLink.client_id == MandatedReport.client_id,
        CaseLink.case_id == MdtCase.id,
        MdtCase.coordinating_agency_id == agency_id,
    )
    own_without_case = (MandatedReport.agency_id == agency_id) & MandatedReport.case_id.is_(None)
    return select(func.count()).where(
        MandatedReport.made_at >= since, on_coordinated_cases | own_without_case
    )
