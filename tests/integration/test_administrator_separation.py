"""The administrator runs the node and never reaches survivor information (issue 12, 2).

It adds only an agency's first lead, never chooses anyone's password (accounts start from a
one-time enrolment link), never adds staff where an agency has a lead, and cannot give
itself or another administrator a role that reads survivors. A refused attempt is in the
agency's own log and on its lead's dashboard.
"""

import hashlib
import io
import re

from sqlmodel import select

from portal import migrate
from portal.audit import AuditTag
from portal.cli import main as cli
from portal.db import make_engine
from portal.models import AuditEntry, Role, StaffEnrolment, StaffRole, StaffUser

import factories as make

LINK = re.compile(r"https?://[^\s<\"]+/enrol/([A-Za-z0-9_-]{20,})")


def _admin(client, db, keys):
    home = make.agency(db, keys)
    admin = make.user(db, home, Role.ADMINISTRATOR)
    make.login(client, admin.username)
    return home, admin


def _refusals(db, agency):
    return db.exec(
        select(AuditEntry).where(
            AuditEntry.agency_id == agency.id, AuditEntry.tag == AuditTag.ADMINISTRATOR_REFUSED
        )
    ).all()


def test_administrator_cannot_add_a_password_account_in_an_agency_with_a_lead(client, db, keys):
    target = make.agency(db, keys)
    lead = make.user(db, target, Role.AGENCY_LEAD)
    _admin(client, db, keys)
    token = make.csrf_of_page(client, f"/admin/agencies/{target.public_id}/staff/new")
    response = client.post(
        f"/admin/agencies/{target.public_id}/staff",
        data={
            "csrf_token": token,
            "display_name": "Sock Puppet",
            "username": "sock.puppet",
            "password": "a password the admin knows",
            "roles": ["agency_lead"],
        },
    )
    assert response.status_code == 403
    assert "has an agency lead" in response.text
    assert db.exec(select(StaffUser).where(StaffUser.username == "sock.puppet")).first() is None
    (refused,) = _refusals(db, target)
    assert "add staff" in refused.detail
    # The lead sees it on the dashboard.
    client.cookies.clear()
    make.login(client, lead.username)
    dashboard = client.get("/").text
    assert "The administrator tried to manage your staff and was refused: 1" in dashboard


def test_administrator_adds_a_first_lead_who_sets_their_own_password(client, db, keys, clock):
    target = make.agency(db, keys)
    _admin(client, db, keys)
    token = make.csrf_of_page(client, f"/admin/agencies/{target.public_id}/staff/new")
    made = client.post(
        f"/admin/agencies/{target.public_id}/staff",
        data={
            "csrf_token": token,
            "display_name": "Fen Lead",
            "username": "fen.lead",
            "password": "a password the admin knows",
            "roles": ["agency_lead"],
        },
    )
    assert made.status_code == 200
    secret = LINK.search(made.text).group(1)
    lead = db.exec(select(StaffUser).where(StaffUser.username == "fen.lead")).one()
    # The password the form tried to set does nothing, and nothing signs in yet.
    client.cookies.clear()
    assert make.login(client, "fen.lead", "a password the admin knows").status_code == 400
    # The link is kept only as its hash.
    stored = db.exec(select(StaffEnrolment).where(StaffEnrolment.user_id == lead.id)).one()
    assert stored.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(stored.model_dump())

    page = client.get(f"/enrol/{secret}")
    assert page.status_code == 200 and "Fen Lead" in page.text
    set_it = client.post(
        f"/enrol/{secret}",
        data={
            "csrf_token": make.csrf_from(page.text),
            "password": "fen chooses this one",
            "confirm_password": "fen chooses this one",
        },
    )
    assert set_it.status_code == 303 and set_it.headers["location"] == "/account/second-factor"
    assert client.get("/").headers["location"] == "/account/second-factor"  # 2FA next
    # Single use.
    client.cookies.clear()
    assert client.get(f"/enrol/{secret}").status_code == 404
    assert make.login(client, "fen.lead", "fen chooses this one").status_code == 303


def test_an_enrolment_link_expires(client, db, keys, clock):
    target = make.agency(db, keys)
    _admin(client, db, keys)
    token = make.csrf_of_page(client, f"/admin/agencies/{target.public_id}/staff/new")
    made = client.post(
        f"/admin/agencies/{target.public_id}/staff",
        data={
            "csrf_token": token,
            "display_name": "Late",
            "username": "late.lead",
            "roles": ["agency_lead"],
        },
    )
    secret = LINK.search(made.text).group(1)
    clock.advance(hours=72, seconds=1)
    client.cookies.clear()
    assert client.get(f"/enrol/{secret}").status_code == 404


