"""The release pages' two forms read into typed input: the new-release form (each field
checked on its own, every bad one reported at once, beside its own input) and the sign
form. What holds between fields, and who must sign, is the service's to check
(`portal.services.release_forms`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, tzinfo

from sqlmodel import Session

import consent
from portal import i18n
from portal.crypto import KeyWrapper
from portal.errors import Invalid
from portal.models import Actor, Agency, Client, ConsentRelease
from portal.sections import catalogue
from portal.services import release_forms, validation
from portal.services.release_forms import DraftInput, SignatureInput, SignerInput
from portal.services.releases import MinorSigning, recipient_choices


def read_draft(
    form: Mapping[str, object], *, allowed: set[str], default_language: str
) -> DraftInput:
    """The new-release form, every field checked on its own. `allowed`: the public ids of
    the agencies this client's agency may share with."""
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
        language = form.get("language") or default_language
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
    return DraftInput(**validation.collect(**checks))


def read_signature(form: Mapping[str, object]) -> SignatureInput:
    """The sign form as typed: how, the date written, the paper seen, the signers."""

    def text(name: str) -> str | None:
        value = form.get(name)
        return value if isinstance(value, str) else None

    def signer(prefix: str) -> SignerInput:
        return SignerInput(text(f"{prefix}_name"), text(f"{prefix}_capacity"))

    return SignatureInput(
        method=text("method"),
        signed_date=text("signed_date"),
        paper_seen=form.get("paper_seen") == "on",
        signer=signer("signer"),
        second_signer=signer("second_signer"),
    )


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
    """Read the new-release form, report every bad field at once, and draft the release."""
    owner = db.get(Agency, client.agency_id)
    given = read_draft(
        form,
        allowed={a.public_id for a in recipient_choices(db, owner)},
        default_language=client.preferred_language,
    )
    return release_forms.draft(
        db,
        client,
        given,
        tz=tz,
        keys=keys,
        rules=rules,
        actor=actor,
        at=at,
        max_term_days=max_term_days,
    )


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
    """Record the signature from the sign form (see `release_forms.sign_release`)."""
    return release_forms.sign_release(
        db, row, read_signature(form), tz=tz, actor=actor, keys=keys, rules=rules, at=at
    )


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, str)]
    return []
