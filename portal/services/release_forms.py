"""The release pages' two forms, once read (`portal.web.release_forms` reads them): a new
release drafted, with what holds between its fields checked (not in the past, ends after it
starts, within the node's longest term), and the client's signature recorded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from sqlmodel import Session

import consent
from portal.crypto import KeyWrapper
from portal.errors import Invalid
from portal.i18n import N_
from portal.models import Actor, Client, ConsentRelease
from portal.sections import catalogue
from portal.services import validation
from portal.services.releases import (
    MinorSigning,
    agency_kinds,
    birth_date_of,
    draft_document,
    draft_release,
    sign,
)
from portal.services.restricted_persons import excluded_signers

# Shown on the printable form too, so marked for translation.
CAPACITY_LABELS = {
    consent.Capacity.SELF: N_("the client themself"),
    consent.Capacity.PARENT: N_("parent"),
    consent.Capacity.LEGAL_GUARDIAN: N_("legal guardian"),
    consent.Capacity.CUSTODIAN_BY_COURT_ORDER: N_("custodian by court order"),
}
PURPOSE_LABELS = {
    consent.Purpose.MDT_CASE_REVIEW: N_("MDT case review"),
    consent.Purpose.CARE_COORDINATION: N_("care coordination"),
    consent.Purpose.REFERRAL: N_("referral"),
}


DEFAULT_TERM_DAYS = 90


_EXCLUDED_MESSAGE = "can never sign a release"  # consent.validate's wording for a restricted name


def _start_of_day(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True)
class DraftInput:
    """A new release as the form gave it, each field read and checked on its own
    (`portal.web.release_forms` reads the form); what holds between fields is checked here.

    Dates are calendar days in the MDT's time zone. `end_date` is given for a release that
    ends on a date, `event` and `latest_date` for one that ends with an event."""

    recipients: list[str]
    sections: list[str]
    purpose: str
    language: str
    effective_date: date
    expiry_kind: str  # "date" or "event"
    end_date: date | None = None
    event: str | None = None
    latest_date: date | None = None


def draft(
    db: Session,
    client: Client,
    given: DraftInput,
    *,
    tz: tzinfo,
    keys: KeyWrapper,
    rules: MinorSigning,
    actor: Actor,
    at: datetime,
    max_term_days: int = 365,
) -> ConsentRelease:
    """Draft the release the form asked for.

    A release lasts at most `max_term_days` from its effective date (the node's
    PORTAL_RELEASE_MAX_TERM_DAYS, what the jurisdiction allows).

    Dates are calendar days in the MDT's time zone: a release starts at the beginning of its
    effective date and stops at the beginning of its end date (or the event's latest date).
    """
    effective_at = _start_of_day(given.effective_date, tz)
    today = at.astimezone(tz).date()
    if given.effective_date < today:
        raise Invalid("effective_date", "The effective date cannot be in the past.")
    if given.expiry_kind == "event":
        end_field = "latest_date"
        expiry: consent.Expiry = consent.EventExpiry(
            given.event, _start_of_day(given.latest_date, tz)
        )
    else:
        end_field = "end_date"
        expiry = consent.DateExpiry(_start_of_day(given.end_date, tz))
    end = expiry.at if isinstance(expiry, consent.DateExpiry) else expiry.latest_at
    if end <= effective_at:
        raise Invalid(end_field, "The release must end after its effective date.")
    last_day = given.effective_date + timedelta(days=max_term_days)
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
            recipients=given.recipients,
            sections=given.sections,
            purpose=given.purpose,
            effective_at=effective_at,
            expiry=expiry,
            language=given.language,
            keys=keys,
            rules=rules,
            actor=actor,
            at=at,
        )
    except Invalid as error:
        # The library names document fields; the form shows them beside its own inputs.
        renamed = {"expiry": end_field, "effective_at": "effective_date"}
        raise Invalid.of({renamed.get(k, k): v for k, v in error.errors.items()}) from None


@dataclass(frozen=True)
class SignerInput:
    """One signer as the sign form names them: a name and a capacity, as typed."""

    name: str | None = None
    capacity: str | None = None


@dataclass(frozen=True)
class SignatureInput:
    """The sign form, read (`portal.web.release_forms`): how the client signed, the date
    the signer wrote, whether staff saw the paper form signed, and the signers. Checked
    here, because who must sign is decided at signing, from the client's age that day."""

    method: str | None = None
    signed_date: str | None = None
    paper_seen: bool = False
    signer: SignerInput = SignerInput()
    second_signer: SignerInput = SignerInput()


def _signer(given: SignerInput, prefix: str, *, required: bool, for_minor: bool = False):
    if prefix == "signer":
        label = "The signer's name"
    elif for_minor:
        # Names what is missing: the client is a minor and the rule needs a second signer.
        label = "The client is a minor: the name of the parent, legal guardian or custodian"
    else:
        label = "The second signer's name"
    name = validation.text(
        given.name, f"{prefix}_name", max_length=120, required=required, label=label
    )
    if not name:
        return None
    try:
        capacity = consent.Capacity(given.capacity)
    except ValueError:
        raise Invalid(f"{prefix}_capacity", "Choose in what capacity this person signs.") from None
    return consent.Signer(name, capacity)


def sign_release(
    db: Session,
    row: ConsentRelease,
    given: SignatureInput,
    *,
    tz: tzinfo,
    actor: Actor,
    keys: KeyWrapper,
    rules: MinorSigning,
    at: datetime,
) -> consent.SignedRelease:
    """Record the signature from the sign form: typed on this device, or signed on paper.

    Whether a second signer is needed is decided now, from the client's age today. Every
    bad field is reported at once, beside its own input."""
    draft = draft_document(db, row, keys=keys)
    today = at.astimezone(tz).date()
    client = db.get(Client, row.client_id)
    now_required = rules.signers(birth_date_of(db, client, keys=keys), at)
    draft = consent.Release(**{**draft.__dict__, "version": 2, **now_required})

    def check_method() -> consent.SignatureMethod:
        try:
            return consent.SignatureMethod(given.method)
        except ValueError:
            raise Invalid("method", "Say how the client signed.") from None

    def check_date() -> date:
        signed_on = validation.iso_date(given.signed_date, "signed_date", label="The date")
        if signed_on != today:
            raise Invalid("signed_date", f"The signer writes today's date ({today.isoformat()}).")
        return signed_on

    def check_paper() -> bool:
        if given.method == consent.SignatureMethod.PAPER and not given.paper_seen:
            raise Invalid(
                "paper_seen", "Confirm that you saw the paper form signed and will keep it on file."
            )
        return True

    try:
        values = validation.collect(
            method=check_method,
            signed_date=check_date,
            paper_seen=check_paper,
            signer=lambda: _signer(given.signer, "signer", required=True),
            second_signer=lambda: _signer(
                given.second_signer,
                "second_signer",
                required=draft.second_signer_required,
                for_minor=draft.client_is_minor,
            ),
        )
    except Invalid as error:
        # A restricted signer is named in the same answer as every other mistake.
        signers = {
            "signer": _signer_as_typed(given.signer),
            "second_signer": _signer_as_typed(given.second_signer),
        }
        restricted = _restricted_signer_errors(db, row, draft, signers, keys=keys)
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
            rules=rules,
            at=at,
        )
    except Invalid as error:
        signers = {p: values[p] for p in ("signer", "second_signer")}
        errors = {k: v for k, v in error.errors.items() if k not in ("signer", "second_signer")}
        for prefix in ("signer", "second_signer"):
            if prefix in error.errors and _EXCLUDED_MESSAGE not in error.errors[prefix]:
                errors[f"{prefix}_name"] = error.errors[prefix]
        raise Invalid.of(
            {**_restricted_signer_errors(db, row, draft, signers, keys=keys), **errors}
        ) from None


def _signer_as_typed(given: SignerInput) -> consent.Signer | None:
    name = given.name
    if not isinstance(name, str) or not name.strip():
        return None
    try:
        capacity = consent.Capacity(given.capacity)
    except ValueError:
        capacity = consent.Capacity.SELF
    return consent.Signer(name, capacity)


def _restricted_signer_errors(
    db: Session, row: ConsentRelease, draft: consent.Release, signers: dict, *, keys: KeyWrapper
) -> dict[str, str]:
    """consent.validate's refusal of a restricted signer, with the capacities that remain."""
    document = consent.Release(**{**draft.__dict__, **signers})
    client = db.get(Client, row.client_id)
    errors = {}
    for problem in consent.validate(
        document,
        section_keys=catalogue().keys(),
        agency_kinds=agency_kinds(db),
        excluded_signers=excluded_signers(db, client, keys=keys),
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
