"""Consent releases in the portal: draft, sign with the agency key, revoke, read status.

The document rules live in the `consent` library; this module stores releases, builds the
node's key ring and writes the audit entries. A signed release is never changed: a new
release replaces it, and the old one is revoked or left to expire.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from fhir.resources.R4B.consent import Consent as FhirConsent
from nacl.signing import SigningKey, VerifyKey
from sqlmodel import Session, select

import consent
from consent.keys import b64url_decode
from consent.validate import normalise_name
from portal.audit import AuditTag, record
from portal.crypto import KeyWrapper
from portal.errors import Conflict, Invalid, NotFound
from portal.models import (
    Agency,
    AgencyKey,
    Client,
    ConsentRelease,
    KeyPurpose,
    ReleaseRecipient,
    ReleaseRevocation,
    ReleaseSection,
    ReleaseState,
    RestrictedPerson,
)
from portal.sections import catalogue
from portal.services import validation
from portal.services.keys import current_key

# Problems about the signature itself are expected on a draft; they are checked at signing.
_SIGNING_FIELDS = ("signer", "second_signer", "witness", "signed_at")


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


def _signing_key(db: Session, agency: Agency, *, keys: KeyWrapper) -> tuple[str, SigningKey]:
    key = current_key(db, agency.id, KeyPurpose.SIGNING)
    return key.key_id, SigningKey(keys.unwrap(key.wrapped_secret))


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
    client_is_minor: bool,
    second_signer_required: bool,
    language: str,
    actor,
    at: datetime,
) -> ConsentRelease:
    """A release prepared with the client, to be read and then signed."""
    agency = db.get(Agency, client.agency_id)
    try:
        purpose_value = consent.Purpose(purpose)
    except ValueError:
        raise Invalid("purpose", "Choose a purpose from the list.") from None
    row = ConsentRelease(
        agency_id=agency.id,
        client_id=client.id,
        purpose=purpose_value,
        effective_at=effective_at,
        ends_at=effective_at,
        document="{}",
        created_at=at,
        created_by_id=getattr(actor, "id", None),
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
        second_signer_required=second_signer_required,
        client_is_minor=client_is_minor,
        effective_at=effective_at,
        expiry=expiry,
        statements=consent.default_statements(),
        language=language or None,
        witness=None,
        signed_at=None,
        signature_method=consent.SignatureMethod.TYPED,
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
    row.document = json.dumps(document.to_dict())
    db.add(row)
    db.flush()
    record(
        db,
        AuditTag.RELEASE_DRAFTED,
        agency_id=agency.id,
        actor=actor,
        subject=row.public_id,
        detail={"client": client.public_id},
        at=at,
    )
    return row


def draft_document(row: ConsentRelease) -> consent.Release:
    if row.state != ReleaseState.DRAFT:
        raise Conflict("release", "This release is already signed; make a new one to change it.")
    return consent.Release.from_dict(json.loads(row.document))


def excluded_signers(db: Session, client: Client) -> list[str]:
    return list(
        db.exec(select(RestrictedPerson.name).where(RestrictedPerson.client_id == client.id))
    )


def sign(
    db: Session,
    row: ConsentRelease,
    *,
    signer: consent.Signer,
    second_signer: consent.Signer | None,
    method: consent.SignatureMethod,
    actor,
    keys: KeyWrapper,
    at: datetime,
) -> consent.SignedRelease:
    """Record the client's signature, witnessed by `actor`, and sign with the agency key."""
    draft = draft_document(row)
    client = db.get(Client, row.client_id)
    agency = db.get(Agency, row.agency_id)
    document = consent.Release(
        **{
            **draft.__dict__,
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
        excluded_signers=excluded_signers(db, client),
    )
    if problems:
        raise _problems_as_invalid(problems)
    key_id, signing_key = _signing_key(db, agency, keys=keys)
    signed = consent.sign_release(document, signing_key, key_id)
    row.state = ReleaseState.SIGNED
    row.effective_at = document.effective_at
    row.document = json.dumps(signed.to_dict())
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
        },
        at=at,
    )
    return signed


def discard(db: Session, row: ConsentRelease, *, actor, at: datetime) -> None:
    draft_document(row)  # refuses a signed release
    row.state = ReleaseState.DISCARDED
    record(
        db,
        AuditTag.RELEASE_DISCARDED,
        agency_id=row.agency_id,
        actor=actor,
        subject=row.public_id,
        at=at,
    )


