"""A closed case's pages through HTTP: no form to add to it, and a post that tries is
answered 409 with the reason, nothing written (the rule itself: test_closed_case_writes)."""

from mentor_helpers import mentor_world
from sqlmodel import func, select
from test_mentoring_pages import entry_form, sign_in

from portal.models import Accompaniment, CaseLink
from portal.services import casework

import factories as make


def close(db, w):
    casework.close_case(
        db,
        w.case,
        reason="Synthetic: closed",
        actor=w.coordinator,
        at=make.AT,
        today=make.AT.date(),
    )
    db.flush()


def test_a_closed_case_offers_no_agency_and_refuses_one_posted(client, db, keys):
    w = mentor_world(db, keys)
    newcomer = make.agency(db, keys, name="Synthetic Newcomer Agency")
    close(db, w)
    sign_in(client, w.coordinator.username)
    url = f"/cases/{w.case.public_id}"
    page = client.get(url).text
    assert "Add an agency" not in page and f"{url}/agencies" not in page
    assert f"{url}/reopen" in page  # reopening is what it offers instead
    token = make.csrf_of_page(client, url)
    links = db.exec(select(func.count()).select_from(CaseLink)).one()
    answer = client.post(
        f"{url}/agencies", data={"csrf_token": token, "agency": newcomer.public_id}
    )
    assert answer.status_code == 409
    assert "The case is closed; reopen it to add an agency." in answer.text
    assert db.exec(select(func.count()).select_from(CaseLink)).one() == links


def test_a_closed_case_offers_its_mentor_no_log_and_refuses_one_posted(client, db, keys):
    w = mentor_world(db, keys)
    close(db, w)
    sign_in(client, w.mentor.username)
    url = f"/mentor/cases/{w.case.public_id}"
    page = client.get(url)
    assert page.status_code == 200  # the log stays there to read
    assert f"{url}/log" not in page.text and f"{url}/appointments" not in page.text
    assert "This case is closed" in page.text
    token = make.csrf_of_page(client, url)
    answer = client.post(f"{url}/log", data=entry_form(token))
    assert answer.status_code == 409
    assert "The case is closed, so no accompaniment can be logged on it" in answer.text
    assert db.exec(select(func.count()).select_from(Accompaniment)).one() == 0


def test_a_closed_case_with_no_meeting_does_not_say_one_is_yet_to_come(client, db, keys):
    w = mentor_world(db, keys)
    sign_in(client, w.coordinator.username)
    url = f"/cases/{w.case.public_id}"
    assert "No meeting has this case on its agenda yet." in client.get(url).text
    close(db, w)
    page = client.get(url).text
    assert "No meeting has this case on its agenda, and the case is closed." in page
    assert "on its agenda yet" not in page  # none is coming: the case is closed
