"""An MDT record's items cross between nodes (a decision's recommendation, notes, meeting
day and time), flat values only: what a task's own page adds (comments, history, which name
staff and agencies by the owner's row ids) is never sent. Synthetic data only."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from portal.disclosure import Released
from portal.disclosure.content import Content, Item, Row
from portal.federation import wire
from portal.models import Agency
from portal.sections import catalogue

OWNER = Agency(name="Wire CAC (synthetic)", public_id="cac-wire", kind="community")
AT = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)


def _released(section: str, items: tuple[Item, ...]) -> Released:
    rows = tuple(Row(str(item.values.get("title", "Decision")), "textarea", "x") for item in items)
    return Released(catalogue().get(section), OWNER, Content(rows, 1, AT, items), None, "p", None)


def _crossed(decision: Released):
    return wire.decision_from(json.loads(json.dumps(wire.decision_dict(decision))), OWNER)


def test_a_decisions_items_arrive_as_the_page_reads_them():
    item = Item(
        "d-1",
        {
            "recommendation": "Refer to housing",
            "text": "SYNTHETIC-DECISION-NOTE",
            "meeting_date": date(2026, 11, 2),
            "agenda_item": "a-1",
            "created_at": AT,
        },
    )
    arrived = _crossed(_released("mdt_decisions", (item,)))
    assert arrived.content.items == (item,)


def test_a_tasks_comments_and_history_stay_with_its_owner():
    item = Item(
        "t-1",
        {
            "title": "Book the interpreter",
            "details": None,
            "comments": ((AT, "Sam Example (synthetic)", "SYNTHETIC-COMMENT", 7),),
            "history": (),
        },
    )
    sent = json.dumps(wire.decision_dict(_released("mdt_tasks", (item,))))
    assert "SYNTHETIC-COMMENT" not in sent and "Sam Example" not in sent
    arrived = wire.decision_from(json.loads(sent), OWNER)
    assert arrived.content.items == (
        Item("t-1", {"title": "Book the interpreter", "details": None}),
    )


@pytest.mark.parametrize(
    "items",
    [
        "not a list",
        [{"ref": "d-1", "values": {"created_at": "yesterday"}}],
        [{"ref": "d-1", "values": {"created_at": "2026-11-02T15:00:00"}}],  # no zone
        [{"ref": "d-1", "values": {"text": {"nested": "object"}}}],
        [{"ref": "x" * 37, "values": {}}],
        [{"values": {}}] * 2,
    ],
)
def test_items_that_do_not_read_are_refused_as_the_owner_unavailable(items):
    sent = wire.decision_dict(_released("mdt_decisions", ()))
    sent["content"]["items"] = items
    with pytest.raises(wire.WireError):
        wire.decision_from(sent, OWNER)


@pytest.mark.parametrize("odd", [["open"], {"open": 1}, 3, True])
def test_a_task_status_or_priority_that_is_not_text_is_refused_as_wire(odd):
    """Read as text only: a list or an object is unhashable, and its membership test
    raised a TypeError (a 500, or a page that failed) where a WireError is due."""
    with pytest.raises(wire.WireError, match=r"filters\.status"):
        wire.task_filter_from({"status": odd})
    task = {"ref": "t-1", "owner": "o-1", "due_date": "2026-11-20", "holder": None}
    with pytest.raises(wire.WireError, match=r"tasks\.status"):
        wire.assigned_tasks_from([{**task, "status": odd, "priority": "normal"}])
    with pytest.raises(wire.WireError, match=r"tasks\.priority"):
        wire.assigned_tasks_from([{**task, "status": "open", "priority": odd}])
