"""The agency lead's audit pages: who saw what of ours, the CSV export, the accounting."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import tzinfo
from urllib.parse import urlencode

from starlette.responses import RedirectResponse, Response, StreamingResponse

from portal import i18n
from portal.errors import Invalid, NotFound
from portal.models import AuditEntry
from portal.services import audit_log, compelled_disclosures, release_forms
from portal.web import audit_words, forms
from portal.web.context import Context
from portal.web.render import render, whole_page_instead

NO_STORE = {"Cache-Control": "no-store"}


def _params(ctx: Context) -> dict[str, str]:
    return {k: v for k, v in ctx.request.query_params.items() if isinstance(v, str)}


def _page_number(ctx: Context) -> int:
    raw = ctx.request.query_params.get("page", "1")
    return int(raw) if raw.isdecimal() and len(raw) < 8 else 1


def audit_log_page(ctx: Context) -> Response:
    return _log_page(ctx, _params(ctx))


def _log_page(
    ctx: Context, params: dict, *, accounting_errors: dict | None = None, status: int = 200
) -> Response:
    agency = ctx.viewer.agency
    errors = {}
    try:
        filters = forms.audit_filters(params)
    except Invalid as error:
        if ctx.request.headers.get("hx-request"):
            return whole_page_instead(ctx, error.status_code)
        errors, status, filters = error.errors, error.status_code, None
    result = None
    if filters is not None:
        audit_log.record_search(ctx.db, agency, filters, actor=ctx.viewer.user, at=ctx.now)
        result = audit_log.search(
            ctx.db, agency, filters, tz=ctx.settings.tz, page=_page_number(ctx)
        )
    query = urlencode({k: v for k, v in filters.query_values().items() if v}) if filters else ""
    agency_options = [(a.public_id, a.name) for a in audit_log.agencies_for_filter(ctx.db)]
    response = render(
        ctx,
        "audit/log.html",
        {
            "agency": agency,
            "result": result,
            "groups": result.groups if result else [],
            "request_words": audit_words.request_words,
            "request_counts": audit_words.request_counts,
            "errors": errors,
            "values": params,
            "accounting_errors": accounting_errors or {},
            "accounting_value": ctx.request.query_params.get("client", "")[:40]
            if accounting_errors
            else "",
            "query": query,
            "status": audit_log.log_status(ctx.db, agency),
            "agency_options": agency_options,
            # Whose record our survivor's release was relied on for, by name.
            "agency_names": dict(agency_options),
            "section_options": [(s.key, s.title) for s in audit_log.catalogue().sections],
            "decision_options": [(d, d) for d in audit_log.DECISIONS],
        },
        status=status,
        block="results",
    )
    response.headers.update(NO_STORE)
    return response


def audit_export(ctx: Context) -> Response:
    agency = ctx.viewer.agency
    filters = forms.audit_filters(_params(ctx))  # Invalid → 400 page, nothing exported
    statement = audit_log.export_statement(
        ctx.db, agency, filters, tz=ctx.settings.tz, actor=ctx.viewer.user, at=ctx.now
    )
    filename = f"audit-{ctx.now.astimezone(ctx.settings.tz):%Y%m%d-%H%M}.csv"
    return StreamingResponse(
        _csv_stream(ctx.request.app.state.open_session, statement, tz=ctx.settings.tz),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', **NO_STORE},
    )


CSV_WORDS = audit_log.CsvWords(
    event=audit_words.event_words,
    role=audit_words.role_words,
    purpose=audit_words.purpose_words,
    gate=audit_words.gate_words,
)


def _csv_stream(open_session, statement, *, tz: tzinfo, batch: int = 1000) -> Iterator[str]:
    """Rows leave as they are read, newest first, a batch per short read of its own.

    The request's session is closed by now. Each batch is read by seq (keyset), so no read
    holds the database for the whole download (on SQLite a transaction locks out writers),
    and entries appended meanwhile, all above the first batch, do not slip in.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(audit_log.CSV_HEADER)
    below = None
    while True:
        with open_session() as db:
            page = statement if below is None else statement.where(AuditEntry.seq < below)
            rows = db.exec(page.limit(batch)).all()
        for row in audit_log.csv_rows(rows, tz=tz, words=CSV_WORDS):
            writer.writerow(row)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if len(rows) < batch:
            return
        below = rows[-1][0].seq


def audit_checkpoint(ctx: Context) -> Response:
    checkpoint = audit_log.checkpoint_log(
        ctx.db,
        ctx.viewer.agency,
        keys=ctx.request.app.state.keys,
        actor=ctx.viewer.user,
        at=ctx.now,
    )
    ctx.flash(f"The log is signed up to entry {checkpoint.seq}.")
    return RedirectResponse("/audit", status_code=303)


def checkpoint_download(ctx: Context) -> Response:
    """The latest signed checkpoint, to keep somewhere the database's writers cannot reach;
    `portal audit verify --checkpoint FILE` checks the log against it later."""
    line = audit_log.latest_signed_checkpoint(ctx.db, ctx.viewer.agency)
    if line is None:
        raise NotFound("signed checkpoint")
    filename = f"audit-checkpoint-{line['seq']}.json"
    return Response(
        json.dumps(line, indent=2, sort_keys=True) + "\n",
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', **NO_STORE},
    )


def accounting_page(ctx: Context) -> Response:
    reference = ctx.request.query_params.get("client", "")
    try:
        accounting = audit_log.accounting(
            ctx.db, ctx.viewer.agency, reference, actor=ctx.viewer.user, at=ctx.now
        )
    except (NotFound, Invalid) as error:
        # A mistyped reference is no dead end: back to the form, the reference kept, and
        # what to do next. (Only this agency's own clients are ever looked up.)
        message = (
            error.errors.get("client", "")
            if isinstance(error, Invalid)
            else "No client of your agency has that reference or id. Check it against "
            "the client's record under Clients, or search the log below by case."
        )
        return _log_page(ctx, {}, accounting_errors={"client": message}, status=404)
    requested = ctx.request.query_params.get("language")
    response = render(
        ctx,
        "audit/accounting.html",
        {
            "accounting": accounting,
            "language": i18n.language_or_default(requested or accounting.client.preferred_language),
            "languages": i18n.languages(),
            "bases": compelled_disclosures.BASIS_LABELS,
            "purpose_labels": {p.value: label for p, label in release_forms.PURPOSE_LABELS.items()},
        },
    )
    response.headers.update(NO_STORE)
    return response
