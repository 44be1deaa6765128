"""Survivor information leaving the disclosure point by a side channel (the node's log,
the browser's caches and history, files, error pages), as a review found it.

Each test is named after a leak the review found and failed before it was fixed;
synthetic data only."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import event, exc

from portal.models import Role
from portal.services import calendar

import factories as make
from team_helpers import Team

SURVIVOR_WORDS = "SYNTHETIC-Robin-Example-moved-to-the-Elm-Street-safe-house"


# ---------------------------------------------------------------- the node's log


def test_a_write_the_database_refuses_keeps_what_staff_typed_out_of_the_nodes_log(
    lenient, db, keys, connection, caplog
):
    """A statement the database refuses is a 500 whose traceback goes to the node's log,
    the operator's to read. SQLAlchemy writes the statement's bound values into the error's
    text, so what staff typed about a survivor (here a task comment) went with it."""
    team = Team(db, keys)
    task = team.task(db, assignee=f"user:{team.staff[team.a.id].public_id}", title="SYNTHETIC-TASK")
    db.flush()
    make.login(lenient, team.staff[team.a.id].username)
    page = lenient.get(f"/tasks/{task.public_id}")

    def refuse(conn, cursor, statement, parameters, context, executemany):
        # A write the database refuses (as a row gone under the request would be).
        if statement.startswith("INSERT INTO task_comment "):
            statement = statement.replace("task_comment", "task_comment_refused", 1)
        return statement, parameters

    caplog.set_level(logging.ERROR, logger="portal")
    event.listen(connection, "before_cursor_execute", refuse, retval=True)
    try:
        answer = lenient.post(
            f"/tasks/{task.public_id}/comments",
            data={"csrf_token": make.csrf_from(page.text), "body": SURVIVOR_WORDS},
        )
    finally:
        event.remove(connection, "before_cursor_execute", refuse)
    assert answer.status_code == 500
    assert "task_comment_refused" in caplog.text  # the failure is in the log, with its SQL
    assert SURVIVOR_WORDS not in caplog.text, "the comment's words are in the node's log"


@pytest.mark.parametrize(
    "failure, status",
    [(exc.TimeoutError("no pooled connection came free"), 503), (RuntimeError("a bug"), 500)],
    ids=["database-unavailable", "unhandled"],
)
def test_a_calendar_feed_that_fails_keeps_its_token_out_of_the_nodes_log(
    lenient, db, keys, monkeypatch, caplog, failure, status
):
    """The feed's address is its credential (a calendar app fetches it with no session):
    uvicorn's access log and the proxy's are off for it (portal.serving, ops/README.md).
    A fetch that failed (the database busy, a bug) was logged with its path, so the
    token went into the node's log, and with it a survivor-mentor's court dates and the
    MDT's meetings, to whoever reads that log."""
    agency = make.agency(db, keys)
    token = calendar.issue_feed(db, make.user(db, agency, Role.MDT_COORDINATOR), at=make.AT)
    db.flush()

    def fails(*args, **kwargs):
        raise failure

    monkeypatch.setattr(calendar, "feed_ics", fails)
    caplog.set_level(logging.INFO, logger="portal")
    answer = lenient.get(f"/calendar/{token}")
    assert answer.status_code == status
    assert "/calendar/" in caplog.text  # the failure is in the log, with where it was
    assert token not in caplog.text, "the feed's token is in the node's log"
