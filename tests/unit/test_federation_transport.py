"""The requester's side of a signed exchange: an answer counts only when the owner asked
signed it for this very request; a slow owner is unavailable, not an error (issue 16)."""

from __future__ import annotations

import asyncio
import json

import httpx2
import pytest
from nacl.signing import SigningKey

from portal.federation import transport
from portal.federation.signatures import Message
from portal.federation.transport import Call, Federation, Unavailable

from federation_helpers import elsewhere

NOW = 1_790_000_000.0
TARGET = "http://127.0.0.1:9102/federation/v1/disclosures"


def _exchange(owner_key: SigningKey, owner_kid: str, content=b'{"owner": "x"}'):
    asking = SigningKey.generate()
    headers = transport.signed_request_headers(
        TARGET, b"{}", key_id="asker:0001", signing_key=asking, now=NOW
    )
    request = Message.request_of("POST", TARGET, headers)
    answer_headers = transport.signed_response_headers(
        request, 200, content, key_id=owner_kid, signing_key=owner_key, now=NOW
    )
    return request, answer_headers


def test_an_answer_signed_by_the_owner_for_this_request_is_taken():
    owner = elsewhere("Clinic (synthetic)")
    request, headers = _exchange(owner.signing_key, owner.key_id)
    answer = transport.check_response(
        (owner.member,), request, 200, headers, b'{"owner": "x"}', window_seconds=30, now=NOW
    )
    assert answer == {"owner": "x"}
    assert headers["Cache-Control"] == "no-store"


def test_a_tampered_a_foreign_or_a_misdirected_answer_is_unavailable():
    owner = elsewhere("Clinic (synthetic)")
    other = elsewhere("Other (synthetic)")
    request, headers = _exchange(owner.signing_key, owner.key_id)
    with pytest.raises(Unavailable, match=r"does not match its Content-Digest"):
        transport.check_response(
            (owner.member,), request, 200, headers, b'{"owner": "y"}', window_seconds=30, now=NOW
        )
    # Signed by another member of the roster: not the owner that was asked.
    request, headers = _exchange(other.signing_key, other.key_id)
    with pytest.raises(Unavailable, match="did not verify"):
        transport.check_response(
            (owner.member,), request, 200, headers, b'{"owner": "x"}', window_seconds=30, now=NOW
        )
    # The owner's answer to one request, replayed as the answer to another.
    request, headers = _exchange(owner.signing_key, owner.key_id)
    another, _ = _exchange(owner.signing_key, owner.key_id)
    with pytest.raises(Unavailable, match="did not verify"):
        transport.check_response(
            (owner.member,), another, 200, headers, b'{"owner": "x"}', window_seconds=30, now=NOW
        )
    # Unsigned, and stale.
    with pytest.raises(Unavailable):
        transport.check_response(
            (owner.member,), request, 200, {}, b'{"owner": "x"}', window_seconds=30, now=NOW
        )
    request, headers = _exchange(owner.signing_key, owner.key_id)
    with pytest.raises(Unavailable, match="outside the accepted window"):
        transport.check_response(
            (owner.member,),
            request,
            200,
            headers,
            b'{"owner": "x"}',
            window_seconds=30,
            now=NOW + 60,
        )


def test_a_slow_owner_is_unavailable_after_the_timeout_and_the_others_answer():
    slow = elsewhere("Slow (synthetic)", node="http://slow.test")
    quick = elsewhere("Quick (synthetic)", node="http://quick.test")

    async def sleeper(scope, receive, send):
        await asyncio.sleep(60)  # cut off at the timeout

    async def refuser(scope, receive, send):
        await send({"type": "http.response.start", "status": 401, "headers": []})
        await send({"type": "http.response.body", "body": json.dumps({"e": 1}).encode()})

    federation = Federation(
        timeout_seconds=2,  # the quick refusal must come within it, however loaded
        window_seconds=30,
        mounts={
            "http://slow.test": httpx2.ASGITransport(app=sleeper),
            "http://quick.test": httpx2.ASGITransport(app=refuser),
        },
    )
    key = SigningKey.generate()
    try:
        results = federation.send(
            [
                Call((slow.member,), "/federation/v1/disclosures", {}, "asker:1", key),
                Call((quick.member,), "/federation/v1/disclosures", {}, "asker:1", key),
            ]
        )
    finally:
        federation.close()
    assert isinstance(results[0], Unavailable) and "in time" in str(results[0])
    # An unsigned refusal is said as one: the node refused our signature (not "unsigned").
    assert isinstance(results[1], Unavailable)
    assert str(results[1]) == "its node did not accept this node's signature"


def test_a_nodes_refusal_reads_in_words_not_codes():
    """Staff read "Unavailable from <agency>: <this>": a node past its count of an agency's
    notices answered "refused the request (HTTP 429: too_many)"."""
    from portal.federation.signatures import Refusal
    from portal.federation.transport import refusal_body, refused_words

    too_many = b'{"error": "too_many", "message": "too many from this agency"}'
    assert refused_words(429, {"retry-after": "120"}, too_many) == (
        "its node is taking no more requests from this agency for now; try again in 120 seconds"
    )
    assert refused_words(429, {}, too_many) == (
        "its node is taking no more requests from this agency for now"
    )
    for not_seconds in ("Fri, 04 Dec 2026 10:00:00 GMT", "\u00b2", "99999999"):
        assert refused_words(429, {"retry-after": not_seconds}, b"") == (
            "its node is taking no more requests from this agency for now"
        )
    stale = refusal_body(Refusal.STALE, Refusal.STALE.words)
    assert refused_words(401, {}, stale) == (
        "its node did not accept this node's signature (the signature's creation time is "
        "outside the accepted window)"
    )
    assert refused_words(401, {}, b'{"error": "<b>made up</b>"}') == (
        "its node did not accept this node's signature"
    )
    assert refused_words(404, {}, b"") == "its node holds nothing the request names"
    assert refused_words(418, {}, b"not json") == "its node refused the request (HTTP 418)"


def test_an_answer_larger_than_any_answer_can_be_is_not_read_to_its_end():
    """Another node's answer was read whole into memory, whatever its size: a node (or
    something on the way) could fill this one's. Reading stops past MAX_ANSWER_BYTES, and that
    owner is unavailable."""
    big = elsewhere("Big (synthetic)", node="http://big.test")
    sent = []

    async def flood(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        chunk = b"x" * (1024 * 1024)
        for _ in range(transport.MAX_ANSWER_BYTES // len(chunk) + 4):
            sent.append(len(chunk))
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    federation = Federation(
        timeout_seconds=5,
        window_seconds=30,
        mounts={"http://big.test": httpx2.ASGITransport(app=flood)},
    )
    try:
        (result,) = federation.send(
            [
                Call(
                    (big.member,),
                    "/federation/v1/disclosures",
                    {},
                    "asker:1",
                    SigningKey.generate(),
                )
            ]
        )
    finally:
        federation.close()
    assert isinstance(result, Unavailable) and "larger than any answer" in str(result)
