"""Release pages for the disclosing agency: create, print, sign, revoke, download, FHIR."""

from __future__ import annotations

import json
from datetime import timedelta
from functools import partial

from sqlmodel import select
from starlette.responses import RedirectResponse, Response

import consent
from portal import i18n
from portal.db import commit
from portal.errors import Forbidden, Invalid, NotFound
from portal.federation import links
from portal.i18n import N_
from portal.models import Agency, AgencyKind, Client, ReleaseState
from portal.sections import catalogue
from portal.services import (
    clients,
    release_documents,
    release_forms,
    releases,
    restricted_persons,
    validation,
)
from portal.services import release_preview as previews
from portal.web import confirm_pages, release_words
from portal.web.context import Context
from portal.web.release_forms import draft_from_form, sign_from_form
from portal.web.render import render

# How the section checklist is grouped on the form; sections a deployment adds to the
# catalogue and that no group names appear under "Other information".
SECTION_GROUPS = (
    (N_("Identity"), ("identity", "safe_contact")),
    (
        N_("Safety, needs and care"),
        ("safety_plan", "needs_assessment", "care_plan", "placement_housing"),
    ),
    (N_("Health"), ("medical", "mental_health", "substance_use")),
    (N_("Legal, court and investigation"), ("legal_court", "investigation", "immigration")),
    (N_("Support and coordination"), ("mentor_accompaniment", "education", "mdt_minutes")),
)
SECTION_HINTS = {
    "identity": N_("Name and date of birth."),
    "safe_contact": N_(
        "Where the client lives and how to reach them safely. A new address only for "
        "people the client trusts completely."
    ),
    "substance_use": N_(
        "Protected by federal law (42 CFR Part 2): share only if the client wants to."
    ),
    "mental_health": N_("Share only what the client agrees the team needs."),
}


def grouped_sections() -> list[tuple[str, list]]:
    sections = catalogue().sections
    named = {key for _, keys in SECTION_GROUPS for key in keys}
    groups = [(title, [s for s in sections if s.key in keys]) for title, keys in SECTION_GROUPS]
    others = [s for s in sections if s.key not in named]
    if others:
        groups.append((N_("Other information"), others))
    return [(title, items) for title, items in groups if items]


def _client(ctx: Context) -> Client:
    return clients.client_for(ctx.db, ctx.viewer, ctx.request.path_params["client_id"])


def _release(ctx: Context):
    row = releases.release_for(ctx.db, ctx.viewer, ctx.request.path_params["release_id"])
    if row.state == ReleaseState.DISCARDED:
        raise NotFound("release")  # a discarded draft is gone from every page
    return row


def _names_read(ctx: Context, row, *, shown_in: str) -> bool:
    """Whether the viewer's roles may read the names on a signed release (the identity
    section, under the agency's own policy): it names who signed, the client themself most
    often. Each page and file of a signed release is audited as a read of the client's
    identity, allowed or withheld; a draft names no one."""
    if row.state != ReleaseState.SIGNED:
        return False
    client = ctx.db.get(Client, row.client_id)
    return clients.read_names_in(
        ctx.db,
        client,
        requester=ctx.requester,
        subject=row.public_id,
        at=ctx.now,
        shown_in=shown_in,
    ).allowed


def _keys(ctx: Context):
    """The node's key wrapper: releases' documents are sealed under the agency's data key."""
    return ctx.request.app.state.keys


def _rules(ctx: Context) -> releases.MinorSigning:
    return releases.MinorSigning.from_settings(ctx.settings)


def _new_values(ctx: Context, client: Client, source) -> dict:
    today = ctx.now.astimezone(ctx.settings.tz).date()
    term = min(release_forms.DEFAULT_TERM_DAYS, ctx.settings.release_max_term_days)
    default_end = today + timedelta(days=term)

    def get(name: str, default: str = "") -> str:
        value = source.get(name)
        return value if isinstance(value, str) else default

    return {
        "recipients": [v for v in source.getlist("recipients") if isinstance(v, str)],
        "sections": [v for v in source.getlist("sections") if isinstance(v, str)],
        "purpose": get("purpose", consent.Purpose.MDT_CASE_REVIEW.value),
        "effective_date": get("effective_date", today.isoformat()),
        "expiry_kind": get("expiry_kind", "date"),
        "end_date": get("end_date", default_end.isoformat()),
        "event": get("event"),
        "latest_date": get("latest_date", default_end.isoformat()),
        "language": i18n.language_or_default(get("language", client.preferred_language)),
        "default_end": default_end,
    }


