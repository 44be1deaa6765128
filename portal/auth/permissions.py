"""One vocabulary of permissions, and which roles hold each."""

from __future__ import annotations

from enum import StrEnum

from portal.models import Role


class Permission(StrEnum):
    PUBLIC = "public"  # no sign-in: login page, health checks, static files
    SIGNED_IN = "signed_in"  # any active staff user with a complete sign-in
    SECOND_FACTOR = "second_factor"  # between password and TOTP, or enrolling when required
    API_TOKEN = "api_token"  # /api/v1: a bearer token with the operation's scope
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
    API_TOKEN_MANAGE = "api_token:manage"
    # survivor-mentors (issue 7)
    MENTOR_ASSIGN = "mentor:assign"
    ACCOMPANIMENT_LOG = "accompaniment:log"
    MENTOR_REPORT_READ = "mentor_report:read"
    # consent releases (issue 4)
    CLIENT_WRITE = "client:write"
    RELEASE_READ = "release:read"
    RELEASE_MANAGE = "release:manage"
    RELEASE_VERIFY = "release:verify"
    KEY_READ = "key:read"
    # Audit log (issue 5, audit log)
    AUDIT_READ = "audit:read"
    AUDIT_CHECKPOINT = "audit:checkpoint"
    # Sections, disclosure policy and the disclosure point (issue 5)
    SECTION_READ = "section:read"
    SECTION_WRITE = "section:write"
    CASE_SUMMARY_READ = "case:summary"
    POLICY_READ = "policy:read"
    POLICY_MANAGE = "policy:manage"
    RELEASE_PREVIEW = "release:preview"
    # MDT workflow (issue 6)
    CASE_CREATE = "case:create"
    CASE_LINK_CONFIRM = "case:link_confirm"
    MEETING_READ = "meeting:read"
    MEETING_MANAGE = "meeting:manage"
    TASK_READ = "task:read"
    TASK_CREATE = "task:create"
    TASK_UPDATE = "task:update"
    # consent for minors and in the client's language (issue 19)
    RESTRICTION_END = "restriction:end"
    COMPELLED_DISCLOSURE_RECORD = "compelled_disclosure:record"
    # Federation (issue 16)
    ROSTER_READ = "roster:read"
    NODE_SIGNED = "node:signed"  # /federation/v1: a request signed by a roster member's key


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
    Permission.API_TOKEN_MANAGE: frozenset({Role.AGENCY_LEAD}),
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
    # survivor-mentors (issue 7): which program or case is the viewer's is decided in
    # portal/services/mentor_program.py and mentor_assignments.py, answering 404 outside them.
    Permission.MENTOR_ASSIGN: frozenset({Role.MDT_COORDINATOR, Role.AGENCY_LEAD}),
    Permission.ACCOMPANIMENT_LOG: frozenset({Role.SURVIVOR_MENTOR}),
    Permission.MENTOR_REPORT_READ: frozenset({Role.AGENCY_LEAD}),
    # consent releases (issue 4): a client's own agency registers them and manages releases;
    # survivor-mentors read releases, and the administrator (a node admin) sees no clients.
    Permission.CLIENT_WRITE: _EVERY_ROLE - {Role.ADMINISTRATOR},
    Permission.RELEASE_READ: _EVERY_ROLE - {Role.ADMINISTRATOR},
    Permission.RELEASE_MANAGE: _EVERY_ROLE - {Role.ADMINISTRATOR, Role.SURVIVOR_MENTOR},
    Permission.RELEASE_VERIFY: _EVERY_ROLE,  # anyone signed in checks a release they were given
    Permission.KEY_READ: _EVERY_ROLE,  # public keys, shown to every partner
    # Audit log (issue 5, audit log). Only the agency's own lead reads its log: an
    # administrator runs the node, not the agency, and has no business reading who saw a
    # survivor's information; the node's own log is verified from the command line.
    Permission.AUDIT_READ: frozenset({Role.AGENCY_LEAD}),
    Permission.AUDIT_CHECKPOINT: frozenset({Role.AGENCY_LEAD}),
    # Sections, disclosure policy and the disclosure point (issue 5)
    Permission.SECTION_READ: _STAFF_WITH_CLIENTS,
    Permission.SECTION_WRITE: _STAFF_WITH_CLIENTS - {Role.AGENCY_LEAD},
    Permission.CASE_SUMMARY_READ: _EVERY_ROLE - {Role.ADMINISTRATOR},
    Permission.POLICY_READ: _LEADS,
    Permission.POLICY_MANAGE: frozenset({Role.AGENCY_LEAD}),
    Permission.RELEASE_PREVIEW: _STAFF_WITH_CLIENTS,
    # MDT workflow (issue 6)
    Permission.CASE_CREATE: frozenset({Role.MDT_COORDINATOR}),
    Permission.CASE_LINK_CONFIRM: _EVERY_ROLE - {Role.ADMINISTRATOR},
    Permission.MEETING_READ: _EVERY_ROLE - {Role.ADMINISTRATOR},
    Permission.MEETING_MANAGE: frozenset({Role.MDT_COORDINATOR}),
    Permission.TASK_READ: _EVERY_ROLE - {Role.ADMINISTRATOR},
    Permission.TASK_CREATE: _EVERY_ROLE - {Role.ADMINISTRATOR},
    Permission.TASK_UPDATE: _EVERY_ROLE - {Role.ADMINISTRATOR},
    # consent for minors and in the client's language (issue 19): the agency's own lead
    # ends a restriction and records what the agency was compelled to disclose.
    Permission.RESTRICTION_END: frozenset({Role.AGENCY_LEAD}),
    Permission.COMPELLED_DISCLOSURE_RECORD: frozenset({Role.AGENCY_LEAD}),
    # Federation (issue 16): the roster is public keys and agencies, shown to everyone.
    Permission.ROSTER_READ: _EVERY_ROLE,
}


# Roles that read every case their agency takes part in. A survivor-mentor comes "to see
# their caseload" (DESIGN.md): the policy releases identity, safe contact and safety
# strategies to the role, which every mentor of a program on the case would otherwise read.
_READ_EVERY_CASE = _EVERY_ROLE - {Role.ADMINISTRATOR, Role.SURVIVOR_MENTOR}


def caseload_only(roles: frozenset[str]) -> bool:
    """The viewer reads cases only as a survivor-mentor: of their agency's cases, only the
    ones they currently hold."""
    return Role.SURVIVOR_MENTOR in roles and not roles & _READ_EVERY_CASE


def allows(roles: frozenset[str], permission: Permission) -> bool:
    """Deny by default: a permission missing from the table is held by nobody."""
    return bool(roles & ROLE_PERMISSIONS.get(permission, frozenset()))
