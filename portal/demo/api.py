"""Demo seed: an API token a partner's system could use, so the API can be shown releasing.

Child welfare's lead issues it, bound to the case manager role the lead also holds (a
token acts only in a role its creator holds), with the summary scope. Its secret is fixed
and printed, like the demo passwords: synthetic data only, never on a real node (a real
token's secret is random and shown once).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from portal.auth.sessions import Viewer
from portal.models import (
    Agency,
    ApiScope,
    CaseLink,
    ConsentRelease,
    MdtCase,
    ReleaseRecipient,
    ReleaseState,
    Role,
    StaffUser,
)
from portal.services import api_tokens

DEMO_TOKEN = api_tokens.TOKEN_PREFIX + "demo-casemanager-synthetic-2026"
DEMO_TOKEN_AGENCY = "cw"


def seed_api_token(db: Session, by_key: dict[str, Agency], *, at: datetime) -> None:
    agency = by_key[DEMO_TOKEN_AGENCY]
    lead = db.exec(select(StaffUser).where(StaffUser.username == "cw.lead")).one()
    api_tokens.create_token(
        db,
        Viewer(
            user=lead,
            agency=agency,
            roles=frozenset({Role.AGENCY_LEAD.value, Role.CASE_MANAGER.value}),
            session=None,
        ),
        name="Case management system (demo)",
        scopes=[ApiScope.SUMMARY_READ.value, ApiScope.CASES_READ.value],
        acting_role=Role.CASE_MANAGER.value,
        at=at,
        secret=DEMO_TOKEN,
    )


def example_case(db: Session) -> str | None:
    """A case the token's agency takes part in where another agency's client has signed a
    release naming it: what the README's curl shows being released."""
    agency = db.exec(select(Agency).where(Agency.name.like("Harbor County Child%"))).first()
    if agency is None:
        return None
    ours = aliased(CaseLink)
    return db.exec(
        select(MdtCase.public_id)
        .join(ours, (ours.case_id == MdtCase.id) & (ours.agency_id == agency.id))
        .join(CaseLink, (CaseLink.case_id == MdtCase.id) & (CaseLink.agency_id != agency.id))
        .join(ConsentRelease, ConsentRelease.client_id == CaseLink.client_id)
        .join(ReleaseRecipient, ReleaseRecipient.release_id == ConsentRelease.id)
        .where(
            ReleaseRecipient.agency_id == agency.id,
            ConsentRelease.state == ReleaseState.SIGNED,
        )
        .order_by(MdtCase.intake_date, MdtCase.id)
    ).first()
