"""HTTP Message Signatures (RFC 9421) with Ed25519, and Content-Digest (RFC 9530).

Every node-to-node request and response is signed. A request covers `@method`,
`@target-uri` and `content-digest`, with `created`, `nonce`, `keyid` and `alg` in its
signature parameters; a response covers `@status`, `content-digest` and the request's
`@method`, `@target-uri` and signature (`;req`), so an answer cannot be replayed for
another question. The verifier rebuilds the signature base from what it received, never
from what the sender says it signed.

Pure: no database, no HTTP library. The structured-field parsing (RFC 8941) covers what
signatures use: dictionaries of inner lists of strings, and byte sequences, with
parameters of strings, integers and booleans.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import urlsplit

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

ALGORITHM = "ed25519"
LABEL = "sig1"
REQUEST_COMPONENTS = ('"@method"', '"@target-uri"', '"content-digest"')
RESPONSE_COMPONENTS = (
    '"@status"',
    '"content-digest"',
    '"@method";req',
    '"@target-uri";req',
    f'"signature";req;key="{LABEL}"',
)


class Refusal(StrEnum):
    """Why a signed message was not accepted: the `error` of a 401 body, in one word."""

    UNSIGNED = "unsigned"
    MALFORMED = "malformed_signature"
    INCOMPLETE = "signature_covers_too_little"
    ALGORITHM = "wrong_algorithm"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    DIGEST = "content_digest_mismatch"
    STALE = "stale"
    REPLAYED = "replayed"
    NOT_THIS_NODE = "wrong_target"
    WRONG_SENDER = "wrong_sender"
    LOCAL_SENDER = "local_sender"

    @property
    def words(self) -> str:
        return {
            Refusal.UNSIGNED: "the request carries no HTTP message signature",
            Refusal.MALFORMED: "the Signature or Signature-Input field cannot be read",
            Refusal.INCOMPLETE: "the signature does not cover the method, target URI, "
            "content digest, creation time, nonce and key id",
            Refusal.ALGORITHM: "the signature's algorithm is not ed25519",
            Refusal.UNKNOWN_KEY: "the key id is not a current key of any agency in the roster",
            Refusal.BAD_SIGNATURE: "the signature does not verify",
            Refusal.DIGEST: "the body does not match its Content-Digest",
            Refusal.STALE: "the signature's creation time is outside the accepted window",
            Refusal.REPLAYED: "this nonce was seen before (a replayed request)",
            Refusal.NOT_THIS_NODE: "the request was signed for another node's address",
            Refusal.WRONG_SENDER: "the key does not belong to the agency or node named",
            Refusal.LOCAL_SENDER: "the key is of an agency hosted on this node: its staff ask "
            "here, signed in with their own roles, not through the door for other nodes",
        }[self]


class SignatureRefused(Exception):
    def __init__(self, refusal: Refusal, detail: str | None = None) -> None:
        super().__init__(detail or refusal.words)
        self.refusal = refusal
        self.detail = detail or refusal.words


# -- Content-Digest (RFC 9530) ------------------------------------------------------------


def content_digest(body: bytes) -> str:
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"


def digest_matches(header: str | None, body: bytes) -> bool:
    """The sha-256 member of a Content-Digest field matches the body (other algorithms
    alongside it are ignored; one without sha-256 does not match)."""
    if not header:
        return False
    try:
        members = parse_dictionary(header)
    except ValueError:
        return False
    member = members.get("sha-256")
    if member is None or not isinstance(member.value, bytes):
        return False
    return hmac.compare_digest(member.value, hashlib.sha256(body).digest())


# -- Structured fields (RFC 8941), the part signatures use --------------------------------


@dataclass
class Item:
    value: object  # str, int, bool, bytes, or list[Item] for an inner list
    params: dict[str, object] = field(default_factory=dict)
    raw: str = ""  # the member's text as received


_KEY = re.compile(r"[a-z*][a-z0-9_\-.*]*")
_TOKEN = re.compile(r"[A-Za-z*][A-Za-z0-9:/!#$%&'*+\-.^_`|~]*")
_INTEGER = re.compile(r"-?[0-9]{1,15}(?![0-9.])")


class _Reader:
    def __init__(self, text: str) -> None:
        self.text, self.at = text, 0

    def peek(self) -> str:
        return self.text[self.at] if self.at < len(self.text) else ""

    def skip_spaces(self) -> None:
        while self.peek() in (" ", "\t") and self.peek():
            self.at += 1

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise ValueError(f"expected {char!r} at {self.at}")
        self.at += 1

    def key(self) -> str:
        found = _KEY.match(self.text, self.at)
        if not found:
            raise ValueError(f"expected a key at {self.at}")
        self.at = found.end()
        return found.group()

    def bare(self) -> object:
        char = self.peek()
        if char == '"':
            self.at += 1
            out = []
            while True:
                char = self.peek()
                if not char:
                    raise ValueError("unterminated string")
                self.at += 1
                if char == "\\":
                    escaped = self.peek()
                    if escaped not in ('"', "\\"):
                        raise ValueError("bad escape in a string")
                    out.append(escaped)
                    self.at += 1
                elif char == '"':
                    return "".join(out)
                elif not (" " <= char <= "~"):
                    raise ValueError("a string holds only printable ASCII")
                else:
                    out.append(char)
        if char == ":":
            end = self.text.find(":", self.at + 1)
            if end < 0:
                raise ValueError("unterminated byte sequence")
            encoded = self.text[self.at + 1 : end]
            self.at = end + 1
            try:
                return base64.b64decode(encoded, validate=True)
            except ValueError:
                raise ValueError("a byte sequence is not base64") from None
        if char == "?":
            value = self.text[self.at + 1 : self.at + 2]
            if value not in ("0", "1"):
                raise ValueError("a boolean is ?0 or ?1")
            self.at += 2
            return value == "1"
        found = _INTEGER.match(self.text, self.at)
        if found:
            self.at = found.end()
            return int(found.group())
        found = _TOKEN.match(self.text, self.at)
        if found:
            self.at = found.end()
            return found.group()
        raise ValueError(f"unreadable value at {self.at}")

    def params(self) -> dict[str, object]:
        params: dict[str, object] = {}
        while self.peek() == ";":
            self.at += 1
            self.skip_spaces()
            name = self.key()
            value: object = True
            if self.peek() == "=":
                self.at += 1
                value = self.bare()
            params[name] = value
        return params

    def member(self) -> Item:
        start = self.at
        if self.peek() == "(":
            self.at += 1
            items = []
            while True:
                self.skip_spaces()
                if self.peek() == ")":
                    self.at += 1
                    break
                inner_start = self.at
                value = self.bare()
                params = self.params()
                items.append(Item(value, params, self.text[inner_start : self.at]))
                if self.peek() not in (" ", ")"):
                    raise ValueError(f"expected a space or ')' at {self.at}")
            params = self.params()
            return Item(items, params, self.text[start : self.at])
        value = self.bare()
        params = self.params()
        return Item(value, params, self.text[start : self.at])


def parse_dictionary(text: str) -> dict[str, Item]:
    reader = _Reader(text.strip())
    members: dict[str, Item] = {}
    while reader.peek():
        reader.skip_spaces()
        name = reader.key()
        if reader.peek() == "=":
            reader.at += 1
            member = reader.member()
        else:
            member = Item(True, reader.params())
        if name in members:
            raise ValueError(f"the label {name!r} appears twice")
        members[name] = member
        reader.skip_spaces()
        if not reader.peek():
            break
        reader.expect(",")
        reader.skip_spaces()
        if not reader.peek():
            raise ValueError("a trailing comma")
    return members


def _serialise_bare(value: object) -> str:
    if isinstance(value, bool):
        return "?1" if value else "?0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, bytes):
        return ":" + base64.b64encode(value).decode() + ":"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise TypeError(f"cannot serialise {value!r}")


def _serialise_params(params: Mapping[str, object]) -> str:
    return "".join(
        f";{name}" if value is True else f";{name}={_serialise_bare(value)}"
        for name, value in params.items()
    )


# -- Messages and the signature base ------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """What a signature covers of an HTTP message, as received or about to be sent.

    `headers`: field names lowercased, each field's values joined by ", ". A response
    carries the `request` it answers, for the components marked `;req`."""

    method: str | None
    target_uri: str | None
    headers: Mapping[str, str]
    status: int | None = None
    request: Message | None = None

    @classmethod
    def request_of(cls, method: str, target_uri: str, headers) -> Message:
        return cls(method.upper(), target_uri, _lowered(headers))

    @classmethod
    def response_of(cls, status: int, headers, request: Message) -> Message:
        return cls(None, None, _lowered(headers), status, request)


def _lowered(headers) -> dict[str, str]:
    found: dict[str, list[str]] = {}
    items = headers.multi_items() if hasattr(headers, "multi_items") else headers.items()
    for name, value in items:
        found.setdefault(name.lower(), []).append(str(value).strip())
    return {name: ", ".join(values) for name, values in found.items()}


def _derived(message: Message, name: str) -> str:
    if name == "@status":
        if message.status is None:
            raise ValueError("@status is a response's component")
        return f"{message.status:03d}"
    if message.method is None:
        raise ValueError(f"{name} belongs to the request: mark it ;req")
    parts = urlsplit(message.target_uri or "")
    if name == "@method":
        return message.method
    if name == "@target-uri":
        return message.target_uri or ""
    if name == "@authority":
        host = (parts.hostname or "").lower()
        default = {"http": 80, "https": 443}.get(parts.scheme)
        return host if parts.port in (None, default) else f"{host}:{parts.port}"
    if name == "@scheme":
        return parts.scheme.lower()
    if name == "@path":
        return parts.path or "/"
    if name == "@query":
        return "?" + parts.query
    if name == "@request-target":
        return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    raise ValueError(f"the component {name} is not supported")


def _component(message: Message, item: Item) -> str:
    params = dict(item.params)
    source = message
    if params.pop("req", False):
        if message.request is None:
            raise ValueError("a ;req component in a request's signature")
        source = message.request
    name = item.value
    if not isinstance(name, str) or name != name.lower():
        raise ValueError("a component name is a lowercase string")
    if name.startswith("@"):
        if params:
            raise ValueError(f"unsupported parameters on {name}")
        return _derived(source, name)
    if name not in source.headers:
        raise ValueError(f"the field {name} is covered but absent")
    value = source.headers[name]
    if "key" in params:
        member = parse_dictionary(value).get(str(params.pop("key")))
        if member is None:
            raise ValueError(f"the field {name} has no member named by key")
        value = _serialise_member(member)
    if params:
        raise ValueError(f"unsupported parameters on {name}")
    return value


def _component_item(text: str) -> Item:
    """A component identifier as written (`"@method";req`), parsed."""
    item = parse_dictionary(f"x=({text})")["x"].value[0]
    item.raw = text
    return item


def _identity(item: Item) -> tuple:
    """A component's identity: its name and parameters, in any order (RFC 9421, 2)."""
    return (item.value, frozenset(item.params.items()))


