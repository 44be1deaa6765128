"""Review: object ids that belong to another agency or another coordination (IDOR).

The world (tests/idor_world.py) is two coordinations on one node: the demo MDT (side A,
logins "a.*") and the same seed again with other agencies, survivors and logins (side B,
"b.*"). Each test signs in through the real sign-in and posts with the session's CSRF
token.
"""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

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
