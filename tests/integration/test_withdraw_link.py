"""An agency takes its client record back off a case (the wrong client confirmed, or the
client left the case): asked first, a reason chosen, nothing more of that client disclosed
for the case, and the agency may confirm a client again."""

from __future__ import annotations

from sqlmodel import select
from test_workflow_pages import a_case, sign_in

from portal.models import AuditEntry, CaseLink, Role

import factories as make
from team_helpers import joining_release


def _linked(client, db, keys):
    coordinating, partner = make.agency(db, keys), make.agency(db, keys)
    wrong = make.client_record(db, partner, keys)
    right = make.client_record(db, partner, keys)
    for record in (wrong, right):
        joining_release(db, keys, partner, record, coordinating)
    case = a_case(db, coordinating, [partner])
    _, token = sign_in(client, db, partner, Role.CASE_MANAGER)
    linked = client.post(
        f"/cases/{case.public_id}/link",
        data={"csrf_token": token, "client_reference": wrong.reference},
    )
    assert linked.status_code == 303
    return case, partner, wrong, right, token


def _link(db, case, agency):
    db.expire_all()
    return db.exec(
        select(CaseLink).where(CaseLink.case_id == case.id, CaseLink.agency_id == agency.id)
    ).one()


def test_the_wrong_client_confirmed_is_withdrawn_and_the_right_one_confirmed(client, db, keys):
    case, partner, wrong, right, token = _linked(client, db, keys)
    again = client.post(
        f"/cases/{case.public_id}/link",
        data={"csrf_token": token, "client_reference": right.reference},
    )
    assert again.status_code == 409 and "link first, then confirm the right one" in again.text

    page = client.get(f"/cases/{case.public_id}")
    assert f'href="/cases/{case.public_id}/withdraw-link"' in page.text
    asked = client.get(f"/cases/{case.public_id}/withdraw-link")
    assert asked.status_code == 200
    assert "nothing of your client is disclosed" in asked.text
    assert 'type="radio" name="reason" value="wrong_client"' in asked.text

    unexplained = client.post(
        f"/cases/{case.public_id}/withdraw-link", data={"csrf_token": token, "reason": "oops"}
    )
    assert unexplained.status_code == 400 and "Choose why" in unexplained.text
    assert _link(db, case, partner).client_id == wrong.id  # nothing half-done

    withdrawn = client.post(
        f"/cases/{case.public_id}/withdraw-link",
        data={"csrf_token": token, "reason": "wrong_client"},
    )
    assert withdrawn.status_code == 303
    link = _link(db, case, partner)
    assert (link.client_id, link.confirmed_at, link.release_ref) == (None, None, None)
    entry = db.exec(
        select(AuditEntry).where(
            AuditEntry.agency_id == partner.id, AuditEntry.tag == "mdt:case:link_withdrawn"
        )
    ).one()
    assert wrong.public_id in entry.detail and "wrong_client" in entry.detail
    history = client.get(f"/cases/{case.public_id}").text
    assert f"{partner.name} withdrew its client record from the case" in history

    confirmed = client.post(
        f"/cases/{case.public_id}/link",
        data={"csrf_token": token, "client_reference": right.reference},
    )
    assert confirmed.status_code == 303
    assert _link(db, case, partner).client_id == right.id


def test_nothing_to_withdraw_is_a_409_and_another_agency_cannot(client, db, keys):
    case, _partner, _wrong, _right, token = _linked(client, db, keys)
    form = {"csrf_token": token, "reason": "left_the_case"}
    assert client.post(f"/cases/{case.public_id}/withdraw-link", data=form).status_code == 303
    twice = client.post(f"/cases/{case.public_id}/withdraw-link", data=form)
    assert twice.status_code == 409 and "no client confirmed" in twice.text
    client.post("/logout", data={"csrf_token": token})
    stranger = make.agency(db, keys)
    _, token = sign_in(client, db, stranger, Role.CASE_MANAGER)
    refused = client.post(
        f"/cases/{case.public_id}/withdraw-link",
        data={"csrf_token": token, "reason": "left_the_case"},
    )
    assert refused.status_code == 404
