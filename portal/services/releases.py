"""Consent releases in the portal: draft, sign with the agency key, revoke, read status.

The document rules live in the `consent` library; this module stores releases, builds the
node's key ring and writes the audit entries. A signed release is never changed: a new
release replaces it, and the old one is revoked or left to expire."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo

from nacl.signing import SigningKey, VerifyKey
from sqlalchemy import func
from sqlmodel import Session, select

import consent
from consent.validate import same_person_key
from portal import i18n
from portal.audit import AuditTag, effective_after_disclosures, lock_logs, record
from portal.auth.sessions import Viewer
from portal.crypto import KeyWrapper, SealedElsewhere
from portal.disclosure.consent_gate import revokes, unverified_revocation, verified_release
from portal.disclosure.sealed_releases import release_text, revocation_text, sealed_value
from portal.errors import Conflict, Invalid, NotFound
from portal.models import (
    Actor,
    Agency,
    AgencyKey,
    Client,
    ConsentRelease,
    KeyPurpose,
    ReleaseRecipient,
    ReleaseRevocation,
    ReleaseSection,
    ReleaseState,
    StaffUser,
)
from portal.models.release import release_sealed_for, revocation_sealed_for
from portal.sections import catalogue
from portal.services import restricted_persons, visibility
from portal.services.clients import reveal_identity
from portal.services.keys import current_key, seal_record
from portal.services.restricted_persons import excluded_signers

# Problems about the signature itself are expected on a draft; they are checked at signing.
_SIGNING_FIELDS = ("signer", "second_signer", "witness", "signed_at")


@dataclass(frozen=True)
class MinorSigning:
    """The MDT's jurisdiction setting for minors: who must sign, and until what age."""

    rule: consent.MinorRule = consent.MinorRule.MINOR_AND_GUARDIAN
    age_of_majority: int = consent.AGE_OF_MAJORITY
    tz: tzinfo = UTC  # a birthday is a calendar day in the MDT's time zone

    @classmethod
    def from_settings(cls, settings) -> MinorSigning:
        return cls(consent.MinorRule(settings.minor_signers), settings.age_of_majority, settings.tz)

    def is_minor(self, birth_date: date, at: datetime) -> bool:
        day = at.astimezone(self.tz).date()
        return consent.is_minor(birth_date, day, age_of_majority=self.age_of_majority)

    def signers(self, birth_date: date, at: datetime) -> dict:
        """The document's fields that say whether the client is a minor and who must sign."""
        minor = self.is_minor(birth_date, at)
        return {
            "client_is_minor": minor,
            "minor_rule": self.rule if minor else None,
            "second_signer_required": minor and self.rule is consent.MinorRule.MINOR_AND_GUARDIAN,
        }


def birth_date_of(db: Session, client: Client, *, keys: KeyWrapper) -> date:
    """Read from the sealed identity, never typed in: whether the client is a minor is
    computed from it at the moment they sign."""
    return reveal_identity(db, client, keys=keys).birth_date


def keyring(db: Session) -> consent.KeyRing:
    """Every agency signing key on the node, retired ones included (old releases verify)."""
    rows = db.exec(
        select(AgencyKey, Agency.public_id)
        .join(Agency, Agency.id == AgencyKey.agency_id)
        .where(AgencyKey.purpose == KeyPurpose.SIGNING)
    ).all()
    return consent.KeyRing(
        consent.KeyEntry(
            key_id=key.key_id,
            agency_id=agency_public_id,
            verify_key=VerifyKey(base64.b64decode(key.public_key)),
            created_at=key.created_at,
            retired_at=key.retired_at,
        )
        for key, agency_public_id in rows
    )


def agency_kinds(db: Session) -> dict[str, str]:
    """The roster as the consent library reads it: agency id -> community | system."""
    return {public_id: kind for public_id, kind in db.exec(select(Agency.public_id, Agency.kind))}


