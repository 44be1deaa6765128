"""The case summary for MDT members, each owner's block, and the preview as a recipient."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlencode

from starlette.responses import Response

import consent
from portal import i18n
from portal.disclosure import parse_purpose, preview
from portal.errors import NotFound
from portal.federation import summary as federated_summary
from portal.models import Client, ReleaseState, Role
from portal.sections import catalogue
from portal.services import (
    case_summary,
    cases,
    convening,
    release_forms,
    releases,
)
from portal.services import release_preview as previews
from portal.web import own_log
from portal.web.context import Context
from portal.web.render import render


def _purpose(ctx: Context) -> str:
    return parse_purpose(ctx.request.query_params.get("purpose") or None)


def _requester(ctx: Context):
    return ctx.requester.asking(_purpose(ctx))


def summary(ctx: Context) -> Response:
    """The whole summary in one response while the page's budget lasts; the owners it has
    not reached by then are placeholders that load on their own."""
    case = cases.case_for(ctx.db, ctx.viewer, ctx.request.path_params["case_id"])
    purpose = _purpose(ctx)
    overview = case_summary.overview(
        ctx.db,
        case,
        window_days=ctx.settings.convening_window_days,
        today=convening.local_today(ctx.now, ctx.settings.tz),
    )
    told, others = federated_summary.told_participants(
        ctx.db,
        ctx.requester.asking(purpose),
        case,
        overview.participants,
        at=ctx.now,
        tz=ctx.settings.tz,
        keys=ctx.request.app.state.keys,
        federation=ctx.request.app.state.federation,
        between=ctx.db.commit,
    )
    overview = replace(overview, participants=told)
    blocks = federated_summary.page_blocks(
        ctx.db,
        ctx.requester.asking(purpose),
        case,
        overview.participants,
        at=ctx.now,
        tz=ctx.settings.tz,
        keys=ctx.request.app.state.keys,
        federation=ctx.request.app.state.federation,  # owners on other nodes (issue 16)
        budget_seconds=max(ctx.settings.summary_budget_ms, 0) / 1000,
        between=ctx.db.commit,  # the owners' answers are their own transaction
    )
    return render(
        ctx,
        "cases/summary.html",
        {
            "overview": overview,
            "untold": others,
            "blocks": blocks,
            "purpose": purpose,
            "purposes": list(consent.Purpose),
            "own_log": own_log.where_kept(ctx, case),
        },
    )


def owner_block(ctx: Context) -> Response:
    """One owner's sections: an htmx fragment, or without JavaScript a page of its own."""
    case = cases.case_for(ctx.db, ctx.viewer, ctx.request.path_params["case_id"])
    purpose = _purpose(ctx)
    owner = federated_summary.owner_of_case(
        ctx.db,
        ctx.requester.asking(purpose),
        case,
        ctx.request.path_params["agency_id"],
        at=ctx.now,
        tz=ctx.settings.tz,
        keys=ctx.request.app.state.keys,
        federation=ctx.request.app.state.federation,
        between=ctx.db.commit,
    )
    block = federated_summary.owner_block(
        ctx.db,
        ctx.requester.asking(purpose),
        case,
        owner,
        at=ctx.now,
        tz=ctx.settings.tz,
        keys=ctx.request.app.state.keys,
        federation=ctx.request.app.state.federation,
        between=ctx.db.commit,  # the owner's answer is its own transaction
    )
    return render(
        ctx,
        "cases/owner.html",
        {
            "case": case,
            "owner": owner,
            "decisions": block.decisions,
            "unavailable": block.unavailable,
            "purpose": purpose,
            "own_log": own_log.where_kept(ctx, case),
        },
        block="owner_block",
    )


