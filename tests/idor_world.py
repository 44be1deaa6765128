"""Two MDT coordinations on one node, for the object-id (IDOR) review.

Side A is the demo MDT as seeded (Riverbend's advocacy center coordinating, five partners).
Side B is the same seed run a second time with other agencies, other survivors' names and
other logins: its own coordinating agency, partners that take part only in B, its own
cases, clients, releases, sections, meetings, tasks, mentor assignments and accompaniment,
screenings, safety plans, staff and API token. Every login on side A starts "a.", on side
B "b." (same password as the demo). A few extra records on B: a closed case and a
deactivated staff member.
"""

from __future__ import annotations

import random
from contextlib import ExitStack
from unittest import mock

import sqlmodel
from sqlalchemy import text
from sqlmodel import Session, select

from portal.auth.sessions import Viewer
from portal.demo import api as demo_api
from portal.demo import sections as demo_sections
from portal.demo import seed as demo
from portal.demo.logins import DEMO_PASSWORD
from portal.models import Agency, CaseLink, CaseStatus, MdtCase, StaffRole, StaffUser
from portal.services import cases, casework, staff

import factories as make

PASSWORD = DEMO_PASSWORD
B_NAMES = {
    "cac": "Quillfeather Valley Child Advocacy Hub (demo B)",
    "cw": "Ostrander Parish Family Services (demo B)",
    "pd": "Ostrander Parish Sheriff Youth Unit (demo B)",
    "shelter": "Wickerlight Refuge Collective (demo B)",
    "mentor": "Thistledown Peer Mentor Circle (demo B)",
    "clinic": "Juniperwell Free Clinic (demo B)",
}
# Survivors of side B: names no side-A page can hold unless it leaked them.
B_GIVEN = tuple(f"Zorvath{c}" for c in "ABCDEFGHIJKLMNOPQRST")
B_FAMILY = tuple(f"Quibblemont{c}" for c in "ABCDEFGH")
B_TOKEN = demo_api.DEMO_TOKEN + "-side-b"


class Side:
    """One coordination: its agencies by demo key, and what marks its records."""

    def __init__(self, name: str, agencies: dict[str, Agency]) -> None:
        self.name = name
        self.agencies = agencies
        self.ids = {a.id for a in agencies.values()}

    def login(self, username: str) -> str:
        return f"{self.name}.{username}"


def _rename_logins(db: Session, agency_ids: set[int], prefix: str) -> None:
    for user in db.exec(select(StaffUser).where(StaffUser.agency_id.in_(agency_ids))):
        user.username = f"{prefix}.{user.username}"
        db.add(user)
    db.flush()


def _links_of(agency_ids: set[int]):
    """The seed's select, held to one side's links (the seed reads every link on the node)."""

    def select_of_side(*entities):
        query = sqlmodel.select(*entities)
        if entities and entities[0] is CaseLink:
            query = query.where(CaseLink.agency_id.in_(agency_ids))
        return query

    return select_of_side


def build(db: Session, keys, *, case_count: int = 4) -> tuple[Side, Side]:
    at, today = make.AT, make.AT.date()
    a = demo.seed(db, keys=keys, at=at, today=today, case_count=case_count, rng=random.Random(7))
    side_a = Side("a", a)
    _rename_logins(db, side_a.ids, "a")
    specs = tuple(
        demo.DemoAgency(s.key, B_NAMES[s.key], s.kind, s.discipline) for s in demo.AGENCIES
    )
    with ExitStack() as patches:
        patches.enter_context(mock.patch.object(demo, "AGENCIES", specs))
        patches.enter_context(mock.patch.object(demo, "GIVEN", B_GIVEN))
        patches.enter_context(mock.patch.object(demo, "FAMILY", B_FAMILY))
        patches.enter_context(mock.patch.object(demo_api, "DEMO_TOKEN", B_TOKEN))
        b_ids: set[int] = set()
        patches.enter_context(mock.patch.object(demo_sections, "select", _links_of(b_ids)))
        original_create = demo.agencies.create_agency

        def create_and_note(*args, **kwargs):
            made = original_create(*args, **kwargs)
            b_ids.add(made.id)
            return made

        patches.enter_context(mock.patch.object(demo.agencies, "create_agency", create_and_note))
        b = demo.seed(
            db, keys=keys, at=at, today=today, case_count=case_count, rng=random.Random(11)
        )
    side_b = Side("b", b)
    _rename_logins(db, side_b.ids, "b")
    _extras(db, side_b)
    db.flush()
    return side_a, side_b


