"""The coordinator's node asks a survivor's node elsewhere on every page that shows the MDT's
records, not only the case page: the meeting page (its decisions), a task's page, the task
list, the dashboard and the case page (a task's text), and the case summary (the minutes).
The shelter, a partner on the coordinator's node A, reads them only when the clinic's
survivor (on node B) has a release in effect naming the shelter; B decides and audits each
question in its own log, and B down counts as no consent. Real nodes over HTTP on
127.0.0.1, on each database. Synthetic data only."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import test_federation_mdt_records as one
from sqlmodel import select

from portal.db import unit_of_work
from portal.models import Client, MdtCase
from portal.services import meetings, tasks

import federation_world as fw
from databases import BACKENDS

TASK = "SYNTHETIC-FEDERATED-TASK: book the follow-up visit."


@pytest.fixture(scope="module", params=BACKENDS)
def world(request, tmp_path_factory):
    for world in one.served(request, tmp_path_factory):
        _add_task(world)
        yield world


def _add_task(world) -> None:
    """The coordinator's task on the case, assigned to the shelter's case manager; the
    meeting's and the task's public ids kept on the world."""
    at = fw.now() - timedelta(minutes=3)
    with unit_of_work(world.a.engine()) as db:
        case = db.exec(select(MdtCase).where(MdtCase.reference == world.case_ref)).one()
        ((meeting, _item),) = meetings.case_meetings(db, case)
        task = tasks.create_task(
            db,
            case,
            title=TASK,
            assignee=f"user:{fw.staff_named(db, 'shelter.cm').public_id}",
            due_date=(at.date() + timedelta(days=7)).isoformat(),
            offered=None,
            actor=fw.staff_named(db, "coordinator"),
            at=at,
            today=at.date(),
        )
        world.meeting_id, world.task_id = meeting.public_id, task.public_id


def _shelter(world, path: str) -> str:
    return one._page(world, "a", "shelter.cm", path)


def _asked_of_clinic(world, section: str, before: set[int]) -> list:
    """What the clinic's node answered the coordinator for the shelter since `before`."""
    found = one._since(world.b, section, before)
    for entry in found:
        assert entry.actor_agency_ref == world.ids[fw.SHELTER]
        assert json.loads(entry.detail)["asked_by"] == world.ids[fw.CAC]
    return [(e.tag, e.gate) for e in found]


RELIED_ON = ("disclosure:release:relied_on", None)


# In order: the release comes after the denial, the node going down last.


def test_without_the_clinic_survivors_release_the_meeting_and_task_pages_withhold(world):
    before = one._ids(world.b, "mdt_decisions")
    page = _shelter(world, f"/meetings/{world.meeting_id}")
    assert one.DECISION not in page
    assert 'data-section="mdt_decisions" data-gate="no_consent"' in page
    # Asked of the clinic's node, which said no in the clinic's own log.
    assert _asked_of_clinic(world, "mdt_decisions", before) == [
        ("disclosure:section:withheld", "no_consent")
    ]
    before = one._ids(world.b, "mdt_tasks")
    page = _shelter(world, f"/tasks/{world.task_id}")
    assert TASK not in page
    assert 'data-section="mdt_tasks" data-gate="no_consent"' in page
    assert _asked_of_clinic(world, "mdt_tasks", before) == [
        ("disclosure:section:withheld", "no_consent")
    ]


def _release_of_clinic_survivor(world) -> None:
    """The clinic's survivor (node B) names the shelter for the MDT's records."""
    with unit_of_work(world.b.engine()) as db:
        clinic = fw.agency_named(db, fw.CLINIC)
        client = db.exec(select(Client).where(Client.agency_id == clinic.id)).one()
        fw.sign_release(
            db,
            world.b,
            client,
            fw.staff_named(db, "clinic.cm"),
            [world.ids[fw.SHELTER]],
            ["mdt_decisions", "mdt_tasks", "mdt_minutes"],
            fw.now(),
        )


def test_under_the_clinic_survivors_release_the_meeting_page_shows_the_decision(world):
    _release_of_clinic_survivor(world)
    before_a, before_b = one._ids(world.a, "mdt_decisions"), one._ids(world.b, "mdt_decisions")
    page = _shelter(world, f"/meetings/{world.meeting_id}")
    assert one.DECISION in page
    assert _asked_of_clinic(world, "mdt_decisions", before_b) == [RELIED_ON]
    (relied,) = one._since(world.b, "mdt_decisions", before_b)
    assert relied.release_ref  # the clinic survivor's release, named in the clinic's log
    decided = one._since(world.a, "mdt_decisions", before_a)
    assert "disclosure:section:released" in {e.tag for e in decided}


def test_under_the_clinic_survivors_release_the_task_page_shows_the_task(world):
    before = one._ids(world.b, "mdt_tasks")
    page = _shelter(world, f"/tasks/{world.task_id}")
    assert TASK in page
    assert 'data-gate="no_consent"' not in page
    assert _asked_of_clinic(world, "mdt_tasks", before) == [RELIED_ON]


@pytest.mark.parametrize("where", ["/tasks", "/", "", "/packet"])
def test_under_the_clinic_survivors_release_task_lists_show_the_task(world, where):
    """The task list, the dashboard, the case page and its review packet."""
    path = f"/cases/{world.case_id}{where}" if where in ("", "/packet") else where
    before = one._ids(world.b, "mdt_tasks")
    page = _shelter(world, path)
    assert TASK in page, where
    assert _asked_of_clinic(world, "mdt_tasks", before) == [RELIED_ON]


@pytest.mark.parametrize("block", [False, True])
def test_under_the_clinic_survivors_release_the_summary_shows_the_minutes(world, block):
    """The case summary, and the coordinator's block on its own (the htmx fragment)."""
    path = f"/cases/{world.case_id}/summary"
    if block:
        path += f"/owners/{world.ids[fw.CAC]}"
    before = one._ids(world.b, "mdt_minutes")
    page = _shelter(world, path)
    assert one.MINUTES in page
    assert _asked_of_clinic(world, "mdt_minutes", before) == [RELIED_ON]


def test_with_the_clinics_node_down_the_meeting_and_task_pages_withhold_again(world):
    """Last in this module: node B stops serving (the fixture's end stops it again)."""
    assert TASK in _shelter(world, f"/tasks/{world.task_id}")  # B up: released, as above
    fw.stop_serving(world.servers["b"], world.b.url)
    before_a = one._ids(world.a, "mdt_decisions")
    page = _shelter(world, f"/meetings/{world.meeting_id}")
    assert one.DECISION not in page
    assert 'data-section="mdt_decisions" data-gate="no_consent"' in page
    decided = one._since(world.a, "mdt_decisions", before_a)
    assert [(e.tag, e.gate) for e in decided] == [("disclosure:section:withheld", "no_consent")]
    page = _shelter(world, f"/tasks/{world.task_id}")
    assert TASK not in page
    assert 'data-section="mdt_tasks" data-gate="no_consent"' in page
