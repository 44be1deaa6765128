"""`/federation/v1`: what a node answers other nodes, each request signed (RFC 9421).

A request is refused with a 401 and a JSON body that names the reason (unsigned, bad
signature, unknown key, stale, replayed, signed by an agency hosted here, ...) before
anything else is read. An accepted
one is answered in one transaction of the owner's and signed with the answering agency's
key; every answer is `Cache-Control: no-store`: the receiving node shows it and keeps
nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal import edge_checks as edge
from portal import untrusted_json
from portal.auth.permissions import Permission
from portal.db import commit
from portal.errors import DomainError
from portal.federation import owner, transport, wire
from portal.federation.signatures import Refusal, SignatureRefused

Handler = Callable[..., owner.Answer]


def _plain(status: int, payload: dict) -> Response:
    return Response(
        json.dumps(payload).encode(),
        status_code=status,
        media_type=transport.JSON,
        headers={"Cache-Control": "no-store"},
    )


def _refused(refused: SignatureRefused) -> Response:
    response = _plain(401, {"error": str(refused.refusal), "message": refused.detail})
    response.headers["WWW-Authenticate"] = 'Signature realm="federation"'
    return response


def federation_route(
    path: str,
    handler: Handler,
    *,
    discloses: bool = False,
    minors: bool = False,
    asks: bool = False,
    throttled: bool = False,
) -> Route:
    """`discloses`: the handler answers at a disclosure point, and is given the agencies'
    keys and the MDT's time zone besides the time. `minors`: it decides who is a minor, and
    is given this node's age of majority. `asks`: it asks other nodes before it answers (an
    MDT record's consent from survivors served elsewhere; who takes part, told to owners
    elsewhere), and is given the node's federation client. `throttled`: each request sets
    this node to work for every owner, and one agency's are heard only so many in a window
    (`portal.federation.throttle`); past it, a 429 with Retry-After."""

    async def endpoint(request: Request) -> Response:
        length = request.headers.get("content-length")
        if length and (not length.isdecimal() or int(length) > transport.MAX_BODY_BYTES):
            return _plain(413, {"error": "too_large", "message": "the body is too large"})
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > transport.MAX_BODY_BYTES:
                return _plain(413, {"error": "too_large", "message": "the body is too large"})
        return await run_in_threadpool(
            _serve, request, handler, body, discloses, minors, asks, throttled
        )

    endpoint.permission = Permission.NODE_SIGNED
    endpoint.__name__ = handler.__name__
    return Route(transport.PREFIX + path, endpoint, methods=["POST"])


def _serve(
    request: Request,
    handler: Handler,
    body: bytes,
    discloses: bool,
    minors: bool = False,
    asks: bool = False,
    throttled: bool = False,
) -> Response:
    state = request.app.state
    settings = state.settings
    window = settings.federation_window_seconds
    now = settings.clock()
    with state.open_session() as db:
        roster, local_url = transport.roster_and_url(db)
        try:
            caller = transport.accept_request(
                roster,
                local_url=local_url,
                path=request.url.path,
                query=request.url.query,
                headers=request.headers,
                body=body,
                now=now.timestamp(),
                window_seconds=window,
            )
            # Remembered in the answer's own transaction: the same request sent twice at
            # once meets the unique nonce, and the second waits for the first, then fails.
            transport.remember_nonce(db, caller.key_id, caller.nonce, at=now, window_seconds=window)
        except SignatureRefused as refused:
            db.rollback()
            return _refused(refused)
        try:
            transport.refuse_local_sender(db, caller, local_url=local_url)
        except SignatureRefused as refused:
            _keep_only_the_nonce(db, caller, at=now, window_seconds=window)
            return _refused(refused)
        # Judged once the signature is: an unsigned caller learns nothing of what is taken.
        if request.headers.get("content-type", "").split(";")[0].strip() != transport.JSON:
            _keep_only_the_nonce(db, caller, at=now, window_seconds=window)
            return _plain(415, {"error": "unsupported", "message": "send the body as JSON"})
        # Counted by the signer's agency, once its signature is accepted: nobody else can
        # use up an agency's count.
        if throttled and (wait := state.notice_throttle.wait(db, caller.member.agency)):
            _keep_only_the_nonce(db, caller, at=now, window_seconds=window)
            return _too_many(wait)
        try:
            payload = _read(body)
            if not isinstance(payload, dict):
                raise wire.WireError("the body must be a JSON object")
            if (unstorable := edge.unstorable_field(payload)) is not None:
                raise wire.WireError(
                    f"{unstorable}: text no database can store (NUL or a lone surrogate)"
                )
            options = {"at": now}
            if discloses:
                options |= {"keys": state.keys, "tz": settings.tz}
            if minors:
                options |= {"age_of_majority": settings.age_of_majority}
            if asks:
                options |= {"federation": state.federation}
                # The nonce stands before the handler asks another node (issue 15): its
                # insert, held meanwhile, would hold this node's writers (SQLite) for as
                # long as that node takes. Sent again, the request is still refused.
                commit(db)
            answered = handler(db, caller, payload, **options)
        except SignatureRefused as refused:
            _keep_only_the_nonce(db, caller, at=now, window_seconds=window)
            return _refused(refused)
        except (UnicodeDecodeError, json.JSONDecodeError, wire.WireError) as problem:
            _keep_only_the_nonce(db, caller, at=now, window_seconds=window)
            return _plain(400, {"error": "bad_request", "message": str(problem)})
        except DomainError as problem:
            _keep_only_the_nonce(db, caller, at=now, window_seconds=window)
            return _plain(problem.status_code, {"error": "refused", "message": str(problem)})
        content = json.dumps(answered.payload, separators=(",", ":")).encode()
        key_id, signing_key = transport.signing_key_of(db, answered.agency, keys=state.keys)
        # Signed before the commit: an answer that cannot be signed leaves nothing written
        # (no decision logged as made for a caller that never receives it).
        headers = transport.signed_response_headers(
            caller.request,
            answered.status,
            content,
            key_id=key_id,
            signing_key=signing_key,
            now=now.timestamp(),
        )
        commit(db)
    return Response(content, status_code=answered.status, headers=headers)


def _too_many(wait: int) -> Response:
    response = _plain(
        429,
        {"error": "too_many", "message": f"too many from this agency: try again in {wait} s"},
    )
    response.headers["Retry-After"] = str(wait)
    return response


def _read(body: bytes):
    try:
        return untrusted_json.loads(body)
    except json.JSONDecodeError:
        raise
    except ValueError:  # a number past the digit limit, nesting too deep
        raise wire.WireError(
            "the body holds a number too long or nesting too deep to read"
        ) from None


def _keep_only_the_nonce(db, caller, *, at, window_seconds: float) -> None:
    """A request refused after its signature was accepted: whatever it wrote is dropped,
    and its nonce is kept, so the same signed bytes sent again within the window are
    refused as replayed, not served again (on a state that may have changed since)."""
    db.rollback()
    try:
        transport.remember_nonce(
            db, caller.key_id, caller.nonce, at=at, window_seconds=window_seconds
        )
        commit(db)
    except SignatureRefused:  # the same request, sent twice at once: the other keeps it
        db.rollback()


def federation_routes() -> list[Route]:
    return [
        federation_route("/disclosures", owner.disclosures, discloses=True, asks=True),
        # Given the agencies' keys: the owner opens its releases to answer.
        federation_route("/case-links", owner.case_link, discloses=True),
        federation_route("/case-participants", owner.case_participants),
        # Given the agencies' keys: the coordinating agency signs the voucher it answers.
        federation_route("/participation", owner.participation_voucher, discloses=True),
        federation_route("/participation-told", owner.participation_told, discloses=True),
        # An agency elsewhere's part in a case changed: the coordinator tells owners again.
        federation_route(
            "/participation-changed",
            owner.participation_changed,
            discloses=True,
            asks=True,
            throttled=True,
        ),
        # A case's tasks assigned to an agency elsewhere, asked by that agency's node.
        federation_route("/assigned-tasks", owner.assigned_tasks, discloses=True, asks=True),
        # An MDT record's consent from a survivor served here, asked by the coordinator.
        federation_route("/case-consent", owner.case_consent, discloses=True),
        # issue 20
        federation_route("/mdt-referrals", owner.mdt_referrals, discloses=True, minors=True),
    ]


__all__ = ["Refusal", "federation_routes"]
