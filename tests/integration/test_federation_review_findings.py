"""Federation between nodes as a review found it: a link never moved to another survivor
nor a survivor put in two open cases from elsewhere, bodies and answers that do not read
refused or shown unavailable (never a 500), roster names without invisible characters, a
coordinator's key handed over to the next roster. Each test is named after a defect the
review found and failed before it was fixed. Synthetic data only; real HTTP on 127.0.0.1
where a second node is needed, with short timeouts."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

import consent
from portal.federation import membership, transport
from portal.models import Agency, CaseLink, Client, Discipline, FederationNonce, Role
from portal.services import releases

import factories as make
from federation_helpers import (
    elsewhere,
    here,
    requester_of,
    shelter_case,
    signed_request,
    signed_roster,
)

HERE = "http://127.0.0.1:9101"
THERE = "http://127.0.0.1:9102"
DISCLOSURES = "/federation/v1/disclosures"
CASE_LINKS = "/federation/v1/case-links"


def _post_raw(client, clock, sender, path, body: bytes, **extra_headers):
    """`body` exactly as given, signed by `sender` for this node's address."""
    headers = transport.signed_request_headers(
        HERE + path,
        body,
        key_id=sender.key_id,
        signing_key=sender.signing_key,
        now=clock().timestamp(),
    )
    headers.update(extra_headers)
    return client.post(path, content=body, headers=headers), headers


# -- Bad input at /federation/v1: a clear 4xx, nothing written, the nonce kept ---------------


def _nonces(db, key_id) -> int:
    db.expire_all()
    return len(db.exec(select(FederationNonce).where(FederationNonce.key_id == key_id)).all())


@pytest.mark.parametrize(
    "name, body",
    [
        ("a 5,000-digit number", b'{"requester": ' + b"7" * 5000 + b"}"),
        ("JSON nested 100,000 deep", b"[" * 100_000 + b"]" * 100_000),
    ],
)
def test_a_signed_body_with_a_huge_number_or_deep_nesting_is_a_400_not_a_500(
    lenient, db, keys, clock, name, body
):
    """`endpoints._serve` catches JSONDecodeError only: json.loads raises a plain ValueError
    for a number past 4,300 digits and RecursionError for deep nesting, so a roster member's
    signed request gets a 500 HTML page. The transaction that remembered its nonce goes with
    it, so the very same bytes can be sent again and again within the window."""
    made = shelter_case(db, keys, clock, here_node=HERE, there_node=THERE)
    before = _nonces(db, made.welfare.key_id)
    answer, headers = _post_raw(lenient, clock, made.welfare, DISCLOSURES, body)
    again = lenient.post(DISCLOSURES, content=body, headers=headers)
    assert answer.status_code == 400 and answer.json().get("error") == "bad_request", (
        f"{name} in a signed federation request was answered {answer.status_code} "
        f"{answer.headers.get('content-type')}: {answer.text[:60]!r}; the same bytes sent "
        f"again were answered {again.status_code}, not 401 replayed (nonces remembered: "
        f"{_nonces(db, made.welfare.key_id) - before})"
    )
    assert _nonces(db, made.welfare.key_id) == before + 1
    assert (again.status_code, again.json().get("error")) == (401, "replayed"), again.status_code


@pytest.mark.parametrize(
    "field",
    ["case", "owners"],
)
def test_a_lone_surrogate_in_a_signed_request_is_a_400_not_a_500(lenient, db, keys, clock, field):
    """JSON may carry "\\ud800" (a lone UTF-16 surrogate); Python keeps it in the str and the
    database driver cannot encode it, so the case reference or owner id of a signed request
    reaches the query and the node answers 500 (UnicodeEncodeError) instead of a 400."""
    made = shelter_case(db, keys, clock, here_node=HERE, there_node=THERE)
    payload = {
        "requester": requester_of(made.welfare),
        "case": made.case.reference,
        "owners": [made.shelter.public_id],
        "sections": ["placement_housing"],
    }
    payload[field] = "MDT-\ud800" if field == "case" else ["\ud800"]
    body = json.dumps(payload).encode()  # ensure_ascii: the surrogate travels as \ud800
    answer, _headers = _post_raw(lenient, clock, made.welfare, DISCLOSURES, body)
    assert 400 <= answer.status_code < 500, (
        f"a lone surrogate in {field!r} was answered {answer.status_code}: {answer.text[:120]!r}"
    )


