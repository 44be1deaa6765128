"""Findings of a review of the HTML forms against hostile and malformed input (47 forms,
every field, as every role): each test failed before its fix. Synthetic data only."""

from __future__ import annotations

from datetime import UTC

import pytest
from sqlmodel import func, select

from portal.models import Role
from portal.models.workflow import Meeting
from portal.web.routing import MAX_FORM_BYTES

import factories as make


def _count(db, column) -> int:
    return db.exec(select(func.count(column))).one()


def _coordinator(client, db, keys) -> str:
    agency = make.agency(db, keys)
    make.user(db, agency, Role.MDT_COORDINATOR, username="coord")
    make.login(client, "coord")
    return make.csrf_of_page(client, "/meetings/new")


def test_a_form_body_over_the_limit_sent_without_a_length_is_a_413(client, db, keys):
    """Before: a form over MAX_FORM_BYTES (256 KiB) was refused only by its Content-Length
    header. A body sent chunked, with no length (any HTTP/1.1 client may; uvicorn accepts
    it), was read whole into memory and used: 4 MB of padding in a field no handler reads,
    and the meeting was scheduled (303). The bytes are now counted as they arrive."""
    token = _coordinator(client, db, keys)
    before = _count(db, Meeting.id)
    assert 15 * MAX_FORM_BYTES < 40 * 100_000

    def body():
        yield (
            b"csrf_token=" + token.encode() + b"&date=2026-11-20&time=10:00"
            b"&duration_minutes=90&place=Room+1+%28synthetic%29"
        )
        # 40 fields of 100 kB: each under the per-field limit, the whole 4 MB, over fifteen
        # times MAX_FORM_BYTES.
        for _ in range(40):
            yield b"&pad=" + b"b" * 100_000

    answer = client.post(
        "/meetings", content=body(), headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert answer.status_code == 413, (answer.status_code, answer.headers.get("location"))
    assert _count(db, Meeting.id) == before


@pytest.mark.parametrize("typed", ["14:30+05:00", "14:30Z", "14:30:00-08:00"])
def test_a_meeting_time_with_a_utc_offset_is_refused_not_read_as_local(client, db, keys, typed):
    """Before: time.fromisoformat accepts an offset, and validation.wall_clock combined the
    time with the MDT's zone, dropping it: "14:30+05:00" (09:30 UTC) was saved as 14:30 in
    New York (19:30 UTC), a meeting five hours off, without a word. As for a time the
    clocks skip: never move what was typed (the mentor's appointment form too, in
    tests/unit/test_mentor_forms.py)."""
    token = _coordinator(client, db, keys)
    before = _count(db, Meeting.id)
    answer = client.post(
        "/meetings",
        data={
            "csrf_token": token,
            "date": "2026-11-20",
            "time": typed,
            "duration_minutes": "90",
            "place": "Room 3 (synthetic)",
        },
    )
    saved = db.exec(select(Meeting).order_by(Meeting.id.desc())).first()
    moved = (
        saved.starts_at.astimezone(UTC).isoformat()
        if saved is not None and _count(db, Meeting.id) > before
        else None
    )
    assert answer.status_code == 400, (answer.status_code, "saved at", moved)
    assert _count(db, Meeting.id) == before
    assert "time" in answer.text.lower()
