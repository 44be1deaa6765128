"""Deny by default: every registered route states a permission, proven by walking them."""

import re

import pytest
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from portal.app import _refuse_unguarded, create_app
from portal.auth.permissions import ROLE_PERMISSIONS, Permission
from portal.models import Role
from portal.web.routes import routes

import factories as make

PUBLIC_PATHS = {
    "/healthz",
    "/readyz",
    "/login",
    "/enrol/{secret}",  # the one-time enrolment link: the link itself is the credential
    "/static",
    "/api/v1/openapi.json",
    "/calendar/{token}",
}


def walk(table, prefix=""):
    for item in table:
        if isinstance(item, Mount) and item.routes:
            yield from walk(item.routes, prefix + item.path)
        elif isinstance(item, Mount):
            yield prefix + item.path, item, getattr(item.app, "permission", None)
        elif isinstance(item, Route):
            yield prefix + item.path, item, getattr(item.endpoint, "permission", None)


def test_every_route_states_a_permission():
    for path, _, permission in walk(routes()):
        assert isinstance(permission, Permission), f"{path} states no permission"


def test_only_the_expected_routes_are_public():
    public = {path for path, _, p in walk(routes()) if p is Permission.PUBLIC}
    assert public == PUBLIC_PATHS


def test_every_non_public_permission_is_held_by_some_role():
    special = {
        Permission.PUBLIC,
        Permission.SIGNED_IN,
        Permission.SECOND_FACTOR,
        Permission.API_TOKEN,
        Permission.NODE_SIGNED,  # a signed request from a roster member's node (issue 16)
    }
    for _, _, permission in walk(routes()):
        if permission not in special:
            assert ROLE_PERMISSIONS.get(permission), f"{permission} is held by nobody"


def test_an_unguarded_route_stops_the_app():
    async def naked(request):  # pragma: no cover - never served
        raise AssertionError

    with pytest.raises(RuntimeError, match="states no permission"):
        _refuse_unguarded([Route("/naked", naked)])


@pytest.fixture
def anonymous(settings, engine, connection):
    with TestClient(
        create_app(settings, engine=engine, bind=connection), follow_redirects=False
    ) as test_client:
        yield test_client


def _concrete(path: str) -> str:
    return re.sub(r"\{[a-z_]+\}", "00000000-0000-4000-8000-000000000000", path)


def test_api_routes_refuse_a_browser_session(client, db, keys):
    """A signed-in browser is not an API caller: cookies never authorise /api/v1."""
    agency = make.agency(db, keys)
    make.user(db, agency, Role.AGENCY_LEAD, username="cookie.lead")
    make.login(client, "cookie.lead")
    for path, route, permission in walk(routes()):
        if permission is Permission.API_TOKEN:
            for method in route.methods - {"HEAD"}:
                assert client.request(method, _concrete(path)).status_code == 401, path


def test_every_non_public_route_refuses_an_anonymous_visitor(anonymous):
    for path, route, permission in walk(routes()):
        if permission is Permission.PUBLIC or not isinstance(route, Route):
            continue
        for method in route.methods - {"HEAD"}:
            response = anonymous.request(method, _concrete(path))
            assert response.status_code in (303, 401, 403), (method, path, response.status_code)
            if response.status_code == 303:
                assert response.headers["location"].startswith("/login")


def test_every_route_refuses_a_role_without_its_permission(client, db, keys):
    agency = make.agency(db, keys)
    make.user(db, agency, Role.SURVIVOR_MENTOR, username="mentor.only")
    make.login(client, "mentor.only")
    token = make.csrf_of_page(client)
    for path, route, permission in walk(routes()):
        if (
            not isinstance(route, Route)
            or permission
            in (
                Permission.PUBLIC,
                Permission.SECOND_FACTOR,
                Permission.API_TOKEN,
                Permission.NODE_SIGNED,
            )
            or Role.SURVIVOR_MENTOR in ROLE_PERMISSIONS.get(permission, ())
        ):
            continue
        for method in route.methods - {"HEAD"}:
            response = client.request(method, _concrete(path), headers={"X-CSRF-Token": token})
            assert response.status_code == 403, (method, path, response.status_code)