def _new_form(ctx: Context, client, values: dict, *, status=200, errors=None) -> Response:
    agencies = releases.recipient_choices(ctx.db, ctx.viewer.agency)
    chosen_system = [
        a for a in agencies if a.public_id in values["recipients"] and a.kind == AgencyKind.SYSTEM
    ]
    birth_date = releases.birth_date_of(ctx.db, client, keys=ctx.request.app.state.keys)
    return render(
        ctx,
        "releases/new.html",
        {
            "language": values["language"],
            "signing": _rules(ctx).signers(birth_date, ctx.now),
            "purpose_labels": release_forms.PURPOSE_LABELS,
            "client": client,
            "agencies": agencies,
            "chosen_system": chosen_system,
            "groups": grouped_sections(),
            "hints": SECTION_HINTS,
            "purposes": list(consent.Purpose),
            "languages": i18n.languages(),
            "values": values,
            "errors": release_words.refusals(values["language"], errors or {}),
            "term_days": release_forms.DEFAULT_TERM_DAYS,
        },
        status=status,
        block="system_warning",
    )


def release_new(ctx: Context) -> Response:
    """The form; with htmx and chosen recipients, only the system-based warning block."""
    client = _client(ctx)
    return _new_form(ctx, client, _new_values(ctx, client, ctx.request.query_params))


def release_create(ctx: Context) -> Response:
    client = _client(ctx)
    form = {
        k: ctx.form.getlist(k) if k in ("recipients", "sections") else ctx.field(k)
        for k in ctx.form
    }
    try:
        row = draft_from_form(
            ctx.db,
            client,
            form,
            tz=ctx.settings.tz,
            keys=ctx.request.app.state.keys,
            rules=_rules(ctx),
            actor=ctx.viewer.user,
            at=ctx.now,
            max_term_days=ctx.settings.release_max_term_days,
        )
    except Invalid as error:
        values = _new_values(ctx, client, ctx.form)
        return _new_form(ctx, client, values, status=error.status_code, errors=error.errors)
    ctx.flash(
        "The release is ready. Print it or read it through with the client, "
        "then record the signature."
    )
    return RedirectResponse(f"/releases/{row.public_id}", status_code=303)


def _view(ctx: Context, row) -> dict:
    document = previews.document_of(ctx.db, row, keys=_keys(ctx))
    by_id = {a.public_id: a for a in ctx.db.exec(select(Agency))}
    recipients = [by_id[r] for r in document.recipients if r in by_id]
    sections = [catalogue().get(key) for key in document.sections]
    client = ctx.db.get(Client, row.client_id)
    status = releases.status_of(ctx.db, row, keys=_keys(ctx), at=ctx.now, tz=ctx.settings.tz)
    return {
        "release": row,
        "document": document,
        "client": client,
        "owner": by_id.get(document.disclosing_agency),
        "recipients": recipients,
        "system_recipients": [a for a in recipients if a.kind == AgencyKind.SYSTEM],
        "sections": [s for s in sections if s is not None],
        "status": status,
        "end": consent.release_end(document),
        # Said on every page and on paper: a revoked or ended release must not read as one
        # in effect to whoever relies on it.
        "is_revoked": status is not None and status.state == consent.ReleaseState.REVOKED,
        "is_ended": status is not None and status.state == consent.ReleaseState.EXPIRED,
        "revoked_at": releases.revoked_at(ctx.db, row, keys=_keys(ctx), at=ctx.now),
        "restricted": restricted_persons.in_force(ctx.db, client, keys=_keys(ctx)),
        "reason_label": restricted_persons.reason_label,
        "capacities": list(consent.Capacity),
        "capacity_labels": release_forms.CAPACITY_LABELS,
        "purpose_labels": release_forms.PURPOSE_LABELS,
        "language_name": i18n.languages().get(document.language or "", document.language),
        "others_may_sign": [
            release_forms.CAPACITY_LABELS[c] for c in consent.remaining_capacities([])
        ],
        "tz": ctx.settings.tz,
        "is_draft": row.state == ReleaseState.DRAFT,
        # Who must sign, if the client signed now (a draft may be older than a birthday).
        "signing": _rules(ctx).signers(
            releases.birth_date_of(ctx.db, client, keys=ctx.request.app.state.keys), ctx.now
        )
        if row.state == ReleaseState.DRAFT
        else None,
    }


