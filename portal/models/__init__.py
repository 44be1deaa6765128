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

# Sections and disclosure policy (issue 5)
from portal.models.section import PolicyLine, PolicyVersion, SectionEntry
from portal.models.staff import RecoveryCode, Role, StaffRole, StaffUser, WebSession

__all__ = [
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
]
# Sections and disclosure policy (issue 5)
__all__ += ["PolicyLine", "PolicyVersion", "SectionEntry"]
