"""A signed release as a document: the envelope as stored, its FHIR Consent, and the
check of an uploaded file against this node's keys and revocations."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from fhir.resources.R4B.consent import Consent as FhirConsent
from sqlmodel import Session, select

import consent
from consent.keys import b64url_decode
from portal.audit import AuditTag
from portal.crypto import KeyWrapper, SealedElsewhere
from portal.disclosure import consent_gate
from portal.disclosure.sealed_releases import release_text, revocation_text
from portal.edge_checks import unstorable_field
from portal.errors import Invalid
from portal.i18n import N_
from portal.models import (
    Agency,
    AuditEntry,
    Client,
    ConsentRelease,
    ReleaseRecipient,
    ReleaseRevocation,
    ReleaseSection,
    ReleaseState,
    StaffUser,
)
from portal.sections import catalogue
from portal.services import visibility
from portal.services.releases import agency_kinds, keyring, status_of


def signed_release(db: Session, row: ConsentRelease, *, keys: KeyWrapper) -> consent.SignedRelease:
    if row.state != ReleaseState.SIGNED:
        raise Invalid("release", "This release has not been signed.")
    envelope = json.loads(release_text(db, row, keys=keys))
    return consent.SignedRelease(
        release=consent.Release.from_dict(envelope["release"]),
        key_id=envelope["signature"]["kid"],
        signature=b64url_decode(envelope["signature"]["sig"]),
    )


def signed_envelope_bytes(db: Session, row: ConsentRelease, *, keys: KeyWrapper) -> bytes:
    """The signed envelope as stored, for download: exactly what was signed, nothing added."""
    signed_release(db, row, keys=keys)  # refuses a draft
    text = release_text(db, row, keys=keys)
    return json.dumps(json.loads(text), indent=2, ensure_ascii=False).encode("utf-8")


def fhir_consent(db: Session, row: ConsentRelease, *, keys: KeyWrapper, at: datetime) -> dict:
    """The signed release as a FHIR R4 Consent; a revoked or expired one reads inactive."""
    names = dict(db.exec(select(Agency.public_id, Agency.name)).all())
    resource = consent.to_fhir_consent(signed_release(db, row, keys=keys), agency_names=names)
    current = status_of(db, row, keys=keys, at=at)
    if current is not None and current.state in (
        consent.ReleaseState.REVOKED,
        consent.ReleaseState.EXPIRED,
    ):
        resource["status"] = "inactive"
        FhirConsent.model_validate(resource)  # still a valid resource after the change
    return resource


def _stored_differences(
    db: Session, stored: ConsentRelease, envelope: dict, *, keys: KeyWrapper
) -> tuple[str, ...]:
    """The fields of the uploaded file that differ from the release as stored; none said
    when the stored one does not open (moved, tampered with): nothing to compare with."""
    try:
        return _differing_fields(json.loads(release_text(db, stored, keys=keys)), envelope)
    except SealedElsewhere:
        return ()


def _of_the_caseload(db: Session, stored: ConsentRelease, holder: StaffUser | None) -> bool:
    """The release is of a client in `holder`'s caseload (any, without a holder)."""
    if holder is None:
        return True
    return (
        db.exec(
            select(Client.id).where(
                Client.id == stored.client_id, visibility.client_held_by(holder.id)
            )
        ).first()
        is not None
    )


def _verified_revocation(
    db: Session,
    revocation: ReleaseRevocation,
    stored: ConsentRelease,
    ring: consent.KeyRing,
    *,
    keys: KeyWrapper,
    at: datetime,
):
    """The revocation's verification; one that does not open verifies as nothing (and so
    still revokes, below, as an unverifiable one does)."""
    try:
        text = revocation_text(db, revocation, stored, keys=keys)
    except SealedElsewhere:
        text = "{}"
    return consent.verify_revocation(json.loads(text), ring, at=at)


@dataclass(frozen=True)
class VerifyReport:
    """What a verifier is told about an uploaded release: valid or not, and exactly why."""

    signature_ok: bool
    reason: str
    code: str
    field: str | None = None
    tampered_fields: tuple[str, ...] = ()
    status: consent.ReleaseStatus | None = None
    release: consent.Release | None = None
    key_id: str | None = None
    revocations_known: bool = False  # the release was made on this node
    revoked_at: datetime | None = None  # when revoked, for saying so in any language
    # What a valid release must hold and this one lacks or contradicts (consent.validate):
    # a genuine signature on such a document does not make it a release anyone may rely on.
    problems: tuple[consent.Problem, ...] = ()

    @property
    def valid(self) -> bool:
        return (
            self.signature_ok
            and not self.problems
            and self.status is not None
            and self.status.state == consent.ReleaseState.ACTIVE
        )

    @property
    def summary(self) -> str:
        if not self.signature_ok or self.status is None:
            return self.reason
        if self.problems:
            return "The signature is valid, but the document is not a valid release: " + " ".join(
                p.message for p in self.problems
            )
        return f"The signature is valid and {self.status.reason}."