def _not_verified(ctx: Context, row, *, status: int = 200, errors: dict | None = None) -> Response:
    """The page of a signed release that does not verify: that it counts as no release,
    what differs if that can be told safely, and what to do; nothing to act on it with.
    Audited as every view of a signed release is, as a read of the names it holds."""
    told = release_documents.not_verified(ctx.db, row, keys=_keys(ctx), at=ctx.now)
    view = {
        "release": row,
        "client": ctx.db.get(Client, row.client_id),
        "told": told,
        "names_allowed": _names_read(ctx, row, shown_in="page of a release that does not verify"),
        "errors": errors or {},
        "tz": ctx.settings.tz,
        "capacity_labels": release_forms.CAPACITY_LABELS,
        "purpose_labels": release_forms.PURPOSE_LABELS,
        "revoked_at": releases.revoked_at(ctx.db, row, keys=_keys(ctx), at=ctx.now),
    }
    if told.signed is not None:  # only the genuine signed document's words are shown
        by_id = {a.public_id: a for a in ctx.db.exec(select(Agency))}
        sections = [catalogue().get(key) for key in told.signed.sections]
        view.update(
            recipients=[by_id[r] for r in told.signed.recipients if r in by_id],
            sections=[s for s in sections if s is not None],
            end=consent.release_end(told.signed),
        )
    return render(ctx, "releases/not_verified.html", view, status=status)


def _refuse_unverified(ctx: Context, row, message: str = releases.NOT_VERIFIED_COPY) -> None:
    releases.refuse_unverified(ctx.db, row, keys=_keys(ctx), at=ctx.now, message=message)


def _detail(ctx: Context, row, *, status: int = 200, errors: dict | None = None) -> Response:
    if status >= 400:  # the failed form's writes go; the read of the page shown is kept
        ctx.db.rollback()
        ctx.keep_on_error = True
    if releases.is_unverified(ctx.db, row, keys=_keys(ctx), at=ctx.now):
        return _not_verified(ctx, row, status=status, errors=errors)
    view = _view(ctx, row)
    view["names_allowed"] = _names_read(ctx, row, shown_in="release page")
    # Who may never sign: names of the survivor's circle, read as the client's name is.
    view["restricted_names"] = bool(view["restricted"]) and (
        clients.read_names_in(
            ctx.db,
            view["client"],
            requester=ctx.requester,
            subject=row.public_id,
            at=ctx.now,
            shown_in="persons who may never sign",
        ).allowed
    )
    view["restricted"] = restricted_persons.as_told(
        view["restricted"], details=view["restricted_names"]
    )
    names = (
        "signer_name",
        "signer_capacity",
        "second_signer_name",
        "second_signer_capacity",
        "method",
        "signed_date",
        "paper_seen",
        "reason",
    )
    today = ctx.now.astimezone(ctx.settings.tz).date()
    values = {k: ctx.field(k) for k in names}
    values["signed_date"] = values["signed_date"] or ""
    view.update(
        errors=errors or {},
        values=values,
        today=today,
        revocations=releases.revocations(ctx.db, row, keys=_keys(ctx))
        if row.state == ReleaseState.SIGNED
        else [],
    )
    return render(ctx, "releases/detail.html", view, status=status)


def release_detail(ctx: Context) -> Response:
    return _detail(ctx, _release(ctx))


