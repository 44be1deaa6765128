"""`portal keys reseal` on a node's database: records sealed the old way sealed again for
their place, counted per kind, once. Synthetic data only."""

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import update
from sqlmodel import select

from portal import crypto
from portal.cli import main as cli
from portal.crypto import KeyWrapper
from portal.db import make_engine, unit_of_work
from portal.models import Client, SectionEntry
from portal.models.client import identity_sealed_for
from portal.services import agencies, clients, section_versions
from portal.services.keys import data_secret
from portal.settings import from_environment

AT = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def node(tmp_path, monkeypatch):
    """A migrated SQLite node with its own secrets file, as an operator would have it."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'node.db'}")
    monkeypatch.setenv("PORTAL_SECRETS_FILE", str(tmp_path / "secrets.json"))
    monkeypatch.delenv("PORTAL_KEK", raising=False)
    monkeypatch.delenv("PORTAL_SESSION_KEY", raising=False)
    assert cli.main(["db", "upgrade"]) == 0
    settings = from_environment()
    return make_engine(settings.database_url), KeyWrapper(settings.secrets.kek_bytes())


def registered(node, names) -> int:
    """An agency and its clients (and a section version each), as staff save them now;
    the agency's id."""
    engine, keys = node
    with unit_of_work(engine) as db:
        agency = agencies.create_agency(
            db,
            name="Owner Agency (synthetic)",
            kind="community",
            discipline="advocacy",
            actor=None,
            keys=keys,
            at=AT,
        )
        for number, name in enumerate(names):
            person = clients.register_client(
                db,
                agency,
                clients.Identity(name, "Example", date(2000, 5, 17)),
                reference=f"R-{number}",
                actor=None,
                keys=keys,
                at=AT,
            )
            section_versions.add_version(
                db,
                person,
                "safety_plan",
                {"safe_places": f"{name}'s library"},
                actor=None,
                keys=keys,
                at=AT,
            )
        return agency.id


def _sealed_the_old_way(node, names):
    """Clients (and a section version each) as a node holds those written before places."""
    engine, keys = node
    agency_id = registered(node, names)
    with unit_of_work(engine) as db:
        _, secret = data_secret(db, agency_id, keys=keys)
        for person, name in zip(
            db.exec(select(Client).order_by(Client.id)).all(), names, strict=True
        ):
            identity = clients.reveal_identity(db, person, keys=keys).to_dict()
            db.execute(
                update(Client)
                .where(Client.id == person.id)
                .values(identity_sealed=crypto.seal_json(secret, identity))
            )
            db.execute(
                update(SectionEntry)
                .where(SectionEntry.client_id == person.id)
                .values(
                    content_sealed=crypto.seal_json(secret, {"safe_places": f"{name}'s library"})
                )
            )
    return agency_id


def test_reseal_binds_the_old_records_prints_what_it_did_and_then_nothing(node, capsys):
    engine, keys = node
    agency_id = _sealed_the_old_way(node, ["Robin", "Sky", "Ash"])
    assert cli.main(["keys", "reseal", "--batch", "2"]) == 0
    out = capsys.readouterr().out
    assert "section versions: 3 re-sealed for their place, 0 already" in out
    assert "client identities: 3 re-sealed for their place, 0 already" in out
    assert "screenings: 0 re-sealed for their place, 0 already" in out
    with unit_of_work(engine) as db:
        _, secret = data_secret(db, agency_id, keys=keys)
        rows = db.exec(select(Client).order_by(Client.id)).all()
        names = [clients.reveal_identity(db, row, keys=keys).given_name for row in rows]
        assert names == ["Robin", "Sky", "Ash"]
        assert all(
            crypto.opens_bound(
                secret, row.identity_sealed, (identity_sealed_for(agency_id, row.id),)
            )
            for row in rows
        )
    assert cli.main(["keys", "reseal"]) == 0
    out = capsys.readouterr().out
    assert "client identities: 0 re-sealed for their place, 3 already" in out
    assert "section versions: 0 re-sealed for their place, 3 already" in out


def test_a_batch_out_of_range_is_one_line_that_says_what_to_give(node, capsys):
    assert cli.main(["keys", "reseal", "--batch", "0"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "error: --batch 0: give a number of records from 1 to 10000"


BOUND_NOW = (
    "every sealed record is bound to its place: you may now set PORTAL_SEALED_BOUND_ONLY=1 "
    '(or "sealed_bound_only": true in the secrets file)'
)


def test_once_nothing_is_sealed_the_old_way_it_says_the_setting_may_be_set(node, capsys):
    _sealed_the_old_way(node, ["Robin", "Sky"])
    assert cli.main(["keys", "reseal"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == BOUND_NOW
    assert cli.main(["keys", "reseal"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == BOUND_NOW


def test_with_bound_only_set_it_still_reseals_and_says_how_many_did_not_open(
    node, capsys, monkeypatch
):
    engine, _ = node
    _sealed_the_old_way(node, ["Robin", "Sky", "Ash"])
    monkeypatch.setenv("PORTAL_SEALED_BOUND_ONLY", "1")
    bound_only = from_environment().key_wrapper()
    with unit_of_work(engine) as db:
        first = db.exec(select(Client).order_by(Client.id)).first()
        with pytest.raises(crypto.SealedUnbound):
            clients.reveal_identity(db, first, keys=bound_only)
    assert cli.main(["keys", "reseal", "--batch", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-2:] == [
        "6 records were still sealed the old way: with PORTAL_SEALED_BOUND_ONLY set they "
        "did not open until re-sealed; they open now",
        "every sealed record is bound to its place: PORTAL_SEALED_BOUND_ONLY is set",
    ]
    with unit_of_work(engine) as db:
        rows = db.exec(select(Client).order_by(Client.id)).all()
        names = [clients.reveal_identity(db, row, keys=bound_only).given_name for row in rows]
        assert names == ["Robin", "Sky", "Ash"]
