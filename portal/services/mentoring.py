"""The mentor program's accompaniment log: entries a mentor logs, corrects or deletes,
the program's list of them with every version, and the `mentor_accompaniment` section
as the program releases it.

Entries stay in the mentor program's records: a mentor reads and changes only their own,
the program's lead reads the program's, and nobody else reads any (notes stay in the
program; a partner sees the section only through the disclosure point).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlmodel import Session, func, select

from portal.audit import AuditTag, DisclosureFacts, entry_values, record, record_many
from portal.auth.sessions import Viewer
from portal.errors import Forbidden, Invalid, NotFound
from portal.models import (
    Accompaniment,
    AccompanimentAmendment,
    AccompanimentKind,
    Agency,
    MdtCase,
    Outcome,
    PlaceType,
    StaffUser,
)
from portal.models.mentoring import duration_label
from portal.requester import Requester
from portal.services import casework
from portal.services.mentor_program import require_program_lead

# The author may edit or delete an entry for this long; afterwards only amendments.
EDIT_WINDOW = timedelta(hours=24)


# The longest accompaniment one entry holds; a longer one is logged day by day.
MAX_DURATION_MINUTES = 24 * 60


# An accompaniment is logged after the fact: today, or tomorrow for a mentor logging just
# after midnight somewhere east of the MDT (their date already the next); at most a year
# back. The caseload counts such an entry as contact today, never "-1 days ago".
FUTURE_GRACE_DAYS = 1


PAST_LIMIT_DAYS = 366


ENTRY_FIELDS = (
    "occurred_on",
    "kind",
    "duration_minutes",
    "place_type",
    "outcome",
    "follow_up_needed",
    "follow_up",
    "notes",
)


def live_entries():
    return Accompaniment.deleted_at.is_(None)


@dataclass(frozen=True)
class AccompanimentInput:
    """One accompaniment as the log form gave it, each field read and checked on its own
    (`portal.web.mentor_forms` reads the form, the date against the MDT's today and the
    duration within `MAX_DURATION_MINUTES`)."""

    occurred_on: date
    kind: AccompanimentKind
    duration_minutes: int
    place_type: PlaceType
    outcome: Outcome
    follow_up_needed: bool = False
    follow_up: str | None = None
    notes: str | None = None


def _columns(given: AccompanimentInput) -> dict:
    return {
        "occurred_on": given.occurred_on,
        "kind": AccompanimentKind(given.kind).value,
        "duration_minutes": given.duration_minutes,
        "place_type": PlaceType(given.place_type).value,
        "outcome": Outcome(given.outcome).value,
        # A follow-up written down is a follow-up needed, ticked or not.
        "follow_up_needed": given.follow_up_needed or bool(given.follow_up),
        "follow_up": given.follow_up or None,
        "notes": given.notes or None,
    }


def log_accompaniment(
    db: Session,
    case: MdtCase,
    *,
    given: AccompanimentInput,
    actor: StaffUser,
    at: datetime,
) -> Accompaniment:
    """Record one accompaniment in the mentor's program's own records."""
    case = casework.open_for_writes(
        db,
        case,
        field="occurred_on",
        closed="The case is closed, so no accompaniment can be logged on it; ask the MDT "
        "coordinator to reopen it if the survivor is being accompanied again.",
    )
    entry = Accompaniment(
        agency_id=actor.agency_id,
        case_id=case.id,
        mentor_id=actor.id,
        created_at=at,
        **_columns(given),
    )
    db.add(entry)
    db.flush()
    record(
        db,
        AuditTag.ACCOMPANIMENT_LOGGED,
        agency_id=actor.agency_id,
        actor=actor,
        subject=case.reference,
        detail={"accompaniment": entry.public_id},
        at=at,
    )
    return entry


def access_own_entry(db: Session, author: StaffUser, public_id: str) -> Accompaniment:
    entry = db.exec(
        select(Accompaniment).where(
            Accompaniment.public_id == public_id,
            Accompaniment.mentor_id == author.id,
            Accompaniment.agency_id == author.agency_id,
            live_entries(),
        )
    ).first()
    if entry is None:
        raise NotFound("accompaniment")
    return entry


def editable(entry: Accompaniment, at: datetime) -> bool:
    """Inside the author's 24-hour window for plain edits and deletion."""
    return at < entry.created_at + EDIT_WINDOW