def test_a_request_that_is_not_json_by_its_content_type_is_refused(client, db, keys, clock):
    """Nodes talk HTTP + JSON and the node's own API refuses another content type (415);
    /federation/v1 never looks at Content-Type (the signature does not cover it): a body
    sent as text/plain is parsed as JSON and answered, and the owner's log is written."""
    made = shelter_case(db, keys, clock, here_node=HERE, there_node=THERE)
    body = json.dumps(
        {
            "requester": requester_of(made.welfare),
            "case": made.case.reference,
            "owners": [made.shelter.public_id],
            "sections": ["placement_housing"],
        }
    ).encode()
    answer, _headers = _post_raw(
        client, clock, made.welfare, DISCLOSURES, body, **{"Content-Type": "text/plain"}
    )
    assert answer.status_code == 415, (
        f"a text/plain body was answered {answer.status_code}: {answer.text[:100]!r}"
    )


# -- Case links asked by the coordinating agency elsewhere -----------------------------------


def _coordinated_elsewhere(db, keys, clock):
    """A shelter hosted here with two survivors, each with a release in effect naming the
    MDT's coordinating CAC, which is hosted on another node (the roster's coordinator)."""
    shelter = make.agency(
        db, keys, name="Review Shelter Here (synthetic)", discipline=Discipline.SHELTER
    )
    author = make.user(db, shelter, Role.CASE_MANAGER)
    cac = elsewhere(
        "Review CAC Elsewhere (synthetic)", node=THERE, kind="community", discipline="advocacy"
    )
    data = signed_roster(cac, [cac.member, here(db, shelter, node=HERE)], at=clock())
    membership.import_roster(db, data, pin=cac.key_id, at=clock())
    at = clock() - timedelta(days=1)
    survivors = []
    for _ in range(2):
        survivor = make.client_record(db, shelter, keys)
        row = releases.draft_release(
            db,
            survivor,
            recipients=[cac.member.agency],
            sections=["placement_housing"],
            purpose="mdt_case_review",
            effective_at=at,
            expiry=consent.DateExpiry(at + timedelta(days=90)),
            keys=keys,
            language="en",
            actor=author,
            at=at,
        )
        releases.sign(
            db,
            row,
            signer=consent.Signer("Robin Example", consent.Capacity.SELF),
            second_signer=None,
            method=consent.SignatureMethod.TYPED,
            actor=author,
            keys=keys,
            at=at,
        )
        survivors.append(survivor)
    db.commit()
    return shelter, cac, survivors


def _ask_link(client, clock, cac, shelter, reference, survivor):
    body, headers = signed_request(
        HERE + CASE_LINKS,
        cac,
        {
            "requester": requester_of(cac, roles=("mdt_coordinator",)),
            "owner": shelter.public_id,
            "client": survivor.public_id,
            "case": {"reference": reference, "intake_date": clock().date().isoformat()},
            "participants": [cac.member.agency, shelter.public_id],
        },
        now=clock().timestamp(),
    )
    return client.post(CASE_LINKS, content=body, headers=headers)


def test_a_confirmed_link_is_not_moved_to_another_survivor_by_a_second_case_link_request(
    client, db, keys, clock
):
    """Here, confirming a link again with another client is refused (casework.confirm_link:
    409, "already confirmed; it is not changed here"). `owner.case_link` just overwrites
    `link.client_id`: a second signed case-link for the same case and another survivor
    silently moves the shelter's part of the case to that survivor, whose record the
    case's partners are then shown, and the first survivor drops off the case."""
    shelter, cac, (first, second) = _coordinated_elsewhere(db, keys, clock)
    reference = "MDT-2026-RVW001"
    assert _ask_link(client, clock, cac, shelter, reference, first).json()["confirmed"] is True
    clock.advance(seconds=1)
    again = _ask_link(client, clock, cac, shelter, reference, second)
    db.expire_all()
    link = db.exec(
        select(CaseLink)
        .join(Agency, Agency.id == CaseLink.agency_id)
        .where(Agency.public_id == shelter.public_id)
    ).one()
    linked = db.get(Client, link.client_id)
    assert linked.id == first.id, (
        f"the case-link answer was {again.status_code} {again.text}; the shelter's link on "
        f"{reference} now names survivor {linked.reference}, not {first.reference} as confirmed"
    )