def _signing_key(
    db: Session, agency: Agency, *, keys: KeyWrapper, at: datetime
) -> tuple[str, SigningKey, datetime]:
    """(key id, key, signing time) of the agency's current signing key; the caller holds
    the agency's log, which a rotation takes too. The time is `at`, the request's clock,
    or the key's creation when a rotation committed while the request waited for the log:
    a document never says it was signed before the key that signs it existed."""
    key = current_key(db, agency.id, KeyPurpose.SIGNING)
    return key.key_id, SigningKey(keys.unwrap(key.wrapped_secret)), max(at, key.created_at)


def _problems_as_invalid(problems: Sequence[consent.Problem]) -> Invalid:
    errors: dict[str, str] = {}
    for problem in problems:
        field = problem.field.split(".")[0].split("[")[0]
        errors[field] = f"{errors[field]} {problem.message}" if field in errors else problem.message
    return Invalid.of(errors)


def draft_release(
    db: Session,
    client: Client,
    *,
    recipients: Iterable[str],
    sections: Iterable[str],
    purpose: str,
    effective_at: datetime,
    expiry: consent.Expiry,
    language: str | None = None,
    keys: KeyWrapper,
    rules: MinorSigning = MinorSigning(),
    actor: Actor,
    at: datetime,
) -> ConsentRelease:
    """A release prepared with the client, to be read and then signed, in the client's
    language unless another is asked for. Whether the client is a minor is worked out now
    for the printed form, and again at the moment of signing."""
    agency = db.get(Agency, client.agency_id)
    try:
        purpose_value = consent.Purpose(purpose)
    except ValueError:
        raise Invalid("purpose", "Choose a purpose from the list.") from None
    language = language or client.preferred_language
    if language not in i18n.languages():
        raise Invalid("language", "Choose the language of the form from the list.")
    statements = i18n.statements(language)
    row = ConsentRelease(
        agency_id=agency.id,
        client_id=client.id,
        purpose=purpose_value,
        effective_at=effective_at,
        ends_at=effective_at,
        document="",
        created_at=at,
        created_by_id=actor.id if actor else None,
    )
    document = consent.Release(
        release_id=row.public_id,
        client_ref=client.public_id,
        disclosing_agency=agency.public_id,
        recipients=tuple(recipients),
        sections=tuple(sections),
        purpose=purpose_value,
        signer=None,
        second_signer=None,
        effective_at=effective_at,
        expiry=expiry,
        statements=statements,
        statements_sha256=consent.statements_digest(statements),
        language=language,
        witness=None,
        signed_at=None,
        signature_method=consent.SignatureMethod.TYPED,
        **rules.signers(birth_date_of(db, client, keys=keys), at),
    )
    problems = [
        p
        for p in consent.validate(
            document, section_keys=catalogue().keys(), agency_kinds=agency_kinds(db)
        )
        if not p.field.startswith(_SIGNING_FIELDS) and "sign" not in p.message.lower()
    ]
    if problems:
        raise _problems_as_invalid(problems)
    row.ends_at = consent.release_end(document)
    db.add(row)
    db.flush()  # its id is part of the place its document is sealed for
    seal_release_document(db, row, json.dumps(document.to_dict()), keys=keys)
    record(
        db,
        AuditTag.RELEASE_DRAFTED,
        agency_id=agency.id,
        actor=actor,
        subject=row.public_id,
        detail={"client": client.public_id, "language": language},
        at=at,
    )
    return row


def seal_release_document(db: Session, row: ConsentRelease, text: str, *, keys: KeyWrapper) -> None:
    """The release's document sealed for its row under the agency's current data key, the
    clear column left empty: it names the signers."""
    place = release_sealed_for(row.agency_id, row.client_id, row.id)
    row.data_key_id, row.document_sealed = seal_record(
        db, row.agency_id, keys, sealed_value(text), place=place
    )
    row.document = ""
    db.add(row)
    db.flush()  # written now: `hold_release` reads the row again before it is signed


def _seal_revocation_document(
    db: Session,
    revocation: ReleaseRevocation,
    release: ConsentRelease,
    text: str,
    *,
    keys: KeyWrapper,
) -> None:
    place = revocation_sealed_for(release.agency_id, release.client_id, release.id, revocation.id)
    revocation.data_key_id, revocation.document_sealed = seal_record(
        db, release.agency_id, keys, sealed_value(text), place=place
    )
    revocation.document = ""
    db.add(revocation)
    db.flush()