def _serialise_member(member: Item) -> str:
    if isinstance(member.value, list):
        inner = " ".join(
            _serialise_bare(i.value) + _serialise_params(i.params) for i in member.value
        )
        return f"({inner})" + _serialise_params(member.params)
    return _serialise_bare(member.value) + _serialise_params(member.params)


def signature_base(message: Message, covered: Sequence[Item], params_text: str) -> bytes:
    """The signature base (RFC 9421, section 2.5): one line per covered component, then
    `@signature-params` exactly as the Signature-Input field spelt it."""
    lines, seen = [], set()
    for item in covered:
        identifier = item.raw or (_serialise_bare(item.value) + _serialise_params(item.params))
        if identifier in seen:
            raise ValueError(f"the component {identifier} is covered twice")
        seen.add(identifier)
        value = _component(message, item)
        if "\n" in value or "\r" in value:
            raise ValueError("a component value holds a line break")
        lines.append(f"{identifier}: {value}")
    lines.append(f'"@signature-params": {params_text}')
    text = "\n".join(lines)
    if not text.isascii():
        raise ValueError("the signature base is not ASCII")
    return text.encode("ascii")


# -- Signing and verifying ----------------------------------------------------------------


@dataclass(frozen=True)
class Signed:
    """The headers that carry one signature."""

    signature_input: str
    signature: str

    def headers(self) -> dict[str, str]:
        return {"Signature-Input": self.signature_input, "Signature": self.signature}


