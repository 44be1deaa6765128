"""RFC 9421 message signatures (Ed25519) and RFC 9530 Content-Digest: the RFC's own test
vector, and interoperability both ways with an independent implementation from PyPI
(`http-message-signatures`, a pinned test dependency)."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import httpx2
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    InvalidSignature,
    MappingKeyResolver,
    algorithms,
)
from http_message_signatures.httpx2 import adapt_message
from nacl.signing import SigningKey

from portal.federation import signatures as sig
from portal.federation.signatures import Message, Refusal, SignatureRefused

# RFC 9421, Appendix B.1.4: the Ed25519 test key ("test-key-ed25519"), as JWK d and x.
RFC_KEY = SigningKey(base64.urlsafe_b64decode("n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU="))
RFC_PUBLIC = base64.urlsafe_b64decode("JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs=")
# Appendix B.2.6: signing a request using ed25519.
RFC_REQUEST = Message.request_of(
    "POST",
    "https://example.com/foo?param=Value&Pet=dog",
    {
        "Host": "example.com",
        "Date": "Tue, 20 Apr 2021 02:07:55 GMT",
        "Content-Type": "application/json",
        "Content-Digest": "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYl"
        "lu7BNNyealdVLvRwEmTHWXvJwew==:",
        "Content-Length": "18",
    },
)
RFC_INPUT = (
    'sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length")'
    ';created=1618884473;keyid="test-key-ed25519"'
)
RFC_SIGNATURE = (
    "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQ"
    "v5lIp5WPpBKRCw==:"
)
RFC_COMPONENTS = (
    '"date"',
    '"@method"',
    '"@path"',
    '"@authority"',
    '"content-type"',
    '"content-length"',
)

NOW = 1_790_000_000
BODY = b'{"case": "MDT-2026-7KQ4XH"}'
URL = "https://node-b.example.org/federation/v1/disclosures"


def test_the_rfc_ed25519_key_is_the_one_of_appendix_b14():
    assert bytes(RFC_KEY.verify_key) == RFC_PUBLIC


def test_rfc_9421_b26_signature_verifies():
    message = Message.request_of(
        RFC_REQUEST.method,
        RFC_REQUEST.target_uri,
        {**RFC_REQUEST.headers, "Signature-Input": RFC_INPUT, "Signature": RFC_SIGNATURE},
    )
    verified = sig.verify(
        message,
        lambda key_id: RFC_KEY.verify_key if key_id == "test-key-ed25519" else None,
        required=RFC_COMPONENTS,
    )
    assert (verified.label, verified.created) == ("sig-b26", 1618884473)


def test_rfc_9421_b26_signature_is_reproduced_byte_for_byte():
    signed = sig.sign(
        RFC_REQUEST,
        components=RFC_COMPONENTS,
        key_id="test-key-ed25519",
        signing_key=RFC_KEY,
        created=1618884473,
        nonce=None,
        label="sig-b26",
        with_alg=False,
    )
    assert signed.signature_input == RFC_INPUT
    assert signed.signature == RFC_SIGNATURE


def test_a_changed_component_of_the_rfc_vector_fails():
    headers = {**RFC_REQUEST.headers, "Signature-Input": RFC_INPUT, "Signature": RFC_SIGNATURE}
    headers["content-length"] = "19"
    with pytest.raises(SignatureRefused) as refused:
        sig.verify(
            Message.request_of("POST", RFC_REQUEST.target_uri, headers),
            lambda key_id: RFC_KEY.verify_key,
        )
    assert refused.value.refusal is Refusal.BAD_SIGNATURE


def test_content_digest_is_rfc_9530_sha_256():
    # RFC 9530, Appendix B.1's body {"hello": "world"} followed by a line feed.
    assert sig.content_digest(b'{"hello": "world"}\n') == (
        "sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:"
    )
    assert sig.digest_matches("sha-512=:abc=:, " + sig.content_digest(BODY), BODY)
    assert not sig.digest_matches(sig.content_digest(BODY), BODY + b" ")
    assert not sig.digest_matches("sha-512=:" + base64.b64encode(b"x").decode() + ":", BODY)


# -- Ours, as a node sends it ------------------------------------------------------------


def _our_request(key: SigningKey, *, created=NOW, nonce="n-1", body=BODY, url=URL):
    headers = {"Content-Type": "application/json", "Content-Digest": sig.content_digest(body)}
    signed = sig.sign(
        Message.request_of("POST", url, headers),
        components=sig.REQUEST_COMPONENTS,
        key_id="agency-a:0001",
        signing_key=key,
        created=created,
        nonce=nonce,
    )
    return {**headers, **signed.headers()}


def _accept(headers, body=BODY, *, key: SigningKey, now=NOW, url=URL):
    return sig.accept(
        Message.request_of("POST", url, headers),
        body,
        lambda key_id: key.verify_key if key_id == "agency-a:0001" else None,
        now=now,
        window_seconds=30,
        required=sig.REQUEST_COMPONENTS,
    )


def test_our_request_is_accepted_and_names_key_and_nonce():
    key = SigningKey.generate()
    verified = _accept(_our_request(key), key=key)
    assert (verified.key_id, verified.nonce, verified.created) == ("agency-a:0001", "n-1", NOW)


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        (lambda h, b: ({}, b), Refusal.UNSIGNED),
        (lambda h, b: (h, b + b" "), Refusal.DIGEST),  # a tampered body
        (
            lambda h, b: ({**h, "Content-Digest": sig.content_digest(b + b"x")}, b + b"x"),
            Refusal.BAD_SIGNATURE,  # a tampered body with its digest recomputed
        ),
        (lambda h, b: ({**h, "Signature": "sig1=:AAAA:"}, b), Refusal.BAD_SIGNATURE),
        (lambda h, b: ({**h, "Signature-Input": "sig1=(("}, b), Refusal.MALFORMED),
    ],
)
def test_refusals(change, refusal):
    key = SigningKey.generate()
    headers, body = change(_our_request(key), BODY)
    with pytest.raises(SignatureRefused) as refused:
        _accept(headers, body, key=key)
    assert refused.value.refusal is refusal


def test_stale_future_unknown_key_wrong_target_and_no_nonce_are_refused():
    key = SigningKey.generate()
    cases = [
        (_accept, {"now": NOW + 31}, _our_request(key), Refusal.STALE),
        (_accept, {"now": NOW - 31}, _our_request(key), Refusal.STALE),
    ]
    for accept, options, headers, refusal in cases:
        with pytest.raises(SignatureRefused) as refused:
            accept(headers, key=key, **options)
        assert refused.value.refusal is refusal
    # Another node's address in the target: the signature covers it, so it fails.
    with pytest.raises(SignatureRefused) as refused:
        _accept(_our_request(key), key=key, url=URL.replace("node-b", "node-c"))
    assert refused.value.refusal is Refusal.BAD_SIGNATURE
    with pytest.raises(SignatureRefused) as refused:
        _accept(_our_request(key), key=SigningKey.generate())
    assert refused.value.refusal is Refusal.BAD_SIGNATURE
    with pytest.raises(SignatureRefused) as refused:
        sig.accept(
            Message.request_of("POST", URL, _our_request(key)),
            BODY,
            lambda key_id: None,
            now=NOW,
            window_seconds=30,
            required=sig.REQUEST_COMPONENTS,
        )
    assert refused.value.refusal is Refusal.UNKNOWN_KEY
    with pytest.raises(SignatureRefused) as refused:
        _accept(_our_request(key, nonce=None), key=key)
    assert refused.value.refusal is Refusal.INCOMPLETE


def test_a_signature_covering_less_than_required_is_refused():
    key = SigningKey.generate()
    headers = {"Content-Digest": sig.content_digest(BODY)}
    signed = sig.sign(
        Message.request_of("POST", URL, headers),
        components=('"@method"', '"content-digest"'),
        key_id="agency-a:0001",
        signing_key=key,
        created=NOW,
        nonce="n",
    )
    with pytest.raises(SignatureRefused) as refused:
        _accept({**headers, **signed.headers()}, key=key)
    assert refused.value.refusal is Refusal.INCOMPLETE


# -- Interoperability with http-message-signatures ----------------------------------------


def _theirs(key: SigningKey) -> tuple[HTTPMessageSigner, HTTPMessageVerifier]:
    private = Ed25519PrivateKey.from_private_bytes(bytes(key))
    public = Ed25519PublicKey.from_public_bytes(bytes(key.verify_key))
    resolver = MappingKeyResolver(
        public_keys={"agency-a:0001": public}, private_keys={"agency-a:0001": private}
    )
    return (
        HTTPMessageSigner(signature_algorithm=algorithms.ED25519, key_resolver=resolver),
        HTTPMessageVerifier(signature_algorithm=algorithms.ED25519, key_resolver=resolver),
    )


def _library_request(body=BODY) -> httpx2.Request:
    return httpx2.Request(
        "POST",
        URL,
        content=body,
        headers={"Content-Type": "application/json", "Content-Digest": sig.content_digest(body)},
    )


def test_the_library_verifies_our_request_signature():
    key = SigningKey.generate()
    now = int(datetime.now(UTC).timestamp())
    request = _library_request()
    request.headers.update(_our_request(key, created=now))
    _signer, verifier = _theirs(key)
    (result,) = verifier.verify(
        adapt_message(request),
        require_components=("@method", "@target-uri", "content-digest"),
        body=BODY,
    )
    assert result.parameters["keyid"] == "agency-a:0001"
    assert result.parameters["nonce"] == "n-1"
    assert result.parameters["alg"] == "ed25519"
    # And refuses it once the body is changed.
    with pytest.raises(InvalidSignature):
        verifier.verify(adapt_message(request), body=BODY + b" ")


def test_we_verify_the_librarys_request_signature():
    key = SigningKey.generate()
    now = datetime.now(UTC).replace(microsecond=0)
    request = _library_request()
    signer, _verifier = _theirs(key)
    signer.sign(
        adapt_message(request),
        key_id="agency-a:0001",
        created=now,
        nonce="their-nonce",
        label="lib",
        covered_component_ids=("@method", "@target-uri", "content-digest"),
        use_existing_digest=True,
    )
    verified = _accept(dict(request.headers), key=key, now=int(now.timestamp()))
    assert (verified.label, verified.nonce) == ("lib", "their-nonce")


def _response_pair(key: SigningKey, request_headers: dict, *, status=200, body=b'{"ok": true}'):
    request = _library_request()
    request.headers.update(request_headers)
    response = httpx2.Response(
        status,
        content=body,
        headers={"Content-Type": "application/json", "Content-Digest": sig.content_digest(body)},
        request=request,
    )
    return request, response


def test_responses_both_ways_bound_to_the_requests_signature():
    key = SigningKey.generate()
    now = int(datetime.now(UTC).timestamp())
    request_headers = _our_request(key, created=now)
    request, response = _response_pair(key, request_headers)
    ours = Message.request_of("POST", URL, dict(request.headers))
    # Ours, checked by the library.
    signed = sig.sign(
        Message.response_of(200, dict(response.headers), ours),
        components=sig.RESPONSE_COMPONENTS,
        key_id="agency-a:0001",
        signing_key=key,
        created=now,
        nonce="r-1",
    )
    response.headers.update(signed.headers())
    _signer, verifier = _theirs(key)
    verifier.verify(
        adapt_message(response),
        require_components=("@status", '"@target-uri";req', '"signature";req;key="sig1"'),
        body=b'{"ok": true}',
    )
    # The library's, checked by us.
    _request2, response2 = _response_pair(key, request_headers)
    signer, _ = _theirs(key)
    signer.sign(
        adapt_message(response2),
        key_id="agency-a:0001",
        created=datetime.fromtimestamp(now, UTC),
        nonce="r-2",
        covered_component_ids=sig.RESPONSE_COMPONENTS,
        use_existing_digest=True,
    )
    verified = sig.accept(
        Message.response_of(200, dict(response2.headers), ours),
        b'{"ok": true}',
        lambda key_id: key.verify_key,
        now=now,
        window_seconds=30,
        required=sig.RESPONSE_COMPONENTS,
    )
    assert verified.nonce == "r-2"
    # A response replayed for another request (another request signature) fails.
    other = Message.request_of("POST", URL, _our_request(key, created=now, nonce="n-2"))
    with pytest.raises(SignatureRefused) as refused:
        sig.accept(
            Message.response_of(200, dict(response2.headers), other),
            b'{"ok": true}',
            lambda key_id: key.verify_key,
            now=now,
            window_seconds=30,
            required=sig.RESPONSE_COMPONENTS,
        )
    assert refused.value.refusal is Refusal.BAD_SIGNATURE


def test_the_digest_is_sha_256_of_the_exact_bytes():
    assert sig.content_digest(b"") == (
        "sha-256=:" + base64.b64encode(hashlib.sha256(b"").digest()).decode() + ":"
    )
