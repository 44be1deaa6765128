"""No bad input is a 500, on either database: every route, every lookup, every form field.

The demo MDT is built, its pages are crawled as a coordinator holding every role and as a
survivor-mentor (so real ids and every rendered form are known), then each route's path
parameters, the query parameters the pages use, every field of every form and the API's
parameters and bodies are sent NUL bytes, control characters, non-UUID ids and dates out
of any range. Hypothesis draws the values; a few examples per route keep it quick.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from html import unescape
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlmodel import select
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from portal.auth.sessions import Viewer
from portal.demo import logins as demo_logins
from portal.demo import seed as demo
from portal.models import Agency, ApiScope, Role
from portal.services import api_tokens
from portal.web.routes import routes

import factories as make

NASTY = [
    "\x00",
    "a\x00b",
    "\x01",
    "\x1b[2J",
    "\x7f",
    "\u0085",
    "\t",
    "line\nbreak",
    "not-a-uuid",
    "00000000-0000-4000-8000-000000000000",
    "9999-12-31",
    "0001-01-01",
    "10000-01-01",
    "2026-02-30",
    "-1",
    "99999999999999999999999",
    "",
    " ",
    "..%2f..%2fetc",
    "é\u202e",
    "\ufeff",
]
VALUES = st.one_of(
    st.sampled_from(NASTY),
    st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)).map(date.isoformat),
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12),
)
# Lookups the handlers read, besides those the crawled pages' links and forms carry.
QUERY_NAMES = {
    "page", "case", "client", "reference", "purpose", "next", "back", "scope", "status",
    "date_from", "date_to", "due_from", "due_to", "start", "end", "days", "stale_days",
    "user", "viewer_agency", "case_ref", "section", "decision", "unassigned", "signed_out",
}  # fmt: skip
# Forms that would end the viewer's own session or account: the crawl has no way back.
SKIPPED_ACTIONS = re.compile(r"^/(logout|account/|admin/staff/[^/]+/(deactivate|end-sessions))")
LINK = re.compile(r'(?:href|hx-get)="(/[^"#]*)"')
FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.S | re.I)
# A field's tag, and for a select or textarea what follows it up to the next field.
FIELD = re.compile(
    r"<(input|select|textarea)\b([^>]*)>((?:(?!<(?:input|select|textarea)\b).)*)", re.S | re.I
)
OPTION = re.compile(r'<option\b[^>]*value="([^"]*)"', re.I)


def _attr(tag: str, name: str) -> str | None:
    found = re.search(rf'\b{name}="([^"]*)"', tag)
    return unescape(found.group(1)) if found else None


@dataclass
class Site:
    """What a crawl found: concrete addresses per route, forms, query names in use."""

    paths: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    forms: list[tuple[TestClient, str, list[tuple[str, str]]]] = field(default_factory=list)
    query_names: set[str] = field(default_factory=set)


def _patterns() -> list[tuple[str, re.Pattern, tuple[str, ...]]]:
    found = []

    def walk(table, prefix=""):
        for item in table:
            if isinstance(item, Mount) and item.routes:
                walk(item.routes, prefix + item.path)
            elif isinstance(item, Route):
                path = prefix + item.path
                regex = re.compile("^" + re.sub(r"\{[a-z_]+\}", "[^/]+", path) + "$")
                methods = tuple(sorted(set(item.methods or ("GET",)) - {"HEAD"}))
                found.append((path, regex, methods))

    walk(routes())
    return found


PATTERNS = _patterns()


def _pattern_of(path: str) -> str | None:
    # A literal route ("/cases/new") wins over a parameter ("/cases/{case_id}").
    matches = [p for p, regex, _ in PATTERNS if regex.match(path)]
    return min(matches, key=lambda p: p.count("{")) if matches else None


def crawl(viewer: TestClient, site: Site, *, limit: int) -> None:
    queue, seen = ["/"], set()
    while queue and len(seen) < limit:
        url = queue.pop(0)
        if url in seen or url.startswith(("/static", "/calendar/")):
            continue
        seen.add(url)
        response = viewer.get(url)
        parts = urlsplit(url)
        site.query_names |= {k for k, _ in parse_qsl(parts.query)}
        pattern = _pattern_of(parts.path)
        if pattern and parts.path not in site.paths[pattern]:
            site.paths[pattern].append(parts.path)
        if response.status_code != 200 or "text/html" not in response.headers["content-type"]:
            continue
        for opening, body in FORM.findall(response.text):
            action = _attr(opening, "action") or parts.path
            method = (_attr(opening, "method") or "get").upper()
            fields = list(_fields(body))
            if method == "GET":
                site.query_names |= {name for name, _ in fields}
            elif not SKIPPED_ACTIONS.match(action):
                site.forms.append((viewer, action, fields))
        for link in LINK.findall(response.text):
            link = unescape(link)
            if link not in seen and not link.endswith((".csv", ".ics")):
                queue.append(link)


def _fields(form_body: str):
    for kind, tag, rest in FIELD.findall(form_body):
        name = _attr(tag, "name")
        if not name:
            continue
        if kind.lower() == "select":
            options = OPTION.findall(rest)
            yield name, unescape(options[0]) if options else ""
        elif kind.lower() == "textarea":
            yield name, unescape(rest.split("</textarea>")[0])
        else:
            yield name, _attr(tag, "value") or ""


def _world(db, keys) -> str:
    """The demo MDT, a coordinator holding every role but the administrator's in its
    coordinating agency, and an API token of theirs with every scope (its secret)."""
    demo.seed(db, keys=keys, at=make.AT, today=make.AT.date(), case_count=4, rng=random.Random(7))
    agency = db.exec(select(Agency).order_by(Agency.id)).first()
    roles = [r for r in Role if r is not Role.ADMINISTRATOR]
    user = make.user(db, agency, *roles, username="every.role")
    viewer = Viewer(user, agency, frozenset(r.value for r in roles), None)
    issued = api_tokens.create_token(
        db,
        viewer,
        name="fuzz",
        scopes=list(ApiScope),
        acting_role=Role.CASE_MANAGER.value,
        at=make.AT,
    )
    db.flush()
    return issued.secret


def _concrete(path: str, known: str | None, name: str, value: str) -> str:
    """`path` with `name` set to `value` and every other parameter to a real id."""
    real = known.split("/") if known else None
    parts = path.split("/")
    for index, part in enumerate(parts):
        if part == "{" + name + "}":
            parts[index] = quote(value, safe="")
        elif part.startswith("{"):
            parts[index] = real[index] if real else "00000000-0000-4000-8000-000000000000"
    return "/".join(parts)


def _form(pairs) -> dict:
    return {
        "content": urlencode(pairs),
        "headers": {"Content-Type": "application/x-www-form-urlencoded"},
    }


def _request_bodies(openapi: dict) -> dict[tuple[str, str], list[str]]:
    """The JSON body fields of each API operation, from the OpenAPI document."""
    bodies = {}
    schemas = openapi.get("components", {}).get("schemas", {})
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            schema = content.get("application/json", {}).get("schema", {})
            if "$ref" in schema:
                schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
            if schema:
                bodies[(method.upper(), "/api/v1" + path)] = list(schema.get("properties", {}))
    return bodies


def test_no_input_is_answered_500_anywhere(app, db, keys, client):
    api = {"Authorization": f"Bearer {_world(db, keys)}"}
    site = Site()
    make.login(client, "every.role")
    crawl(client, site, limit=160)
    with TestClient(app, follow_redirects=False) as mentor:
        make.login(mentor, "mentor", demo_logins.DEMO_PASSWORD)
        crawl(mentor, site, limit=60)
        assert len(site.paths) >= 30 and len(site.forms) >= 20, (len(site.paths), len(site.forms))
        tokens = {
            id(client): make.csrf_of_page(client, "/account"),
            id(mentor): make.csrf_of_page(mentor, "/account"),
        }
        query_names = sorted((QUERY_NAMES | site.query_names) - {"csrf_token"})
        # One of each form (the same form on four cases is one form).
        forms = list(
            {
                (_pattern_of(urlsplit(action).path), tuple(k for k, _ in fields)): (
                    v,
                    action,
                    fields,
                )
                for v, action, fields in site.forms
            }.values()
        )
        bodies = _request_bodies(client.get("/api/v1/openapi.json", headers=api).json())

        def check(response, what: str) -> None:
            assert response.status_code < 500, f"{what}: {response.status_code}"

        # No shrinking: each failure already names its route, field and value, and
        # shrinking a sweep of hundreds of requests would take minutes.
        @settings(
            max_examples=3,
            deadline=None,
            database=None,
            phases=(Phase.explicit, Phase.generate),
            suppress_health_check=list(HealthCheck),
        )
        @given(st.data())
        def every_route_and_field(data):
            csrf = [("csrf_token", tokens[id(client)])]
            for path, _, methods in PATTERNS:
                known = (site.paths.get(path) or [None])[0]
                is_api = path.startswith("/api/")
                headers = api if is_api else {}
                for name in re.findall(r"\{([a-z_]+)\}", path):
                    value = data.draw(VALUES, label=f"{path} {name}")
                    target = _concrete(path, known, name, value)
                    for method in methods:
                        extra = {"json": {}} if is_api else _form(csrf)
                        response = client.request(
                            method,
                            target,
                            headers={**headers, **extra.pop("headers", {})},
                            **(extra if method != "GET" else {}),
                        )
                        check(response, f"{method} {target}")
                if "GET" in methods:
                    target = known or _concrete(path, None, "", "")
                    # Every lookup at once, then one alone (a handler may stop at the first
                    # it refuses).
                    every = [(q, data.draw(VALUES, label=f"{path}?{q}")) for q in query_names]
                    for params in (every, [data.draw(st.sampled_from(every))]):
                        response = client.get(target, params=params, headers=headers)
                        check(response, f"GET {target}?{params!r}")
            for (method, path), properties in bodies.items():
                target = _concrete(path, (site.paths.get(path) or [None])[0], "", "")
                body = {p: data.draw(VALUES, label=f"{path} {p}") for p in properties}
                check(client.request(method, target, json=body, headers=api), f"{path} {body!r}")
            for viewer, action, fields in forms:
                csrf = tokens[id(viewer)]
                filled = [(k, csrf if k == "csrf_token" else v) for k, v in fields]
                names = [k for k, _ in fields if k != "csrf_token"]
                if not names:
                    continue
                # Every field at once, then one alone with the others as the page had them.
                every = [
                    (k, v if k == "csrf_token" else data.draw(VALUES, label=f"{action} {k}"))
                    for k, v in filled
                ]
                one = data.draw(st.sampled_from(names), label=f"{action} field")
                alone = [(k, dict(every)[k] if k == one else v) for k, v in filled]
                for sent in (every, alone):
                    response = viewer.post(action, **_form(sent))
                    check(response, f"POST {action} {sent!r}")

        every_route_and_field()