def hold_release(db: Session, row: ConsentRelease) -> None:
    """Read the release again with its agency's log held to this transaction's end (the
    log its signing, revocation or discarding is written to): a second of those at once
    waits, then finds this one's, so a release is signed once and revoked once."""
    lock_logs(db, [row.agency_id])
    db.refresh(row)


def draft_document(db: Session, row: ConsentRelease, *, keys: KeyWrapper) -> consent.Release:
    if row.state != ReleaseState.DRAFT:
        raise Conflict("release", "This release is already signed; make a new one to change it.")
    return consent.Release.from_dict(json.loads(release_text(db, row, keys=keys)))


def sign(
    db: Session,
    row: ConsentRelease,
    *,
    signer: consent.Signer,
    second_signer: consent.Signer | None,
    method: consent.SignatureMethod,
    actor: Actor,
    keys: KeyWrapper,
    rules: MinorSigning = MinorSigning(),
    at: datetime,
) -> consent.SignedRelease:
    """Record the client's signature, witnessed by `actor`, and sign with the agency key.

    Whether the client is a minor, and so who must sign, is computed from the sealed
    birth date at this moment, and signed into the document with the rule that applied."""
    hold_release(db, row)
    draft = draft_document(db, row, keys=keys)
    client = db.get(Client, row.client_id)
    agency = db.get(Agency, row.agency_id)
    key_id, signing_key, at = _signing_key(db, agency, keys=keys, at=at)
    document = consent.Release(
        **{
            **draft.__dict__,
            # A draft made before format 2 is signed in format 2, with the statements it
            # showed and their digest.
            "version": 2,
            "statements_sha256": consent.statements_digest(draft.statements),
            "language": draft.language or i18n.SOURCE_LANGUAGE,
            **rules.signers(birth_date_of(db, client, keys=keys), at),
            # A release never takes effect before it is signed: a draft whose start has
            # passed by the time the client signs starts at the signature.
            "effective_at": max(draft.effective_at, at),
            "signer": signer,
            "second_signer": second_signer,
            "witness": consent.StaffRef(actor.public_id, actor.display_name),
            "signed_at": at,
            "signature_method": method,
        }
    )
    problems = consent.validate(
        document,
        section_keys=catalogue().keys(),
        agency_kinds=agency_kinds(db),
        excluded_signers=excluded_signers(db, client, keys=keys),
    )
    if problems:
        raise _problems_as_invalid(problems)
    signed = consent.sign_release(document, signing_key, key_id)
    row.state = ReleaseState.SIGNED
    row.effective_at = document.effective_at
    seal_release_document(db, row, json.dumps(signed.to_dict()), keys=keys)
    row.key_id = key_id
    row.signed_at = at
    row.recorded_by_id = actor.id
    by_public_id = dict(db.exec(select(Agency.public_id, Agency.id)).all())
    for recipient in document.recipients:
        db.add(ReleaseRecipient(release_id=row.id, agency_id=by_public_id[recipient]))
    for section in document.sections:
        db.add(ReleaseSection(release_id=row.id, section_key=section))
    record(
        db,
        AuditTag.RELEASE_SIGNED,
        agency_id=agency.id,
        actor=actor,
        subject=row.public_id,
        detail={
            "key_id": key_id,
            "method": method.value,
            "recipients": list(document.recipients),
            "sections": list(document.sections),
            "purpose": document.purpose.value,
            "language": document.language,
            "statements_sha256": document.statements_sha256,
            "minor_rule": None if document.minor_rule is None else document.minor_rule.value,
        },
        at=at,
    )
    return signed


def discard(db: Session, row: ConsentRelease, *, actor: Actor, at: datetime) -> None:
    hold_release(db, row)
    if row.state != ReleaseState.DRAFT:  # refuses a signed release
        raise Conflict("release", "This release is already signed; make a new one to change it.")
    row.state = ReleaseState.DISCARDED
    record(
        db,
        AuditTag.RELEASE_DISCARDED,
        agency_id=row.agency_id,
        actor=actor,
        subject=row.public_id,
        at=at,
    )


