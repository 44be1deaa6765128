"""MDT cases: a refused reopening names no case a community agency's taking part would be
told by, a closed case's clock has stopped, and a confirmed link is not repointed. Each test
failed before its fix (found by a review). Synthetic data only."""

from datetime import date

from portal.models import Role
from portal.services import cases, casework

import factories as make


def test_refused_reopening_does_not_tell_a_protected_agencys_part_in_the_other_case(
    client, db, keys
):
    """The shelter (community-based) is in the other case; the first CAC takes part there
    but the shelter never told it so. The refusal must not name that case: doing so tells
    the first CAC that the shelter serves this survivor in it (fact of service)."""
    first = make.agency(db, keys, name="First CAC S11 (synthetic)")
    second = make.agency(db, keys, name="Second CAC S11 (synthetic)")
    shelter = make.agency(db, keys, name="Shelter S11 (synthetic)")
    coordinator = make.user(db, first, Role.MDT_COORDINATOR)
    survivor = make.client_record(db, shelter, keys)
    old = make.mdt_case(db, first)
    cases.link_client(db, old, shelter, survivor, actor=None, at=make.AT, confirmed=True)
    casework.close_case(
        db, old, reason="Synthetic: closed", actor=coordinator, at=make.AT, today=make.AT.date()
    )
    other = make.mdt_case(db, second)
    cases.link_client(db, other, shelter, survivor, actor=None, at=make.AT, confirmed=True)
    cases.link_client(db, other, first, None, actor=None, at=make.AT)
    db.flush()
    make.login(client, coordinator.username)
    page = client.get(f"/cases/{other.public_id}")
    assert page.status_code == 200
    assert shelter.name not in page.text, "precondition: the first CAC is not told"
    token = make.csrf_of_page(client, f"/cases/{old.public_id}")
    answer = client.post(
        f"/cases/{old.public_id}/reopen", data={"csrf_token": token, "reason": "Synthetic"}
    )
    assert answer.status_code == 409
    assert other.reference not in answer.text, (
        f"the refusal names {other.reference}, where the shelter's taking part is not told"
    )


def test_a_closed_case_never_convened_is_not_shown_overdue_on_its_page(client, db, keys):
    agency = make.agency(db, keys)
    coordinator = make.user(db, agency, Role.MDT_COORDINATOR)
    case = make.mdt_case(db, agency, intake=date(2026, 10, 1))  # due 2026-10-15
    casework.close_case(
        db, case, reason="Synthetic: closed", actor=coordinator, at=make.AT, today=make.AT.date()
    )
    db.flush()
    make.login(client, coordinator.username)
    page = client.get(f"/cases/{case.public_id}")
    assert page.status_code == 200
    assert "overdue" not in page.text


def test_a_confirmed_link_is_not_silently_repointed_to_another_client(client, db, keys):
    """Once an agency confirmed its client for the case, posting the form again with
    another reference must be refused, not swap the survivor the case is about."""
    from portal.services import casework as cw

    from team_helpers import joining_release

    coordinating, partner = make.agency(db, keys), make.agency(db, keys)
    case = make.mdt_case(db, coordinating)
    cases.link_client(db, case, partner, None, actor=None, at=make.AT)
    first, second = make.client_record(db, partner, keys), make.client_record(db, partner, keys)
    joining_release(db, keys, partner, first, coordinating)
    joining_release(db, keys, partner, second, coordinating)
    staff = make.user(db, partner, Role.CASE_MANAGER)
    cw.confirm_link(
        db, case, partner, client_reference=first.reference, actor=staff, at=make.AT, keys=keys
    )
    db.flush()
    make.login(client, staff.username)
    token = make.csrf_of_page(client, f"/cases/{case.public_id}")
    answer = client.post(
        f"/cases/{case.public_id}/link",
        data={"csrf_token": token, "client_reference": second.reference},
    )
    assert answer.status_code == 409
    link = cw.own_link(db, case, partner)
    db.refresh(link)
    assert link.client_id == first.id
