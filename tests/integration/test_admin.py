"""Agency and staff administration through HTTP, and its scoping."""

import re

from sqlmodel import select

from portal.models import Agency, Role, StaffUser

import factories as make


def signed_in(client, db, keys, *roles, agency=None):
    agency = agency or make.agency(db, keys)
    user = make.user(db, agency, *roles)
    make.login(client, user.username)
    return agency, user


def test_administrator_creates_an_agency_and_its_first_lead(client, db, keys):
    signed_in(client, db, keys, Role.ADMINISTRATOR)
    token = make.csrf_of_page(client, "/admin/agencies/new")
    response = client.post(
        "/admin/agencies",
        data={
            "csrf_token": token,
            "name": "Meadow Legal Aid (synthetic)",
            "kind": "community",
            "discipline": "advocacy",
        },
    )
    assert response.status_code == 303
    agency = db.exec(select(Agency).where(Agency.name == "Meadow Legal Aid (synthetic)")).one()
    added = client.post(
        f"/admin/agencies/{agency.public_id}/staff",
        data={
            "csrf_token": token,
            "display_name": "Lou Lead",
            "username": "lou.lead",
            "roles": ["agency_lead"],
        },
    )
    assert added.status_code == 200 and "/enrol/" in added.text  # the link, shown once
    lead = db.exec(select(StaffUser).where(StaffUser.username == "lou.lead")).one()
    assert lead.agency_id == agency.id
    assert "Lou Lead" in client.get(f"/admin/agencies/{agency.public_id}").text


def test_bad_agency_form_keeps_values_and_names_fields(client, db, keys):
    signed_in(client, db, keys, Role.ADMINISTRATOR)
    token = make.csrf_of_page(client, "/admin/agencies/new")
    count = len(db.exec(select(Agency)).all())
    response = client.post(
        "/admin/agencies",
        data={"csrf_token": token, "name": "x" * 500, "kind": "", "discipline": "astrology"},
    )
    assert response.status_code == 400
    assert "at most 120 characters" in response.text
    assert "Choose a kind" in response.text and "Choose a discipline" in response.text
    assert len(db.exec(select(Agency)).all()) == count


def test_duplicate_agency_name_is_409_beside_the_field(client, db, keys):
    agency, _ = signed_in(client, db, keys, Role.ADMINISTRATOR)
    token = make.csrf_of_page(client, "/admin/agencies/new")
    response = client.post(
        "/admin/agencies",
        data={"csrf_token": token, "name": agency.name, "kind": "system", "discipline": "health"},
    )
    assert response.status_code == 409 and "already exists" in response.text


def test_lead_sees_only_their_own_agency(client, db, keys):
    other = make.agency(db, keys)
    other_member = make.user(db, other)
    agency, _ = signed_in(client, db, keys, Role.AGENCY_LEAD)
    listing = client.get("/admin/agencies").text
    assert agency.name in listing and other.name not in listing
    assert client.get(f"/admin/agencies/{other.public_id}").status_code == 404
    assert client.get(f"/admin/staff/{other_member.public_id}").status_code == 404
    missing = "11111111-1111-4111-8111-111111111111"
    assert client.get(f"/admin/staff/{missing}").status_code == 404  # same answer
    token = make.csrf_of_page(client, "/admin/agencies")
    assert (
        client.post(
            f"/admin/staff/{other_member.public_id}/deactivate", data={"csrf_token": token}
        ).status_code
        == 404
    )
    assert client.get("/admin/agencies/new").status_code == 403  # only administrators


