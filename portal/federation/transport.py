"""Signed HTTP between nodes: who is trusted, signing with an agency's key, sending, and
checking what arrives (requests at the owner, responses at the requester).

Trust is the roster in force: a key is accepted only while the roster lists it as a
current key of an active member, and only for that member's agency and node. Requests are
signed with the requesting agency's key, responses with the answering agency's; no node
holds another agency's private key.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx2 as httpx
from nacl.signing import SigningKey, VerifyKey
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from portal import db as database
from portal import untrusted_json
from portal.crypto import KeyWrapper
from portal.federation import membership
from portal.federation import signatures as sig
from portal.federation.roster import Member, Roster
from portal.federation.signatures import Message, Refusal, SignatureRefused
from portal.keyring import current_key
from portal.models import Agency, FederationNonce, KeyPurpose
from portal.turns import handed_over

_log = logging.getLogger(__name__)

PREFIX = "/federation/v1"
MAX_BODY_BYTES = 256 * 1024
# An answer carries at most a case's sections of one owner (each field a few thousand
# characters at the most): far below this.
MAX_ANSWER_BYTES = 8 * 1024 * 1024
JSON = "application/json"


class Unavailable(Exception):
    """An owner that did not answer, answered late, or whose answer did not verify."""


# -- No lock held across a call (issue 15: writers queue, readers do not wait) ----------
#
# A call waits for another node, up to the federation's timeout. Sent while the caller's
# transaction holds the write lock (SQLite: every writer of this node) or a row lock
# (PostgreSQL: an audit log's head, every writer of that log), a slow node elsewhere would
# hold them all up as long. Every call is checked as it is sent: one that breaks the rule
# is logged at ERROR, with where it was sent from, and still sent (a request is not failed
# for it); where PORTAL_LOCKS_ACROSS_CALLS is "refuse" (the tests, and the nodes they
# start) it raises instead, so that the build fails on it.
LOCKS_ACROSS_CALLS = "PORTAL_LOCKS_ACROSS_CALLS"


class LockHeldAcrossCall(RuntimeError):
    """A call to another node sent while this thread's transaction holds a lock."""


def _check_no_lock_held(calls: list[Call]) -> None:
    held = database.locks_held_here()
    if held is None:
        return
    paths = sorted({call.path for call in calls})
    message = f"a call to another node ({', '.join(paths)}) sent with {held}"
    _log.error("%s: a slow node elsewhere holds up this node's writers", message, stack_info=True)
    if os.environ.get(LOCKS_ACROSS_CALLS) == "refuse":
        raise LockHeldAcrossCall(message)


def current_key_of(roster: Roster, key_id: str) -> tuple[Member, VerifyKey] | None:
    """The member and key for a key id, only while the roster lists it as current."""
    found = roster.key(key_id)
    if found is None or not found[1].current:
        return None
    return found[0], found[1].verify_key


# -- Signing keys, on the sending side ---------------------------------------------------


def signing_key_of(db: Session, agency: Agency, *, keys: KeyWrapper) -> tuple[str, SigningKey]:
    """This node's agency's current signing key (it signs the agency's requests and its
    answers). Unwrapped once per key and process, held by the node's KeyWrapper: a rotation
    here drops it at once (`KeyWrapper.forget`); one by `portal keys rotate`, in a process
    of its own, replaces it here at the next signature."""
    row = current_key(db, agency.id, KeyPurpose.SIGNING)
    return row.key_id, keys.signing_key(agency.public_id, row.key_id, row.wrapped_secret)


def _nonce() -> str:
    return secrets.token_urlsafe(18)


def signed_request_headers(
    target_uri: str, body: bytes, *, key_id: str, signing_key: SigningKey, now: float
) -> dict[str, str]:
    headers = {"Content-Type": JSON, "Content-Digest": sig.content_digest(body)}
    signed = sig.sign(
        Message.request_of("POST", target_uri, headers),
        components=sig.REQUEST_COMPONENTS,
        key_id=key_id,
        signing_key=signing_key,
        created=int(now),
        nonce=_nonce(),
    )
    return {**headers, **signed.headers()}


