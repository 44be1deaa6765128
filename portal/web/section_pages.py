"""An agency's own section forms for its own clients, generated from the catalogue."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response

from portal.errors import Invalid, NotFound
from portal.sections import Section, catalogue
from portal.services import clients, sections
from portal.web.context import Context
from portal.web.render import render


def _client(ctx: Context):
    return clients.access_client(ctx.db, ctx.viewer.agency, ctx.request.path_params["client_id"])


def _editable(ctx: Context) -> list[Section]:
    """Minutes and accompaniment are kept by the meetings and the mentor log, not here."""
    return [s for s in catalogue().for_discipline(ctx.viewer.agency.discipline) if s.editable]


def _section(ctx: Context) -> Section:
    key = ctx.request.path_params["key"]
    own = {s.key: s for s in _editable(ctx)}
    if key not in own:
        raise NotFound("section")
    return own[key]


def section_list(ctx: Context) -> Response:
    client = _client(ctx)
    return render(
        ctx,
        "sections/list.html",
        {
            "client": client,
            "sections": _editable(ctx),
            "latest": sections.latest_versions(ctx.db, client),
        },
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


def _page(ctx, client, section, values, *, errors=None, status=200, versions=None) -> Response:
    keys = ctx.request.app.state.keys
    if versions is None:
        versions = sections.history(ctx.db, client, section.key, keys=keys)
    return render(
        ctx,
        "sections/edit.html",
        {
            "client": client,
            "section": section,
            "values": values,
            "errors": errors or {},
            "versions": versions,
        },
        status=status,
    )


def section_form(ctx: Context) -> Response:
    client = _client(ctx)
    section = _section(ctx)
    versions = sections.history(
        ctx.db,
        client,
        section.key,
        keys=ctx.request.app.state.keys,
        actor=ctx.viewer.user,
        at=ctx.now,
    )
    current = versions[0].content if versions else None
    return _page(ctx, client, section, sections.form_values(section, current), versions=versions)


def section_save(ctx: Context) -> Response:
    client = _client(ctx)
    section = _section(ctx)
    raw = _form_from_request(ctx, section)
    try:
        entry = sections.save_section(
            ctx.db,
            client,
            section.key,
            raw,
            actor=ctx.viewer.user,
            keys=ctx.request.app.state.keys,
            at=ctx.now,
        )
    except Invalid as error:
        return _page(
            ctx,
            client,
            section,
            sections.form_values(section, raw),
            errors=error.errors,
            status=error.status_code,
        )
    ctx.flash(f"{section.title} saved as version {entry.version}.")
    return RedirectResponse(f"/clients/{client.public_id}/sections/{section.key}", status_code=303)
