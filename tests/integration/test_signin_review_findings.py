"""Sign-in, the second factor and sessions, as a review found them. Each test is named
after a defect the review found and failed before it was fixed. Synthetic data only."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from portal.auth import sessions as web_sessions
from portal.auth import totp
from portal.auth.throttle import DATABASE, LoginThrottle, ThrottleRules
from portal.models import AuditEntry, RecoveryCode, Role
from portal.services import alerts

import factories as make
from databases import migrated_engine

NODE_KEY = "a review node's session key (synthetic)"


def _slow_throttle(app):
    """Delays long enough that no test outruns them (as test_auth.py does)."""
    app.state.login_throttle = LoginThrottle(
        DATABASE, ThrottleRules(base_seconds=60), node_key=NODE_KEY
    )


def _from(client, address: str) -> None:
    """The next requests of `client` come from `address`: same browser, same cookies."""
    client._transport.client = (address, 50000)


def _tags(db, agency_id):
    return [
        row.tag
        for row in db.exec(
            select(AuditEntry).where(AuditEntry.agency_id == agency_id).order_by(AuditEntry.id)
        ).all()
    ]


def _enrol(client, clock):
    page = client.get("/account/second-factor")
    secret = page.text.split('<code class="secret">')[1].split("<")[0]
    done = client.post(
        "/account/second-factor",
        data={"csrf_token": make.csrf_from(page.text), "code": pyotp.TOTP(secret).at(clock())},
    )
    assert done.status_code == 200, done.text[:300]
    codes = [part.split("</code>")[0] for part in done.text.split("<li><code>")[1:]]
    return secret, codes


def _staff_with_totp(client, db, keys, clock, username="review.totp"):
    agency = make.agency(db, keys)
    user = make.user(db, agency, Role.ADVOCATE, username=username)
    make.login(client, username)
    secret, codes = _enrol(client, clock)
    client.cookies.clear()
    clock.advance(seconds=90)  # past the enrolment code's step
    return agency, user, secret, codes


# -- throttle ------------------------------------------------------------------------------


def test_second_factor_guesses_on_one_password_session_are_unbounded_across_addresses(
    app, client, db, keys, clock
):
    """Whoever knows the password holds one password-stage session and may guess codes on
    it for as long as it lives: the only counts are per address and per account-and-
    address, never per session or per account, so each new address (a botnet, a cloud
    range, an IPv6 /64) brings three fresh guesses with the same cookie. Forty wrong codes
    from forty addresses are all heard (400); none is slowed (429) and the session lives."""
    _slow_throttle(app)
    _, user, _, _ = _staff_with_totp(client, db, keys, clock)
    assert make.login(client, user.username).headers["location"] == "/login/second-factor"
    token = make.csrf_of_page(client, "/login/second-factor")
    statuses = []
    for number in range(40):
        _from(client, f"198.51.100.{number + 1}")
        statuses.append(
            client.post(
                "/login/second-factor", data={"csrf_token": token, "code": f"{number:06d}"}
            ).status_code
        )
    assert 429 in statuses or client.get("/login/second-factor").status_code != 200, (
        f"40 wrong second-factor codes on one session from 40 addresses, none refused: {statuses}"
    )


def test_password_guesses_from_one_ipv6_network_are_each_a_new_address(app, client, db, keys):
    """The throttle keys on the full client address. One IPv6 customer holds a /64 (2^64
    addresses): each address of it brings three free guesses on the account and twenty on
    the node, so the per-address and per-pair limits never bind. Thirty wrong passwords
    from thirty addresses of 2001:db8::/64 are all heard (400), none slowed (429)."""
    _slow_throttle(app)
    agency = make.agency(db, keys)
    make.user(db, agency, username="review.v6")
    statuses = []
    for number in range(30):
        _from(client, f"2001:db8::{number + 1:x}")
        statuses.append(make.login(client, "review.v6", f"wrong guess {number}").status_code)
    assert 429 in statuses, f"30 wrong passwords from one IPv6 /64, none slowed: {statuses}"


# -- audit and the lead's alerts -----------------------------------------------------------


def test_wrong_current_password_on_the_account_page_leaves_no_audit_entry(app, client, db, keys):
    """A wrong current password on /account/password (or on turning the second factor
    off) is counted by the sign-in throttle but written nowhere: a session left open on a
    shared computer can guess the account's password there and the agency's log (and its
    lead's alerts) hold no trace; the same wrong password at /login is an
    auth:session:sign_in_failed entry."""
    agency = make.agency(db, keys)
    make.user(db, agency, username="review.changer")
    make.login(client, "review.changer")
    token = make.csrf_of_page(client, "/account")
    before = _tags(db, agency.id)
    wrong = client.post(
        "/account/password",
        data={
            "csrf_token": token,
            "current_password": "not my password at all",
            "new_password": "a brand new passphrase (synthetic)",
            "confirm_password": "a brand new passphrase (synthetic)",
        },
    )
    assert wrong.status_code == 400 and "current password is not correct" in wrong.text
    added = _tags(db, agency.id)[len(before) :]
    assert added, "a wrong current password on the account page left no audit entry"


def test_a_throttled_second_factor_attempt_leaves_no_audit_entry(app, client, db, keys, clock):
    """A sign-in refused by the throttle is audited (auth:session:sign_in_throttled); a
    second-factor code refused by the same throttle (429) writes nothing, so the log shows
    four failures and then silence however long someone keeps trying codes."""
    _slow_throttle(app)
    agency, user, _, _ = _staff_with_totp(client, db, keys, clock)
    make.login(client, user.username)
    token = make.csrf_of_page(client, "/login/second-factor")
    statuses = [
        client.post(
            "/login/second-factor", data={"csrf_token": token, "code": "000000"}
        ).status_code
        for _ in range(8)
    ]
    assert statuses[-1] == 429, statuses
    tags = _tags(db, agency.id)
    assert any("throttled" in tag for tag in tags), (
        f"{statuses.count(429)} throttled second-factor attempts, none in the log: {tags}"
    )


def test_lead_is_not_alerted_to_repeated_second_factor_failures(app, client, db, keys, clock):
    """A wrong second-factor code comes only after the right password: repeated ones mean
    the password is known to someone else. The lead's alerts (services/alerts.py) list
    failed and throttled sign-ins but not auth:totp:verify_failed, so five of them on one
    account in an hour show the lead nothing."""
    agency, user, _, _ = _staff_with_totp(client, db, keys, clock)
    for number in range(5):
        client.cookies.clear()
        _from(client, f"203.0.113.{number + 1}")  # apart, so no throttle answers instead
        make.login(client, user.username)
        token = make.csrf_of_page(client, "/login/second-factor")
        failed = client.post("/login/second-factor", data={"csrf_token": token, "code": "000000"})
        assert failed.status_code == 400
    assert _tags(db, agency.id).count("auth:totp:verify_failed") == 5
    shown = [(a.tag, a.count) for a in alerts.for_lead(db, agency, now=clock())]
    assert any(tag == "auth:totp:verify_failed" for tag, _ in shown), (
        f"five failed second-factor codes on one account; the lead's alerts: {shown}"
    )


def test_turning_off_a_second_factor_never_set_up_is_audited_as_turned_off(app, client, db, keys):
    """POST /account/second-factor/disable for an account with no second factor answers
    'Two-step sign-in is turned off' and writes auth:totp:disabled: the log says a factor
    was removed that never existed."""
    agency = make.agency(db, keys)
    make.user(db, agency, username="review.nototp")
    make.login(client, "review.nototp")
    token = make.csrf_of_page(client, "/account")
    done = client.post(
        "/account/second-factor/disable", data={"csrf_token": token, "password": make.PASSWORD}
    )
    tags = _tags(db, agency.id)
    assert "auth:totp:disabled" not in tags, (
        f"answered {done.status_code}; the log says a second factor was turned off on an "
        f"account that never had one: {tags}"
    )


# -- sessions and enrolment ----------------------------------------------------------------


def test_session_waiting_on_enrolment_loops_once_the_factor_is_set_up_elsewhere(
    client, db, keys, clock
):
    """An agency requires a second factor; its staff member signs in on two devices (each
    session at 'totp_enrolment') and sets the factor up on one. The other now bounces
    for ever: / → /account/second-factor (stage) → /account (factor already set up) →
    /account/second-factor …; the browser stops with 'too many redirects' and the person
    cannot reach the code prompt or any page."""
    agency = make.agency(db, keys, requires_totp=True)
    make.user(db, agency, Role.ADVOCATE, username="review.twodevices")
    with TestClient(client.app, follow_redirects=False) as other:
        make.login(other, "review.twodevices")
        assert other.get("/").headers["location"] == "/account/second-factor"
        make.login(client, "review.twodevices")
        _enrol(client, clock)
        seen, path = [], "/"
        for _ in range(8):
            response = other.get(path)
            seen.append((path, response.status_code))
            if response.status_code != 303:
                break
            path = response.headers["location"]
    assert seen[-1][1] != 303, f"redirect loop: {seen}"


def test_the_page_asked_for_is_lost_after_the_second_factor(client, db, keys, clock):
    """Without a second factor, sign-in returns the person to the page they asked for
    (?next=). With one, the code step always sends them to the dashboard: a link to an
    account, a task or a case summary in an email lands on '/' for every TOTP user."""
    _, user, secret, _ = _staff_with_totp(client, db, keys, clock)
    asked = client.get("/account")
    assert asked.headers["location"] == "/login?next=/account"
    page = client.get(asked.headers["location"])
    stepped = client.post(
        "/login",
        data={
            "csrf_token": make.csrf_from(page.text),
            "username": user.username,
            "password": make.PASSWORD,
            "next": "/account",
        },
    )
    code_step = stepped.headers["location"]
    assert code_step.startswith("/login/second-factor")
    form = client.get(code_step).text
    kept = re.search(r'name="next" value="([^"]+)"', form)
    done = client.post(
        "/login/second-factor",
        data={
            "csrf_token": make.csrf_from(form),
            "code": pyotp.TOTP(secret).at(clock()),
            **({"next": kept.group(1)} if kept else {}),
        },
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/account", (
        f"asked for /account, sent to {done.headers['location']} after the second factor"
    )


# -- a recovery code spent twice (PostgreSQL) ----------------------------------------------


def test_one_recovery_code_signs_in_two_sessions_at_once(backend, keys, tmp_path):
    """verify_second_factor reads the recovery code 'where used_at is null' with no lock
    and then sets used_at by id: two sign-ins presenting the same code at once both read it
    unused; the second waits for the first's row lock, then writes over used_at and is let
    in too. A single-use code opens two full sessions (a code seen over a shoulder, used
    while its owner uses it)."""
    if backend != "postgresql":
        pytest.skip("shown on PostgreSQL, whose writers run at once under read committed")
    with migrated_engine(backend, tmp_path) as engine:
        _two_recoveries_at_once(engine, keys)


def _two_recoveries_at_once(engine, keys):
    import threading
    import time

    from sqlmodel import Session

    from portal.errors import DomainError
    from portal.services import signin

    at = make.AT
    with Session(engine, expire_on_commit=False) as setup:
        agency = make.agency(setup, keys)
        user = make.user(setup, agency, Role.ADVOCATE, username="review.recovery")
        user.totp_secret = keys.wrap(pyotp.random_base32().encode())
        user.totp_enabled_at = at
        code = "abcde-12345"
        setup.add(RecoveryCode(user_id=user.id, code_hash=totp.recovery_code_hash(code)))
        tokens = [
            web_sessions.begin(
                setup, user, stage="password", at=at, address="192.0.2.1", user_agent=None
            )[0]
            for _ in range(2)
        ]
        setup.commit()
    throttle = LoginThrottle(DATABASE, node_key=NODE_KEY)
    first, second = Session(engine), Session(engine)
    outcome: dict = {}

    def verify(db, token, name):
        try:
            viewer = web_sessions.resume(
                db, token, at=at, idle=timedelta(minutes=30), absolute=timedelta(hours=12)
            )
            signin.verify_second_factor(
                db,
                viewer,
                code,
                keys=keys,
                throttle=throttle,
                address="192.0.2.1",
                user_agent=None,
                at=at,
            )
            db.commit()
            outcome[name] = "signed in"
        except DomainError as error:
            db.rollback()
            outcome[name] = f"refused: {error}"
        except Exception as error:  # what else the second meets
            db.rollback()
            outcome[name] = error

    try:
        viewer = web_sessions.resume(
            first, tokens[0], at=at, idle=timedelta(minutes=30), absolute=timedelta(hours=12)
        )
        signin.verify_second_factor(
            first,
            viewer,
            code,
            keys=keys,
            throttle=throttle,
            address="192.0.2.1",
            user_agent=None,
            at=at,
        )
        first.flush()  # the first holds the code's row, not yet committed
        racing = threading.Thread(target=verify, args=(second, tokens[1], "second"))
        racing.start()
        time.sleep(1.0)
        first.commit()
        racing.join(timeout=30)
    finally:
        first.close()
        second.close()
    assert outcome.get("second") != "signed in", "one recovery code signed two sessions in at once"


def test_the_lead_reads_signed_in_for_a_password_whose_code_then_failed(
    app, client, db, keys, clock
):
    """The password step of an account with a second factor writes auth:session:signed_in
    (its stage, 'password', only in the entry's detail, which the log page never shows).
    The lead's audit log then reads 'signed in' for someone who typed the password and
    failed the code, i.e. never got in: the entry says the account was entered when it
    was not."""
    agency, user, _, _ = _staff_with_totp(client, db, keys, clock, username="review.target")
    full_sign_ins = _tags(db, agency.id).count("auth:session:signed_in")  # the enrolling one
    _from(client, "203.0.113.50")
    make.login(client, user.username)  # the password only
    token = make.csrf_of_page(client, "/login/second-factor")
    wrong = client.post("/login/second-factor", data={"csrf_token": token, "code": "000000"})
    assert wrong.status_code == 400

    make.user(db, agency, Role.AGENCY_LEAD, username="review.lead")
    client.cookies.clear()
    _from(client, "192.0.2.7")
    make.login(client, "review.lead")
    page = client.get("/audit")
    assert page.status_code == 200
    rows = [
        row
        for row in page.text.split("<tr")
        if "(review.target)" in row and '<td data-label="Event">signed in' in row
    ]
    assert len(rows) == full_sign_ins, (
        f"the lead's log shows {len(rows)} 'signed in' rows for review.target, who signed in "
        f"{full_sign_ins} time(s); the other is a password whose code was wrong"
    )


def test_recovery_codes_are_made_anew_without_the_password(app, client, db, keys, clock):
    """Turning the second factor off asks for the password (a session left open on a
    shared computer must not undo it); making recovery codes anew asks nothing. Whoever
    sits at that open session gets ten fresh codes, each a second factor for the account
    for good, and the owner's printed codes stop working without their knowing."""
    _, user, secret, _ = _staff_with_totp(client, db, keys, clock)
    make.login(client, user.username)
    token = make.csrf_of_page(client, "/login/second-factor")
    client.post(
        "/login/second-factor", data={"csrf_token": token, "code": pyotp.TOTP(secret).at(clock())}
    )
    token = make.csrf_of_page(client, "/account")
    made = client.post("/account/second-factor/recovery-codes", data={"csrf_token": token})
    assert made.status_code != 200 or "<li><code>" not in made.text, (
        "recovery codes made anew and shown with no password asked"
    )