def _extras(db: Session, side: Side) -> None:
    """A closed case and a deactivated staff member on the side."""
    at, today = make.AT, make.AT.date()
    cac = side.agencies["cac"]
    case = db.exec(
        select(MdtCase)
        .where(MdtCase.coordinating_agency_id == cac.id, MdtCase.status == CaseStatus.OPEN)
        .order_by(MdtCase.id)
    ).first()
    casework.close_case(
        db, case, reason="Demo B: closed for the review.", actor=None, at=at, today=today
    )
    gone = make.user(db, side.agencies["shelter"], username=f"{side.name}.gone")
    lead = db.exec(select(StaffUser).where(StaffUser.username == side.login("shelter.lead"))).one()
    roles = frozenset(db.exec(select(StaffRole.role).where(StaffRole.user_id == lead.id)))
    staff.deactivate(db, gone, viewer=Viewer(lead, side.agencies["shelter"], roles, None), at=at)


def sign_in(viewer, username: str, clock) -> None:
    """Signs in through the real form; an administrator, who must use a second factor,
    enrols one on the way (as on their first sign-in)."""
    import pyotp

    _forget_sign_in_counts(viewer)
    step = make.login(viewer, username, PASSWORD)
    assert step.status_code == 303, (username, step.status_code)
    if step.headers["location"] != "/account/second-factor":
        return
    page = viewer.get("/account/second-factor")
    secret = page.text.split('<code class="secret">')[1].split("<")[0]
    done = viewer.post(
        "/account/second-factor",
        data={"csrf_token": make.csrf_from(page.text), "code": pyotp.TOTP(secret).at(clock())},
    )
    assert done.status_code == 200, (username, done.status_code)


def _forget_sign_in_counts(viewer) -> None:
    """The sweep signs in as every role from one address: the node's throttle would refuse
    the later ones (the counts are the node's own table; the test's connection holds it)."""
    app = viewer.app
    with app.state.open_session() as db:
        db.execute(text("DELETE FROM sign_in_count"))
        db.commit()


def share_with(db: Session, side: Side, agency: Agency, keys) -> MdtCase:
    """`agency` (of the other side) takes part in one case of `side`, with a client of its
    own, and is invited to a meeting that has that case and others of `side` on its agenda."""
    from portal.models import AgendaItem, Meeting, MeetingInvite

    at = make.AT
    item = db.exec(
        select(AgendaItem)
        .join(Meeting, Meeting.id == AgendaItem.meeting_id)
        .where(Meeting.coordinating_agency_id == side.agencies["cac"].id)
        .order_by(AgendaItem.id)
    ).first()
    case = db.get(MdtCase, item.case_id)
    client = make.client_record(db, agency, keys, given="Shared", family="Crossover")
    cases.link_client(db, case, agency, client, actor=None, at=at, confirmed=True)
    db.add(MeetingInvite(meeting_id=item.meeting_id, agency_id=agency.id))
    # Every other case of the side on the same agenda, with minutes of their own.
    on_agenda = select(AgendaItem.case_id).where(AgendaItem.meeting_id == item.meeting_id)
    others = db.exec(
        select(MdtCase).where(
            MdtCase.coordinating_agency_id == side.agencies["cac"].id,
            MdtCase.id.not_in(on_agenda),
        )
    ).all()
    for position, other in enumerate(others, start=item.position + 1):
        db.add(
            AgendaItem(
                meeting_id=item.meeting_id,
                case_id=other.id,
                position=position,
                owner_agency_id=side.agencies["cac"].id,
                minutes=f"Minutes of {other.reference}, not for partners of other cases.",
            )
        )
    db.flush()
    return case
