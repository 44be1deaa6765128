"""Who may open a case: its coordinating agency and the agencies linked to it."""

import pytest

from portal.errors import NotFound
from portal.services import cases
from portal.services.cases import _CASE_OF_AGENCY

import factories as make


def test_the_coordinating_and_linked_agencies_open_a_case_and_no_other(db, keys):
    coordinating, linked, other = (make.agency(db, keys) for _ in range(3))
    case = make.mdt_case(db, coordinating)
    client = make.client_record(db, linked, keys)
    cases.link_client(db, case, linked, client, actor=None, at=make.AT, confirmed=True)
    db.flush()
    assert cases.access_case(db, coordinating, case.public_id).id == case.id
    assert cases.access_case(db, linked, case.public_id).id == case.id
    with pytest.raises(NotFound):
        cases.access_case(db, other, case.public_id)


def test_the_check_looks_up_one_link_and_never_lists_the_agencys_links(db, backend):
    # Listing them made every case page of a partner linked to a thousand cases cost
    # a thousand rows; the lookup is by (case, agency), whatever the agency's size.
    compiled = _CASE_OF_AGENCY.compile(dialect=db.get_bind().dialect)
    assert "EXISTS (SELECT" in str(compiled) and " IN (SELECT" not in str(compiled)
    if backend == "sqlite":  # PostgreSQL's choice follows its statistics; SQLite's is fixed
        params = {"case": "synthetic-case", "agency": 1}
        plan = " | ".join(
            row[-1]
            for row in db.connection().exec_driver_sql(
                "EXPLAIN QUERY PLAN " + str(compiled),
                tuple(params[name] for name in compiled.positiontup),
            )
        )
        assert "LIST SUBQUERY" not in plan and "case_id=?" in plan