def sign(
    message: Message,
    *,
    components: Sequence[str],
    key_id: str,
    signing_key: SigningKey,
    created: int,
    nonce: str | None,
    label: str = LABEL,
    with_alg: bool = True,
) -> Signed:
    """Sign `message` (whose headers must already hold what is covered, Content-Digest
    included)."""
    covered = [_component_item(c) for c in components]
    params: dict[str, object] = {"created": created, "keyid": key_id}
    if nonce is not None:
        params["nonce"] = nonce
    if with_alg:
        params["alg"] = ALGORITHM
    inner = "(" + " ".join(c for c in components) + ")" + _serialise_params(params)
    signature = signing_key.sign(signature_base(message, covered, inner)).signature
    return Signed(f"{label}={inner}", f"{label}={_serialise_bare(signature)}")


@dataclass(frozen=True)
class Verified:
    label: str
    key_id: str
    created: int
    nonce: str | None
    components: frozenset[str]  # the covered identifiers, as serialised


def verify(
    message: Message,
    resolve_key: Callable[[str], VerifyKey | None],
    *,
    label: str | None = None,
    required: Sequence[str] = (),
) -> Verified:
    """Check one signature of `message`: the first label covering `required` (or the
    label named). Raises SignatureRefused; checks no time and no nonce (see `accept`)."""
    inputs_text = message.headers.get("signature-input")
    signatures_text = message.headers.get("signature")
    if not inputs_text or not signatures_text:
        raise SignatureRefused(Refusal.UNSIGNED)
    try:
        inputs = parse_dictionary(inputs_text)
        signatures = parse_dictionary(signatures_text)
    except ValueError as problem:
        raise SignatureRefused(Refusal.MALFORMED, f"{Refusal.MALFORMED.words}: {problem}") from None
    wanted = {_identity(_component_item(text)) for text in required}
    chosen = None
    for name, member in inputs.items():
        if label is not None and name != label:
            continue
        if not isinstance(member.value, list):
            raise SignatureRefused(Refusal.MALFORMED)
        if wanted <= {_identity(item) for item in member.value}:
            chosen = name
            break
    if chosen is None and label is not None and label not in inputs:
        raise SignatureRefused(
            Refusal.MALFORMED, f"{Refusal.MALFORMED.words}: no signature is labelled {label!r}"
        )
    if chosen is None:
        raise SignatureRefused(Refusal.INCOMPLETE)
    member = inputs[chosen]
    signature = signatures.get(chosen)
    if signature is None or not isinstance(signature.value, bytes):
        raise SignatureRefused(Refusal.MALFORMED, "no signature for the label it declares")
    params = member.params
    if params.get("alg", ALGORITHM) != ALGORITHM:
        raise SignatureRefused(Refusal.ALGORITHM)
    key_id = params.get("keyid")
    created = params.get("created")
    if not isinstance(key_id, str):
        raise SignatureRefused(Refusal.INCOMPLETE, "the signature names no key id")
    verify_key = resolve_key(key_id)
    if verify_key is None:
        raise SignatureRefused(Refusal.UNKNOWN_KEY)
    try:
        base = signature_base(message, member.value, member.raw)
    except ValueError as problem:
        raise SignatureRefused(Refusal.MALFORMED, f"{Refusal.MALFORMED.words}: {problem}") from None
    try:
        verify_key.verify(base, signature.value)
    except (BadSignatureError, ValueError):
        raise SignatureRefused(Refusal.BAD_SIGNATURE) from None
    nonce = params.get("nonce")
    return Verified(
        chosen,
        key_id,
        created if isinstance(created, int) and not isinstance(created, bool) else -1,
        nonce if isinstance(nonce, str) else None,
        frozenset(item.raw for item in member.value),
    )


def accept(
    message: Message,
    body: bytes,
    resolve_key: Callable[[str], VerifyKey | None],
    *,
    now: float,
    window_seconds: float,
    required: Sequence[str],
    need_nonce: bool = True,
    label: str | None = None,
) -> Verified:
    """The portal's rule for a signed message: `verify()`, then created within the window
    (and not from the future beyond it), a nonce, and a body that matches its digest.
    `label`: only the signature of that label counts (see `verify`)."""
    verified = verify(message, resolve_key, required=required, label=label)
    if verified.created < 0:
        raise SignatureRefused(Refusal.INCOMPLETE, "the signature has no creation time")
    if abs(now - verified.created) > window_seconds:
        raise SignatureRefused(
            Refusal.STALE,
            f"{Refusal.STALE.words} ({int(now - verified.created)} s old; the window is "
            f"{int(window_seconds)} s)",
        )
    if need_nonce and not verified.nonce:
        raise SignatureRefused(Refusal.INCOMPLETE, "the signature carries no nonce")
    if not digest_matches(message.headers.get("content-digest"), body):
        raise SignatureRefused(Refusal.DIGEST)
    return verified