def test_a_survivor_already_in_an_open_case_is_not_linked_to_a_second_one_from_elsewhere(
    client, db, keys, clock
):
    """Here a client already linked to an open case is refused for another one
    (casework.confirm_link: "This client is already linked to open case ..."). A signed
    case-link from another node links the same survivor to a second open case without a
    word: two open MDT cases for one survivor, each with its own 14-day clock."""
    shelter, cac, (survivor, _other) = _coordinated_elsewhere(db, keys, clock)
    assert _ask_link(client, clock, cac, shelter, "MDT-2026-RVW002", survivor).json()["confirmed"]
    clock.advance(seconds=1)
    second = _ask_link(client, clock, cac, shelter, "MDT-2026-RVW003", survivor)
    db.expire_all()
    open_cases = db.exec(select(CaseLink).where(CaseLink.client_id == survivor.id)).all()
    assert len(open_cases) == 1, (
        f"the second case-link was answered {second.status_code} {second.text}: survivor "
        f"{survivor.reference} is now linked to {len(open_cases)} open cases"
    )


# -- The roster across a key rotation -------------------------------------------------------


def test_after_the_coordinator_rotates_its_key_the_next_roster_imports_without_re_pinning(
    tmp_path,
):
    """ops/README: "Later rosters (a new member, a rotated key, ...) are signed the same way
    on node A and imported on every node without --coordinator-key: each is checked
    against the coordinator's key in the roster held". After `portal keys rotate` on the
    coordinating node, `roster sign` signs with the new key only (the old one is retired),
    which no member node trusts yet: every member's `roster import` is refused as signed by
    "a key this node does not trust" (exit 1, as for a forged roster) and each operator
    must be told a new key id out of band, or the federation stays on the old roster."""
    from portal.db import unit_of_work
    from portal.federation.roster import RosterError
    from portal.keyring import current_key
    from portal.models import KeyPurpose
    from portal.services import keys as key_service

    import federation_world as fw

    a, b, c = fw.nodes(
        tmp_path, ("http://127.0.0.1:9111", "http://127.0.0.1:9112", "http://127.0.0.1:9113")
    )
    fw.prepare(a, b, c)
    at = fw.now()
    with unit_of_work(a.engine()) as db:  # `portal keys rotate`, then `portal roster sign`
        key_service.rotate_signing_key(
            db, fw.agency_named(db, fw.CAC), keys=a.keys, actor=None, at=at
        )
    with unit_of_work(a.engine()) as db:
        cac = fw.agency_named(db, fw.CAC)
        held = membership.held(db)[1]
        signed = membership.sign_roster(
            db, cac, membership.entries_json(list(held.members)), node=a.url, keys=a.keys, at=at
        )
    with unit_of_work(b.engine()) as db:
        try:
            result = membership.import_roster(db, signed.to_json().encode(), pin=None, at=at)
        except RosterError as error:
            pytest.fail(f"node B refused the coordinator's next roster after a rotation: {error}")
    assert result.version == 2
    # The old key vouched for the new one: the roster after is signed with the new key,
    # names the old one retired, and imports as any other.
    with unit_of_work(a.engine()) as db:
        cac = fw.agency_named(db, fw.CAC)
        held = membership.held(db)[1]
        after = membership.sign_roster(
            db, cac, membership.entries_json(list(held.members)), node=a.url, keys=a.keys, at=at
        )
        newest = current_key(db, cac.id, KeyPurpose.SIGNING)
    assert after.key_id == newest.key_id != signed.key_id
    with unit_of_work(b.engine()) as db:
        assert membership.import_roster(db, after.to_json().encode(), pin=None, at=at).version == 3