def signed_document(row: ConsentRelease) -> consent.Release:
    if row.state != ReleaseState.SIGNED:
        raise Invalid("release", "This release has not been signed.")
    return consent.Release.from_dict(json.loads(row.document)["release"])


def revocations(db: Session, row: ConsentRelease) -> list[consent.Revocation]:
    return [
        consent.Revocation.from_dict(json.loads(r.document)["revocation"])
        for r in db.exec(select(ReleaseRevocation).where(ReleaseRevocation.release_id == row.id))
    ]


def revoke(
    db: Session, row: ConsentRelease, *, reason: str | None, actor, keys: KeyWrapper, at: datetime
) -> consent.SignedRevocation:
    """Effective at once: the owner's disclosure point reads revocations on every request."""
    document = signed_document(row)
    if consent.status(document, revocations(db, row), at=at).state == consent.ReleaseState.REVOKED:
        raise Conflict("release", "This release is already revoked.")
    agency = db.get(Agency, row.agency_id)
    revocation_row = ReleaseRevocation(
        release_id=row.id,
        revoked_at=at,
        document="{}",
        recorded_by_id=actor.id,
        reason=(reason or None),
    )
    revocation = consent.Revocation(
        revocation_id=revocation_row.public_id,
        release_id=row.public_id,
        disclosing_agency=agency.public_id,
        revoked_at=at,
        recorded_by=consent.StaffRef(actor.public_id, actor.display_name),
        reason=reason or None,
    )
    key_id, signing_key = _signing_key(db, agency, keys=keys)
    signed = consent.sign_revocation(revocation, signing_key, key_id)
    revocation_row.document = json.dumps(signed.to_dict())
    db.add(revocation_row)
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


def status_of(db: Session, row: ConsentRelease, *, at: datetime) -> consent.ReleaseStatus | None:
    """None for a draft or discarded release: only a signed release has a status."""
    if row.state != ReleaseState.SIGNED:
        return None
    return consent.status(signed_document(row), revocations(db, row), at=at)


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


def access_release(db: Session, agency: Agency, public_id: str) -> ConsentRelease:
    """Only the disclosing agency's staff load its releases; anyone else gets 404."""
    row = db.exec(
        select(ConsentRelease).where(
            ConsentRelease.public_id == public_id, ConsentRelease.agency_id == agency.id
        )
    ).first()
    if row is None:
        raise NotFound("release")
    return row


# --- Issue 4: what the pages and the CLI need on top of the verbs above. -------------------

RESTRICTION_REASONS = {
    "suspected_exploiter": "suspected exploiter",
    "not_safe_to_involve": "not safe to involve",
}
CAPACITY_LABELS = {
    consent.Capacity.SELF: "the client themself",
    consent.Capacity.PARENT: "parent",
    consent.Capacity.LEGAL_GUARDIAN: "legal guardian",
    consent.Capacity.CUSTODIAN_BY_COURT_ORDER: "custodian by court order",
}
FORM_LANGUAGES = {"en": "English"}  # the statements exist in English only, for now
DEFAULT_TERM_DAYS = 90
_EXCLUDED_MESSAGE = "can never sign a release"  # consent.validate's wording for a restricted name


def restricted_persons_of(db: Session, client: Client) -> list[RestrictedPerson]:
    return list(
        db.exec(
            select(RestrictedPerson)
            .where(RestrictedPerson.client_id == client.id)
            .order_by(RestrictedPerson.created_at, RestrictedPerson.id)
        )
    )


def record_restricted_person(
    db: Session, client: Client, *, name: object, reason: object, actor, at: datetime
) -> RestrictedPerson:
    """Someone recorded on the client's file who may never sign a release for them."""
    values = validation.collect(
        name=lambda: validation.text(name, "name", max_length=120),
        reason=lambda: _restriction_reason(reason),
    )
    wanted = normalise_name(values["name"])
    if any(normalise_name(n) == wanted for n in excluded_signers(db, client)):
        raise Conflict("name", "This person is already recorded on this client.")
    person = RestrictedPerson(
        client_id=client.id,
        name=values["name"],
        reason=values["reason"],
        created_at=at,
        created_by_id=getattr(actor, "id", None),
    )
    db.add(person)
    db.flush()
    # The name stays out of the log: the entry says that someone was recorded, and why.
    record(
        db,
        AuditTag.RESTRICTED_PERSON_RECORDED,
        agency_id=client.agency_id,
        actor=actor,
        subject=client.public_id,
        detail={"reason": values["reason"]},
        at=at,
    )
    return person


