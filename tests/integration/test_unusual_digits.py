"""A number typed with a digit `int()` cannot read ("²" is a digit to `str.isdigit`) is bad
input like any other: a page falls back to its first page, the API answers 400, never a
500 (a 500 before on every one of these)."""

from __future__ import annotations

import pytest

from portal.auth.sessions import Viewer
from portal.models import Role
from portal.services import api_tokens

import factories as make


@pytest.mark.parametrize("path", ["/clients?page=²", "/tasks?page=²", "/audit?page=²"])
def test_a_page_number_that_is_not_a_number_shows_the_first_page(client, db, keys, path):
    agency = make.agency(db, keys)
    lead = make.user(db, agency, Role.AGENCY_LEAD, Role.CASE_MANAGER)
    make.login(client, lead.username)
    assert client.get(path).status_code == 200


@pytest.mark.parametrize("path", ["/clients?page=", "/tasks?page=", "/audit?page="])
def test_a_page_number_too_long_to_read_shows_the_first_page(client, db, keys, path):
    """Python reads no whole number of more than 4,300 digits (a ValueError, a 500 before)."""
    agency = make.agency(db, keys)
    lead = make.user(db, agency, Role.AGENCY_LEAD, Role.CASE_MANAGER)
    make.login(client, lead.username)
    assert client.get(path + "9" * 5000).status_code == 200


@pytest.mark.parametrize("query", ["limit=²", "offset=²", "limit=" + "9" * 5000])
def test_the_api_refuses_a_limit_that_is_not_a_number(client, db, keys, query):
    agency = make.agency(db, keys)
    lead = make.user(db, agency, Role.AGENCY_LEAD, Role.CASE_MANAGER)  # the token's role
    issued = api_tokens.create_token(
        db,
        Viewer(lead, agency, frozenset({Role.AGENCY_LEAD.value, Role.CASE_MANAGER.value}), None),
        name="records system",
        scopes=["cases:read"],
        acting_role=Role.CASE_MANAGER.value,
        at=make.AT,
    )
    db.flush()
    answer = client.get(
        f"/api/v1/cases?{query}", headers={"Authorization": f"Bearer {issued.secret}"}
    )
    assert answer.status_code == 400
    assert "whole number" in answer.json()["error"]