def test_a_case_link_with_an_intake_in_year_9999_is_refused_not_kept_to_break_the_dashboard(
    client, app, db, keys, clock
):
    """`owner._case_facts` takes any ISO date for the intake (and the convening due date),
    where forms and the API hold dates to the date window. A signed case-link with intake
    9999-12-31 is confirmed and its mirror kept; from then on the owner's own dashboard
    (cases.cases_for_agency: intake + 14 days) and the case's summary are a 500 for every
    one of the shelter's staff."""
    from portal.models import MdtCase

    shelter, cac, (survivor, _other) = _coordinated_elsewhere(db, keys, clock)
    make.user(db, shelter, Role.CASE_MANAGER, username="rv.shelter.cm")
    db.commit()
    body, headers = signed_request(
        HERE + CASE_LINKS,
        cac,
        {
            "requester": requester_of(cac, roles=("mdt_coordinator",)),
            "owner": shelter.public_id,
            "client": survivor.public_id,
            "case": {"reference": "MDT-9999-RVW004", "intake_date": "9999-12-31"},
            "participants": [],
        },
        now=clock().timestamp(),
    )
    answer = client.post(CASE_LINKS, content=body, headers=headers)
    with TestClient(
        app, base_url="http://testserver", follow_redirects=False, raise_server_exceptions=False
    ) as staff:
        make.login(staff, "rv.shelter.cm")
        dashboard = staff.get("/")
    db.expire_all()
    kept = db.exec(select(MdtCase).where(MdtCase.reference == "MDT-9999-RVW004")).first()
    assert answer.status_code == 400 and kept is None, (
        f"a case-link with intake 9999-12-31 was answered {answer.status_code} {answer.text}, "
        f"its mirror kept ({kept is not None}); the shelter's dashboard is now "
        f"{dashboard.status_code}"
    )


# -- An owner elsewhere, as a real HTTP server on 127.0.0.1 ---------------------------------


class _FakeNode:
    """A member's node on 127.0.0.1 that answers every signed request with `answer_of(payload)`,
    its answer signed with the member's own key for that very request (so it verifies)."""

    def __init__(self, clock, answer_of) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from portal.federation.signatures import Message

        node = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                sender = node.sender
                request = Message.request_of(
                    "POST", sender.member.node + self.path, dict(self.headers.items())
                )
                answer = answer_of(json.loads(body))
                if isinstance(answer, int):  # a refusal, as endpoints._refused sends it
                    payload = json.dumps(
                        {
                            "error": "stale",
                            "message": "the signature's creation time is "
                            "outside the accepted window (90 s old; the window is 60 s)",
                        }
                    ).encode()
                    self.send_response(answer)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("WWW-Authenticate", 'Signature realm="federation"')
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                payload = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
                headers = transport.signed_response_headers(
                    request,
                    200,
                    payload,
                    key_id=sender.key_id,
                    signing_key=sender.signing_key,
                    now=clock().timestamp(),
                )
                self.send_response(200)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.sender = None
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _released_row(payload: dict, row: dict) -> dict:
    return {
        "case": payload["case"],
        "answers": [
            {
                "owner": owner,
                "decisions": [
                    {
                        "section": "placement_housing",
                        "decision": "released",
                        "content": {
                            "rows": [row],
                            "version": 1,
                            "saved_at": "2026-11-01T10:00:00+00:00",
                        },
                        "release_ref": None,
                        "policy_rule": None,
                        "role": None,
                        "legal_basis": None,
                    }
                ],
            }
            for owner in payload["owners"]
        ],
    }


ODD_ANSWERS = {
    # A "domains" row holding text, not an object (a node on another version).
    "domains-as-text": lambda p: _released_row(
        p, {"label": "Needs", "type": "domains", "value": "shelter, food"}
    ),
    # A 5,000-digit number: json.loads raises ValueError, not JSONDecodeError.
    "5000-digit-number": lambda p: b'{"answers": ' + b"9" * 5000 + b"}",
    # Nested 100,000 deep: RecursionError.
    "deep-nesting": lambda p: b'{"answers": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
}


