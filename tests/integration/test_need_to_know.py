"""Need to know inside an agency (issue 12, finding 1): every route that shows an agency's
own section content to its own staff obeys the same policy table as the case summary.

The expectation is computed from the default policy with Casbin directly, not through the
code under test; each route is then walked as a staff member in every role."""

from __future__ import annotations

from datetime import timedelta

import pytest
from disclosure_helpers import SIGNER
from mentor_helpers import in_caseload
from sqlmodel import select

import consent
from portal.auth.permissions import Permission, allows, caseload_only
from portal.disclosure import policy
from portal.models import AgencyKind, AuditEntry, Discipline, Role
from portal.sections import catalogue
from portal.services import releases, sections

import factories as make

PURPOSE = "mdt_case_review"
GIVEN = "Marigold"  # the client's given name: the identity section's marker
RECIPIENT_ROLE = "case_manager"
OWNERS = [
    (Discipline.HEALTH, AgencyKind.COMMUNITY),
    (Discipline.CHILD_WELFARE, AgencyKind.SYSTEM),
    (Discipline.LAW_ENFORCEMENT, AgencyKind.SYSTEM),
    (Discipline.SHELTER, AgencyKind.COMMUNITY),
]
ROLES = list(Role)


def _allowed(agency, role: str, section: str, *, kind: str | None = None) -> bool:
    in_force = policy.OwnerPolicy(policy.default_lines())
    answer, _ = policy.decide(
        in_force,
        agency,
        kind=kind or policy.OWN,  # the owner's own staff
        roles={role},
        section=section,
        purpose=PURPOSE,
    )
    return answer.allowed


def _marker(key: str) -> str:
    return f"MARK-{key.upper()}-SYNTHETIC"


def _markable(section):
    return next((f for f in section.fields if f.type in ("text", "textarea")), None)


def _owner_world(db, keys, discipline, kind):
    owner = make.agency(db, keys, kind=kind, discipline=discipline)
    partner = make.agency(db, keys, kind=AgencyKind.COMMUNITY)
    client = make.client_record(db, owner, keys, given=GIVEN)
    author = make.user(db, owner, Role.CASE_MANAGER)
    editable = [s for s in catalogue().for_discipline(discipline) if s.editable]
    marked = []
    for section in editable:
        field = _markable(section)
        if field is None:
            continue
        sections.save_section(
            db,
            client,
            section.key,
            {field.key: _marker(section.key)},
            actor=author,
            keys=keys,
            at=make.AT,
        )
        marked.append(section)
    row = releases.draft_release(
        db,
        client,
        recipients=[partner.public_id],
        sections=[s.key for s in catalogue().for_discipline(discipline)],
        purpose=PURPOSE,
        effective_at=make.AT,
        expiry=consent.DateExpiry(make.AT + timedelta(days=90)),
        keys=keys,
        language="en",
        actor=author,
        at=make.AT,
    )
    releases.sign(
        db,
        row,
        signer=SIGNER,
        second_signer=None,
        method=consent.SignatureMethod.TYPED,
        actor=author,
        keys=keys,
        at=make.AT,
    )
    db.flush()
    return owner, partner, client, marked, row


