"""Pages for anyone signed in: verify a signed release, and every agency's public keys."""

from __future__ import annotations

from sqlmodel import select
from starlette.datastructures import UploadFile
from starlette.responses import Response

import consent
from consent.signing import MAX_ENVELOPE_BYTES
from portal import i18n
from portal.errors import Invalid
from portal.federation import membership
from portal.i18n import N_
from portal.models import Agency, Client
from portal.sections import catalogue
from portal.services import clients, release_documents, release_forms, visibility
from portal.services import keys as agency_keys
from portal.web.context import Context
from portal.web.render import render


def _page(ctx: Context, **values) -> dict:
    return {
        "languages": i18n.languages(),
        "language": i18n.language_or_default(ctx.field("language")),
        "report": None,
        "errors": {},
        "pasted": "",
        "library_words": [],
        **values,
    }


def verify_form(ctx: Context) -> Response:
    return render(ctx, "consent/verify.html", _page(ctx))


def _uploaded_bytes(ctx: Context) -> tuple[bytes, str]:
    """The document sent, and the field it came in (a message about it goes beside that)."""
    upload = ctx.form.get("document") if ctx.form is not None else None
    if isinstance(upload, UploadFile) and upload.filename:
        # One byte past the limit is enough for the library to say "too large".
        return upload.file.read(MAX_ENVELOPE_BYTES + 1), "document"
    pasted = ctx.field("pasted")
    if pasted.strip():
        return pasted.encode("utf-8"), "pasted"
    raise Invalid("document", CHOOSE_A_FILE)


# What the form says beside a file it cannot take, in the page's language. The consent
# library says why a file is not a signed release in English: a reader of another language
# is told so in theirs, and the library's words are kept for the IT administrator (as the
# result's "Missing or wrong" keeps the fields).
CHOOSE_A_FILE = N_("Choose a signed release file, or paste its text.")
NOT_A_RELEASE = N_("This file cannot be read as a signed release.")


def _form_errors(language: str, errors: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """The messages beside the fields in `language`, and the library's English words that
    a translated message stands for (none on an English page)."""
    shown, kept = {}, []
    for at, message in errors.items():
        translated = i18n.gettext(language, message)
        if language == i18n.SOURCE_LANGUAGE or translated != message:
            shown[at] = translated
        else:
            shown[at] = i18n.gettext(language, NOT_A_RELEASE)
            kept.append(message)
    return shown, kept


def verify(ctx: Context) -> Response:
    pasted = ctx.field("pasted")
    sent_in = "document"
    try:
        document, sent_in = _uploaded_bytes(ctx)
        report = release_documents.verify_upload(
            ctx.db,
            document,
            keys=ctx.request.app.state.keys,
            at=ctx.now,
            tz=ctx.settings.tz,
            agency_id=ctx.viewer.agency.id,
            holder=visibility.caseload_holder(ctx.viewer),
            elsewhere=membership.partner_keys(ctx.db),
            names_readable=lambda row: (
                clients.read_names_in(
                    ctx.db,
                    ctx.db.get(Client, row.client_id),
                    requester=ctx.requester,
                    subject=row.public_id,
                    at=ctx.now,
                    shown_in="release verified against its stored copy",
                ).allowed
            ),
        )
    except Invalid as error:
        errors = {(sent_in if at == "document" else at): m for at, m in error.errors.items()}
        errors, library_words = _form_errors(
            i18n.language_or_default(ctx.field("language")), errors
        )
        return render(
            ctx,
            "consent/verify.html",
            _page(
                ctx, errors=errors, library_words=library_words, pasted=pasted[:MAX_ENVELOPE_BYTES]
            ),
            status=error.status_code,
        )
    names = {a.public_id: a for a in ctx.db.exec(select(Agency))}
    release = report.release
    return render(
        ctx,
        "consent/verify.html",
        _page(
            ctx,
            report=report,
            changed=release_documents.field_words(report.tampered_fields),
            agencies=names,
            end=consent.release_end(release) if release is not None else None,
            release_end=consent.release_end(release) if release is not None else None,
            state_words=STATE_WORDS,
            signature_words=SIGNATURE_WORDS,
            tz=ctx.settings.tz,
            purpose_labels=release_forms.PURPOSE_LABELS,
            section_titles={s.key: s.title for s in catalogue().sections},
        ),
    )


# The library's state, as a person reads it on the verify page; times are shown apart, in
# the MDT's zone.
STATE_WORDS = {
    "active": N_("in effect"),
    "not_yet_effective": N_("it has not started yet"),
    "expired": N_("it has ended"),
    "revoked": N_("it was revoked"),
}
# Why a signature is not valid, in a few words beside "not valid" (the verdict above it
# says it whole).
SIGNATURE_WORDS = {
    "malformed": N_("malformed"),
    "unsupported_algorithm": N_("unsupported algorithm"),
    "unknown_key": N_("unknown key"),
    "bad_signature": N_("bad signature"),
    "wrong_agency": N_("another agency's key"),
    "signed_in_future": N_("signed in the future"),
    "key_not_yet_created": N_("key not yet made"),
    "key_retired": N_("key retired"),
}


def public_keys(ctx: Context) -> Response:
    rows = agency_keys.public_signing_keys(ctx.db)
    by_agency: dict[str, tuple] = {}
    for agency, key in rows:
        by_agency.setdefault(agency.public_id, (agency, []))[1].append(key)
    return render(ctx, "consent/keys.html", {"agencies": list(by_agency.values())})