def release_preview(ctx: Context) -> Response:
    """What a recipient would see under this one release, before or after the client signs:
    a signed release through the disclosure point itself (audited as a preview), a draft
    from its own words and the owner's policy (no content; see release_preview)."""
    release = releases.release_for(ctx.db, ctx.viewer, ctx.request.path_params["release_id"])
    if release.state == ReleaseState.DISCARDED:
        raise NotFound("release")  # a discarded draft is gone from every page
    releases.refuse_unverified(ctx.db, release, keys=ctx.request.app.state.keys, at=ctx.now)
    document = previews.document_of(ctx.db, release, keys=ctx.request.app.state.keys)
    recipients = previews.recipients(ctx.db, release, keys=ctx.request.app.state.keys)
    choices = {a.public_id: previews.role_choices(ctx.db, a) for a in recipients}
    agency_id, role = _chosen(ctx)
    recipient = next((a for a in recipients if a.public_id == agency_id), None)
    if agency_id and recipient is None:
        raise NotFound("agency")
    language = i18n.language_or_default(
        ctx.request.query_params.get("language") or document.language
    )
    errors, status = {}, 200
    decisions = lines = None
    if recipient is not None and role:
        if role not in {r.value for r in choices[recipient.public_id].roles}:
            said = i18n.gettext(language, CHOOSE_A_ROLE_HELD)
            errors["as"] = said % {"agency": recipient.name}
            status = 400
        elif release.state == ReleaseState.SIGNED:
            decisions = preview(
                ctx.db,
                ctx.requester,
                release,
                recipient,
                role,
                ctx.now,
                tz=ctx.settings.tz,
                keys=ctx.request.app.state.keys,
            )
        else:
            lines = previews.draft_preview(
                ctx.db, release, recipient, role, keys=ctx.request.app.state.keys
            )
    client = ctx.db.get(Client, release.client_id)
    return render(
        ctx,
        "releases/preview.html",
        {
            # Read by the survivor: in the release's language unless staff choose another.
            "language": language,
            "languages": i18n.languages(),
            "here": _address_without_language(ctx),
            "release": release,
            "document": document,
            "client": client,
            "is_draft": release.state == ReleaseState.DRAFT,
            "status": releases.status_of(
                ctx.db, release, keys=ctx.request.app.state.keys, at=ctx.now, tz=ctx.settings.tz
            ),
            "recipients": recipients,
            "choices": choices,
            "recipient": recipient,
            "role": role,
            "a_role": _with_article(language, Role(role).label)
            if role in {r.value for r in Role}
            else "",
            "decisions": decisions,
            "lines": lines,
            "errors": errors,
            "sections": [s for s in map(catalogue().get, document.sections) if s is not None],
            "section_titles": {s.key: s.title for s in catalogue().sections},
            "end": consent.release_end(document),
            "purpose_labels": release_forms.PURPOSE_LABELS,
            "tz": ctx.settings.tz,
            "WOULD_SHARE": previews.WOULD_SHARE,
            "POLICY_WITHHOLDS": previews.POLICY_WITHHOLDS,
        },
        status=status,
    )


A_ROLE, AN_ROLE = i18n.N_("a %(role)s"), i18n.N_("an %(role)s")
CHOOSE_A_ROLE_HELD = i18n.N_("Choose one of the roles held at %(agency)s from the list.")


def _with_article(language: str, label: str) -> str:
    """ "an advocate", "a case manager", "an MDT coordinator" (said "em-dee-tee"), in the
    language (whose words for a role need no article of their own: "alguien con el rol de
    gestor/a de casos")."""
    spoken = AN_ROLE if label[:1] in "aeiouAEIOU" or label.startswith("MDT") else A_ROLE
    return i18n.gettext(language, spoken) % {"role": i18n.gettext(language, label)}


def _address_without_language(ctx: Context) -> str:
    """This page's address with its choices kept and the language left for a link to add."""
    kept = [(k, v) for k, v in ctx.request.query_params.multi_items() if k != "language"]
    return ctx.request.url.path + (f"?{urlencode(kept)}" if kept else "")


def _chosen(ctx: Context) -> tuple[str, str]:
    """(agency public id, role): from the one "see it as" choice (`as=AGENCY ROLE`), or
    from `agency` and `role` given apart (links, older bookmarks)."""
    params = ctx.request.query_params
    chosen = params.get("as") or ""
    if chosen:
        agency_id, _, role = chosen.partition(" ")
        return agency_id, role
    return params.get("agency") or "", params.get("role") or ""