def release_print(ctx: Context) -> Response:
    """The form the client reads and signs, in the release's language."""
    row = _release(ctx)
    _refuse_unverified(ctx, row)
    view = _view(ctx, row)
    view["names_allowed"] = _names_read(ctx, row, shown_in="release form to print")
    view["statements"] = view["document"].statements
    view["language"] = view["document"].language or i18n.SOURCE_LANGUAGE
    return render(ctx, "releases/print.html", view)


def release_sign(ctx: Context) -> Response:
    row = _release(ctx)
    form = {k: ctx.field(k) for k in ctx.form} if ctx.form else {}
    try:
        sign_from_form(
            ctx.db,
            row,
            form,
            tz=ctx.settings.tz,
            actor=ctx.viewer.user,
            keys=ctx.request.app.state.keys,
            rules=_rules(ctx),
            at=ctx.now,
        )
    except Invalid as error:
        return _detail(ctx, row, status=error.status_code, errors=error.errors)
    ctx.flash("The signature is recorded and the release is signed with your agency's key.")
    return RedirectResponse(f"/releases/{row.public_id}", status_code=303)


def release_revoke(ctx: Context) -> Response:
    row = _release(ctx)
    try:
        reason = validation.text(
            ctx.field("reason"), "reason", max_length=500, required=False, label="Reason"
        )
        releases.revoke(
            ctx.db,
            row,
            reason=reason or None,
            actor=ctx.viewer.user,
            keys=ctx.request.app.state.keys,
            at=ctx.now,
        )
    except Invalid as error:
        confirm = _revoke_confirm(ctx, row, value=ctx.field("reason")[:500])
        return confirm_pages.page(ctx, confirm, status=error.status_code, errors=error.errors)
    ctx.flash(
        "The release is revoked. Partners can no longer see anything under it."
        + tell_revoked_elsewhere(ctx, row.agency_id, row.client_id)
    )
    return RedirectResponse(f"/releases/{row.public_id}", status_code=303)


def tell_revoked_elsewhere(ctx: Context, agency_id: int, client_id: int) -> str:
    """After a release of the client was revoked (on its page, or by recording a signer
    as never to sign): what owners on other nodes were told of this agency's part in the
    survivor's cases may have rested on it (participation, or the release she joined
    under), so they are told again now. Returns what to add to the page's message: the
    coordinators not reached, or nothing."""
    untold = links.tell_changed(
        ctx.db,
        ctx.db.get(Agency, agency_id),
        client_id,
        keys=ctx.request.app.state.keys,
        federation=ctx.request.app.state.federation,
        # Who takes part as of the revocation, which may take effect just after ctx.now.
        at=max(ctx.now, releases.last_revoked_at(ctx.db, client_id) or ctx.now),
        between=partial(commit, ctx.db),
    )
    return "".join(
        f" {coordinator.name} did not answer from its node, so partners on other nodes "
        f"may still be told for now that your agency takes part in case {case.reference};"
        " the portal tells it again each time that case's page opens (at most every five "
        "minutes)."
        for coordinator, case in untold
    )


def release_discard(ctx: Context) -> Response:
    row = _release(ctx)
    try:
        releases.discard(ctx.db, row, actor=ctx.viewer.user, at=ctx.now)
    except Invalid as error:
        confirm = discard_release(ctx, row)
        return confirm_pages.page(ctx, confirm, status=error.status_code, errors=error.errors)
    client = ctx.db.get(Client, row.client_id)
    ctx.flash("The draft was discarded.")
    return RedirectResponse(f"/clients/{client.public_id}", status_code=303)


