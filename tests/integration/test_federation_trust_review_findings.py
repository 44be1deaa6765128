"""Findings of an adversarial review of the node-to-node layer (portal/federation/): what
a roster member's node could make another node believe, write or show beyond what the
roster and the owner allow. Each test failed before its fix. Synthetic data only; the
owner's node is the app under test, the other node a key held by the test (as
tests/federation_helpers.py builds it)."""

from __future__ import annotations

import json
import uuid
from zoneinfo import ZoneInfo

from sqlmodel import select

from portal.audit import AuditTag, DisclosureFacts, record
from portal.models import AuditEntry, Role
from portal.requester import Requester
from portal.services import audit_log

import factories as make
from federation_helpers import requester_of, shelter_case, signed_request

HERE = "http://127.0.0.1:9101"
THERE = "http://127.0.0.1:9102"
DISCLOSURES = "/federation/v1/disclosures"
TZ = ZoneInfo("UTC")


def _requester(sender, *, user=None, roles=("case_manager",)) -> dict:
    return requester_of(sender, roles, user=user)


def _post(client, clock, sender, path, payload):
    body, headers = signed_request(HERE + path, sender, payload, now=clock().timestamp())
    return client.post(path, content=body, headers=headers)


# -- 1. A remote node names a local staff member as the person who asked -------------------


def test_a_node_elsewhere_naming_one_of_our_staff_as_its_asker_is_refused(client, db, keys, clock):
    """`user` in another node's request is its word for its own staff. Every request this
    node sends names its asker's public id, so a partner's node can learn our staff's ids;
    naming one of them as its own asker is refused at the door, and nothing is decided."""
    made = shelter_case(db, keys, clock, here_node=HERE, there_node=THERE)
    framed = make.user(db, made.shelter, Role.CASE_MANAGER, username="framed_staff")
    db.commit()
    before = len(db.exec(select(AuditEntry)).all())
    answer = _post(
        client,
        clock,
        made.welfare,
        DISCLOSURES,
        {
            "requester": _requester(made.welfare, user=framed.public_id),
            "case": made.case.reference,
            "owners": [made.shelter.public_id],
            "sections": ["placement_housing"],
        },
    )
    assert (answer.status_code, answer.json()["error"]) == (401, "wrong_sender")
    assert "of this node" in answer.json()["message"]
    db.expire_all()
    assert len(db.exec(select(AuditEntry)).all()) == before
    # Its own staff member's id is still taken at its word.
    answer = _post(
        client,
        clock,
        made.welfare,
        DISCLOSURES,
        {
            "requester": _requester(made.welfare, user=str(uuid.uuid4())),
            "case": made.case.reference,
            "owners": [made.shelter.public_id],
            "sections": ["placement_housing"],
        },
    )
    assert answer.status_code == 200, answer.text


def test_the_log_names_a_person_only_as_one_of_the_agency_that_asked(db, keys, clock):
    """An entry that says another agency asked, with one of our staff's public ids as its
    asker (written before the door refused that, or by a node that hosts both), shows no
    name of ours: the lead's "who saw what of ours" page and a search by our colleague's
    username do not put what that agency was shown on our colleague."""
    made = shelter_case(db, keys, clock, here_node=HERE, there_node=THERE)
    framed = make.user(db, made.shelter, Role.CASE_MANAGER, username="framed_staff")
    welfare_ref = made.welfare.member.agency
    record(
        db,
        AuditTag.DISCLOSURE_RELEASED,
        agency_id=made.shelter.id,
        actor=Requester(THERE, welfare_ref, "system", framed.public_id, frozenset()),
        subject=made.case.reference,
        at=clock(),
        disclosure=DisclosureFacts(
            case_ref=made.case.reference,
            client_ref=None,
            section_key="placement_housing",
            purpose="mdt_case_review",
            decision="released",
        ),
    )
    record(
        db,
        AuditTag.DISCLOSURE_RELEASED,
        agency_id=made.shelter.id,
        actor=framed,
        subject=made.case.reference,
        at=clock(),
    )
    db.commit()
    page = audit_log.search(db, made.shelter, audit_log.AuditFilters(), tz=TZ)
    named = {row.entry.actor_agency_ref: (row.actor_name, row.actor_username) for row in page.rows}
    assert named[welfare_ref] == (None, None)
    assert named[made.shelter.public_id] == (framed.display_name, "framed_staff")
    by_user = audit_log.search(db, made.shelter, audit_log.AuditFilters(user="framed_staff"), tz=TZ)
    assert {row.entry.actor_agency_ref for row in by_user.rows} == {made.shelter.public_id}


# -- 2. A signed request whose filters hold a list is a 500, and can be sent again ------------


