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
    # MDT workflow (issue 6)
    CASE_CREATE = "case:create"
    CASE_LINK_CONFIRM = "case:link_confirm"
    MEETING_READ = "meeting:read"
    MEETING_MANAGE = "meeting:manage"
    TASK_READ = "task:read"
    TASK_CREATE = "task:create"
    TASK_UPDATE = "task:update"


_EVERY_ROLE = frozenset(Role)
_LEADS = frozenset({Role.AGENCY_LEAD, Role.ADMINISTRATOR})

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
    # MDT workflow (issue 6)
    Permission.CASE_CREATE: frozenset({Role.MDT_COORDINATOR}),
    Permission.CASE_LINK_CONFIRM: _EVERY_ROLE - {Role.ADMINISTRATOR},
    Permission.MEETING_READ: _EVERY_ROLE - {Role.ADMINISTRATOR},
    Permission.MEETING_MANAGE: frozenset({Role.MDT_COORDINATOR}),
    Permission.TASK_READ: _EVERY_ROLE - {Role.ADMINISTRATOR},
    Permission.TASK_CREATE: _EVERY_ROLE - {Role.ADMINISTRATOR},
    Permission.TASK_UPDATE: _EVERY_ROLE - {Role.ADMINISTRATOR},
}


def allows(roles: frozenset[str], permission: Permission) -> bool:
    """Deny by default: a permission missing from the table is held by nobody."""
    return bool(roles & ROLE_PERMISSIONS.get(permission, frozenset()))
