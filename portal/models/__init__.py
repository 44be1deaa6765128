"""SQLModel tables, by concept. Importing this package registers every table."""

from portal.models.agency import Agency, AgencyKey, AgencyKind, Discipline, KeyPurpose, Node
from portal.models.api_token import ApiScope, ApiToken
from portal.models.audit import AuditEntry
from portal.models.case import CaseLink, CaseStatus, MdtCase, ReferralSource
from portal.models.client import Client
from portal.models.legal_basis import LegalBasis
from portal.models.mentoring import (
    Accompaniment,
    AccompanimentAmendment,
    AccompanimentKind,
    MentorAppointment,
    MentorAssignment,
    Outcome,
    PlaceType,
)
from portal.models.release import (
    CompelledBasis,
    CompelledDisclosure,
    ConsentRelease,
    ReleaseRecipient,
    ReleaseRevocation,
    ReleaseSection,
    ReleaseState,
    RestrictedPerson,
    RestrictionReason,
)

# Sections and disclosure policy (issue 5)
from portal.models.section import PolicyLine, PolicyVersion, SectionEntry
from portal.models.staff import (
    Actor,
    RecoveryCode,
    Role,
    SignInCount,
    StaffEnrolment,
    StaffRole,
    StaffUser,
    WebSession,
)
from portal.models.submission import FormSubmission

# MDT workflow (issue 6)
from portal.models.workflow import (
    AgendaItem,
    Attendance,
    CalendarFeed,
    CaseEvent,
    ConveningTally,
    ConveningTallyMonth,
    ConveningWaiting,
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
    "Accompaniment",
    "AccompanimentAmendment",
    "AccompanimentKind",
    "Agency",
    "AgencyKey",
    "AgencyKind",
    "ApiScope",
    "ApiToken",
    "AuditEntry",
    "CaseLink",
    "CaseStatus",
    "Client",
    "LegalBasis",
    "CompelledBasis",
    "CompelledDisclosure",
    "ConsentRelease",
    "Discipline",
    "KeyPurpose",
    "MdtCase",
    "MentorAppointment",
    "MentorAssignment",
    "Node",
    "Outcome",
    "PlaceType",
    "RecoveryCode",
    "StaffEnrolment",
    "ReferralSource",
    "ReleaseRecipient",
    "ReleaseRevocation",
    "ReleaseSection",
    "ReleaseState",
    "RestrictedPerson",
    "RestrictionReason",
    "Role",
    "SignInCount",
    "FormSubmission",
    "StaffRole",
    "StaffUser",
    "Actor",
    "WebSession",
    # MDT workflow (issue 6)
    "AgendaItem",
    "Attendance",
    "CalendarFeed",
    "CaseEvent",
    "ConveningTally",
    "ConveningTallyMonth",
    "ConveningWaiting",
    "Decision",
    "Meeting",
    "MeetingChange",
    "MeetingInvite",
    "RecommendationType",
    "Task",
    "TaskChange",
    "TaskComment",
]

# Audit log chain (issue 5, audit log)
from portal.models.audit import ENTRY_FORMAT, GENESIS_HASH, NODE_LOG, AuditCheckpoint, AuditHead

__all__ += ["ENTRY_FORMAT", "GENESIS_HASH", "NODE_LOG", "AuditCheckpoint", "AuditHead"]
# Sections and disclosure policy (issue 5)
__all__ += ["PolicyLine", "PolicyVersion", "SectionEntry"]
# Screening, risk screen, safety plans and mandated reports (issue 20)
from portal.models.screening import (  # noqa: E402
    MandatedReport,
    RiskScreen,
    RiskScreenPerson,
    SafetyPlanState,
    Screening,
    ScreeningAmendment,
)

__all__ += [
    "MandatedReport",
    "RiskScreen",
    "RiskScreenPerson",
    "SafetyPlanState",
    "Screening",
    "ScreeningAmendment",
]
# Federation (issue 16)
from portal.models.federation import FederationNonce, OwedTell, RosterDocument  # noqa: E402

__all__ += ["FederationNonce", "OwedTell", "RosterDocument"]