def _as_coordinator(app, db, clock, made, username, paths, *, timeout_seconds=5.0):
    """The case's coordinator signed in on this node, whose federation is a fresh one on the
    test's clock, reading `paths` (a server error is answered as a page, not raised)."""
    from portal.federation.transport import Federation

    cac = db.get(Agency, made.case.coordinating_agency_id)
    make.user(db, cac, Role.MDT_COORDINATOR, username=username)
    db.commit()
    app.state.federation.close()
    app.state.federation = Federation(
        timeout_seconds=timeout_seconds, window_seconds=60, clock=clock
    )
    with TestClient(
        app, base_url="http://testserver", follow_redirects=False, raise_server_exceptions=False
    ) as browser:
        make.login(browser, username)
        return [browser.get(path) for path in paths]


@pytest.mark.parametrize("odd", list(ODD_ANSWERS))
def test_an_owner_elsewhere_whose_answer_does_not_read_shows_unavailable_not_a_500_page(
    app, db, keys, clock, odd
):
    """DESIGN.md: an owner elsewhere that is down, slow or whose answer does not verify
    shows as unavailable, "never as an error page". A signed answer that verifies but does
    not read breaks the whole case summary (500) for the coordinator, the other owners'
    sections with it: `wire.decision_from` checks a released row's label only, so a
    "domains" row holding text reaches the template (`value.items()`); and
    `transport.check_response` catches JSONDecodeError only, so a 5,000-digit number
    (ValueError) or deep nesting (RecursionError) escapes `Federation._one`."""

    def answer_of(payload: dict):
        if "case" not in payload:  # the dashboard's referral question
            return {"answers": []}
        return ODD_ANSWERS[odd](payload)

    node = _FakeNode(clock, answer_of)
    try:
        made = shelter_case(db, keys, clock, here_node=HERE, there_node=node.url)
        node.sender = made.welfare
        (page,) = _as_coordinator(
            app, db, clock, made, "rv.coordinator", [f"/cases/{made.case.public_id}/summary"]
        )
    finally:
        node.close()
    assert page.status_code == 200, (
        f"the case summary was a {page.status_code} because one owner elsewhere answered {odd}"
    )
    assert f"Unavailable from {made.welfare.member.name}" in page.text


def test_a_roster_node_address_with_a_port_past_65535_shows_the_owner_unavailable_not_a_500(
    app, db, keys, clock
):
    """`roster.node_url` checks scheme and host only, so a member at
    http://127.0.0.1:99999 (a typo in an entry) is signed and taken into force. The client
    for other nodes then raises an ExceptionGroup (OverflowError: port must be 0-65535),
    which `Federation._one` does not catch (HTTPError and OSError only): the gather fails
    and the coordinator's case summary is a 500, not "Unavailable from ..."."""

    made = shelter_case(db, keys, clock, here_node=HERE, there_node="http://127.0.0.1:99999")
    dashboard, page = _as_coordinator(
        app,
        db,
        clock,
        made,
        "rv.coordinator2",
        ["/", f"/cases/{made.case.public_id}/summary"],
        timeout_seconds=0.5,
    )
    assert (page.status_code, dashboard.status_code) == (200, 200), (
        f"with a member at port 99999 in the roster, the case summary is a {page.status_code} "
        f"and the coordinator's dashboard a {dashboard.status_code}"
    )
    assert f"Unavailable from {made.welfare.member.name}" in page.text


