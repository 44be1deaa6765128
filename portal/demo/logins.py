"""The demo's sign-ins: one printed login per role, a lead for each agency, one password."""

from __future__ import annotations

from portal.models import Role

DEMO_PASSWORD = "demo-portal-2026"  # printed by `portal demo`; a demo has no secrets

# One printed login per role: (username, display name, agency key, roles).
DEMO_LOGINS = (
    ("admin", "Avery Admin (demo)", "cac", (Role.ADMINISTRATOR,)),
    ("coordinator", "Corin Coordinator (demo)", "cac", (Role.MDT_COORDINATOR,)),
    ("lead", "Lee Lead (demo)", "cac", (Role.AGENCY_LEAD,)),
    ("advocate", "Addison Advocate (demo)", "shelter", (Role.ADVOCATE,)),
    ("casemanager", "Casey Casemanager (demo)", "cw", (Role.CASE_MANAGER,)),
    ("investigator", "Indigo Investigator (demo)", "pd", (Role.INVESTIGATOR,)),
    ("clinician", "Clem Clinician (demo)", "clinic", (Role.CLINICIAN,)),
    ("mentor", "Morgan Mentor (demo)", "mentor", (Role.SURVIVOR_MENTOR,)),
)

# Each other agency gets a lead of its own, so "their own agency only" can be tried.
AGENCY_LEADS = {
    "cw": ("cw.lead", "Willow Welfarelead (demo)"),
    "pd": ("pd.lead", "Parker Policelead (demo)"),
    "shelter": ("shelter.lead", "Shay Shelterlead (demo)"),
    "mentor": ("mentor.lead", "Marlo Mentorlead (demo)"),
    "clinic": ("clinic.lead", "Quinn Cliniclead (demo)"),
}

# A lead who also carries a caseload: child welfare's issues the demo's API token, which acts
# as a case manager, and a token acts only in a role the lead who made it holds.
LEADS_ALSO_HOLD = {"cw": (Role.CASE_MANAGER,)}
