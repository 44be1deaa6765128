"""Signing in and out through HTTP: sessions, CSRF, throttling, second factor."""

import pyotp
from sqlmodel import select

from portal.auth.sessions import COOKIE_NAME
from portal.auth.throttle import DATABASE, LoginThrottle, ThrottleRules
from portal.models import AuditEntry, Role, WebSession

import factories as make


def audit_tags(db):
    return [row.tag for row in db.exec(select(AuditEntry).order_by(AuditEntry.id)).all()]


def test_sign_in_dashboard_sign_out(client, db, keys):
    agency = make.agency(db, keys)
    make.user(db, agency, Role.ADVOCATE, username="robin.example")
    response = make.login(client, "robin.example")
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    page = client.get("/")
    assert page.status_code == 200 and "Dashboard" in page.text
    assert page.headers["cache-control"] == "no-store"
    out = client.post("/logout", data={"csrf_token": make.csrf_from(page.text)})
    assert out.status_code == 303
    assert client.get("/").status_code == 303  # back to the login page
    assert {"auth:session:signed_in", "auth:session:signed_out"} <= set(audit_tags(db))


def test_wrong_password_and_unknown_user_get_the_same_answer(client, db, keys):
    agency = make.agency(db, keys)
    make.user(db, agency, username="known.person")
    wrong = make.login(client, "known.person", "not the password at all")
    unknown = make.login(client, "nobody.here", "not the password at all")
    assert wrong.status_code == unknown.status_code == 400
    message = "That username and password do not match an active account."
    assert message in wrong.text and message in unknown.text
    failures = [t for t in audit_tags(db) if t == "auth:session:sign_in_failed"]
    assert len(failures) == 2  # the failed attempts are kept despite the 4xx


def slow_throttle(app):
    """Delays long enough that no test outruns them."""
    app.state.login_throttle = LoginThrottle(
        DATABASE, ThrottleRules(base_seconds=60), node_key="a test node's session key"
    )


def test_failed_sign_ins_are_throttled_per_account_and_address_before_hashing(
    app, client, db, keys, monkeypatch
):
    slow_throttle(app)
    agency = make.agency(db, keys)
    make.user(db, agency, username="target.person")
    for _ in range(4):
        assert make.login(client, "target.person", "wrong wrong wrong").status_code == 400
    from portal.auth import passwords

    def must_not_hash(*args, **kwargs):
        raise AssertionError("password hashed while throttled")

    monkeypatch.setattr(passwords, "verify_password", must_not_hash)
    blocked = make.login(client, "target.person")  # from this address, even the right one
    assert blocked.status_code == 429
    assert "Too many failed attempts from here. Wait 60 seconds" in blocked.text


def test_throttle_per_address_covers_many_accounts(app, client, db, keys):
    slow_throttle(app)
    for number in range(21):
        make.login(client, f"sprayed{number}", "wrong wrong wrong")
    assert make.login(client, "someone.else", "wrong wrong wrong").status_code == 429


def test_session_id_rotates_at_sign_in(client, db, keys):
    agency = make.agency(db, keys)
    make.user(db, agency, username="rotating.user")
    make.login(client, "rotating.user")
    first = client.cookies.get(COOKIE_NAME)
    # Signing in again from a signed-in browser: the form carries that session's token.
    client.post(
        "/login",
        data={
            "csrf_token": make.csrf_of_page(client),
            "username": "rotating.user",
            "password": make.PASSWORD,
        },
    )
    second = client.cookies.get(COOKIE_NAME)
    assert first and second and first != second
    ended = db.exec(select(WebSession).where(WebSession.end_reason == "replaced")).all()
    assert len(ended) == 1


def test_session_expires_after_idle_time(client, db, keys, clock):
    agency = make.agency(db, keys)
    make.user(db, agency, username="idle.user")
    make.login(client, "idle.user")
    clock.advance(minutes=29)
    assert client.get("/").status_code == 200
    clock.advance(minutes=31)
    response = client.get("/")
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


def test_administrator_can_end_sessions(client, db, keys):
    agency = make.agency(db, keys)
    make.user(db, agency, Role.ADMINISTRATOR, username="the.admin")
    target = make.user(db, agency, username="the.target")
    from starlette.testclient import TestClient

    with TestClient(client.app, follow_redirects=False) as other:
        make.login(other, "the.target")
        assert other.get("/").status_code == 200
        make.login(client, "the.admin")
        token = make.csrf_of_page(client, f"/admin/staff/{target.public_id}")
        done = client.post(
            f"/admin/staff/{target.public_id}/end-sessions", data={"csrf_token": token}
        )
        assert done.status_code == 303
        assert other.get("/").status_code == 303


def test_state_changing_requests_need_the_csrf_token(client, db, keys):
    agency = make.agency(db, keys)
    make.user(db, agency, username="csrf.user")
    make.login(client, "csrf.user")
    assert client.post("/logout").status_code == 403
    assert client.post("/logout", headers={"X-CSRF-Token": "forged"}).status_code == 403
    token = make.csrf_of_page(client)
    # htmx sends the token as a header
    assert (
        client.post("/logout", headers={"X-CSRF-Token": token, "HX-Request": "true"}).status_code
        == 303
    )