def record_restricted_person(
    db: Session,
    client: Client,
    *,
    name: object,
    reason: object,
    note: object = None,
    actor: Actor,
    keys: KeyWrapper,
    at: datetime,
) -> list[ConsentRelease]:
    """Someone recorded as never to sign for the client (`restricted_persons`), and every
    release in effect they signed, as the client or beside them, revoked at once: their
    signature no longer stands for the client's consent, which must be asked again.
    Returns the releases revoked."""
    person = restricted_persons.record_restricted_person(
        db, client, name=name, reason=reason, note=note, actor=actor, keys=keys, at=at
    )
    revoked = []
    for row in signed_by(db, client, person.name, keys=keys, at=at):
        revoke(
            db,
            row,
            reason="It was signed by someone since recorded as never to sign for this client; "
            "the client's consent must be asked again.",
            actor=actor,
            keys=keys,
            at=at,
        )
        revoked.append(row)
    return revoked


def signed_by(
    db: Session, client: Client, name: object, *, keys: KeyWrapper, at: datetime
) -> list[ConsentRelease]:
    """The client's releases not yet revoked or ended that `name` signed, as the client or
    beside them: those that recording them as never to sign revokes."""
    if not isinstance(name, str) or not name.strip():
        return []
    wanted = same_person_key(name)
    found = []
    for row in releases_of(db, client):
        document = verified_release(db, row, keys=keys, at=at)
        if document is None:  # a draft, or one not verified: in force for no one already
            continue
        signers = [s.name for s in (document.signer, document.second_signer) if s is not None]
        if not any(same_person_key(n) == wanted for n in signers):
            continue
        if consent.status(document, revocations(db, row, keys=keys), at=at).state not in (
            consent.ReleaseState.REVOKED,
            consent.ReleaseState.EXPIRED,
        ):
            found.append(row)
    return found


def signed_document(db: Session, row: ConsentRelease, *, keys: KeyWrapper) -> consent.Release:
    """The signed release as stored (its signature is checked where it is relied on: the
    consent gate, `portal consent verify`). SealedElsewhere for one that does not open."""
    if row.state != ReleaseState.SIGNED:
        raise Invalid("release", "This release has not been signed.")
    return consent.Release.from_dict(json.loads(release_text(db, row, keys=keys))["release"])


def revocations(db: Session, row: ConsentRelease, *, keys: KeyWrapper) -> list[consent.Revocation]:
    """The release's revocations. One whose document does not open (moved, tampered with)
    still revokes, from the time its row gives: failing closed, as the consent gate does."""
    return [
        _revocation(db, revocation, row, keys=keys)
        for revocation in db.exec(
            select(ReleaseRevocation).where(ReleaseRevocation.release_id == row.id)
        )
    ]


def _revocation(
    db: Session, revocation: ReleaseRevocation, row: ConsentRelease, *, keys: KeyWrapper
) -> consent.Revocation:
    agency = db.get(Agency, row.agency_id).public_id
    try:
        text = revocation_text(db, revocation, row, keys=keys)
        document = consent.Revocation.from_dict(json.loads(text)["revocation"])
        # One naming another release revokes nothing as the library counts it: its row
        # still revokes this release, as at the consent gate.
        if revokes(document, row.public_id, agency):
            return document
    except (SealedElsewhere, ValueError, KeyError, TypeError):
        pass
    return unverified_revocation(
        release_id=row.public_id,
        revocation_id=revocation.public_id,
        revoked_at=revocation.revoked_at,
        disclosing_agency=agency,
    )


def revoked_at(
    db: Session, row: ConsentRelease, *, keys: KeyWrapper, at: datetime
) -> datetime | None:
    """When the release was first revoked, by `at`; None if it was not."""
    times = [r.revoked_at for r in revocations(db, row, keys=keys) if r.revoked_at <= at]
    return min(times, default=None)


def last_revoked_at(db: Session, client_id: int) -> datetime | None:
    """When the client's latest revocation took effect: a revocation that met a
    disclosure already logged under its release takes effect just after it (`revoke`),
    which can be after the revoking request's own time."""
    return db.exec(
        select(func.max(ReleaseRevocation.revoked_at))
        .join(ConsentRelease, ConsentRelease.id == ReleaseRevocation.release_id)
        .where(ConsentRelease.client_id == client_id)
    ).one()


