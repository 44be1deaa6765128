"""An agency's own section forms for its own clients, generated from the catalogue."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.responses import RedirectResponse, Response

from portal.disclosure import parse_purpose
from portal.errors import Forbidden, Invalid, NotFound
from portal.sections import Section, catalogue
from portal.services import clients, sections
from portal.web.context import Context
from portal.web.render import render


def _client(ctx: Context):
    return clients.client_for(ctx.db, ctx.viewer, ctx.request.path_params["client_id"])


def _editable(ctx: Context) -> list[Section]:
    """Minutes and accompaniment are kept by the meetings and the mentor log, not here."""
    return [s for s in catalogue().for_discipline(ctx.viewer.agency.discipline) if s.editable]


def _section(ctx: Context) -> Section:
    key = ctx.request.path_params["key"]
    own = {s.key: s for s in _editable(ctx)}
    if key not in own:
        raise NotFound("section")
    return own[key]


def _requester(ctx: Context):
    """Own records are read for a purpose too, chosen as on the case summary."""
    return ctx.requester.asking(parse_purpose(ctx.request.query_params.get("purpose") or None))


def section_list(ctx: Context) -> Response:
    client = _client(ctx)
    editable = _editable(ctx)
    answers = sections.readable(ctx.db, client, editable, requester=_requester(ctx))
    # Even the version count of a withheld section is not shown: it says that something
    # is recorded there.
    latest = {
        key: found
        for key, found in sections.latest_versions(ctx.db, client).items()
        if key in answers and answers[key].allowed
    }
    return render(
        ctx,
        "sections/list.html",
        {"client": client, "sections": editable, "latest": latest, "answers": answers},
    )


def _form_from_request(ctx: Context, section: Section) -> dict:
    raw: dict = {}
    for field in section.fields:
        if field.type == "checklist":
            raw[field.key] = ctx.fields(field.key)
        elif field.type == "domains":
            raw[field.key] = {
                domain: {
                    "status": ctx.field(f"{field.key}__{i}__status"),
                    "note": ctx.field(f"{field.key}__{i}__note"),
                }
                for i, domain in enumerate(field.options)
            }
        else:
            raw[field.key] = ctx.field(field.key)
    return raw


def _page(ctx, client, view, values, *, errors=None, status=200) -> Response:
    return render(
        ctx,
        "sections/edit.html",
        {
            "client": client,
            "section": view.section,
            "answer": view.answer,
            "values": values,
            "errors": errors or {},
            "versions": view.versions,
            # A checklist's options the reader may not read (an immigration proceeding):
            # neither a box nor a tick, but the placeholder, in the form and the history.
            "unseen": {f.key: view.withheld_options(f.key) for f in view.section.fields},
            "purpose": ctx.request.query_params.get("purpose") or "",
        },
        status=status,
    )


def _read(ctx: Context, client, section: Section) -> sections.SectionView:
    return sections.read_section(
        ctx.db,
        client,
        section.key,
        requester=_requester(ctx),
        keys=ctx.request.app.state.keys,
        at=ctx.now,
    )


def _unread(ctx: Context, client, section: Section) -> sections.SectionView:
    """The policy's answer for the requester without reading (or auditing) anything."""
    answer = sections.readable(ctx.db, client, [section], requester=_requester(ctx))
    return sections.SectionView(section, answer[section.key], [])


def section_form(ctx: Context) -> Response:
    client = _client(ctx)
    view = _read(ctx, client, _section(ctx))
    current = view.versions[0].content if view.versions else None
    return _page(ctx, client, view, sections.form_values(view.section, current))


def section_save(ctx: Context) -> Response:
    client = _client(ctx)
    section = _section(ctx)
    raw = _form_from_request(ctx, section)
    try:
        entry = sections.write_section(
            ctx.db,
            client,
            section.key,
            raw,
            requester=_requester(ctx),
            keys=ctx.request.app.state.keys,
            at=ctx.now,
            based_on=ctx.field("based_on") or None,
        )
    except Forbidden as refused:
        ctx.keep_on_error = True  # the refusal's audit entry must survive the 403
        unread = _unread(ctx, client, section)
        if unread.answer.withheld:
            return _page(ctx, client, unread, {}, status=403)
        # The section is the writer's; a line of it that tells what another section holds
        # is not (a form does not offer it: only a request made by hand sends one).
        view = _read(ctx, client, section)
        current = view.versions[0].content if view.versions else None
        return _page(
            ctx,
            client,
            view,
            sections.form_values(section, current),
            errors={"section": str(refused)},
            status=403,
        )
    except Invalid as error:
        # The history stays beside the form, read as the form's page reads it: audited in
        # the agency's log, the entry kept through the 4xx once the failed write is dropped.
        ctx.db.rollback()
        ctx.keep_on_error = True
        view = _read(ctx, client, section)
        return _page(
            ctx,
            client,
            view,
            sections.form_values(section, raw),
            errors=error.errors,
            status=error.status_code,
        )
    ctx.flash(f"{section.title} saved as version {entry.version}.")
    # Shown again for the purpose it was saved under: read (and logged) as asked, not as
    # MDT case review, which nobody chose.
    purpose = ctx.request.query_params.get("purpose")
    again = f"/clients/{client.public_id}/sections/{section.key}"
    return RedirectResponse(
        f"{again}?{urlencode({'purpose': purpose})}" if purpose else again, status_code=303
    )