def test_administrator_adds_only_a_lead_even_where_there_is_none(client, db, keys):
    target = make.agency(db, keys)
    _admin(client, db, keys)
    token = make.csrf_of_page(client, f"/admin/agencies/{target.public_id}/staff/new")
    response = client.post(
        f"/admin/agencies/{target.public_id}/staff",
        data={
            "csrf_token": token,
            "display_name": "Case Worker",
            "username": "case.worker",
            "roles": ["case_manager"],
        },
    )
    assert response.status_code == 403
    assert len(_refusals(db, target)) == 1


def test_administrator_cannot_grant_itself_a_role_that_reads_survivors(client, db, keys):
    home, admin = _admin(client, db, keys)
    make.user(db, home, Role.AGENCY_LEAD)
    token = make.csrf_of_page(client, f"/admin/staff/{admin.public_id}")
    response = client.post(
        f"/admin/staff/{admin.public_id}/roles",
        data={"csrf_token": token, "roles": ["administrator", "mdt_coordinator"]},
    )
    assert response.status_code == 403
    assert db.exec(select(StaffRole.role).where(StaffRole.user_id == admin.id)).all() == [
        "administrator"
    ]
    (refused,) = _refusals(db, home)
    assert "change roles" in refused.detail and refused.subject == admin.public_id
    # Nor another administrator.
    other = make.user(db, home, Role.ADMINISTRATOR)
    again = client.post(
        f"/admin/staff/{other.public_id}/roles",
        data={"csrf_token": token, "roles": ["mdt_coordinator"]},
    )
    assert again.status_code == 403 and len(_refusals(db, home)) == 2


def test_a_role_row_beside_the_administrator_role_grants_nothing(client, db, keys):
    _, admin = _admin(client, db, keys)
    db.add(StaffRole(user_id=admin.id, role=Role.MDT_COORDINATOR.value, granted_at=make.AT))
    db.flush()
    assert client.get("/clients").status_code == 403
    assert client.get("/").status_code == 200


def test_administrator_cannot_manage_roles_in_an_agency_with_a_lead(client, db, keys):
    target = make.agency(db, keys)
    make.user(db, target, Role.AGENCY_LEAD)
    member = make.user(db, target, Role.ADVOCATE)
    _admin(client, db, keys)
    token = make.csrf_of_page(client, f"/admin/staff/{member.public_id}")
    response = client.post(
        f"/admin/staff/{member.public_id}/roles",
        data={"csrf_token": token, "roles": ["agency_lead"]},
    )
    assert response.status_code == 403 and len(_refusals(db, target)) == 1


def test_lead_adds_staff_by_link(client, db, keys):
    agency = make.agency(db, keys)
    lead = make.user(db, agency, Role.AGENCY_LEAD)
    make.login(client, lead.username)
    token = make.csrf_of_page(client, f"/admin/agencies/{agency.public_id}/staff/new")
    made = client.post(
        f"/admin/agencies/{agency.public_id}/staff",
        data={
            "csrf_token": token,
            "display_name": "New Advocate",
            "username": "new.advocate",
            "roles": ["advocate"],
        },
    )
    assert made.status_code == 200 and LINK.search(made.text)


def _cli_node(monkeypatch, tmp_path):
    url = f"sqlite:///{tmp_path / 'node.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("PORTAL_SECRETS_FILE", str(tmp_path / "secrets.json"))
    migrate.upgrade(make_engine(url))
    for name in ("Node Operations (synthetic)", "Reed Advocacy (synthetic)"):
        args = ["agency", "create", "--name", name, "--kind", "community"]
        assert cli.main([*args, "--discipline", "advocacy"]) == 0


def _add(name, username, role):
    return cli.main(
        [
            "staff",
            "add",
            "--agency",
            name,
            "--username",
            username,
            "--name",
            username.title(),
            "--role",
            role,
        ]
    )


def test_cli_first_administrator_keeps_a_password_and_the_rest_get_links(
    monkeypatch, tmp_path, capsys
):
    _cli_node(monkeypatch, tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO("the operator's own passphrase\n"))
    assert _add("Node Operations (synthetic)", "node.admin", "administrator") == 0
    capsys.readouterr()
    # An advocate is the lead's to add; an agency's first lead gets a link.
    assert _add("Reed Advocacy (synthetic)", "reed.worker", "advocate") == 2
    assert "the lead adds the rest" in capsys.readouterr().err
    assert _add("Reed Advocacy (synthetic)", "reed.lead", "agency_lead") == 0
    out = capsys.readouterr().out
    assert LINK.search(out) and "shown once" in out
    assert _add("Reed Advocacy (synthetic)", "reed.lead2", "agency_lead") == 4  # refused
    assert "has a lead already" in capsys.readouterr().err