def _download(body: bytes, filename: str, media_type: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def _may_download(ctx: Context, row, *, shown_in: str) -> None:
    # The signed file names who signed, and cannot be shown in part. A draft has no file
    # (its own answer says so).
    if row.state == ReleaseState.SIGNED and not _names_read(ctx, row, shown_in=shown_in):
        ctx.db.commit()  # the refusal is audited too
        raise Forbidden(
            "Your agency's policy keeps clients' names from your role, and the signed "
            "release names who signed it."
        )


def release_signed_json(ctx: Context) -> Response:
    row = _release(ctx)
    _refuse_unverified(ctx, row)
    _may_download(ctx, row, shown_in="signed release file")
    return _download(
        release_documents.signed_envelope_bytes(ctx.db, row, keys=_keys(ctx)),
        f"release-{row.public_id}.json",
        "application/json",
    )


def release_fhir(ctx: Context) -> Response:
    row = _release(ctx)
    _refuse_unverified(ctx, row)
    _may_download(ctx, row, shown_in="release as a FHIR Consent")
    resource = release_documents.fhir_consent(ctx.db, row, keys=_keys(ctx), at=ctx.now)
    return _download(
        json.dumps(resource, indent=2, ensure_ascii=False).encode("utf-8"),
        f"release-{row.public_id}.fhir.json",
        "application/fhir+json",
    )


# --------------------------------------------------------------------- releases


def revoke_release(ctx: Context, row=None, *, value: str = "") -> confirm_pages.Confirm:
    row = row or _release(ctx)
    view = _view(ctx, row)
    url = f"/releases/{row.public_id}"
    partners = confirm_pages.names_of(view["recipients"]) or "no partner"
    return confirm_pages.Confirm(
        title=f"Revoke the release for client {view['client'].reference}?",
        consequences=[
            f"From this moment {partners} can see nothing "
            "more under this release; every partner's next request is refused.",
            "Your agency's key signs the revocation; the release and its revocation stay on "
            "record and in the audit log.",
            "It cannot be undone: to share again, the client signs a new release.",
        ],
        action=f"{url}/revoke",
        button="Revoke this release",
        back=url,
        back_label="Back to the release",
        keep="Keep the release",
        reason=confirm_pages.Reason("reason", "Reason", required=False, value=value),
    )


def withdraw_unverified(ctx: Context, row, *, value: str = "") -> confirm_pages.Confirm:
    """The client's withdrawal of a release whose stored copy does not verify: its words
    cannot be read (its partners are not named), only its number and client."""
    url = f"/releases/{row.public_id}"
    reference = ctx.db.get(Client, row.client_id).reference
    return confirm_pages.Confirm(
        title=f"Record that client {reference} withdraws this release?",
        consequences=[
            "Nothing is shared under it now: its stored copy does not verify. Recording the "
            "withdrawal keeps it so if the genuine copy is ever restored from a backup.",
            "Your agency's key signs the revocation of this release by its number alone; it "
            "names nothing of what the release says. Both stay on record and in the audit log.",
            "It cannot be undone: to share again, the client signs a new release.",
        ],
        action=f"{url}/revoke",
        button="Record the withdrawal",
        back=url,
        back_label="Back to the release",
        keep="Do not record it",
        reason=confirm_pages.Reason("reason", "Reason", required=False, value=value),
    )


def discard_release(ctx: Context, row=None) -> confirm_pages.Confirm:
    row = row or _release(ctx)
    view = _view(ctx, row)
    url = f"/releases/{row.public_id}"
    return confirm_pages.Confirm(
        title=f"Discard this draft release for client {view['client'].reference}?",
        consequences=[
            "The draft is removed from the client's releases. It was never signed, so nothing "
            "was shared under it.",
            "The discarding is kept in your agency's audit log.",
            "It cannot be undone: to prepare a release again, start a new one.",
        ],
        action=f"{url}/discard",
        button="Discard the draft",
        back=url,
        back_label="Back to the draft",
        keep="Keep the draft",
    )


def release_revoke_page(ctx: Context) -> Response:
    row = _release(ctx)
    if row.state != ReleaseState.SIGNED:
        return RedirectResponse(f"/releases/{row.public_id}", status_code=303)
    return confirm_pages.page(ctx, _revoke_confirm(ctx, row))


def _revoke_confirm(ctx: Context, row, *, value: str = "") -> confirm_pages.Confirm:
    if releases.is_unverified(ctx.db, row, keys=_keys(ctx), at=ctx.now):
        return withdraw_unverified(ctx, row, value=value)
    return revoke_release(ctx, row, value=value)


def release_discard_page(ctx: Context) -> Response:
    row = _release(ctx)
    if row.state != ReleaseState.DRAFT:
        return RedirectResponse(f"/releases/{row.public_id}", status_code=303)
    return confirm_pages.page(ctx, discard_release(ctx, row))
