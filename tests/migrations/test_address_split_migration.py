"""The address leaves the identity section with nothing lost (issue 14): a record written
by the previous schema, with the contact notes in its identity versions, reads them from
the new "address and safe contact" section after the upgrade; the agency's own lines about
identity still hold for the address; and the way back refuses to drop what was written
since."""

from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlmodel import Session, select

from portal import migrate
from portal.models import AgencyKind, Client, PolicyLine, Role, SectionEntry
from portal.requester import Requester
from portal.services import section_versions, sections

import factories

BEFORE = "8f3d5e2a9c71"
AT = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
OLD_IDENTITY = {
    "preferred_name": "Robin (synthetic)",
    "contact_notes": "Text first; never call the shelter line (synthetic)",
    "safe_to_call": "only at agreed times",
}


@contextmanager
def _columns_added_since(engine, model):
    """Today's ORM writes every column of its model, and the old schema lacks those later
    revisions added: they are there, empty, while the old rows are written, and gone again
    before the migration runs."""
    table = model.__table__
    held = {column["name"] for column in sa.inspect(engine).get_columns(table.name)}
    later = [column for column in table.columns if column.name not in held]

    def alter(change) -> None:
        with engine.begin() as connection:
            operations = Operations(MigrationContext.configure(connection))
            for column in later:
                change(operations, column)

    alter(lambda ops, column: ops.add_column(table.name, sa.Column(column.name, column.type)))
    try:
        yield
    finally:
        alter(lambda ops, column: ops.drop_column(table.name, column.name))


def _old_record(engine, keys):
    """What the previous schema held: two identity versions and a line about identity."""
    with _columns_added_since(engine, Client), Session(engine, expire_on_commit=False) as db:
        agency = factories.agency(db, keys, kind=AgencyKind.SYSTEM)
        worker = factories.user(db, agency, Role.CASE_MANAGER)
        client = factories.client_record(db, agency, keys)
        first = {**OLD_IDENTITY, "contact_notes": "an older note (synthetic)"}
        for content in (first, OLD_IDENTITY):
            section_versions.add_version(
                db, client, "identity", content, actor=worker, keys=keys, at=AT
            )
        db.add(
            PolicyLine(
                agency_id=agency.id,
                recipient_kind="community",
                recipient_role="advocate",
                section_key="identity",
                purpose="*",
                effect="deny",
                created_at=AT,
            )
        )
        db.commit()
        return agency, worker, client


def _read(engine, keys, agency, worker, client, section_key):
    requester = Requester.of(worker, agency, [Role.CASE_MANAGER])
    with Session(engine, expire_on_commit=False) as db:
        view = sections.read_section(db, client, section_key, requester=requester, keys=keys, at=AT)
        db.commit()
    return view


def test_contact_notes_move_to_their_own_section(engine_before, keys):
    agency, worker, client = _old_record(engine_before, keys)
    migrate.upgrade(engine_before)

    contact = _read(engine_before, keys, agency, worker, client, "safe_contact")
    assert contact.answer.allowed  # a system-based agency's own staff read their own
    assert [v.content for v in contact.versions] == [
        {"contact_notes": OLD_IDENTITY["contact_notes"], "safe_to_call": "only at agreed times"},
        {"contact_notes": "an older note (synthetic)", "safe_to_call": "only at agreed times"},
    ]
    assert [v.author for v in contact.versions] == ["Test Person", "Test Person"]
    identity = _read(engine_before, keys, agency, worker, client, "identity")
    assert [v.content for v in identity.versions] == [
        {"preferred_name": "Robin (synthetic)"},
        {"preferred_name": "Robin (synthetic)"},
    ]
    with Session(engine_before) as db:
        lines = db.exec(select(PolicyLine).order_by(PolicyLine.id)).all()
    assert [(line.section_key, line.recipient_kind, line.effect) for line in lines] == [
        ("identity", "community", "deny"),
        ("safe_contact", "community", "deny"),
    ]
    assert len({line.public_id for line in lines}) == 2

    # Down and up again: the copies go and come back, nothing else changes.
    migrate.downgrade(engine_before, BEFORE)
    with Session(engine_before) as db:
        keys_left = db.exec(select(SectionEntry.section_key)).all()
    assert sorted(keys_left) == ["identity", "identity"]
    migrate.upgrade(engine_before)


def test_the_way_back_refuses_to_drop_an_address_written_since(engine_before, keys):
    _agency, _worker, client = _old_record(engine_before, keys)
    migrate.upgrade(engine_before)
    with Session(engine_before) as db:
        section_versions.add_version(
            db,
            client,
            "safe_contact",
            {"contact_notes": "new (synthetic)"},
            actor=None,
            keys=keys,
            at=AT,
        )
        db.commit()
    with pytest.raises(RuntimeError, match="1 address and safe contact versions"):
        migrate.downgrade(engine_before, BEFORE)
    with Session(engine_before) as db:  # the refused downgrade changed nothing
        found = db.exec(
            select(SectionEntry.section_key).where(SectionEntry.section_key == "safe_contact")
        ).all()
    assert len(found) == 3