def _restriction_reason(value: object) -> str:
    if value not in RESTRICTION_REASONS:
        raise Invalid("reason", "Choose why this person may not sign.")
    return str(value)


def recipient_choices(db: Session, owner: Agency) -> list[Agency]:
    """The MDT's agencies a release may name: every active agency on the node but the owner."""
    return list(
        db.exec(
            select(Agency)
            .where(Agency.id != owner.id, Agency.is_active.is_(True))
            .order_by(Agency.kind, Agency.name)
        )
    )


def _start_of_day(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def draft_from_form(
    db: Session,
    client: Client,
    form: Mapping[str, object],
    *,
    tz: tzinfo,
    actor,
    at: datetime,
    max_term_days: int = 365,
) -> ConsentRelease:
    """Read the new-release form, report every bad field at once, and draft the release.

    Dates are calendar days in the MDT's time zone: a release starts at the beginning of its
    effective date and stops at the beginning of its end date (or the event's latest date),
    at most `max_term_days` later (the node's PORTAL_RELEASE_MAX_TERM_DAYS).
    """
    owner = db.get(Agency, client.agency_id)
    allowed = {a.public_id for a in recipient_choices(db, owner)}
    known_sections = catalogue().keys()
    recipients = [r for r in _strings(form.get("recipients")) if r]
    sections = [s for s in _strings(form.get("sections")) if s]
    expiry_kind = form.get("expiry_kind") or "date"

    def check_recipients() -> list[str]:
        if not recipients:
            raise Invalid("recipients", "Choose at least one agency to share with.")
        if any(r not in allowed for r in recipients):
            raise Invalid("recipients", "Choose agencies from the list.")
        return recipients

    def check_sections() -> list[str]:
        if not sections:
            raise Invalid("sections", "Choose at least one kind of information to share.")
        if any(s not in known_sections for s in sections):
            raise Invalid("sections", "Choose sections from the list.")
        return sections

    def check_purpose() -> str:
        try:
            return consent.Purpose(form.get("purpose")).value
        except ValueError:
            raise Invalid("purpose", "Choose a purpose from the list.") from None

    def check_language() -> str:
        language = form.get("language") or "en"
        if language not in FORM_LANGUAGES:
            raise Invalid("language", "Choose the language of the form from the list.")
        return str(language)

    def check_kind() -> str:
        if expiry_kind not in ("date", "event"):
            raise Invalid("expiry_kind", "Choose how the release ends.")
        return str(expiry_kind)

    checks = dict(
        recipients=check_recipients,
        sections=check_sections,
        purpose=check_purpose,
        language=check_language,
        expiry_kind=check_kind,
        effective_date=lambda: validation.domain_date(
            form.get("effective_date"), "effective_date", label="Effective date"
        ),
    )
    if expiry_kind == "event":
        checks["event"] = lambda: validation.text(
            form.get("event"), "event", max_length=200, label="The ending event"
        )
        checks["latest_date"] = lambda: validation.domain_date(
            form.get("latest_date"), "latest_date", label="Latest end date"
        )
    else:
        checks["end_date"] = lambda: validation.domain_date(
            form.get("end_date"), "end_date", label="End date"
        )
    values = validation.collect(**checks)
    effective_at = _start_of_day(values["effective_date"], tz)
    today = at.astimezone(tz).date()
    if values["effective_date"] < today:
        raise Invalid("effective_date", "The effective date cannot be in the past.")
    if expiry_kind == "event":
        end_field = "latest_date"
        expiry: consent.Expiry = consent.EventExpiry(
            values["event"], _start_of_day(values["latest_date"], tz)
        )
    else:
        end_field = "end_date"
        expiry = consent.DateExpiry(_start_of_day(values["end_date"], tz))
    end = expiry.at if isinstance(expiry, consent.DateExpiry) else expiry.latest_at
    if end <= effective_at:
        raise Invalid(end_field, "The release must end after its effective date.")
    last_day = values["effective_date"] + timedelta(days=max_term_days)
    if end > _start_of_day(last_day, tz):
        raise Invalid(
            end_field,
            f"A release can last at most {max_term_days} days: end it on "
            f"{last_day.isoformat()} or earlier.",
        )
    try:
        return draft_release(
            db,
            client,
            recipients=values["recipients"],
            sections=values["sections"],
            purpose=values["purpose"],
            effective_at=effective_at,
            expiry=expiry,
            client_is_minor=form.get("client_is_minor") == "on",
            second_signer_required=form.get("second_signer_required") == "on",
            language=values["language"],
            actor=actor,
            at=at,
        )
    except Invalid as error:
        # The library names document fields; the form shows them beside its own inputs.
        renamed = {"expiry": end_field, "effective_at": "effective_date"}
        raise Invalid.of({renamed.get(k, k): v for k, v in error.errors.items()}) from None


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, str)]
    return []