def correct_accompaniment(
    db: Session,
    entry: Accompaniment,
    *,
    given: AccompanimentInput,
    reason: str | None = None,
    actor: StaffUser,
    at: datetime,
) -> Accompaniment:
    """Inside the edit window the entry is changed; afterwards an amendment is appended
    that keeps the values it replaces, and a reason is required (the form asks for it
    once the window has passed: `portal.web.mentor_forms.read_correction`)."""
    if entry.mentor_id != actor.id:
        raise NotFound("accompaniment")
    inside = editable(entry, at)
    if not inside and not reason:
        raise Invalid("reason", "Reason for the correction is required.")
    values = _columns(given)
    changed = sorted(k for k in ENTRY_FIELDS if getattr(entry, k) != values[k])
    if not changed:
        raise Invalid("occurred_on", "Nothing was changed.")
    case = db.get(MdtCase, entry.case_id)
    if not inside:
        db.add(
            AccompanimentAmendment(
                accompaniment_id=entry.id,
                amended_at=at,
                amended_by_id=actor.id,
                reason=reason,
                **{k: getattr(entry, k) for k in ENTRY_FIELDS},
            )
        )
    for key in ENTRY_FIELDS:
        setattr(entry, key, values[key])
    entry.updated_at = at
    db.add(entry)
    db.flush()
    record(
        db,
        AuditTag.ACCOMPANIMENT_EDITED if inside else AuditTag.ACCOMPANIMENT_AMENDED,
        agency_id=entry.agency_id,
        actor=actor,
        subject=case.reference,
        detail={"accompaniment": entry.public_id, "fields": changed},
        at=at,
    )
    return entry


def delete_accompaniment(
    db: Session, entry: Accompaniment, *, actor: StaffUser, at: datetime
) -> None:
    if entry.mentor_id != actor.id:
        raise NotFound("accompaniment")
    if not editable(entry, at):
        raise Forbidden(
            "Entries can be deleted only within 24 hours of logging them; add a correction instead."
        )
    entry.deleted_at = at
    db.add(entry)
    record(
        db,
        AuditTag.ACCOMPANIMENT_DELETED,
        agency_id=entry.agency_id,
        actor=actor,
        subject=db.get(MdtCase, entry.case_id).reference,
        detail={"accompaniment": entry.public_id},
        at=at,
    )


@dataclass(frozen=True)
class EntryRow:
    public_id: str
    case_reference: str
    mentor_public_id: str
    mentor_name: str
    occurred_on: date
    kind: str
    duration_minutes: int
    place_type: str
    outcome: str
    follow_up_needed: bool
    follow_up: str | None
    notes: str | None
    created_at: datetime
    amendments: int

    @property
    def kind_label(self) -> str:
        return AccompanimentKind(self.kind).label

    @property
    def place_label(self) -> str:
        return PlaceType(self.place_type).label

    @property
    def outcome_label(self) -> str:
        return Outcome(self.outcome).label

    @property
    def duration_label(self) -> str:
        return duration_label(self.duration_minutes)


def program_entries(
    db: Session,
    agency: Agency,
    *,
    case: MdtCase | None = None,
    mentor: StaffUser | None = None,
    limit: int = 50,
) -> list[EntryRow]:
    """Entries in one program's own records, newest first; filtered in SQL."""
    amendments = (
        select(
            AccompanimentAmendment.accompaniment_id.label("entry_id"),
            func.count(AccompanimentAmendment.id).label("n"),
        )
        .group_by(AccompanimentAmendment.accompaniment_id)
        .subquery()
    )
    query = (
        select(
            Accompaniment,
            MdtCase.reference,
            StaffUser.public_id,
            StaffUser.display_name,
            amendments.c.n,
        )
        .join(MdtCase, MdtCase.id == Accompaniment.case_id)
        .join(StaffUser, StaffUser.id == Accompaniment.mentor_id)
        .outerjoin(amendments, amendments.c.entry_id == Accompaniment.id)
        .where(Accompaniment.agency_id == agency.id, live_entries())
    )
    if case is not None:
        query = query.where(Accompaniment.case_id == case.id)
    if mentor is not None:
        query = query.where(Accompaniment.mentor_id == mentor.id)
    rows = db.exec(
        query.order_by(Accompaniment.occurred_on.desc(), Accompaniment.id.desc()).limit(limit)
    ).all()
    return [
        EntryRow(
            e.public_id,
            reference,
            mentor_public_id,
            name,
            e.occurred_on,
            e.kind,
            e.duration_minutes,
            e.place_type,
            e.outcome,
            e.follow_up_needed,
            e.follow_up,
            e.notes,
            e.created_at,
            n or 0,
        )
        for e, reference, mentor_public_id, name, n in rows
    ]


