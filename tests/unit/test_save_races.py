"""Saves that race an operator, or each other.

A record sealed while an operator rotates, reseals and erases the agency's data key is
never left under the erased key: a save read the current key before it held the agency's
log, and a rotation, a reseal and the erasure could all commit before the save did, which
then committed a record no key opens. And one person registered twice at once is one
record. Each runs on each database with commits that really happen, in two threads, one
of them pausing at the step that raced. Synthetic data only."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from sqlmodel import Session, select
from test_reseal import _reseal_all

from portal import crypto
from portal.crypto import KeyWrapper
from portal.db import unit_of_work
from portal.errors import Conflict
from portal.models import Client, Discipline, KeyPurpose, Role
from portal.requester import Requester
from portal.services import clients, reseal
from portal.services import keys as agency_keys
from portal.services.keys import current_key

import factories as make
from databases import BACKENDS, migrated_engine

# How long the paused save waits for the operator's steps: they take a fraction of this
# when nothing holds them back, so before the fix they were all done within it.
PAUSE_SECONDS = 2.0


@pytest.fixture(params=BACKENDS)
def committed_engine(request, tmp_path):
    with migrated_engine(request.param, tmp_path, pool_size=4) as engine:
        yield engine


def test_a_client_registered_while_its_key_is_rotated_and_erased_still_opens(
    committed_engine, node_secrets, clock, monkeypatch
):
    keys = KeyWrapper(node_secrets.kek_bytes())
    with unit_of_work(committed_engine) as db:
        agency = make.agency(db, keys)
        first_key = current_key(db, agency.id, KeyPurpose.DATA).key_id

    sealing, operator_done = threading.Event(), threading.Event()
    saving = threading.local()
    search_digest = crypto.search_digest

    # The registration pauses just after it read the key, before it writes anything.
    def pausing_digest(*args, **kwargs):
        if getattr(saving, "pause", False):  # the registration's thread only, once
            saving.pause = False
            sealing.set()
            operator_done.wait(PAUSE_SECONDS)
        return search_digest(*args, **kwargs)

    monkeypatch.setattr(crypto, "search_digest", pausing_digest)
    failures: list[BaseException] = []
    registered: list[int] = []

    def register() -> None:
        saving.pause = True
        try:
            with unit_of_work(committed_engine) as db:
                client = clients.register_client(
                    db,
                    db.get(type(agency), agency.id),
                    clients.Identity("Robin", "Example", date(2000, 5, 17)),
                    reference="R-RACE-1",
                    actor=None,
                    keys=keys,
                    at=clock(),
                )
                registered.append(client.id)
        except BaseException as error:
            failures.append(error)

    def operator() -> None:
        try:
            assert sealing.wait(10), "the registration never sealed"
            own = KeyWrapper(node_secrets.kek_bytes())  # a process of its own
            with unit_of_work(committed_engine) as db:
                held = db.get(type(agency), agency.id)
                agency_keys.rotate_data_key(db, held, keys=own, actor=None, at=clock())
            with unit_of_work(committed_engine) as db:
                _reseal_all(db, own, clock)
            with unit_of_work(committed_engine) as db:
                held = db.get(type(agency), agency.id)
                reseal.erase_data_key(db, held, first_key, keys=own, actor=None, at=clock())
        except BaseException as error:
            failures.append(error)
        finally:
            operator_done.set()

    threads = [threading.Thread(target=register), threading.Thread(target=operator)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not failures, failures[0]

    fresh = KeyWrapper(node_secrets.kek_bytes())  # a process started after it all
    with Session(committed_engine) as db:
        (client_id,) = registered
        client = db.get(Client, client_id)
        assert client.key_id != first_key
        assert clients.reveal_identity(db, client, keys=fresh).given_name


def test_one_person_registered_twice_at_once_is_one_record_and_one_refusal(
    committed_engine, node_secrets, clock, monkeypatch
):
    """Registering is asking whether the agency has this person already: two staff
    registering one person at once both searched before either wrote, and both made a
    record."""
    keys = KeyWrapper(node_secrets.kek_bytes())
    with unit_of_work(committed_engine) as db:
        agency = make.agency(db, keys, discipline=Discipline.ADVOCACY)
        staff = [make.user(db, agency, Role.ADVOCATE) for _ in range(2)]
    searched, first_done = threading.Event(), threading.Event()
    first = threading.local()
    find_clients = clients.find_clients

    # The first registration pauses once it has searched, before it writes anything.
    def pausing_search(*args, **kwargs):
        found = find_clients(*args, **kwargs)
        if getattr(first, "pause", False):
            first.pause = False
            searched.set()
            first_done.wait(PAUSE_SECONDS)  # the other's whole registration, before the fix
        return found

    monkeypatch.setattr(clients, "find_clients", pausing_search)
    outcomes: list[str] = []

    def register(number: int) -> None:
        first.pause = number == 0
        if number == 1:
            assert searched.wait(10), "the first registration never searched"
        try:
            with unit_of_work(committed_engine) as db:
                held = db.get(type(agency), agency.id)
                clients.register_new(
                    db,
                    held,
                    clients.Identity("Robin", "Example", date(2000, 5, 17)),
                    requester=Requester.of(staff[number], held, [Role.ADVOCATE]),
                    reference=f"R-TWICE-{number}",
                    preferred_language="en",
                    actor=staff[number],
                    keys=keys,
                    at=clock(),
                )
            outcomes.append("registered")
        except Conflict:
            outcomes.append("refused")
        except BaseException as error:
            outcomes.append(repr(error))
        finally:
            if number == 1:
                first_done.set()

    threads = [threading.Thread(target=register, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["refused", "registered"]
    with Session(committed_engine) as db:
        assert len(db.exec(select(Client.id).where(Client.agency_id == agency.id)).all()) == 1
