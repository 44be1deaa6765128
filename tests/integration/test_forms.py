"""Every form a page renders can be submitted without JavaScript: it carries its CSRF token."""

import re

from starlette.routing import Route

from portal.models import Role
from portal.web.routes import routes

import factories as make

FORM = re.compile(r"<form\b[^>]*>(.*?)</form>", re.S | re.I)


def post_forms_without_token(html: str) -> list[str]:
    missing = []
    for match in FORM.finditer(html):
        opening = match.group(0)[: match.group(0).index(">") + 1]
        if 'method="post"' not in opening.lower():
            continue
        if not re.search(r'name="csrf_token" value="[^"]{20,}"', match.group(1)):
            missing.append(opening)
    return missing


def test_every_post_form_on_every_page_carries_the_token(client, db, keys):
    agency = make.agency(db, keys)
    lead = make.user(db, agency, Role.AGENCY_LEAD, Role.MDT_COORDINATOR, username="all.roles")
    # An administrator holds no other role, so its pages are walked on their own sign-in.
    make.user(db, agency, Role.ADMINISTRATOR, username="the.admin")
    ids = {"agency_id": agency.public_id, "user_id": lead.public_id}
    checked = 0
    for username in ("all.roles", "the.admin"):
        client.cookies.clear()
        make.login(client, username)
        checked += _walk(client, ids)
    assert checked >= 6


def _walk(client, ids) -> int:
    checked = 0
    for route in routes():
        if not isinstance(route, Route) or "GET" not in route.methods:
            continue
        names = re.findall(r"\{([a-z_]+)\}", route.path)
        if any(name not in ids for name in names):
            continue
        path = re.sub(r"\{([a-z_]+)\}", lambda m: ids[m.group(1)], route.path)
        response = client.get(path)
        if response.status_code != 200 or "text/html" not in response.headers["content-type"]:
            continue
        assert post_forms_without_token(response.text) == [], path
        checked += 1
    return checked