def test_assigned_tasks_with_a_status_that_is_not_text_is_a_400_not_a_500(lenient, db, keys, clock):
    """`wire.task_filter_from` tests `status not in {"", "all", ...}`: a status sent as a
    list (or an object) is unhashable, the TypeError is no WireError, and the owner's node
    answers a 500 HTML page instead of the clear 400 every other malformed field gets (the
    caller's node shows "HTTP 500", and the node's error log fills with a traceback per
    request from a partner). The same bytes sent again must still be refused as replayed."""
    made = shelter_case(db, keys, clock, here_node=HERE, there_node=THERE)
    path = "/federation/v1/assigned-tasks"
    body, headers = signed_request(
        HERE + path,
        made.welfare,
        {
            "requester": _requester(made.welfare),
            "case": made.case.reference,
            "filters": {"status": ["open"]},
        },
        now=clock().timestamp(),
    )
    first = lenient.post(path, content=body, headers=headers)
    again = lenient.post(path, content=body, headers=headers)
    assert first.status_code == 400, (
        f"a status sent as a list was answered {first.status_code} "
        f"{first.headers.get('content-type')}; sent again, {again.status_code}"
    )
    assert (again.status_code, again.json().get("error")) == (401, "replayed")


# -- 3. A request signed under another label than sig1: served, then a 500 -------------------


def test_a_request_signed_under_another_label_is_refused_before_it_is_served(
    lenient, db, keys, clock
):
    """RFC 9421 lets a signer name its label; `signatures.verify` accepts any label, but the
    answer's signature covers `"signature";req;key="sig1"` (RESPONSE_COMPONENTS), fixed.
    A request signed as `x=` is verified, served and committed (the owner's point decides
    and writes its log), then signing the answer raises: the caller gets a 500 page, the
    owner's log says it disclosed or withheld sections to a partner that never received
    them, and whatever the endpoint changed (a link confirmed, a part withdrawn) stands."""
    from portal.federation import signatures as sig

    made = shelter_case(db, keys, clock, here_node=HERE, there_node=THERE)
    payload = {
        "requester": _requester(made.welfare),
        "case": made.case.reference,
        "owners": [made.shelter.public_id],
        "sections": ["placement_housing"],
    }
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "Content-Digest": sig.content_digest(body)}
    signed = sig.sign(
        sig.Message.request_of("POST", HERE + DISCLOSURES, headers),
        components=sig.REQUEST_COMPONENTS,
        key_id=made.welfare.key_id,
        signing_key=made.welfare.signing_key,
        created=int(clock().timestamp()),
        nonce="a-nonce-of-the-test-0001",
        label="x",
    )
    before = len(db.exec(select(AuditEntry)).all())
    answer = lenient.post(DISCLOSURES, content=body, headers={**headers, **signed.headers()})
    db.expire_all()
    assert len(db.exec(select(AuditEntry)).all()) == before, "nothing decided, nothing logged"
    assert (answer.status_code, answer.json()["error"]) == (401, "malformed_signature")
    assert "no signature is labelled 'sig1'" in answer.json()["message"]


# -- 4. A voucher that does not hold tells a stranger that a case exists here ----------------


def test_a_stranger_cannot_tell_a_real_case_from_none_by_the_voucher_it_sends(
    client, db, keys, clock
):
    """`owner.disclosures` checks a `participation` voucher only when the case is known
    here (`case.id is not None`), and a voucher that does not hold is a 400. So a node not
    on a case, sending any made-up voucher with its request, is answered 400 for a
    reference this node holds and 200 (every section "not linked") for one it does not:
    the oracle `test_a_node_not_on_a_case_cannot_tell_a_real_case_with_a_lapsed_release_
    from_none` closed for the gates, reopened by the voucher. Where the owner's node holds
    a case only as a mirror (one of its agencies confirmed a survivor on it), a 400 says
    that an agency of that node serves a survivor on the case: for a community-based
    agency alone on its node, the fact of service VAWA protects."""
    from portal.federation import membership

    from federation_helpers import elsewhere

    cac = make.agency(db, keys, name="Voucher Oracle CAC (synthetic)")
    stranger = elsewhere("Voucher Oracle Police Elsewhere (synthetic)", node=THERE, kind="system")
    membership.sign_roster(
        db, cac, membership.entries_json([stranger.member]), node=HERE, keys=keys, at=clock()
    )
    case = make.mdt_case(db, cac)
    db.commit()
    junk = {
        "claim": {"case": "x", "agency": "x", "coordinator": "x", "until": "x"},
        "key_id": "x",
        "signature": "x",
    }

    def answered(reference: str) -> tuple[int, object]:
        answer = _post(
            client,
            clock,
            stranger,
            DISCLOSURES,
            {
                "requester": _requester(stranger, roles=("investigator",)),
                "case": reference,
                "owners": [cac.public_id],
                "sections": ["mdt_decisions"],
                "participation": junk,
            },
        )
        body = answer.json()
        gate = body["answers"][0]["decisions"][0]["gate"] if answer.status_code == 200 else None
        return answer.status_code, gate or body.get("message")

    real, made_up = answered(case.reference), answered("MDT-2026-NOSUCH")
    assert real == made_up, (
        f"a stranger sending a made-up voucher is answered {real} for {case.reference} and "
        f"{made_up} for a reference no case has"
    )
