"""Small builders for test data: each makes exactly what the test names."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, date, datetime

from sqlalchemy.orm import object_session
from sqlmodel import Session

from portal.crypto import KeyWrapper
from portal.models import Agency, AgencyKind, Discipline, Role, StaffRole, StaffUser
from portal.requester import Requester
from portal.services import agencies, cases, clients, staff

PASSWORD = "correct horse battery staple"
AT = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
_numbers = itertools.count(1)


def agency(
    db: Session,
    keys: KeyWrapper,
    *,
    kind: AgencyKind = AgencyKind.COMMUNITY,
    discipline: Discipline = Discipline.ADVOCACY,
    name: str | None = None,
    requires_totp: bool = False,
) -> Agency:
    made = agencies.create_agency(
        db,
        name=name or f"Test Agency {next(_numbers)} (synthetic)",
        kind=kind,
        discipline=discipline,
        requires_totp=requires_totp,
        actor=None,
        keys=keys,
        at=AT,
    )
    db.flush()
    return made


def user(
    db: Session, agency: Agency, *roles: Role, username: str | None = None, password: str = PASSWORD
) -> StaffUser:
    made = staff.create_staff(
        db,
        agency,
        username=username or f"user{next(_numbers)}",
        display_name="Test Person",
        password=password,
        roles=[r.value for r in (roles or (Role.ADVOCATE,))],
        actor=None,
        at=AT,
    )
    db.flush()
    return made


def requester(user: StaffUser | None, agency: Agency, roles, **asking) -> Requester:
    """Who is asking, as the handlers build it: `user` of `agency` in `roles`, which they
    are given if they do not hold them yet (the disclosure point reads a person's roles
    again as it logs what it released to them, and refuses roles not held)."""
    wanted = {str(role) for role in roles}
    db = None if user is None else object_session(user)
    if db is not None:  # a user kept from a session since closed must hold them already
        for role in sorted(wanted - staff.roles_of(db, user)):
            db.add(StaffRole(user_id=user.id, role=role, granted_at=AT))
        db.flush()
    return Requester.of(user, agency, wanted, **asking)


# A client under 18 on the tests' clock (AT, 2026): whom a screening may call a minor.
MINOR_BIRTH = date(2012, 4, 9)


def client_record(
    db: Session,
    agency: Agency,
    keys: KeyWrapper,
    *,
    given="Robin",
    family="Example",
    birth=date(2000, 5, 17),
    phone="",
    address="",
    actor=None,
):
    made = clients.register_client(
        db,
        agency,
        clients.Identity(given, family, birth, phone=phone, address=address),
        reference=f"R-{next(_numbers)}",
        actor=actor,
        keys=keys,
        at=AT,
    )
    db.flush()
    return made


def mdt_case(db: Session, coordinating: Agency, *, intake=date(2026, 10, 20), source="hotline"):
    made = cases.open_case(
        db,
        coordinating,
        intake_date=intake,
        referral_source=source,
        actor=None,
        at=AT,
        today=AT.date(),
    )
    db.flush()
    return made


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


def login(client, username: str, password: str = PASSWORD, *, follow=True):
    page = client.get("/login")
    response = client.post(
        "/login",
        data={
            "csrf_token": csrf_from(page.text),
            "username": username,
            "password": password,
            "next": "/",
        },
    )
    return response


def csrf_of_page(client, path: str = "/") -> str:
    return csrf_from(client.get(path).text)