def verify_upload(
    db: Session,
    data: bytes,
    *,
    keys: KeyWrapper,
    at: datetime,
    tz: tzinfo,
    agency_id: int | None = None,
    holder: StaffUser | None = None,
    names_readable: Callable[[ConsentRelease], bool] = lambda _row: True,
    elsewhere: Iterable[consent.KeyEntry] = (),
) -> VerifyReport:
    """Verify an uploaded signed release against this node's key ring and revocations.
    `tz`: the MDT's time zone, in which the status's reason dates the release.
    `elsewhere`: the signing keys of the agencies hosted on other nodes, as the MDT's roster
    lists them (`membership.partner_keys`): a partner's release is verified with its roster
    key, each key only ever as its own agency's (the library refuses a release signed with
    another agency's key); this node's own keys stand where both name one.

    `agency_id`: the uploader's agency. A file that fails its signature is compared field
    by field only with that agency's own stored release: anyone else could make a file
    under another agency's release number and learn, one guess at a time, what it says
    (who signed, which agencies it names). None on the node's command line. `holder`: the
    survivor-mentor whose caseload bounds the uploader (`visibility.caseload_holder`): the
    file is compared only with a release of a client of that caseload, as `releases.release_for`
    opens one.
    `names_readable`: whether the uploader's role may read the names on that release (its
    read audited): otherwise which fields differ is not said, for a guessed name that does
    not differ would confirm it.

    Raises Invalid (a plain message, never a trace) for input that is not a signed release
    at all: oversized, not UTF-8, not JSON, or the wrong shape.
    """
    try:
        envelope = consent.load_envelope(data)
    except consent.EnvelopeError as error:
        raise Invalid("document", str(error)) from None
    ring = keyring(db)
    ring = consent.KeyRing([*ring, *(key for key in elsewhere if ring.get(key.key_id) is None)])
    verdict = consent.verify(envelope, ring, at=at)
    release_id = envelope["release"].get("release_id")
    stored = None
    # A number no database can hold (a NUL, a lone surrogate) names no release here.
    if isinstance(release_id, str) and unstorable_field(release_id) is None:
        stored = db.exec(
            select(ConsentRelease).where(
                ConsentRelease.public_id == release_id,
                ConsentRelease.state == ReleaseState.SIGNED,
            )
        ).first()
    if not verdict.ok:
        tampered: tuple[str, ...] = ()
        if (
            verdict.code == consent.VerifyCode.BAD_SIGNATURE
            and stored is not None
            and agency_id in (None, stored.agency_id)
            and _of_the_caseload(db, stored, holder)
            and names_readable(stored)
        ):
            tampered = _stored_differences(db, stored, envelope, keys=keys)
        reason = verdict.reason
        if tampered:
            reason += " Changed since signing: " + ", ".join(tampered) + "."
        return VerifyReport(
            False,
            reason,
            verdict.code.value,
            verdict.field,
            tampered,
            key_id=envelope["signature"]["kid"],
        )
    document: consent.Release = verdict.document
    # A genuine signature proves who signed, not that the document is a release: one signed
    # outside releases.sign() (the library is usable on its own) is held to the same checks.
    problems = consent.validate(
        document, section_keys=catalogue().keys(), agency_kinds=agency_kinds(db)
    )
    if stored is not None and db.get(Agency, stored.agency_id).public_id != (
        document.disclosing_agency
    ):
        stored = None  # another agency's release of that number: its revocations are not these
    known = []
    if stored is not None:
        for revocation in db.exec(
            select(ReleaseRevocation).where(ReleaseRevocation.release_id == stored.id)
        ):
            checked = _verified_revocation(db, revocation, stored, ring, keys=keys, at=at)
            # One that does not verify still revokes, as at the owner's disclosure point.
            known.append(
                checked.document
                if checked.ok
                else consent_gate.unverified_revocation(
                    release_id=document.release_id,
                    revocation_id=revocation.public_id,
                    revoked_at=revocation.revoked_at,
                    disclosing_agency=document.disclosing_agency,
                )
            )
    current = consent.status(document, known, at=at, tz=tz)
    revoked = [
        r.revoked_at
        for r in known
        if r.release_id == document.release_id
        and r.disclosing_agency == document.disclosing_agency
        and r.revoked_at <= at
    ]
    return VerifyReport(
        True,
        verdict.reason,
        current.state.value,
        None,
        status=current,
        release=document,
        key_id=envelope["signature"]["kid"],
        revocations_known=stored is not None,
        revoked_at=min(revoked) if revoked else None,
        problems=tuple(problems),
    )