def _signer_from_form(form: Mapping[str, object], prefix: str, *, required: bool):
    name = validation.text(
        form.get(f"{prefix}_name"),
        f"{prefix}_name",
        max_length=120,
        required=required,
        label="The signer's name" if prefix == "signer" else "The second signer's name",
    )
    if not name:
        return None
    try:
        capacity = consent.Capacity(form.get(f"{prefix}_capacity"))
    except ValueError:
        raise Invalid(f"{prefix}_capacity", "Choose in what capacity this person signs.") from None
    return consent.Signer(name, capacity)


def sign_from_form(
    db: Session,
    row: ConsentRelease,
    form: Mapping[str, object],
    *,
    tz: tzinfo,
    actor,
    keys: KeyWrapper,
    at: datetime,
) -> consent.SignedRelease:
    """Record the signature from the sign form: typed on this device, or signed on paper."""
    draft = draft_document(row)
    today = at.astimezone(tz).date()

    def check_method() -> consent.SignatureMethod:
        try:
            return consent.SignatureMethod(form.get("method"))
        except ValueError:
            raise Invalid("method", "Say how the client signed.") from None

    def check_date() -> date:
        signed_on = validation.iso_date(form.get("signed_date"), "signed_date", label="The date")
        if signed_on != today:
            raise Invalid("signed_date", f"The signer writes today's date ({today.isoformat()}).")
        return signed_on

    def check_paper() -> bool:
        if form.get("method") == consent.SignatureMethod.PAPER and form.get("paper_seen") != "on":
            raise Invalid(
                "paper_seen", "Confirm that you saw the paper form signed and will keep it on file."
            )
        return True

    try:
        values = validation.collect(
            method=check_method,
            signed_date=check_date,
            paper_seen=check_paper,
            signer=lambda: _signer_from_form(form, "signer", required=True),
            second_signer=lambda: _signer_from_form(
                form, "second_signer", required=draft.second_signer_required
            ),
        )
    except Invalid as error:
        # A restricted signer is named in the same answer as every other mistake.
        signers = {p: _signer_as_typed(form, p) for p in ("signer", "second_signer")}
        restricted = _restricted_signer_errors(db, row, draft, signers)
        raise Invalid.of({**restricted, **error.errors}) from None
    try:
        return sign(
            db,
            row,
            signer=values["signer"],
            second_signer=values["second_signer"],
            method=values["method"],
            actor=actor,
            keys=keys,
            at=at,
        )
    except Invalid as error:
        signers = {p: values[p] for p in ("signer", "second_signer")}
        errors = {k: v for k, v in error.errors.items() if k not in ("signer", "second_signer")}
        for prefix in ("signer", "second_signer"):
            if prefix in error.errors and _EXCLUDED_MESSAGE not in error.errors[prefix]:
                errors[f"{prefix}_name"] = error.errors[prefix]
        raise Invalid.of({**_restricted_signer_errors(db, row, draft, signers), **errors}) from None


def _signer_as_typed(form: Mapping[str, object], prefix: str) -> consent.Signer | None:
    name = form.get(f"{prefix}_name")
    if not isinstance(name, str) or not name.strip():
        return None
    try:
        capacity = consent.Capacity(form.get(f"{prefix}_capacity"))
    except ValueError:
        capacity = consent.Capacity.SELF
    return consent.Signer(name, capacity)


