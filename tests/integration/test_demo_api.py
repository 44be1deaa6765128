"""The demo shows the API releasing (issue 18): a partner system's token, bound by child
welfare's lead to the case manager role, reads a case summary through the disclosure point."""

import random
from datetime import date

from sqlmodel import select

from portal.demo import api as demo_api
from portal.demo import seed as demo
from portal.models import AuditEntry

import factories as make


def test_the_demo_token_reads_released_sections_and_the_owners_log_them(client, db, keys, clock):
    by_key = demo.seed(db, keys=keys, at=make.AT, today=date(2026, 11, 2), rng=random.Random(2026))
    db.flush()
    case = demo_api.example_case(db)
    assert case is not None
    clock.advance(hours=1)
    response = client.get(
        f"/api/v1/cases/{case}/summary",
        headers={"Authorization": f"Bearer {demo_api.DEMO_TOKEN}"},
    )
    assert response.status_code == 200, response.text
    partners = [o for o in response.json()["owners"] if o["agency"] != by_key["cw"].public_id]
    decisions = [s for owner in partners for s in owner["sections"]]
    released = [s for s in decisions if s["decision"] == "released"]  # another agency's
    assert released and any(s["decision"] == "withheld" for s in decisions)
    logged = db.exec(
        select(AuditEntry).where(
            AuditEntry.case_ref.is_not(None), AuditEntry.tag == "disclosure:section:released"
        )
    ).all()
    assert any(e.actor_role == "case_manager" for e in logged)


def test_a_wrong_token_reads_nothing(client, db, keys):
    demo.seed(db, keys=keys, at=make.AT, today=date(2026, 11, 2), rng=random.Random(2026))
    db.flush()
    case = demo_api.example_case(db)
    response = client.get(
        f"/api/v1/cases/{case}/summary",
        headers={"Authorization": f"Bearer {demo_api.DEMO_TOKEN}x"},
    )
    assert response.status_code == 401
