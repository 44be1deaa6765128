"""The release pages' two forms, read and checked: a new release drafted from the
new-release form, and the client's signature recorded from the sign form. Every bad
field is reported at once, beside its own input."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from sqlmodel import Session

import consent
from portal import i18n
from portal.crypto import KeyWrapper
from portal.errors import Invalid
from portal.i18n import N_
from portal.models import Actor, Agency, Client, ConsentRelease
from portal.sections import catalogue
from portal.services import validation
from portal.services.releases import (
    MinorSigning,
    agency_kinds,
    birth_date_of,
    draft_document,
    draft_release,
    recipient_choices,
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


def draft_from_form(
    db: Session,
    client: Client,
    form: Mapping[str, object],
    *,
    tz: tzinfo,
    keys: KeyWrapper,
    rules: MinorSigning,
    actor: Actor,
    at: datetime,
    max_term_days: int = 365,
) -> ConsentRelease:
    """Read the new-release form, report every bad field at once, and draft the release.

    A release lasts at most `max_term_days` from its effective date (the node's
    PORTAL_RELEASE_MAX_TERM_DAYS, what the jurisdiction allows).

    Dates are calendar days in the MDT's time zone: a release starts at the beginning of its
    effective date and stops at the beginning of its end date (or the event's latest date).
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
        language = form.get("language") or client.preferred_language
        if not isinstance(language, str) or language not in i18n.languages():
            raise Invalid("language", "Choose the language of the form from the list.")
        return language

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
            language=values["language"],
            keys=keys,
            rules=rules,
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


def _signer_from_form(
    form: Mapping[str, object], prefix: str, *, required: bool, for_minor: bool = False
):
    if prefix == "signer":
        label = "The signer's name"
    elif for_minor:
        # Names what is missing: the client is a minor and the rule needs a second signer.
        label = "The client is a minor: the name of the parent, legal guardian or custodian"
    else:
        label = "The second signer's name"
    name = validation.text(
        form.get(f"{prefix}_name"), f"{prefix}_name", max_length=120, required=required, label=label
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
    actor: Actor,
    keys: KeyWrapper,
    rules: MinorSigning,
    at: datetime,
) -> consent.SignedRelease:
    """Record the signature from the sign form: typed on this device, or signed on paper.

    Whether a second signer is needed is decided now, from the client's age today."""
    draft = draft_document(row)
    today = at.astimezone(tz).date()
    client = db.get(Client, row.client_id)
    now_required = rules.signers(birth_date_of(db, client, keys=keys), at)
    draft = consent.Release(**{**draft.__dict__, "version": 2, **now_required})

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
                form,
                "second_signer",
                required=draft.second_signer_required,
                for_minor=draft.client_is_minor,
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
            rules=rules,
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
