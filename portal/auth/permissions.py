"""One vocabulary of permissions, and which roles hold each."""

from __future__ import annotations

from enum import StrEnum

from portal.models import Role


class Permission(StrEnum):
    PUBLIC = "public"  # no sign-in: login page, health checks, static files
    SIGNED_IN = "signed_in"  # any active staff user with a complete sign-in
    SECOND_FACTOR = "second_factor"  # between password and TOTP, or enrolling when required
    DASHBOARD_READ = "dashboard:read"
    ACCOUNT_MANAGE = "account:manage"
    AGENCY_CREATE = "agency:create"
    AGENCY_READ = "agency:read"
    AGENCY_UPDATE = "agency:update"
    STAFF_READ = "staff:read"
    STAFF_MANAGE = "staff:manage"
    SESSION_END = "session:end"
    CASE_READ = "case:read"
    CLIENT_READ = "client:read"
    # Sections, disclosure policy and the disclosure point (issue 5)
    SECTION_READ = "section:read"
    SECTION_WRITE = "section:write"
    CASE_SUMMARY_READ = "case:summary"
    POLICY_READ = "policy:read"
    POLICY_MANAGE = "policy:manage"
    RELEASE_PREVIEW = "release:preview"


_EVERY_ROLE = frozenset(Role)
_LEADS = frozenset({Role.AGENCY_LEAD, Role.ADMINISTRATOR})
_STAFF_WITH_CLIENTS = frozenset(
    {
        Role.ADVOCATE,
        Role.CASE_MANAGER,
        Role.CLINICIAN,
        Role.INVESTIGATOR,
        Role.SURVIVOR_MENTOR,
        Role.MDT_COORDINATOR,
        Role.AGENCY_LEAD,
    }
)

ROLE_PERMISSIONS: dict[Permission, frozenset[Role]] = {
    Permission.DASHBOARD_READ: _EVERY_ROLE,
    Permission.ACCOUNT_MANAGE: _EVERY_ROLE,
    Permission.AGENCY_CREATE: frozenset({Role.ADMINISTRATOR}),
    Permission.AGENCY_READ: _LEADS,
    Permission.AGENCY_UPDATE: _LEADS,
    Permission.STAFF_READ: _LEADS,
    Permission.STAFF_MANAGE: _LEADS,
    Permission.SESSION_END: _LEADS,
    Permission.CASE_READ: _EVERY_ROLE - {Role.ADMINISTRATOR},
    Permission.CLIENT_READ: frozenset(
        {
            Role.ADVOCATE,
            Role.CASE_MANAGER,
            Role.CLINICIAN,
            Role.INVESTIGATOR,
            Role.SURVIVOR_MENTOR,
            Role.MDT_COORDINATOR,
            Role.AGENCY_LEAD,
        }
    ),
    # Sections, disclosure policy and the disclosure point (issue 5)
    Permission.SECTION_READ: _STAFF_WITH_CLIENTS,
    Permission.SECTION_WRITE: _STAFF_WITH_CLIENTS - {Role.AGENCY_LEAD},
    Permission.CASE_SUMMARY_READ: _EVERY_ROLE - {Role.ADMINISTRATOR},
    Permission.POLICY_READ: _LEADS,
    Permission.POLICY_MANAGE: frozenset({Role.AGENCY_LEAD}),
    Permission.RELEASE_PREVIEW: _STAFF_WITH_CLIENTS,
}


def allows(roles: frozenset[str], permission: Permission) -> bool:
    """Deny by default: a permission missing from the table is held by nobody."""
    return bool(roles & ROLE_PERMISSIONS.get(permission, frozenset()))