def test_lead_adds_staff_assigns_roles_and_deactivates(client, db, keys):
    agency, lead = signed_in(client, db, keys, Role.AGENCY_LEAD)
    token = make.csrf_of_page(client, f"/admin/agencies/{agency.public_id}/staff/new")
    denied = client.post(
        f"/admin/agencies/{agency.public_id}/staff",
        data={
            "csrf_token": token,
            "display_name": "Ad Min",
            "username": "sneaky.admin",
            "roles": ["administrator"],
        },
    )
    assert denied.status_code == 400 and "Only an administrator" in denied.text
    created = client.post(
        f"/admin/agencies/{agency.public_id}/staff",
        data={
            "csrf_token": token,
            "display_name": "Tam Tester",
            "username": "tam.tester",
            "roles": ["advocate"],
        },
    )
    assert created.status_code == 200
    member = db.exec(select(StaffUser).where(StaffUser.username == "tam.tester")).one()
    roles = client.post(
        f"/admin/staff/{member.public_id}/roles",
        data={"csrf_token": token, "roles": ["advocate", "clinician"]},
    )
    assert roles.status_code == 303
    # Deactivating asks first, on a page that says what ends with the account.
    asked = client.get(f"/admin/staff/{member.public_id}/deactivate")
    assert asked.status_code == 200 and "signed out everywhere" in asked.text
    assert f'action="/admin/staff/{member.public_id}/deactivate"' in asked.text
    off = client.post(f"/admin/staff/{member.public_id}/deactivate", data={"csrf_token": token})
    assert off.status_code == 303
    db.refresh(member)
    assert member.is_active is False
    self_off = client.post(f"/admin/staff/{lead.public_id}/deactivate", data={"csrf_token": token})
    assert self_off.status_code == 400


def test_duplicate_username_is_refused_and_nothing_is_written(client, db, keys):
    agency, lead = signed_in(client, db, keys, Role.AGENCY_LEAD)
    token = make.csrf_of_page(client, f"/admin/agencies/{agency.public_id}/staff/new")
    count = len(db.exec(select(StaffUser)).all())
    response = client.post(
        f"/admin/agencies/{agency.public_id}/staff",
        data={
            "csrf_token": token,
            "display_name": "Copy",
            "username": lead.username,
            "roles": ["advocate"],
        },
    )
    assert response.status_code == 409 and "taken" in response.text
    assert len(db.exec(select(StaffUser)).all()) == count


def test_malformed_and_oversized_forms_get_4xx(client, db, keys):
    signed_in(client, db, keys, Role.ADMINISTRATOR)
    token = make.csrf_of_page(client, "/admin/agencies/new")
    huge = client.post(
        "/admin/agencies",
        content=b"name=" + b"x" * 400_000,
        headers={"content-type": "application/x-www-form-urlencoded", "X-CSRF-Token": token},
    )
    assert huge.status_code == 413
    json_body = client.post("/admin/agencies", json={"name": "x"}, headers={"X-CSRF-Token": token})
    assert json_body.status_code == 415
    control = client.post(
        "/admin/agencies",
        data={"csrf_token": token, "name": "Bad\x00Name", "kind": "system", "discipline": "health"},
    )
    assert control.status_code == 400


def test_the_administrators_dashboard_is_the_node_not_its_cases(client, db, keys):
    """Issue 18: the administrator was shown cases (every link a 403) and told to open a
    client (also a 403). Now: agencies, staff, leads, sessions, keys and node health."""
    agency, _ = signed_in(client, db, keys, Role.ADMINISTRATOR)
    case = make.mdt_case(db, agency)
    other = make.agency(db, keys, name="Other Agency (synthetic)")
    make.user(db, other, Role.AGENCY_LEAD)
    page = client.get("/").text
    assert case.public_id not in page and "/cases/" not in page
    assert "open a client" not in page and 'href="/clients' not in page
    assert f'href="/admin/agencies/{other.public_id}"' in page
    assert "Node health" in page and "migrations current" in page
    # The settings' default: every worker counts failed sign-ins in the database.
    assert "counted in the node's database, shared by every worker" in page
    linked = {href for href in re.findall(r'href="([^"#]+)"', page) if href.startswith("/")}
    for href in linked - {"/logout"}:
        assert client.get(href).status_code == 200, href


def test_a_coordinator_still_sees_the_cases(client, db, keys):
    agency, _ = signed_in(client, db, keys, Role.MDT_COORDINATOR)
    case = make.mdt_case(db, agency)
    assert f"/cases/{case.public_id}" in client.get("/").text
