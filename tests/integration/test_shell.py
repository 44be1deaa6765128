"""The web shell: headers, error pages, health checks, htmx served locally."""

import re

import pytest
from starlette.testclient import TestClient

from portal import assets
from portal.app import create_app
from portal.auth.permissions import Permission
from portal.web.routing import route

import factories as make


def test_security_headers_and_strict_csp(client):
    response = client.get("/login")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    assert "<script>" not in response.text and " on" not in response.text.split("<body")[1][:0]


def test_no_inline_scripts_or_handlers_in_templates():
    from portal.web.render import TEMPLATES_DIR

    # The node's own script files (htmx, portal.js), each a file the CSP allows ('self').
    own_files = re.compile(r'<script src="/static/[\w/.-]+\.js" defer></script>')
    for path in TEMPLATES_DIR.rglob("*.html"):
        text = own_files.sub("", path.read_text())
        assert "<script" not in text, path
        for handler in ("onclick=", "onload=", "onsubmit=", "onchange=", "javascript:"):
            assert handler not in text, (path, handler)


def test_404_page_is_the_layout_without_details(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404 and "Not found" in response.text


def test_500_page_has_no_stack_trace(settings, engine, connection, monkeypatch):
    import portal.web.routes as routes_module

    def explode(ctx):
        raise RuntimeError("secret internal detail")

    original = routes_module.routes
    monkeypatch.setattr(
        routes_module,
        "routes",
        lambda: [route("/explode", explode, permission=Permission.PUBLIC), *original()],
    )
    import portal.app as app_module

    monkeypatch.setattr(app_module, "routes", routes_module.routes)
    app = create_app(settings, engine=engine, bind=connection)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        response = test_client.get("/explode")
    assert response.status_code == 500
    assert "secret internal detail" not in response.text
    assert "Traceback" not in response.text and "Something went wrong" in response.text


def test_healthz_and_readyz(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["migrations"] == "current"


@pytest.mark.skipif(not assets.htmx_present(), reason="htmx not fetched: run `portal assets`")
def test_htmx_is_served_by_the_node(client):
    response = client.get("/static/vendor/htmx.min.js")
    assert response.status_code == 200 and "htmx" in response.text[:200]


def test_layout_carries_csrf_for_htmx_on_body(client, db, keys):
    agency = make.agency(db, keys)
    make.user(db, agency, username="htmx.user")
    make.login(client, "htmx.user")
    page = client.get("/").text
    assert 'hx-headers=\'{"X-CSRF-Token": "' in page