def revoke(
    db: Session,
    row: ConsentRelease,
    *,
    reason: str | None,
    actor: Actor,
    keys: KeyWrapper,
    at: datetime,
) -> consent.SignedRevocation:
    """Effective at once: the owner's disclosure point reads revocations on every request,
    and a page that read them before this commits is made again (`audit.revoked`). One
    that logged first is logged before it: the revocation takes effect just after the last
    disclosure of the client to another agency logged from `at` on (any of them may have
    rested on this release, as the one the client joined the case under)."""
    hold_release(db, row)
    client = db.get(Client, row.client_id)
    at = effective_after_disclosures(
        db, row.agency_id, row.public_id, client_ref=client.public_id if client else None, at=at
    )
    if is_unverified(db, row, keys=keys, at=at):
        # The client's withdrawal is theirs to make whatever its stored copy says: a
        # revocation names the release by its number and nothing of what it says, and it
        # holds if the genuine copy is restored from a backup. Nothing is shared under the
        # release meanwhile either way (it counts as none).
        if revoked_at(db, row, keys=keys, at=at) is not None:
            raise Conflict("release", "This release is already revoked.")
    else:
        document = signed_document(db, row, keys=keys)
        state = consent.status(document, revocations(db, row, keys=keys), at=at).state
        if state == consent.ReleaseState.REVOKED:
            raise Conflict("release", "This release is already revoked.")
    agency = db.get(Agency, row.agency_id)
    key_id, signing_key, at = _signing_key(db, agency, keys=keys, at=at)
    revocation_row = ReleaseRevocation(
        release_id=row.id,
        revoked_at=at,
        document="",
        recorded_by_id=actor.id,
        reason=None,  # in the sealed document only: it may name people
    )
    revocation = consent.Revocation(
        revocation_id=revocation_row.public_id,
        release_id=row.public_id,
        disclosing_agency=agency.public_id,
        revoked_at=at,
        recorded_by=consent.StaffRef(actor.public_id, actor.display_name),
        reason=reason or None,
    )
    signed = consent.sign_revocation(revocation, signing_key, key_id)
    db.add(revocation_row)
    db.flush()  # its id is part of the place its document is sealed for
    _seal_revocation_document(db, revocation_row, row, json.dumps(signed.to_dict()), keys=keys)
    record(
        db,
        AuditTag.RELEASE_REVOKED,
        agency_id=agency.id,
        actor=actor,
        subject=row.public_id,
        detail={"revocation": revocation_row.public_id},
        at=at,
    )
    return signed


NOT_VERIFIED = (
    "This release could not be verified and is not in force: nothing is shared under it. "
    "Ask your agency's lead."
)
# What a print, preview or download of one answers: its page, which still opens, says why
# and what to do.
NOT_VERIFIED_COPY = (
    "This release could not be verified and is not in force: its stored copy does not match "
    "what was signed, so it is not printed, previewed or downloaded. Its page says what to do."
)


class Unverified(Conflict):
    """A signed release whose document does not open for its row, or whose signature does
    not verify as this row's (tampered with, moved): it counts as no release, as the
    consent gate counts it, and no status is told of it."""

    def __init__(self, message: str = NOT_VERIFIED) -> None:
        super().__init__("release", message)


def is_unverified(db: Session, row: ConsentRelease, *, keys: KeyWrapper, at: datetime) -> bool:
    """A signed release the consent gate counts as none (a draft is not one)."""
    return row.state == ReleaseState.SIGNED and verified_release(db, row, keys=keys, at=at) is None


def refuse_unverified(
    db: Session,
    row: ConsentRelease,
    *,
    keys: KeyWrapper,
    at: datetime,
    message: str = NOT_VERIFIED_COPY,
) -> None:
    """Unverified (409) for a signed release that does not verify: nothing that would
    treat it as a release (its form, its files, a preview, a revocation) is made of it."""
    if is_unverified(db, row, keys=keys, at=at):
        raise Unverified(message)