def signed_response_headers(
    request: Message, status: int, body: bytes, *, key_id: str, signing_key: SigningKey, now: float
) -> dict[str, str]:
    headers = {
        "Content-Type": JSON,
        "Content-Digest": sig.content_digest(body),
        "Cache-Control": "no-store",
    }
    signed = sig.sign(
        Message.response_of(status, headers, request),
        components=sig.RESPONSE_COMPONENTS,
        key_id=key_id,
        signing_key=signing_key,
        created=int(now),
        nonce=_nonce(),
    )
    return {**headers, **signed.headers()}


# -- The owner's side: a request as it arrives -------------------------------------------


@dataclass(frozen=True)
class Caller:
    """Whoever signed an accepted request: a roster member, on its own node."""

    member: Member
    key_id: str
    request: Message
    nonce: str  # the nonce the accepted signature covers (not another label's)


def accept_request(
    roster: Roster | None,
    *,
    local_url: str | None,
    path: str,
    query: str,
    headers,
    body: bytes,
    now: float,
    window_seconds: float,
) -> Caller:
    """Check a request's signature against the roster; raises SignatureRefused. The target
    is rebuilt from this node's own address in the roster (a proxy in front may have
    changed host and scheme), so a request signed for another node fails here."""
    if roster is None or local_url is None:
        raise SignatureRefused(Refusal.UNKNOWN_KEY, "this node holds no roster naming it")
    target = local_url + path + (f"?{query}" if query else "")
    message = Message.request_of("POST", target, headers)
    found: dict[str, Member] = {}

    def resolve(key_id: str) -> VerifyKey | None:
        entry = current_key_of(roster, key_id)
        if entry is None:
            return None
        found[key_id] = entry[0]
        return entry[1]

    verified = sig.accept(
        message,
        body,
        resolve,
        now=now,
        window_seconds=window_seconds,
        required=sig.REQUEST_COMPONENTS,
        # The label the answer's signature binds itself to (`RESPONSE_COMPONENTS`): a
        # request signed under any other was served, its work committed, and then the
        # answer could not be signed (a 500, for decisions the caller never received).
        label=sig.LABEL,
    )
    return Caller(found[verified.key_id], verified.key_id, message, verified.nonce)


def refuse_local_sender(db: Session, caller: Caller, *, local_url: str) -> None:
    """A request signed with the key of an agency this node hosts is refused: its staff go
    through the in-process path (their session, their roles, the owner's policy for them);
    at the federation door the node's own key would speak for any user and any roles."""
    agency = db.exec(select(Agency).where(Agency.public_id == caller.member.agency)).first()
    if caller.member.node == local_url or (agency is not None and membership.is_local(db, agency)):
        raise SignatureRefused(Refusal.LOCAL_SENDER)


def remember_nonce(db: Session, key_id: str, nonce: str, *, at: datetime, window_seconds: float):
    """Refuse a nonce seen before (the caller's own transaction, committed at once).
    Nonces older than twice the window are forgotten: a request that old is stale anyway."""
    db.exec(
        delete(FederationNonce).where(
            FederationNonce.seen_at < at - timedelta(seconds=2 * window_seconds)
        )
    )
    db.add(FederationNonce(key_id=key_id, nonce=nonce[:64], seen_at=at))
    try:
        db.flush()
    except IntegrityError:
        db.rollback()
        raise SignatureRefused(Refusal.REPLAYED) from None


def refusal_body(refusal: Refusal, detail: str) -> bytes:
    return json.dumps({"error": str(refusal), "message": detail}).encode()


# -- The requester's side: sending, and checking the answer ------------------------------


@dataclass(frozen=True)
class Call:
    """One signed request to one node, for one or more owners it hosts: the answer must be
    signed by one of them."""

    owners: tuple[Member, ...]
    path: str
    payload: dict
    key_id: str
    signing_key: SigningKey

    @property
    def node(self) -> str:
        return self.owners[0].node


