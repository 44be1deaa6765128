"""A survivor's record that does not open for its place, as staff meet it: a page that says
a record cannot be opened, with the reference for the administrator, and nothing of it:
never another survivor's name, never a 500. With PORTAL_SEALED_BOUND_ONLY a record sealed
the old way is refused so too. Synthetic data only."""

from __future__ import annotations

import dataclasses
import logging

import pytest
from sqlalchemy import update
from starlette.testclient import TestClient

from portal import crypto
from portal.app import create_app
from portal.models import Client, Role
from portal.services import clients
from portal.services.keys import data_secret

import factories as make


@pytest.fixture
def two(db, keys):
    agency = make.agency(db, keys)
    staff = make.user(db, agency, Role.ADVOCATE)
    robin = make.client_record(db, agency, keys, given="Robin", family="Sample")
    sky = make.client_record(db, agency, keys, given="Sky", family="Example")
    return agency, staff, robin, sky


def _browser(settings, engine, connection, **changed):
    app = create_app(dataclasses.replace(settings, **changed), engine=engine, bind=connection)
    return TestClient(app, base_url="http://testserver", follow_redirects=False)


def _refused(page, caplog) -> None:
    assert page.status_code == 409, page.status_code
    assert "A record cannot be opened" in page.text
    assert "Robin" not in page.text and "Sample" not in page.text
    assert page.headers["X-Request-ID"] in page.text  # the reference the log line carries
    assert any(page.headers["X-Request-ID"] in r.getMessage() for r in caplog.records)


def test_on_a_bound_only_node_an_old_record_copied_onto_another_survivor_is_refused(
    db, keys, settings, engine, connection, two, caplog
):
    agency, staff, robin, sky = two
    _, secret = data_secret(db, agency.id, keys=keys)
    robins = clients.reveal_identity(db, robin, keys=keys).to_dict()
    # A database writer, with no key: Robin's identity, sealed the old way, on Sky's row.
    db.execute(
        update(Client)
        .where(Client.id == sky.id)
        .values(identity_sealed=crypto.seal_json(secret, robins))
    )
    db.expire_all()
    caplog.set_level(logging.ERROR, logger="portal")
    with _browser(settings, engine, connection, sealed_bound_only=True) as browser:
        make.login(browser, staff.username)
        _refused(browser.get(f"/clients/{sky.public_id}"), caplog)
        assert "Robin" in browser.get(f"/clients/{robin.public_id}").text  # bound: opens


def test_a_record_moved_from_another_survivors_row_is_a_page_that_says_so_not_a_500(
    db, keys, settings, engine, connection, two, caplog
):
    _, staff, robin, sky = two
    db.execute(
        update(Client)
        .where(Client.id == sky.id)
        .values(identity_sealed=db.get(Client, robin.id).identity_sealed)
    )
    db.expire_all()
    caplog.set_level(logging.ERROR, logger="portal")
    with _browser(settings, engine, connection) as browser:
        make.login(browser, staff.username)
        _refused(browser.get(f"/clients/{sky.public_id}"), caplog)
