"""Review: object ids that belong to another agency or another coordination (IDOR).

The world (tests/idor_world.py) is two coordinations on one node: the demo MDT (side A,
logins "a.*") and the same seed again with other agencies, survivors and logins (side B,
"b.*"). Each test signs in through the real sign-in and posts with the session's CSRF
token.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from starlette.testclient import TestClient

import factories as make
import idor_world


@pytest.fixture
def world(db, keys):
    return idor_world.build(db, keys)


def test_the_task_lists_filter_answers_htmx_without_a_500(app, world, clock):
    """The task list's filter form is an htmx form (hx-get="/tasks", the table swapped in):
    with a task on the list, every filter a coordinator or lead applied with JavaScript on
    answered 500 (the table's block used a macro imported outside it), so the list could
    not be filtered at all in a browser."""
    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as viewer:
        idor_world.sign_in(viewer, "a.coordinator", clock)
        full = viewer.get("/tasks?scope=agency")
        assert full.status_code == 200 and "<tr" in full.text  # the list has tasks
        for query in ("scope=agency", "scope=mine", "scope=agency&status=all"):
            table = viewer.get(f"/tasks?{query}", headers={"HX-Request": "true"})
            assert table.status_code == 200, (query, table.status_code)
            assert 'id="task-table"' in table.text and "<html" not in table.text


# ---------------------------------------------------------------- the sweep, kept as a guard

# Written on every request (sessions, the audit chain, sign-in counts): not the records.
QUIET_TABLES = {
    "web_session",
    "audit_entry",
    "audit_head",
    "audit_checkpoint",
    "sign_in_count",
    "federation_nonce",
    "form_submission",
}
# Answers a route may give an id it must not touch: missing, or refused.
REFUSED = (403, 404)
# Form fields a handler may want before it would write (any form: unknown names are left).
FILLED = [
    ("reason", "Sweep reason"),
    ("end_reason", "Sweep reason"),
    ("cancel_reason", "Sweep reason"),
    ("minutes", "Sweep minutes"),
    ("comment", "Sweep comment"),
    ("title", "Sweep title"),
    ("label", "Sweep label"),
    ("status", "done"),
    ("date", "2026-11-20"),
    ("time", "10:00"),
    ("due_date", "2026-11-20"),
    ("kind", "court"),
    ("duration_minutes", "30"),
    ("outcome", "Sweep"),
    ("decision", "Sweep decision"),
    ("roles", "advocate"),
    ("language", "es"),
    ("client_reference", "SWEEP-1"),
]
FORM_TYPE = {"Content-Type": "application/x-www-form-urlencoded"}
# The roles a sweep signs in as: a coordinator, a lead, system- and community-based staff,
# a survivor-mentor and a mentor program's lead (every permission some role holds).
SWEEP_LOGINS = (
    "a.coordinator",
    "a.lead",
    "a.casemanager",
    "a.advocate",
    "a.mentor",
    "a.mentor.lead",
)


def _rows_digest(db) -> dict[str, str]:
    """Each table's rows, digested: any row added, changed or removed changes its digest."""
    from hashlib import sha256

    from sqlalchemy import select as select_rows
    from sqlmodel import SQLModel

    digests = {}
    for table in SQLModel.metadata.sorted_tables:
        if table.name in QUIET_TABLES:
            continue
        rows = sorted(repr(tuple(row)) for row in db.execute(select_rows(table)).all())
        digests[table.name] = sha256("\n".join(rows).encode()).hexdigest()
    return digests


def _foreign_ids(db, param: str, agency, *, under_case: str | None = None) -> list[str]:
    """Ids of `param`'s kind that `agency` has no part in: the first and the last made
    (one of side A's other agencies, one of side B). `under_case`: an agency is foreign
    to that case when it takes no part in it."""
    from sqlmodel import select

    from portal.models import (
        Accompaniment,
        Agency,
        AgendaItem,
        ApiToken,
        CaseLink,
        Client,
        ConsentRelease,
        LegalBasis,
        MdtCase,
        Meeting,
        MeetingInvite,
        MentorAppointment,
        PolicyLine,
        RestrictedPerson,
        RiskScreen,
        Screening,
        StaffUser,
        Task,
    )

    linked = select(CaseLink.case_id).where(CaseLink.agency_id == agency.id)
    unseen_case = (MdtCase.coordinating_agency_id != agency.id) & MdtCase.id.not_in(linked)
    invited = select(MeetingInvite.meeting_id).where(MeetingInvite.agency_id == agency.id)
    unseen_meeting = (Meeting.coordinating_agency_id != agency.id) & Meeting.id.not_in(invited)
    owned_elsewhere = {
        "client_id": (Client, Client.agency_id),
        "release_id": (ConsentRelease, ConsentRelease.agency_id),
        "user_id": (StaffUser, StaffUser.agency_id),
        "agency_id": (Agency, Agency.id),
        "token_id": (ApiToken, ApiToken.agency_id),
        "line_id": (PolicyLine, PolicyLine.agency_id),
        "basis_id": (LegalBasis, LegalBasis.agency_id),
        "screening_id": (Screening, Screening.agency_id),
        "referral_id": (Screening, Screening.agency_id),
        "screen_id": (RiskScreen, RiskScreen.agency_id),
        "appointment_id": (MentorAppointment, MentorAppointment.agency_id),
        "entry_id": (Accompaniment, Accompaniment.agency_id),
    }
    if param == "agency_id" and under_case is not None:
        on_case = select(CaseLink.agency_id).join(MdtCase, MdtCase.id == CaseLink.case_id)
        coordinator = select(MdtCase.coordinating_agency_id)
        query = select(Agency.public_id, Agency.id).where(
            Agency.id.not_in(on_case.where(MdtCase.public_id == under_case)),
            Agency.id.not_in(coordinator.where(MdtCase.public_id == under_case)),
        )
    elif param == "case_id":
        query = select(MdtCase.public_id, MdtCase.id).where(unseen_case)
    elif param == "task_id":
        query = (
            select(Task.public_id, Task.id)
            .join(MdtCase, MdtCase.id == Task.case_id)
            .where(unseen_case)
        )
    elif param == "meeting_id":
        query = select(Meeting.public_id, Meeting.id).where(unseen_meeting)
    elif param == "item_id":
        query = (
            select(AgendaItem.public_id, AgendaItem.id)
            .join(Meeting, Meeting.id == AgendaItem.meeting_id)
            .where(unseen_meeting)
        )
    elif param == "restriction_id":
        query = (
            select(RestrictedPerson.public_id, RestrictedPerson.id)
            .join(Client, Client.id == RestrictedPerson.client_id)
            .where(Client.agency_id != agency.id)
        )
    elif param in owned_elsewhere:
        model, owner = owned_elsewhere[param]
        query = select(model.public_id, model.id).where(owner != agency.id)
    else:
        return []
    made = query.selected_columns[1]
    first = db.exec(query.order_by(made)).first()
    last = db.exec(query.order_by(made.desc())).first()
    return sorted({row[0] for row in (first, last) if row is not None})


def _own_id(db, param: str, agency) -> str | None:
    """An id of `param`'s kind the agency does have (a parent for a foreign child id)."""
    from sqlmodel import select

    from portal.models import CaseLink, Client, MdtCase, Meeting

    if param == "case_id":
        linked = select(CaseLink.case_id).where(CaseLink.agency_id == agency.id)
        query = select(MdtCase.public_id).where(
            (MdtCase.coordinating_agency_id == agency.id) | MdtCase.id.in_(linked)
        )
    elif param == "client_id":
        query = select(Client.public_id).where(Client.agency_id == agency.id)
    elif param == "meeting_id":
        query = select(Meeting.public_id).where(Meeting.coordinating_agency_id == agency.id)
    else:
        return None
    return db.exec(query.order_by(query.selected_columns[0])).first()


def _addresses(db, path: str, agency) -> list[str]:
    """`path` with ids its agency has no part in: each alone, or a foreign child under an
    own parent (a meeting's agenda item, a client's screening) and the other way round."""
    import re

    names = re.findall(r"\{([a-z_]+)\}", path)
    combos: list[tuple[str, ...]] = []
    if len(names) == 1:
        combos = [(value,) for value in _foreign_ids(db, names[0], agency)]
    elif len(names) == 2:
        parent, child = names
        own_parent = _own_id(db, parent, agency)
        own_child = "identity" if child == "key" else _own_id(db, child, agency)
        if own_parent and child != "key":
            foreign = _foreign_ids(db, child, agency, under_case=own_parent)
            combos += [(own_parent, value) for value in foreign]
        combos += [(value, own_child or "x") for value in _foreign_ids(db, parent, agency)]
    found = []
    for combo in combos:
        address = path
        for name, value in zip(names, combo, strict=True):
            address = address.replace("{" + name + "}", str(value), 1)
        found.append(address)
    return found


def _page_routes() -> list[str]:
    """Every page and fragment route that takes an id (API and node-to-node aside)."""
    from starlette.routing import Route

    from portal.web.routes import routes

    skipped = ("/api/", "/federation/", "/enrol/", "/calendar/", "/static")
    return sorted(
        {
            item.path
            for item in routes()
            if isinstance(item, Route) and "{" in item.path and not item.path.startswith(skipped)
        }
    )


def _side_b_markers(db, side_b) -> list[str]:
    """What only side B's records hold: its survivors' names and its case references."""
    from sqlmodel import select

    from portal.models import MdtCase

    references = db.exec(
        select(MdtCase.reference).where(MdtCase.coordinating_agency_id.in_(side_b.ids))
    ).all()
    return [idor_world.B_GIVEN[0][:7], idor_world.B_FAMILY[0][:10], *references]


def test_no_route_answers_an_id_the_agency_has_no_part_in(app, db, world, clock):
    """Every page route that takes an id, as six roles of side A, with ids of records their
    agency has no part in (side B's, and side A's other agencies'): GET, GET as htmx and
    POST with a valid CSRF token and a filled form each answer 403 or 404, never a 500;
    no answer holds side B's survivors' names or case references; and no row is added,
    changed or removed anywhere (sessions and the audit chain aside)."""
    from sqlmodel import select

    from portal.models import Agency, StaffUser

    _, side_b = world
    markers = _side_b_markers(db, side_b)
    # The markers are real: side B's own staff read them (a case's reference on the
    # coordinator's dashboard, a survivor's name in its client list).
    with TestClient(app, follow_redirects=False) as own:
        idor_world.sign_in(own, "b.coordinator", clock)
        assert any(m in own.get("/").text for m in markers[2:])
        assert markers[0] in own.get("/clients").text
    problems = []
    asked = 0
    for username in SWEEP_LOGINS:
        user = db.exec(select(StaffUser).where(StaffUser.username == username)).one()
        agency = db.get(Agency, user.agency_id)
        with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as viewer:
            idor_world.sign_in(viewer, username, clock)
            form = urlencode([("csrf_token", make.csrf_of_page(viewer, "/account")), *FILLED])
            before = _rows_digest(db)
            for path in _page_routes():
                for address in _addresses(db, path, agency):
                    answers = [
                        ("GET", viewer.get(address)),
                        ("GET htmx", viewer.get(address, headers={"HX-Request": "true"})),
                        ("POST", viewer.post(address, content=form, headers=FORM_TYPE)),
                    ]
                    for how, answer in answers:
                        asked += 1
                        if answer.status_code == 405:  # no such method on the route
                            continue
                        seen = [m for m in markers if m in answer.text]
                        if answer.status_code not in REFUSED or seen:
                            problems.append((username, how, address, answer.status_code, seen))
            # Once per role (a digest per request would triple the sweep's time): which
            # tables changed, and the role, say where to look.
            after = _rows_digest(db)
            changed = [t for t in after if after[t] != before[t]]
            if changed:
                problems.append((username, "wrote", changed))
    assert asked > 1000, asked
    assert not problems, "\n".join(map(repr, problems))


def test_an_agency_in_both_coordinations_sees_only_the_case_it_is_on(app, db, keys, world, clock):
    """Side A's police unit takes part in one case of side B and is invited to a B meeting
    whose agenda holds other B cases: its staff read that meeting, its calendar file and
    their tasks list, and none of them names another B case or a B survivor."""
    from sqlmodel import select

    from portal.models import AgendaItem, Meeting, MeetingInvite

    side_a, side_b = world
    shared = idor_world.share_with(db, side_b, side_a.agencies["pd"], keys)
    others = [m for m in _side_b_markers(db, side_b) if m != shared.reference]
    meeting = db.exec(
        select(Meeting)
        .join(MeetingInvite, MeetingInvite.meeting_id == Meeting.id)
        .where(
            MeetingInvite.agency_id == side_a.agencies["pd"].id,
            Meeting.coordinating_agency_id == side_b.agencies["cac"].id,
        )
    ).one()
    on_agenda = db.exec(select(AgendaItem.case_id).where(AgendaItem.meeting_id == meeting.id)).all()
    assert len(set(on_agenda)) > 1  # other B cases share the meeting
    pages = (
        f"/meetings/{meeting.public_id}",
        f"/meetings/{meeting.public_id}/calendar.ics",
        f"/cases/{shared.public_id}",
        f"/cases/{shared.public_id}/summary",
        f"/cases/{shared.public_id}/packet",
        "/meetings",
        "/tasks?scope=agency",
        "/",
    )
    for username in ("a.investigator", "a.pd.lead"):
        with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as viewer:
            idor_world.sign_in(viewer, username, clock)
            assert shared.reference in viewer.get(f"/cases/{shared.public_id}").text
            for page in pages:
                answer = viewer.get(page)
                assert answer.status_code == 200, (username, page, answer.status_code)
                told = [m for m in others if m in answer.text]
                assert not told, (username, page, told)
