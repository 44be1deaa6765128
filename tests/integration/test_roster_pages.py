"""The roster's page, and the MOUs due for review on the coordinator's dashboard (issue 16)."""

from __future__ import annotations

from datetime import date

from page_text import page_text

from portal.federation import membership
from portal.models import Role

import factories as make
from federation_helpers import elsewhere, with_mou


def test_members_page_and_the_coordinators_mous_due(client, db, keys, clock):
    coordinating = make.agency(db, keys, name="Coordinating CAC (synthetic)")
    partner_here = make.agency(db, keys, name="Shelter Here (synthetic)")
    make.user(db, coordinating, Role.MDT_COORDINATOR, username="coord")
    make.user(db, partner_here, Role.MDT_COORDINATOR, username="other.coord")
    police = elsewhere("Police Unit Elsewhere (synthetic)", node="http://127.0.0.1:9102")
    due_soon = with_mou(police.member, date(2025, 11, 20), date(2026, 11, 20))
    entries = membership.entries_json([due_soon])
    membership.sign_roster(
        db, coordinating, entries, node="http://127.0.0.1:9101", keys=keys, at=clock()
    )
    db.commit()

    make.login(client, "coord")
    dashboard = client.get("/").text
    assert "MOUs due for review" in dashboard
    assert "Police Unit Elsewhere (synthetic): review due 2026-11-20" in page_text(dashboard)
    assert "Coordinating CAC (synthetic): no MOU recorded" in dashboard
    page = client.get("/roster")
    assert page.status_code == 200
    assert "Police Unit Elsewhere (synthetic)" in page.text
    assert "http://127.0.0.1:9102" in page.text
    assert "Coordinating CAC (synthetic) · coordinating · on this node" in page.text

    client.post("/logout", headers={"X-CSRF-Token": make.csrf_of_page(client)})
    make.login(client, "other.coord")
    assert "MOUs due for review" not in client.get("/").text  # not the coordinating agency


def test_members_page_before_any_roster(client, db, keys):
    agency = make.agency(db, keys)
    make.user(db, agency, Role.ADVOCATE, username="adv")
    make.login(client, "adv")
    assert "holds no roster yet" in client.get("/roster").text