# The program's log read as a section: a partner receives these same lines (the day, kind,
# kind of place, outcome and follow-up) only as this section, through the program's point.
ACCOMPANIMENT = "mentor_accompaniment"


def program_read(
    requester: Requester,
    agency_id: int,
    reference: str,
    detail: dict,
    at,
    *,
    tag: AuditTag = AuditTag.ACCOMPANIMENT_VIEWED,
) -> dict:
    """One read of the program's records on one case (its accompaniment, or with `tag` the
    dates its mentors entered), in the program's log: by case and section, as a read of
    any other section is, so that the lead's search of the log for the case, or for mentor
    accompaniment, finds it. No policy line decided it (the program's own records, read by
    its own staff): none is named."""
    return entry_values(
        tag,
        agency_id=agency_id,
        actor=requester,
        subject=reference,
        detail=detail,
        at=at,
        disclosure=DisclosureFacts(
            case_ref=reference,
            client_ref=None,  # the program serves the case; it keeps no client record of it
            section_key=ACCOMPANIMENT,
            purpose=requester.purpose,
            decision="released",
            viewer_role=requester.audit_role(),
        ),
    )


def record_entries_read(
    db: Session,
    rows: list[EntryRow],
    *,
    requester: Requester,
    agency_id: int,
    shown_in: str,
    at: datetime,
) -> None:
    """A page of the program's log shows entries someone else wrote (a case passed to
    another mentor keeps its history; the lead's pages list every mentor's): what a
    survivor did with their mentor, the follow-up and any notes in that mentor's words.
    One entry per case shown, naming the entries; a mentor's own entries are not a read."""
    by_case: dict[str, list[str]] = {}
    for row in rows:
        if row.mentor_public_id != requester.user:
            by_case.setdefault(row.case_reference, []).append(row.public_id)
    if by_case:
        record_many(
            db,
            [
                program_read(
                    requester,
                    agency_id,
                    reference,
                    {"accompaniments": shown[:30], "shown_in": shown_in},
                    at,
                )
                for reference, shown in by_case.items()
            ],
        )


def access_program_entry(db: Session, viewer: Viewer, public_id: str) -> Accompaniment:
    """An entry of the lead's own program (deleted ones included: nothing is lost)."""
    agency = require_program_lead(viewer)
    entry = db.exec(
        select(Accompaniment).where(
            Accompaniment.public_id == public_id, Accompaniment.agency_id == agency.id
        )
    ).first()
    if entry is None:
        raise NotFound("accompaniment")
    return entry


def read_program_entry(db: Session, viewer: Viewer, public_id: str, *, at: datetime):
    """An entry of the lead's own program, its notes and every version, as the lead reads
    it: the read is in the program's log, as every read of what a survivor told is."""
    entry = access_program_entry(db, viewer, public_id)
    record_many(
        db,
        [
            program_read(
                Requester.of(viewer.user, viewer.agency, viewer.roles),
                entry.agency_id,
                db.get(MdtCase, entry.case_id).reference,
                {"accompaniment": entry.public_id},
                at,
            )
        ],
    )
    return entry


@dataclass(frozen=True)
class Version:
    label: str
    at: datetime
    by: str | None
    reason: str | None
    values: dict


def entry_versions(db: Session, entry: Accompaniment) -> list[Version]:
    """The entry as first written, then after each amendment; the last is current."""
    amendments = db.exec(
        select(AccompanimentAmendment, StaffUser.display_name)
        .outerjoin(StaffUser, StaffUser.id == AccompanimentAmendment.amended_by_id)
        .where(AccompanimentAmendment.accompaniment_id == entry.id)
        .order_by(AccompanimentAmendment.amended_at, AccompanimentAmendment.id)
    ).all()
    author = db.get(StaffUser, entry.mentor_id)
    snapshots = [{k: getattr(a, k) for k in ENTRY_FIELDS} for a, _ in amendments]
    snapshots.append({k: getattr(entry, k) for k in ENTRY_FIELDS})
    versions = [
        Version("As first written", entry.created_at, author.display_name, None, snapshots[0])
    ]
    for number, ((amendment, name), values) in enumerate(
        zip(amendments, snapshots[1:], strict=True), start=1
    ):
        versions.append(
            Version(f"Amendment {number}", amendment.amended_at, name, amendment.reason, values)
        )
    return versions
