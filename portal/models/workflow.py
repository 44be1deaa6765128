"""The MDT workflow: case history, meetings, agendas, minutes, decisions, tasks, feeds."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from portal.models.types import UTCDateTime, new_public_id


class CaseEventKind(StrEnum):
    OPENED = "opened"
    CLOSED = "closed"
    REOPENED = "reopened"
    AGENCY_ADDED = "agency_added"
    LINK_CONFIRMED = "link_confirmed"
    LINK_WITHDRAWN = "link_withdrawn"  # the agency took its client record back off the case
    REVIEWED = "reviewed"
    CADENCE_SET = "cadence_set"
    MANDATED_REPORT = "mandated_report"  # issue 20: a report for a minor, by a participant
    # Taken off the agenda of a meeting not yet held as the case closed; the note is the
    # meeting's day in the MDT's zone (never its id).
    TAKEN_OFF_AGENDA = "taken_off_agenda"


class CaseEvent(SQLModel, table=True):
    """The case's history: every open, close, reopen (with its reason), review."""

    __tablename__ = "case_event"
    __table_args__ = (Index("ix_case_event_case_at", "case_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="mdt_case.id")
    kind: str = Field(max_length=20)
    at: datetime = Field(sa_type=UTCDateTime)
    actor_id: int | None = Field(default=None, foreign_key="staff_user.id")
    reason: str | None = Field(default=None, max_length=500)


class MeetingStatus(StrEnum):
    SCHEDULED = "scheduled"
    HELD = "held"
    CANCELLED = "cancelled"


class Meeting(SQLModel, table=True):
    __table_args__ = (Index("ix_meeting_agency_date", "coordinating_agency_id", "meeting_date"),)

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, max_length=36, unique=True)
    coordinating_agency_id: int = Field(foreign_key="agency.id")
    starts_at: datetime = Field(sa_type=UTCDateTime)
    # The calendar date in the MDT's zone, kept beside the instant so the deadline
    # comparison (a date against a date) runs in SQL on every database.
    meeting_date: date
    duration_minutes: int = 90
    place: str | None = Field(default=None, max_length=200)
    video_url: str | None = Field(default=None, max_length=300)
    status: str = Field(default=MeetingStatus.SCHEDULED, max_length=10)
    status_reason: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by_id: int | None = Field(default=None, foreign_key="staff_user.id")
    sequence: int = 0  # iCalendar SEQUENCE: bumped at each reschedule or cancellation


class MeetingChange(SQLModel, table=True):
    """Reschedules, cancellations and cases taken off the agenda, with the reason and the
    time they replaced (a reschedule's). Shown to the coordinating agency only: a case's
    reference must not reach an agency invited for another case."""

    __tablename__ = "meeting_change"

    id: int | None = Field(default=None, primary_key=True)
    meeting_id: int = Field(foreign_key="meeting.id", index=True)
    kind: str = Field(max_length=20)
    at: datetime = Field(sa_type=UTCDateTime)
    actor_id: int | None = Field(default=None, foreign_key="staff_user.id")
    previous_starts_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reason: str = Field(max_length=500)


class MeetingInvite(SQLModel, table=True):
    __tablename__ = "meeting_invite"
    __table_args__ = (UniqueConstraint("meeting_id", "agency_id"),)

    id: int | None = Field(default=None, primary_key=True)
    meeting_id: int = Field(foreign_key="meeting.id", index=True)
    agency_id: int = Field(foreign_key="agency.id", index=True)
    # Named by the coordinator when scheduling: invited whatever the agenda holds. Otherwise
    # invited for the agenda's cases it takes part in, and only while one is on it.
    named: bool = Field(default=False)
    # Ended when no case of the agency is left on the agenda (not named): kept, so that its
    # calendar feed says the meeting is off for it rather than dropping it unseen.
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The meeting as the agency last knew it when its invitation ended: its feed says that
    # meeting is off, and learns nothing of a meeting moved since (no longer theirs).
    ended_starts_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_sequence: int | None = None


class Attendance(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("meeting_id", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    meeting_id: int = Field(foreign_key="meeting.id", index=True)
    user_id: int = Field(foreign_key="staff_user.id")
    agency_id: int = Field(foreign_key="agency.id")
    recorded_at: datetime = Field(sa_type=UTCDateTime)


class AgendaItem(SQLModel, table=True):
    """One case on a meeting's agenda, with the minutes taken while it was discussed.

    The minutes are the coordinating agency's content (owner_agency_id). The disclosure
    issue routes them through that agency's disclosure point as a section like any other;
    until then only the participants of the case read them, on the meeting page.
    """

    __tablename__ = "agenda_item"
    __table_args__ = (
        UniqueConstraint("meeting_id", "case_id"),
        Index("ix_agenda_item_case", "case_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, max_length=36, unique=True)
    meeting_id: int = Field(foreign_key="meeting.id", index=True)
    case_id: int = Field(foreign_key="mdt_case.id")
    position: int = 0
    owner_agency_id: int = Field(foreign_key="agency.id")
    minutes: str | None = Field(default=None, sa_type=Text)
    reviewed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class RecommendationType(SQLModel, table=True):
    """The coordinating agency's editable list of decision kinds."""

    __tablename__ = "recommendation_type"
    __table_args__ = (UniqueConstraint("agency_id", "label"),)

    id: int | None = Field(default=None, primary_key=True)
    agency_id: int = Field(foreign_key="agency.id", index=True)
    label: str = Field(max_length=80)
    is_active: bool = True


class Decision(SQLModel, table=True):
    __table_args__ = (Index("ix_decision_case_at", "case_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, max_length=36, unique=True)
    agenda_item_id: int = Field(foreign_key="agenda_item.id", index=True)
    case_id: int = Field(foreign_key="mdt_case.id")
    recommendation: str = Field(max_length=80)
    text: str = Field(default="", max_length=2000)
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by_id: int | None = Field(default=None, foreign_key="staff_user.id")


class TaskStatus(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    BLOCKED = "blocked"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


ACTIVE_TASK_STATUSES = (TaskStatus.OPEN, TaskStatus.IN_PROGRESS, TaskStatus.BLOCKED)


class TaskPriority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"

    @property
    def label(self) -> str:
        """As a choice and a list's cell read it: "High"; in a sentence, `label | lower`."""
        return self.value.capitalize()


class Task(SQLModel, table=True):
    __table_args__ = (
        # "My tasks" walks these in due order and stops at the page size, so its cost does
        # not grow with the number of tasks a person has ever had.
        Index("ix_task_assignee_due", "assignee_user_id", "due_date", "id"),
        Index("ix_task_agency_due", "assignee_agency_id", "due_date", "id"),
        Index("ix_task_case_status", "case_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, max_length=36, unique=True)
    case_id: int = Field(foreign_key="mdt_case.id")
    decision_id: int | None = Field(default=None, foreign_key="decision.id")
    title: str = Field(max_length=200)
    details: str = Field(default="", max_length=4000)
    # Always an agency; a person too once someone is named (or picks it up).
    assignee_agency_id: int = Field(foreign_key="agency.id")
    assignee_user_id: int | None = Field(default=None, foreign_key="staff_user.id")
    due_date: date
    priority: str = Field(default=TaskPriority.NORMAL, max_length=10)
    status: str = Field(default=TaskStatus.OPEN, max_length=12)
    blocked_reason: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by_id: int | None = Field(default=None, foreign_key="staff_user.id")
    # The agency that wrote the task owns its text (title, details, comments, history):
    # every other agency reads it only through that agency's disclosure point (issue 14).
    owner_agency_id: int = Field(foreign_key="agency.id", index=True)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class TaskChange(SQLModel, table=True):
    """Every change to a task: who, when, which field, from what to what."""

    __tablename__ = "task_change"

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="task.id", index=True)
    at: datetime = Field(sa_type=UTCDateTime)
    actor_id: int | None = Field(default=None, foreign_key="staff_user.id")
    field: str = Field(max_length=30)
    old_value: str | None = Field(default=None, max_length=500)
    new_value: str | None = Field(default=None, max_length=500)


class TaskComment(SQLModel, table=True):
    __tablename__ = "task_comment"

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="task.id", index=True)
    at: datetime = Field(sa_type=UTCDateTime)
    author_id: int = Field(foreign_key="staff_user.id")
    body: str = Field(max_length=2000)


class ConveningTally(SQLModel, table=True):
    """Per coordinating agency, intake day and referral source: how many cases opened,
    how many had their first MDT within the window or after it, and how many were closed
    before their first MDT while their window was still open (left out of the rate: no
    meeting was missed).

    Kept by the services in the same transaction as the case change, so the compliance
    rate sums at most a year of days instead of every case (cases.open_case,
    meetings.mark_reviewed and casework's close and reopen are the only writers, through
    `convening`; ConveningTallyMonth and ConveningWaiting move with it).
    """

    __tablename__ = "convening_tally"
    __table_args__ = (
        UniqueConstraint("coordinating_agency_id", "intake_date", "referral_source"),
        # Covering: the rate reads a year of rows without touching the table.
        Index(
            "ix_convening_tally_cover",
            "coordinating_agency_id",
            "intake_date",
            "referral_source",
            "opened",
            "convened_in_time",
            "closed_before_mdt",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    coordinating_agency_id: int = Field(foreign_key="agency.id")
    intake_date: date
    referral_source: str = Field(max_length=40)
    opened: int = 0
    convened_in_time: int = 0
    convened_late: int = 0
    closed_before_mdt: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class ConveningTallyMonth(SQLModel, table=True):
    """The daily tally summed by calendar month (`month` is the month's first day).

    A year of the compliance rate reads about a dozen rows per source plus the few days
    where a window starts mid-month, instead of a row per day and source. Every change to
    the daily tally changes its month row in the same transaction (convening._bump).
    """

    __tablename__ = "convening_tally_month"
    __table_args__ = (
        UniqueConstraint("coordinating_agency_id", "month", "referral_source"),
        Index(
            "ix_convening_tally_month_cover",
            "coordinating_agency_id",
            "month",
            "referral_source",
            "opened",
            "convened_in_time",
            "closed_before_mdt",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    coordinating_agency_id: int = Field(foreign_key="agency.id")
    month: date
    referral_source: str = Field(max_length=40)
    opened: int = 0
    convened_in_time: int = 0
    convened_late: int = 0
    closed_before_mdt: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class ConveningWaiting(SQLModel, table=True):
    """Per coordinating agency, referral source, intake day and deadline: how many cases
    have no first MDT yet, open or closed, except those closed by their deadline (the
    tallies count those as closed_before_mdt: they wait for nothing).

    The compliance rate leaves out the cases still inside their window; reading them here
    costs a row per intake day and source whose deadline is still ahead, instead of a row
    per waiting case. Kept with ConveningTally by the same writers (convening.count_opened,
    count_closed, count_reopened and set_first_mdt), in the same transaction as the case
    change.
    """

    __tablename__ = "convening_waiting"
    __table_args__ = (
        UniqueConstraint(
            "coordinating_agency_id", "convening_due", "intake_date", "referral_source"
        ),
        # Covering, deadline first: "still inside the window" is one range of the index.
        Index(
            "ix_convening_waiting_cover",
            "coordinating_agency_id",
            "convening_due",
            "intake_date",
            "referral_source",
            "waiting",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    coordinating_agency_id: int = Field(foreign_key="agency.id")
    referral_source: str = Field(max_length=40)
    intake_date: date
    convening_due: date
    waiting: int = 0


class CalendarFeed(SQLModel, table=True):
    """A user's private iCalendar feed: the URL carries a random token, stored hashed."""

    __tablename__ = "calendar_feed"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="staff_user.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