@pytest.mark.parametrize(("discipline", "kind"), OWNERS, ids=[d.value for d, _ in OWNERS])
@pytest.mark.parametrize("role", ROLES, ids=[r.value for r in ROLES])
def test_every_route_showing_own_content_obeys_the_policy_for_the_role(
    client, db, keys, clock, discipline, kind, role
):
    owner, partner, person, marked, release_row = _owner_world(db, keys, discipline, kind)
    assert marked, "the discipline contributes sections with text to mark"
    clock.advance(hours=1)
    viewer = make.user(db, owner, role)
    roles = frozenset({role.value})
    if caseload_only(roles):
        in_caseload(db, person, viewer)  # the policy, not the caseload, decides here
    make.login(client, viewer.username)
    base = f"/clients/{person.public_id}"

    # Section pages: the form and its whole history.
    for section in marked:
        page = client.get(f"{base}/sections/{section.key}")
        if not allows(roles, Permission.SECTION_READ):
            assert page.status_code == 403
            continue
        assert page.status_code == 200
        expected = _allowed(owner, role.value, section.key)
        assert (_marker(section.key) in page.text) is expected, (section.key, role)
        if not expected:
            assert "your agency&#39;s own staff" in page.text or "own staff" in page.text
            assert "Version 1" not in page.text

    # The list of sections shows no version of a withheld one.
    listing = client.get(f"{base}/sections")
    if allows(roles, Permission.SECTION_READ):
        for section in marked:
            link = f'href="{base}/sections/{section.key}"'
            assert link in listing.text

    # The client's page and the client list: identity.
    may_identity = _allowed(owner, role.value, "identity")
    detail = client.get(base)
    listed = client.get("/clients")
    if allows(roles, Permission.CLIENT_READ):
        assert detail.status_code == 200 and listed.status_code == 200
        assert (GIVEN in detail.text) is may_identity
        assert (GIVEN in listed.text) is may_identity
        searched = client.post(
            "/clients/search",
            data={
                "csrf_token": make.csrf_of_page(client),
                "given_name": GIVEN,
                "family_name": "Example",
                "birth_date": "2000-05-17",
            },
        )
        assert searched.status_code == 200
        assert (GIVEN in searched.text.replace(f'value="{GIVEN}"', "")) is may_identity
    else:
        assert GIVEN not in detail.text and GIVEN not in listed.text

    # The release preview: content only where the recipient would receive it AND the
    # previewing staff member may read it under their own agency's policy.
    preview = client.get(
        f"/releases/{release_row.public_id}/preview?agency={partner.public_id}"
        f"&role={RECIPIENT_ROLE}"
    )
    if allows(roles, Permission.RELEASE_PREVIEW):
        assert preview.status_code == 200
        for section in [*marked, catalogue().get("identity")]:
            if section.key not in {s.key for s in catalogue().for_discipline(discipline)}:
                continue
            marker = GIVEN if section.key == "identity" else _marker(section.key)
            received = _allowed(owner, RECIPIENT_ROLE, section.key, kind=partner.kind)
            expected = received and _allowed(owner, role.value, section.key)
            assert (marker in preview.text) is expected, (section.key, role)
    else:
        assert GIVEN not in preview.text

    # Every withheld read is in the owner's own log, as a policy decision.
    if allows(roles, Permission.SECTION_READ):
        withheld = db.exec(
            select(AuditEntry.section_key).where(
                AuditEntry.agency_id == owner.id,
                AuditEntry.tag == "disclosure:section:withheld",
                AuditEntry.gate == "policy",
            )
        ).all()
        denied = {s.key for s in marked if not _allowed(owner, role.value, s.key)}
        assert denied <= set(withheld)


def test_a_role_may_not_save_what_it_may_not_read_and_the_refusal_is_audited(
    client, db, keys, clock
):
    owner, _partner, person, _marked, _row = _owner_world(
        db, keys, Discipline.HEALTH, AgencyKind.COMMUNITY
    )
    assert not _allowed(owner, "advocate", "substance_use")
    advocate = make.user(db, owner, Role.ADVOCATE)
    make.login(client, advocate.username)
    url = f"/clients/{person.public_id}/sections/substance_use"
    token = make.csrf_of_page(client, url)
    response = client.post(url, data={"csrf_token": token, "history": "overwritten"})
    assert response.status_code == 403
    assert _marker("substance_use") not in response.text
    refusals = db.exec(
        select(AuditEntry).where(
            AuditEntry.agency_id == owner.id,
            AuditEntry.tag == "disclosure:section:withheld",
            AuditEntry.section_key == "substance_use",
        )
    ).all()
    assert any('"attempt":"save"' in entry.detail for entry in refusals)
    versions = sections.history(db, person, "substance_use", keys=keys)
    assert [v.version for v in versions] == [1]


@pytest.mark.parametrize(
    ("discipline", "offered"), [(Discipline.ADVOCACY, True), (Discipline.HEALTH, False)]
)
def test_the_printable_safety_plan_is_offered_only_where_plans_are_kept(
    client, db, keys, discipline, offered
):
    agency = make.agency(db, keys, discipline=discipline)
    person = make.client_record(db, agency, keys)
    make.login(client, make.user(db, agency, Role.ADVOCATE).username)
    page = client.get(f"/clients/{person.public_id}")
    assert page.status_code == 200
    assert ("safety-plan/print" in page.text) is offered