class Federation:
    """The node's client for other nodes: one `httpx.AsyncClient` (connections reused
    across requests and pages) on an event loop of its own, so page handlers, the CLI and
    benchmarks — plain threads — send to every owner at once and wait for all."""

    def __init__(
        self,
        *,
        timeout_seconds: float,
        window_seconds: float,
        clock: Callable[[], datetime] | None = None,
        mounts: dict | None = None,
    ) -> None:
        self.timeout_seconds = timeout_seconds
        self.window_seconds = window_seconds
        self.clock = clock
        self._mounts = mounts  # other transports by URL prefix (tests: apps in this process)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx.AsyncClient | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _start(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    self._client = httpx.AsyncClient(
                        timeout=self.timeout_seconds,
                        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
                        follow_redirects=False,
                        mounts=self._mounts,
                    )
                    ready.set()
                    loop.run_forever()

                self._thread = threading.Thread(target=run, name="federation", daemon=True)
                self._thread.start()
                ready.wait()
                self._loop = loop
            return self._loop

    def close(self) -> None:
        with self._lock:
            loop, client = self._loop, self._client
            self._loop = self._client = None
        if loop is None:
            return
        if client is not None:
            asyncio.run_coroutine_threadsafe(client.aclose(), loop).result(timeout=5)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def submit(self, calls: list[Call]):
        """Send every call at once; returns a handle whose `results()` waits for them all:
        each an answer (dict) or Unavailable. The caller may work in between."""
        _check_no_lock_held(calls)
        loop = self._start()
        future = asyncio.run_coroutine_threadsafe(self._all(calls), loop)
        deadline = self.timeout_seconds + 5

        class Pending:
            @staticmethod
            def results() -> list[dict | Unavailable]:
                with handed_over():  # the worker serves others meanwhile (portal/turns.py)
                    return future.result(timeout=deadline)

        return Pending()

    def send(self, calls: list[Call]) -> list[dict | Unavailable]:
        return self.submit(calls).results()

    async def _all(self, calls: list[Call]) -> list[dict | Unavailable]:
        return await asyncio.gather(*(self._one(call) for call in calls))

    async def _one(self, call: Call) -> dict | Unavailable:
        try:
            return await asyncio.wait_for(self._exchange(call), self.timeout_seconds)
        except TimeoutError:
            return Unavailable("its node did not answer in time")
        except (httpx.HTTPError, OSError) as error:
            return Unavailable(f"its node could not be reached ({type(error).__name__})")
        except Unavailable as error:
            return error
        except Exception as error:
            # Whatever else goes wrong with one node (an address no socket takes, an answer
            # that breaks a reader) leaves the others' answers and the page standing.
            _log.warning("federation call to %s failed: %r", call.node, error)
            return Unavailable(f"its node's answer could not be used ({type(error).__name__})")

    async def _exchange(self, call: Call) -> dict:
        assert self._client is not None
        target = call.node + call.path
        body = json.dumps(call.payload, separators=(",", ":")).encode()
        headers = signed_request_headers(
            target, body, key_id=call.key_id, signing_key=call.signing_key, now=self.now()
        )
        # Read up to what any answer could hold: a node must not fill this one's memory.
        async with self._client.stream("POST", target, content=body, headers=headers) as response:
            content = b""
            async for chunk in response.aiter_bytes():
                content += chunk
                if len(content) > MAX_ANSWER_BYTES:
                    raise Unavailable("its node's answer is larger than any answer can be")
            status, answer_headers = response.status_code, response.headers
        request = Message.request_of("POST", target, headers)
        return check_response(
            call.owners,
            request,
            status,
            answer_headers,
            content,
            window_seconds=self.window_seconds,
            now=self.now(),
        )

    def now(self) -> float:
        return self.clock().timestamp() if self.clock is not None else time.time()


