"""A task the coordinator assigns to an agency on another node is on that agency's own node:
its task list (agency scope) and the case page show it, fetched from the coordinator's node
for the page. Due date, status and assignee always; the text as the coordinating agency's
point decides (the placeholder without the shelter survivor's release, the text under it),
audited in the coordinator's log and receipted in the clinic's; with the coordinator's node
down, unavailable, said so. Real nodes over HTTP on 127.0.0.1, on each database. Synthetic
data only."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
import test_federation_mdt_records as one
from sqlmodel import select

from portal.db import unit_of_work
from portal.federation import transport, wire
from portal.federation.transport import Unavailable
from portal.models import MdtCase
from portal.requester import Requester
from portal.services import tasks

import federation_world as fw
from databases import BACKENDS, setup_unit

TASK = "SYNTHETIC-FEDERATED-TASK: the clinic books the follow-up visit."
OTHER = "SYNTHETIC-FEDERATED-TASK: the shelter's own errand."
PATH = "/federation/v1/assigned-tasks"


@pytest.fixture(scope="module", params=BACKENDS)
def world(request, tmp_path_factory):
    for world in one.served(request, tmp_path_factory):
        _add_tasks(world)
        yield world


def _add_tasks(world) -> None:
    """On node A, the coordinator's task assigned to the clinic (node B), and one assigned
    to the shelter that the clinic's list must not show."""
    at = fw.now() - timedelta(minutes=3)
    with setup_unit(world.a.engine()) as db:
        case = db.exec(select(MdtCase).where(MdtCase.reference == world.case_ref)).one()
        made = {}
        for title, assignee in (
            (TASK, f"agency:{world.ids[fw.CLINIC]}"),
            (OTHER, f"user:{fw.staff_named(db, 'shelter.cm').public_id}"),
        ):
            made[title] = tasks.create_task(
                db,
                case,
                title=title,
                assignee=assignee,
                due_date=(at.date() + timedelta(days=7)).isoformat(),
                priority="high",
                offered=None,
                actor=fw.staff_named(db, "coordinator"),
                at=at,
                today=at.date(),
            ).public_id
        world.task_id = made[TASK]
        world.due = (at.date() + timedelta(days=7)).isoformat()


def _clinic_tasks(world) -> str:
    return one._page(world, "b", "clinic.cm", "/tasks?scope=agency")


def _clinic_packet(world) -> str:
    mirror = fw.case_on(world.b, world.case_ref)
    return one._page(world, "b", "clinic.cm", f"/cases/{mirror.public_id}/packet")


def _row(page: str, world) -> str:
    """The clinic's row of the task, as its list shows it."""
    found = re.search(rf'<tr id="task-{world.task_id}">.*?</tr>', page, re.S)
    assert found, page
    return found.group(0)


# In order: the placeholder first, then the release that lets the clinic read, the
# coordinator's node going down last.


def test_without_a_release_the_clinics_list_shows_the_task_withheld(world):
    before_a = one._ids(world.a, "mdt_tasks")
    before_b = one._ids(world.b, "mdt_tasks")
    page = _clinic_tasks(world)
    row = _row(page, world)
    assert TASK not in page and OTHER not in page
    assert "A task from Coordinating CAC (synthetic), details withheld" in row
    # The tracking is the case's: due date, priority, assignee and status always shown.
    assert world.due in row and "High" in row
    assert "Clinic Elsewhere (synthetic) (agency picks)" in row
    assert "Open" in row or "open" in row
    assert 'class="hint withheld-why">Details withheld: ' in page
    # Decided on the coordinator's node, in the coordinator's log, for this task only.
    decided = one._since(world.a, "mdt_tasks", before_a)
    assert [(e.log_key, e.tag, e.gate, e.actor_agency_ref) for e in decided] == [
        (world.ids[fw.CAC], "disclosure:section:withheld", "no_consent", world.ids[fw.CLINIC])
    ]
    assert json.loads(decided[0].detail)["records"] == [world.task_id]
    assert json.loads(decided[0].detail)["viewer_node"] == world.b.url
    # Nothing received, so nothing receipted.
    assert one._since(world.b, "mdt_tasks", before_b) == []


def test_under_a_release_the_clinic_reads_the_task_on_its_list_and_case_page(world):
    one._release_of_shelter_survivor(world, ["mdt_tasks"])
    before_a = one._ids(world.a, "mdt_tasks")
    before_b = one._ids(world.b, "mdt_tasks")
    page = _clinic_tasks(world)
    row = _row(page, world)
    assert TASK in row and OTHER not in page
    # Not a link to a page this node does not have, nor a form to change it here.
    assert f'href="/tasks/{world.task_id}"' not in row and "<form" not in row
    released = [
        e
        for e in one._since(world.a, "mdt_tasks", before_a)
        if e.tag != "disclosure:release:relied_on"
    ]
    assert [(e.log_key, e.tag, e.actor_agency_ref) for e in released] == [
        (world.ids[fw.CAC], "disclosure:section:released", world.ids[fw.CLINIC])
    ]
    # The receipt: in the clinic's own log on its node, naming the coordinator as owner.
    received = one._since(world.b, "mdt_tasks", before_b)
    assert [
        (e.log_key, e.tag, e.actor_agency_ref, json.loads(e.detail)["owner"]) for e in received
    ] == [
        (
            world.ids[fw.CLINIC],
            "disclosure:section:received",
            world.ids[fw.CLINIC],
            world.ids[fw.CAC],
        )
    ]
    case_page = one._clinic_case_page(world)
    assert TASK in case_page and OTHER not in case_page
    assert "No tasks yet." not in case_page
    packet = _clinic_packet(world)
    assert TASK in packet and OTHER not in packet