def test_login_form_itself_needs_its_csrf_token(client, db, keys):
    agency = make.agency(db, keys)
    make.user(db, agency, username="login.csrf")
    response = client.post("/login", data={"username": "login.csrf", "password": make.PASSWORD})
    assert response.status_code == 403


def test_change_password(client, db, keys):
    agency = make.agency(db, keys)
    make.user(db, agency, username="changer")
    make.login(client, "changer")
    token = make.csrf_of_page(client, "/account")
    bad = client.post(
        "/account/password",
        data={
            "csrf_token": token,
            "current_password": "wrong",
            "new_password": "short",
            "confirm_password": "short",
        },
    )
    assert bad.status_code == 400 and "current password is not correct" in bad.text
    good = client.post(
        "/account/password",
        data={
            "csrf_token": token,
            "current_password": make.PASSWORD,
            "new_password": "a brand new passphrase",
            "confirm_password": "a brand new passphrase",
        },
    )
    assert good.status_code == 303
    assert "auth:password:changed" in audit_tags(db)
    client.cookies.clear()
    assert make.login(client, "changer").status_code == 400
    assert make.login(client, "changer", "a brand new passphrase").status_code == 303


def _enrol(client, clock):
    page = client.get("/account/second-factor")
    assert page.status_code == 200 and "<svg" in page.text
    secret = page.text.split('<code class="secret">')[1].split("<")[0]
    code = pyotp.TOTP(secret).at(clock())
    done = client.post(
        "/account/second-factor", data={"csrf_token": make.csrf_from(page.text), "code": code}
    )
    assert done.status_code == 200 and "recovery codes" in done.text
    codes = [part.split("</code>")[0] for part in done.text.split("<li><code>")[1:]]
    return secret, codes


def test_totp_enrol_then_sign_in_with_code_and_recovery_code(client, db, keys, clock):
    agency = make.agency(db, keys)
    make.user(db, agency, username="totp.user")
    make.login(client, "totp.user")
    secret, codes = _enrol(client, clock)
    assert len(codes) == 10
    client.cookies.clear()

    step = make.login(client, "totp.user")
    assert step.headers["location"] == "/login/second-factor"
    assert client.get("/").headers["location"] == "/login/second-factor"  # not signed in yet
    page = client.get("/login/second-factor")
    wrong = client.post(
        "/login/second-factor", data={"csrf_token": make.csrf_from(page.text), "code": "000000"}
    )
    assert wrong.status_code == 400
    clock.advance(seconds=60)
    ok = client.post(
        "/login/second-factor",
        data={"csrf_token": make.csrf_from(page.text), "code": pyotp.TOTP(secret).at(clock())},
    )
    assert ok.status_code == 303 and client.get("/").status_code == 200

    client.cookies.clear()
    make.login(client, "totp.user")
    page = client.get("/login/second-factor")
    recovered = client.post(
        "/login/second-factor", data={"csrf_token": make.csrf_from(page.text), "code": codes[0]}
    )
    assert recovered.status_code == 303
    tags = audit_tags(db)
    assert "auth:totp:enrolled" in tags and "auth:recovery_code:used" in tags
    assert "auth:totp:verify_failed" in tags


def test_agency_requiring_totp_sends_staff_to_enrolment(client, db, keys, clock):
    agency = make.agency(db, keys, requires_totp=True)
    make.user(db, agency, username="must.enrol")
    response = make.login(client, "must.enrol")
    assert response.headers["location"] == "/account/second-factor"
    assert client.get("/").headers["location"] == "/account/second-factor"
    assert client.get("/account").headers["location"] == "/account/second-factor"
    _enrol(client, clock)
    assert client.get("/").status_code == 200


def test_deactivated_staff_cannot_sign_in(client, db, keys):
    agency = make.agency(db, keys)
    user = make.user(db, agency, username="leaving.user")
    user.is_active = False
    db.flush()
    response = make.login(client, "leaving.user")
    assert response.status_code == 400


def test_secure_cookie_outside_the_demo(settings, engine, connection, db, keys):
    from dataclasses import replace

    from starlette.testclient import TestClient

    from portal.app import create_app

    app = create_app(replace(settings, cookie_secure=True), engine=engine, bind=connection)
    agency = make.agency(db, keys)
    make.user(db, agency, username="secure.user")
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as secure:
        response = make.login(secure, "secure.user")
        assert "Secure" in response.headers["set-cookie"]
        assert "Strict-Transport-Security" in response.headers


def test_open_redirect_after_sign_in_is_refused(client, db, keys):
    agency = make.agency(db, keys)
    make.user(db, agency, username="redirect.user")
    page = client.get("/login?next=//evil.example/")
    response = client.post(
        "/login",
        data={
            "csrf_token": make.csrf_from(page.text),
            "username": "redirect.user",
            "password": make.PASSWORD,
            "next": "https://evil.example/",
        },
    )
    assert response.headers["location"] == "/"