def status_of(
    db: Session, row: ConsentRelease, *, keys: KeyWrapper, at: datetime, tz: tzinfo = UTC
) -> consent.ReleaseStatus | None:
    """None for a draft or discarded release: only a signed release has a status. `tz`:
    the time zone its reason's dates are written in. Unverified for a signed release that
    does not verify: what it says is not read as if it were in force."""
    if row.state != ReleaseState.SIGNED:
        return None
    document = verified_release(db, row, keys=keys, at=at)
    if document is None:
        raise Unverified()
    return consent.status(document, revocations(db, row, keys=keys), at=at, tz=tz)


@dataclass(frozen=True)
class ReleaseRow:
    """One release of a client's list: `status` None for a draft (or for one not verified,
    `verified` False: shown as not in force, its own words unread)."""

    row: ConsentRelease
    status: consent.ReleaseStatus | None
    verified: bool = True


def release_rows(
    db: Session, client: Client, *, keys: KeyWrapper, at: datetime, tz: tzinfo = UTC
) -> list[ReleaseRow]:
    """The client's releases with their status: one that does not verify is listed as
    such, and the others, and the rest of the client's page, still show."""
    shown = []
    for row in releases_of(db, client):
        try:
            shown.append(ReleaseRow(row, status_of(db, row, keys=keys, at=at, tz=tz)))
        except Unverified:
            shown.append(ReleaseRow(row, None, verified=False))
    return shown


def releases_of(db: Session, client: Client) -> list[ConsentRelease]:
    return list(
        db.exec(
            select(ConsentRelease)
            .where(
                ConsentRelease.client_id == client.id,
                ConsentRelease.state != ReleaseState.DISCARDED,
            )
            .order_by(ConsentRelease.created_at.desc(), ConsentRelease.id.desc())
        )
    )


def access_release(
    db: Session, agency: Agency, public_id: str, *, holder: StaffUser | None = None
) -> ConsentRelease:
    """Only the disclosing agency's staff load its releases; with `holder` (a viewer who
    reads only as a survivor-mentor), only a release of a client of their caseload. Anyone
    else gets 404."""
    query = select(ConsentRelease).where(
        ConsentRelease.public_id == public_id, ConsentRelease.agency_id == agency.id
    )
    if holder is not None:
        query = query.join(Client, Client.id == ConsentRelease.client_id).where(
            visibility.client_held_by(holder.id)
        )
    row = db.exec(query).first()
    if row is None:
        raise NotFound("release")
    return row


def release_for(db: Session, viewer: Viewer, public_id: str) -> ConsentRelease:
    """A release a signed-in person opens: of their agency, and of a client they may open
    (`clients.client_for`)."""
    return access_release(db, viewer.agency, public_id, holder=visibility.caseload_holder(viewer))


def recipient_choices(db: Session, owner: Agency) -> list[Agency]:
    """The MDT's agencies a release may name: every active agency on the node but the owner."""
    return list(
        db.exec(
            select(Agency)
            .where(Agency.id != owner.id, Agency.is_active.is_(True))
            .order_by(Agency.kind, Agency.name)
        )
    )


def signed_as_minor_now_adult(
    db: Session,
    client: Client,
    *,
    keys: KeyWrapper,
    rules: MinorSigning = MinorSigning(),
    at: datetime,
) -> list[ConsentRelease]:
    """Releases still in effect that were signed while the client was a minor, once the
    client is an adult: each stays valid, and the client may now sign a new one alone."""
    rows = [r for r in releases_of(db, client) if r.state == ReleaseState.SIGNED]
    if not rows or rules.is_minor(birth_date_of(db, client, keys=keys), at):
        return []
    found = []
    for row in rows:
        document = verified_release(db, row, keys=keys, at=at)
        if document is None:  # not in force: it stays valid for no one (release_rows)
            continue
        state = consent.status(document, revocations(db, row, keys=keys), at=at).state
        if document.client_is_minor and state in (
            consent.ReleaseState.ACTIVE,
            consent.ReleaseState.NOT_YET_EFFECTIVE,
        ):
            found.append(row)
    return found