def _differing_fields(original: dict, uploaded: dict) -> tuple[str, ...]:
    """Names (never values) of the fields that differ from the release as it was signed."""
    changed = []
    for part in ("release", "signature"):
        before, after = original.get(part), uploaded.get(part)
        if not isinstance(before, dict) or not isinstance(after, dict):
            continue
        for key in sorted(set(before) | set(after)):
            if before.get(key) == after.get(key):
                continue
            if isinstance(before.get(key), dict) and isinstance(after.get(key), dict):
                inner = set(before[key]) | set(after[key])
                changed += [
                    f"{key}.{k}" for k in sorted(inner) if before[key].get(k) != after[key].get(k)
                ]
            else:
                changed.append(key if part == "release" else f"signature.{key}")
    return tuple(changed)


# A signed release's fields in a lead's words, by their names in the document: what a page
# says was changed or differs (the file's own names are for the IT administrator). A part of
# a field ("expiry.at", "signer.name") is said as its field. Marked for the catalogues: the
# verify page says them in the language its reader chose.
FIELD_WORDS = {
    "document": N_("kind of document"),
    "release_id": N_("release number"),
    "client_ref": N_("client"),
    "disclosing_agency": N_("disclosing agency"),
    "recipients": N_("agencies it is shared with"),
    "sections": N_("what is shared"),
    "purpose": N_("purpose"),
    "signer": N_("who signed"),
    "second_signer": N_("second signer"),
    "second_signer_required": N_("whether a second signer must sign"),
    "client_is_minor": N_("whether the client signed as a minor"),
    "minor_rule": N_("the rule a minor signed under"),
    "effective_at": N_("when it starts"),
    "expiry": N_("when it ends"),
    "statements": N_("statements read to the client"),
    "statements_sha256": N_("statements read to the client"),
    "language": N_("language of the form"),
    "witness": N_("witness"),
    "signed_at": N_("when it was signed"),
    "signature_method": N_("how it was signed"),
    "signature.kid": N_("agency key that signed it"),
    "signature": N_("the signature itself"),
}
# A field no release has (a file may carry anything): said without its name.
OTHER_FIELD = N_("another part of the file")


def field_words(fields: Iterable[str]) -> tuple[str, ...]:
    """`fields`, as the document names them (`VerifyReport.tampered_fields`), in a lead's
    words, each said once, in their order."""
    return tuple(dict.fromkeys(field_word(field) for field in fields))


def field_word(field: str) -> str:
    """One field as the document names it ('expiry.at', 'recipients[2]', a problem's), in
    a lead's words: as its field's, or the field it is part of."""
    return FIELD_WORDS.get(field) or FIELD_WORDS.get(re.split(r"[.\[]", field)[0]) or OTHER_FIELD


# What the stored document and the record of its signing are compared on, by the name each
# has in the comparison and in the document: the row's columns and its recipient and section
# rows are written from the document at signing, and the signing's audit entry holds what it
# was signed with.
_RECORDED = (
    ("release_id", "release_id"),
    ("client_ref", "client_ref"),
    ("disclosing_agency", "disclosing_agency"),
    ("recipients", "recipients"),
    ("sections", "sections"),
    ("purpose", "purpose"),
    ("effective_at", "effective_at"),
    ("ends_at", "expiry"),
    ("signed_at", "signed_at"),
    ("language", "language"),
    ("statements_sha256", "statements_sha256"),
    ("key_id", "signature.kid"),
)


@dataclass(frozen=True)
class NotVerified:
    """What the page of a signed release that does not verify may say of it, read from the
    node's own records only: never a value of the stored document unless that document is
    genuine (it verifies with the disclosing agency's key) and of this release's client.

    `opens`: the stored document opens for its row (one that does not was replaced, moved
    from another row, or damaged). `signed`: the genuine signed document stored with it,
    of this client, shown labelled as what was signed; None when there is none to show.
    `signed_for`: that document's own release number when it is another release's (moved
    onto this row). `someone_elses`: the stored document is a genuine signed release of
    another client or agency, of which nothing is said. `differing`: what the stored
    document and the record of the signing (the release's row, its recipients and
    sections, its signing's audit entry) disagree on, in words; never their values.
    `logged_at`, `logged_by`: the signing as the agency's audit log records it."""

    opens: bool
    signed: consent.Release | None = None
    signed_for: str | None = None
    someone_elses: bool = False
    differing: tuple[str, ...] = ()
    logged_at: datetime | None = None
    logged_by: str | None = None


