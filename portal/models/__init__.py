"""SQLModel tables, by concept. Importing this package registers every table."""

from portal.models.agency import Agency, AgencyKey, AgencyKind, Discipline, KeyPurpose, Node
from portal.models.audit import AuditEntry
from portal.models.case import CaseLink, CaseStatus, MdtCase, ReferralSource
from portal.models.client import Client
from portal.models.release import (
    ConsentRelease,
    ReleaseRecipient,
    ReleaseRevocation,
    ReleaseSection,
    ReleaseState,
    RestrictedPerson,
)
from portal.models.staff import RecoveryCode, Role, StaffRole, StaffUser, WebSession

# MDT workflow (issue 6)
from portal.models.workflow import (
    AgendaItem,
    Attendance,
    CalendarFeed,
    CaseEvent,
    ConveningTally,
    Decision,
    Meeting,
    MeetingChange,
    MeetingInvite,
    RecommendationType,
    Task,
    TaskChange,
    TaskComment,
)

__all__ = [  # noqa: RUF022 (one block per area, for merging)
    "Agency",
    "AgencyKey",
    "AgencyKind",
    "AuditEntry",
    "CaseLink",
    "CaseStatus",
    "Client",
    "ConsentRelease",
    "Discipline",
    "KeyPurpose",
    "MdtCase",
    "Node",
    "RecoveryCode",
    "ReferralSource",
    "ReleaseRecipient",
    "ReleaseRevocation",
    "ReleaseSection",
    "ReleaseState",
    "RestrictedPerson",
    "Role",
    "StaffRole",
    "StaffUser",
    "WebSession",
    # MDT workflow (issue 6)
    "AgendaItem",
    "Attendance",
    "CalendarFeed",
    "CaseEvent",
    "ConveningTally",
    "Decision",
    "Meeting",
    "MeetingChange",
    "MeetingInvite",
    "RecommendationType",
    "Task",
    "TaskChange",
    "TaskComment",
]