# What staff read of a node's refusal ("Unavailable from <agency>: ..."), in words.
_REFUSED = {
    400: "its node could not read the request",
    404: "its node holds nothing the request names",
    409: "its node refused the request as things stand there now",
    413: "its node refused the request as too large",
    415: "its node could not read the request",
}


def refused_words(status: int, headers, content: bytes) -> str:
    """A node's unsigned refusal of our request in words, never its code alone: too many
    asked of it (and for how long it asks us to wait), our signature not accepted (and
    why, in its words), or what the status says."""
    if status == 429:
        wait = (headers.get("retry-after") or "").strip()
        seconds = wait.isascii() and wait.isdigit() and len(wait) < 7  # not "²", not a date
        later = f"; try again in {int(wait)} seconds" if seconds else ""
        return "its node is taking no more requests from this agency for now" + later
    if status == 401:
        refusal = next((r for r in Refusal if r.value == _error_of(content)), None)
        because = f" ({refusal.words})" if refusal is not None else ""
        return f"its node did not accept this node's signature{because}"
    return _REFUSED.get(status, f"its node refused the request (HTTP {status})")


def _error_of(content: bytes) -> str | None:
    try:
        error = untrusted_json.loads(content[:2000]).get("error")
    except (ValueError, AttributeError):
        return None
    return error if isinstance(error, str) else None


def check_response(
    owners: tuple[Member, ...],
    request: Message,
    status: int,
    headers,
    content: bytes,
    *,
    window_seconds: float,
    now: float,
) -> dict:
    """A node's answer, only if signed for this very request by a current key of an owner
    it was asked for; anything else counts as those owners being unavailable."""
    message = Message.response_of(status, headers, request)

    def resolve(key_id: str) -> VerifyKey | None:
        keys = (k for owner in owners for k in owner.current_keys if k.key_id == key_id)
        key = next(keys, None)
        return None if key is None else key.verify_key

    try:
        sig.accept(
            message,
            content,
            resolve,
            now=now,
            window_seconds=window_seconds,
            required=sig.RESPONSE_COMPONENTS,
        )
    except SignatureRefused as refused:
        if status != 200 and refused.refusal is Refusal.UNSIGNED:
            # Its own refusal of our request is unsigned (it trusts nothing it could sign
            # for): say that it refused, and why in its words, not that it failed to sign.
            raise Unavailable(refused_words(status, headers, content)) from None
        raise Unavailable(f"its node's answer did not verify: {refused.detail}") from None
    try:
        answer = untrusted_json.loads(content)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise Unavailable("its node's answer is not JSON") from None
    except ValueError:  # a number past the digit limit, nesting too deep
        raise Unavailable("its node's answer cannot be read") from None
    if status != 200 or not isinstance(answer, dict):
        raise Unavailable(f"its node answered {status}")
    return answer


def calls_for(
    db: Session,
    requester_agency: Agency,
    owners: list[Member],
    path: str,
    payload: Callable[[Member], dict],
    *,
    keys: KeyWrapper,
) -> list[Call]:
    """One call per owner."""
    key_id, signing_key = signing_key_of(db, requester_agency, keys=keys)
    return [Call((owner,), path, payload(owner), key_id, signing_key) for owner in owners]


def calls_by_node(
    db: Session,
    requester_agency: Agency,
    owners: list[Member],
    path: str,
    payload: Callable[[list[Member]], dict],
    *,
    keys: KeyWrapper,
) -> list[Call]:
    """One call per node, for all the owners it hosts."""
    key_id, signing_key = signing_key_of(db, requester_agency, keys=keys)
    nodes: dict[str, list[Member]] = {}
    for owner in owners:
        nodes.setdefault(owner.node, []).append(owner)
    return [
        Call(tuple(hosted), path, payload(hosted), key_id, signing_key) for hosted in nodes.values()
    ]


def roster_and_url(db: Session) -> tuple[Roster | None, str | None]:
    found = membership.held(db)
    return (None, None) if found is None else (found[1], membership.local_node_url(db))