def test_a_filter_applies_to_the_tasks_from_elsewhere(world):
    page = one._page(world, "b", "clinic.cm", "/tasks?scope=agency&status=done")
    assert TASK not in page
    page = one._page(world, "b", "clinic.cm", f"/tasks?scope=agency&case={world.case_ref}")
    assert TASK in page


def test_a_task_from_an_agency_the_clinic_is_not_told_of_does_not_name_it(world):
    """The shelter (community-based, node A) sets the clinic a task: the clinic may not be
    told the shelter serves a survivor on the case (no release names the clinic for it),
    so the row names neither it nor its text, and its due date still shows."""
    shelter_task = "SYNTHETIC-FEDERATED-TASK: a task the shelter sets."
    with unit_of_work(world.a.engine()) as db:
        case = db.exec(select(MdtCase).where(MdtCase.reference == world.case_ref)).one()
        made = tasks.create_task(
            db,
            case,
            title=shelter_task,
            assignee=f"agency:{world.ids[fw.CLINIC]}",
            due_date=world.due,
            offered=None,
            actor=fw.staff_named(db, "shelter.cm"),
            at=fw.now(),
            today=fw.now().date(),
        )
        world.task_id, clinic_task = made.public_id, world.task_id
    try:
        page = _clinic_tasks(world)
        row = _row(page, world)
        assert shelter_task not in page and fw.SHELTER not in page
        assert "A task from another agency on the case, details withheld" in row
        assert world.due in row
    finally:
        world.task_id = clinic_task


def _asked_as(world, node: fw.Node, name: str):
    """The coordinator's answer to `/assigned-tasks` asked in `name`'s name, signed with
    its key on its own node: the answer (a dict) or Unavailable."""
    with unit_of_work(node.engine()) as db:
        agency = fw.agency_named(db, name)
        roster, _url = transport.roster_and_url(db)
        key_id, signing_key = transport.signing_key_of(db, agency, keys=node.keys)
        requester = Requester(
            node=node.url,
            agency=agency.public_id,
            agency_kind=agency.kind,
            user=None,
            roles=frozenset({"case_manager"}),
            purpose="mdt_case_review",
        )
        payload = {"requester": wire.requester_dict(requester), "case": world.case_ref}
        call = transport.Call(
            (roster.member(world.ids[fw.CAC]),), PATH, payload, key_id, signing_key
        )
    (answer,) = world.apps[node.name].state.federation.send([call])
    return answer


def test_only_an_agency_confirmed_on_the_case_is_told_its_tasks(world):
    """Child welfare (node C) is in the MDT's roster but not on this case: answered as for a
    case that does not exist, and nothing decided in the coordinator's log."""
    answer = _asked_as(world, world.b, fw.CLINIC)
    assert world.task_id in {task["ref"] for task in answer["tasks"]}
    before_a = one._ids(world.a, "mdt_tasks")
    refused = _asked_as(world, world.c, fw.WELFARE)
    assert isinstance(refused, Unavailable)
    assert str(refused) == "its node holds nothing the request names"
    assert one._since(world.a, "mdt_tasks", before_a) == []


def test_past_the_cases_one_page_asks_about_the_list_says_so(world, monkeypatch):
    """Before: the cases past the page's limit were left out of the list unsaid (an
    agency's work silently missing); the list now says so and the case filter finds them."""
    from portal.federation import assigned_tasks

    monkeypatch.setattr(assigned_tasks, "MAX_CASES", 0)  # the one case is past the limit
    page = _clinic_tasks(world)
    assert "more cases coordinated on other nodes than one page asks about" in page, page
    assert TASK not in page


def test_with_the_coordinators_node_down_the_list_says_unavailable(world):
    """Last in this module: node A stops serving (the fixture's end stops it again)."""
    fw.stop_serving(world.servers["a"], world.a.url)
    page = _clinic_tasks(world)
    assert TASK not in page
    assert re.search(
        rf'<p class="unavailable" data-section="mdt_tasks">Tasks of {world.case_ref} assigned '
        r"to your agency by Coordinating CAC \(synthetic\) are unavailable: its node",
        page,
    ), page
    for page in (one._clinic_case_page(world), _clinic_packet(world)):
        assert TASK not in page
        assert f"Tasks of {world.case_ref} assigned to your agency" in page