@pytest.mark.parametrize(
    "name",
    [
        "Review Coordinating CAC (synthetic)\u200b",  # a zero-width space after the name
        "Review Coordinating\u0000CAC (synthetic)",
        "Review Police \u001b[2J\u001b[H(synthetic)",  # clears the operator's terminal
    ],
    ids=["zero-width-space", "nul", "terminal-escape"],
)
def test_the_roster_refuses_a_member_name_with_invisible_or_control_characters(
    db, keys, clock, name
):
    """`roster._text` takes any characters and `parse` compares names by casefold only: an
    entry sent by a member node as "Review Coordinating CAC (synthetic)" plus a zero-width
    space is signed next to the real coordinating CAC, and every node shows two agencies
    with the same name (in a release's recipient list a survivor may name the wrong one). A
    NUL is signed too (PostgreSQL cannot store it: the import then fails with a driver
    error), and so is a terminal escape, which `portal roster list` prints as is."""
    from portal.federation.roster import RosterError

    coordinator = make.agency(db, keys, name="Review Coordinating CAC (synthetic)")
    impostor = elsewhere(name, node=THERE, kind="system", discipline="law_enforcement")
    try:
        signed = membership.sign_roster(
            db,
            coordinator,
            membership.entries_json([impostor.member]),
            node=HERE,
            keys=keys,
            at=clock(),
        )
    except RosterError:
        return
    except Exception as error:
        pytest.fail(f"a member named {name!r} failed with {type(error).__name__}: {error}")
    shown = sorted(m.name for m in signed.roster.members)
    pytest.fail(f"the coordinating node signed a roster whose members are named {shown!r}")


# -- portal roster sign: one line, never "unexpected ... report it" -------------------------


@pytest.mark.parametrize(
    "content",
    [
        b"[" + b"1" * 5000 + b"]",
        b"[" * 100_000 + b"]" * 100_000,
        None,  # a whole member entry whose name holds a lone surrogate
    ],
    ids=["5000-digit-number", "deep-nesting", "lone-surrogate"],
)
def test_roster_sign_reads_a_bad_members_file_in_one_line(tmp_path, monkeypatch, capsys, content):
    """`cmd_sign` catches JSONDecodeError only (roster import goes through
    consent.load_envelope, which catches all three): a members file with a 5,000-digit
    number (ValueError), nesting 100,000 deep (RecursionError) or a lone surrogate in a
    name (CanonicalFormError when signing) ends in "error: unexpected ...; report it",
    exit 3."""
    from test_roster_cli import Nodes

    from portal.cli import main as cli

    nodes = Nodes(tmp_path, monkeypatch)
    nodes.make("a", "Review Sign CAC (synthetic)", "community", "advocacy")
    nodes.use("a")
    members = tmp_path / "members.json"
    if content is None:
        entry = elsewhere("Review Police \ud800 (synthetic)", node=THERE).member
        content = json.dumps(membership.entries_json([entry])).encode()
    members.write_bytes(content)
    capsys.readouterr()
    status = cli.main(
        [
            "roster",
            "sign",
            str(members),
            "--coordinator",
            "Review Sign CAC (synthetic)",
            "--node",
            "http://127.0.0.1:9101",
        ]
    )
    err = capsys.readouterr().err
    assert status == 2 and "unexpected" not in err, f"exit {status}: {err.strip()}"


def test_an_owner_node_refusing_our_request_is_not_shown_as_an_unsigned_request(
    app, db, keys, clock
):
    """When the owner's node refuses this node's request (401: stale, because the clocks
    differ; unknown key, after a rotation the roster does not list yet) its refusal is
    unsigned, and `transport.check_response` words every unverified answer with the
    refusal's words for a *request*: the coordinator's page says "its node's answer did
    not verify: the request carries no HTTP message signature", which is untrue (this
    node signed it) and hides that the other node refused it, and why."""

    node = _FakeNode(clock, lambda payload: 401 if "case" in payload else {"answers": []})
    try:
        made = shelter_case(db, keys, clock, here_node=HERE, there_node=node.url)
        node.sender = made.welfare
        (page,) = _as_coordinator(
            app, db, clock, made, "rv.coordinator3", [f"/cases/{made.case.public_id}/summary"]
        )
    finally:
        node.close()
    assert page.status_code == 200
    shown = page.text.split(f"Unavailable from {made.welfare.member.name}: ")[1].split(".")[0]
    assert "request carries no" not in shown and "did not accept this node" in shown, (
        f"the page says: Unavailable from {made.welfare.member.name}: {shown}"
    )
