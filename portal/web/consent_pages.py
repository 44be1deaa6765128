"""Pages for anyone signed in: verify a signed release, and every agency's public keys."""

from __future__ import annotations

from sqlmodel import select
from starlette.datastructures import UploadFile
from starlette.responses import Response

import consent
from consent.signing import MAX_ENVELOPE_BYTES
from portal.errors import Invalid
from portal.models import Agency
from portal.sections import catalogue
from portal.services import keys as agency_keys
from portal.services import release_documents
from portal.web.context import Context
from portal.web.render import render


def verify_form(ctx: Context) -> Response:
    return render(ctx, "consent/verify.html", {"report": None, "errors": {}, "pasted": ""})


def _uploaded_bytes(ctx: Context) -> bytes:
    upload = ctx.form.get("document") if ctx.form is not None else None
    if isinstance(upload, UploadFile) and upload.filename:
        # One byte past the limit is enough for the library to say "too large".
        return upload.file.read(MAX_ENVELOPE_BYTES + 1)
    pasted = ctx.field("pasted")
    if pasted.strip():
        return pasted.encode("utf-8")
    raise Invalid("document", "Choose a signed release file, or paste its text.")


def verify(ctx: Context) -> Response:
    pasted = ctx.field("pasted")
    try:
        report = release_documents.verify_upload(ctx.db, _uploaded_bytes(ctx), at=ctx.now)
    except Invalid as error:
        return render(
            ctx,
            "consent/verify.html",
            {"report": None, "errors": error.errors, "pasted": pasted[:MAX_ENVELOPE_BYTES]},
            status=error.status_code,
        )
    names = {a.public_id: a for a in ctx.db.exec(select(Agency))}
    return render(
        ctx,
        "consent/verify.html",
        {
            "report": report,
            "errors": {},
            "pasted": "",
            "agencies": names,
            "section_titles": {s.key: s.title for s in catalogue().sections},
            "release_end": consent.release_end(report.release) if report.release else None,
            "state_words": STATE_WORDS,
        },
    )


# The library's state, as a person reads it on the verify page; times are shown apart, in
# the MDT's zone.
STATE_WORDS = {
    "active": "in effect",
    "not_yet_effective": "it has not started yet",
    "expired": "it has ended",
    "revoked": "it was revoked",
}


def public_keys(ctx: Context) -> Response:
    rows = agency_keys.public_signing_keys(ctx.db)
    by_agency: dict[str, tuple] = {}
    for agency, key in rows:
        by_agency.setdefault(agency.public_id, (agency, []))[1].append(key)
    return render(ctx, "consent/keys.html", {"agencies": list(by_agency.values())})