def _restricted_signer_errors(
    db: Session, row: ConsentRelease, draft: consent.Release, signers: dict
) -> dict[str, str]:
    """consent.validate's refusal of a restricted signer, with the capacities that remain."""
    document = consent.Release(**{**draft.__dict__, **signers})
    client = db.get(Client, row.client_id)
    errors = {}
    for problem in consent.validate(
        document,
        section_keys=catalogue().keys(),
        agency_kinds=agency_kinds(db),
        excluded_signers=excluded_signers(db, client),
    ):
        signer = signers.get(problem.field)
        if signer is not None and _EXCLUDED_MESSAGE in problem.message:
            others = ", ".join(
                CAPACITY_LABELS[c] for c in consent.remaining_capacities([signer.capacity])
            )
            errors[f"{problem.field}_name"] = (
                f"{problem.message} Someone else may sign as: {others}."
            )
    return errors


def signed_release(row: ConsentRelease) -> consent.SignedRelease:
    if row.state != ReleaseState.SIGNED:
        raise Invalid("release", "This release has not been signed.")
    envelope = json.loads(row.document)
    return consent.SignedRelease(
        release=consent.Release.from_dict(envelope["release"]),
        key_id=envelope["signature"]["kid"],
        signature=b64url_decode(envelope["signature"]["sig"]),
    )


def signed_envelope_bytes(row: ConsentRelease) -> bytes:
    """The signed envelope as stored, for download: exactly what was signed, nothing added."""
    signed_release(row)  # refuses a draft
    return json.dumps(json.loads(row.document), indent=2, ensure_ascii=False).encode("utf-8")


def fhir_consent(db: Session, row: ConsentRelease, *, at: datetime) -> dict:
    """The signed release as a FHIR R4 Consent; a revoked or expired one reads inactive."""
    names = dict(db.exec(select(Agency.public_id, Agency.name)).all())
    resource = consent.to_fhir_consent(signed_release(row), agency_names=names)
    current = status_of(db, row, at=at)
    if current is not None and current.state in (
        consent.ReleaseState.REVOKED,
        consent.ReleaseState.EXPIRED,
    ):
        resource["status"] = "inactive"
        FhirConsent.model_validate(resource)  # still a valid resource after the change
    return resource


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

    @property
    def valid(self) -> bool:
        return (
            self.signature_ok
            and self.status is not None
            and self.status.state == consent.ReleaseState.ACTIVE
        )

    @property
    def summary(self) -> str:
        if not self.signature_ok or self.status is None:
            return self.reason
        return f"The signature is valid and {self.status.reason}."


def verify_upload(db: Session, data: bytes, *, at: datetime) -> VerifyReport:
    """Verify an uploaded signed release against this node's key ring and revocations.

    Raises Invalid (a plain message, never a trace) for input that is not a signed release
    at all: oversized, not UTF-8, not JSON, or the wrong shape.
    """
    try:
        envelope = consent.load_envelope(data)
    except consent.EnvelopeError as error:
        raise Invalid("document", str(error)) from None
    ring = keyring(db)
    verdict = consent.verify(envelope, ring, at=at)
    release_id = envelope["release"].get("release_id")
    stored = None
    if isinstance(release_id, str):
        stored = db.exec(
            select(ConsentRelease).where(
                ConsentRelease.public_id == release_id,
                ConsentRelease.state == ReleaseState.SIGNED,
            )
        ).first()
    if not verdict.ok:
        tampered: tuple[str, ...] = ()
        if verdict.code == consent.VerifyCode.BAD_SIGNATURE and stored is not None:
            tampered = _differing_fields(json.loads(stored.document), envelope)
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
    known = []
    if stored is not None:
        for revocation in db.exec(
            select(ReleaseRevocation).where(ReleaseRevocation.release_id == stored.id)
        ):
            checked = consent.verify_revocation(json.loads(revocation.document), ring, at=at)
            if checked.ok:
                known.append(checked.document)
    current = consent.status(document, known, at=at)
    return VerifyReport(
        True,
        verdict.reason,
        current.state.value,
        None,
        status=current,
        release=document,
        key_id=envelope["signature"]["kid"],
        revocations_known=stored is not None,
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