def not_verified(
    db: Session, row: ConsentRelease, *, keys: KeyWrapper, at: datetime
) -> NotVerified:
    """What can be told safely of a signed release the consent gate counts as none
    (`consent_gate.verified_release` None), for its own page."""
    entry = db.exec(
        select(AuditEntry)
        .where(
            AuditEntry.agency_id == row.agency_id,
            AuditEntry.tag == AuditTag.RELEASE_SIGNED,
            AuditEntry.subject == row.public_id,
        )
        .order_by(AuditEntry.seq)
    ).first()
    logged_by = None
    if entry is not None and entry.actor_user_ref is not None:
        logged_by = db.exec(
            select(StaffUser.display_name).where(StaffUser.public_id == entry.actor_user_ref)
        ).first()
    logged = {"logged_at": entry.at if entry else None, "logged_by": logged_by}
    try:
        envelope = json.loads(release_text(db, row, keys=keys))
    except (SealedElsewhere, ValueError):
        return NotVerified(opens=False, **logged)
    if not isinstance(envelope, dict) or not isinstance(envelope.get("release"), dict):
        return NotVerified(opens=True, **logged)
    client_ref, agency_ref = _refs(db, row)
    differing = _disagreeing(_as_stored(envelope), _as_recorded(db, row, entry))
    verdict = consent.verify(envelope, keyring(db), at=at)
    document = verdict.document if verdict.ok else None
    if document is None:
        return NotVerified(opens=True, differing=differing, **logged)
    if (document.client_ref, document.disclosing_agency) != (client_ref, agency_ref):
        # A genuine release of another client or agency: not this page's to show.
        return NotVerified(opens=True, someone_elses=True, **logged)
    return NotVerified(
        opens=True,
        signed=document,
        signed_for=document.release_id if document.release_id != row.public_id else None,
        differing=differing,
        **logged,
    )


def _refs(db: Session, row: ConsentRelease) -> tuple[str, str]:
    client = db.get(Client, row.client_id)
    agency = db.get(Agency, row.agency_id)
    return client.public_id, agency.public_id


def _as_stored(envelope: dict) -> dict:
    """The stored document's fields compared, as plain values (whatever a writer put)."""
    body = envelope["release"]
    expiry = body.get("expiry") if isinstance(body.get("expiry"), dict) else {}
    signature = envelope.get("signature") if isinstance(envelope.get("signature"), dict) else {}
    return {
        "release_id": body.get("release_id"),
        "client_ref": body.get("client_ref"),
        "disclosing_agency": body.get("disclosing_agency"),
        "recipients": _names(body.get("recipients")),
        "sections": _names(body.get("sections")),
        "purpose": body.get("purpose"),
        "effective_at": _time(body.get("effective_at")),
        "ends_at": _time(expiry.get("at" if expiry.get("kind") == "date" else "latest_at")),
        "signed_at": _time(body.get("signed_at")),
        "language": body.get("language"),
        "statements_sha256": body.get("statements_sha256"),
        "key_id": signature.get("kid"),
    }


def _as_recorded(db: Session, row: ConsentRelease, entry: AuditEntry | None) -> dict:
    """The same fields as the node recorded them at signing; a field the audit entry holds
    is compared with it too (a list of what each record says)."""
    client_ref, agency_ref = _refs(db, row)
    recipients = db.exec(
        select(Agency.public_id)
        .join(ReleaseRecipient, ReleaseRecipient.agency_id == Agency.id)
        .where(ReleaseRecipient.release_id == row.id)
    ).all()
    sections = db.exec(
        select(ReleaseSection.section_key).where(ReleaseSection.release_id == row.id)
    ).all()
    recorded = {
        "release_id": [row.public_id],
        "client_ref": [client_ref],
        "disclosing_agency": [agency_ref],
        "recipients": [_names(list(recipients))],
        "sections": [_names(list(sections))],
        "purpose": [getattr(row.purpose, "value", row.purpose)],
        "effective_at": [_time(row.effective_at)],
        "ends_at": [_time(row.ends_at)],
        "signed_at": [_time(row.signed_at)],
        "language": [],
        "statements_sha256": [],
        "key_id": [row.key_id],
    }
    logged = _logged_detail(entry)
    for field in ("recipients", "sections"):
        if field in logged:
            recorded[field].append(_names(logged[field]))
    for field in ("purpose", "language", "statements_sha256", "key_id"):
        if field in logged:
            recorded[field].append(logged[field])
    return recorded


def _disagreeing(stored: dict, recorded: dict) -> tuple[str, ...]:
    return field_words(
        named
        for field, named in _RECORDED
        if any(value != stored[field] for value in recorded[field])
    )


def _logged_detail(entry: AuditEntry | None) -> dict:
    if entry is None:
        return {}
    try:
        detail = json.loads(entry.detail or "{}")
    except ValueError:
        return {}
    return detail if isinstance(detail, dict) else {}


def _names(value) -> tuple | None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return tuple(sorted(value))


def _time(value) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return moment.replace(tzinfo=moment.tzinfo or UTC).astimezone(UTC)
