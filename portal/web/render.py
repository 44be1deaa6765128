"""Rendering pages and their htmx fragments from one template."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, tzinfo

from jinja2 import pass_context
from jinja2_fragments.starlette import Jinja2Blocks
from markupsafe import Markup, escape
from starlette.responses import Response

from portal import i18n
from portal.auth.permissions import Permission, allows
from portal.disclosure import legal_basis
from portal.models.workflow import TaskPriority, TaskStatus
from portal.placeholders import for_the_reader, kept_by_the_reader
from portal.resources import TEMPLATES_DIR
from portal.services import convening, submissions, tasks
from portal.services.release_documents import field_word
from portal.web import release_words
from portal.web.audit_words import event_words, gate_words, purpose_words, role_words
from portal.web.context import Context

templates = Jinja2Blocks(directory=str(TEMPLATES_DIR))
templates.env.add_extension("jinja2.ext.i18n")
templates.env.globals["Permission"] = Permission
templates.env.globals["new_submission"] = submissions.new_token


# How every page writes an instant: in the MDT's zone, the zone named beside it as the
# dashboard names it. A day alone is `local_date`'s (a due date or birth date is a date and
# stays one); an appointment says its weekday too. Named styles, not strftime patterns, so
# no page can drift into a way of its own (tests/unit/test_times_through_the_helper.py).
TIME_STYLES = {
    "datetime": "%Y-%m-%d %H:%M %Z",
    # With its year: in December "Sat 02 Jan" was next year's, and read as this one's.
    "weekday": "%a %d %b %Y, %H:%M %Z",
    "date": "%Y-%m-%d",
    "zone": "%Z",
}


def in_zone(moment: datetime, tz: tzinfo, style: str = "datetime") -> str:
    """An instant as the MDT reads it, for handlers that put one in a sentence.

    Stored times are UTC; a naive one (SQLite hands some back so) is UTC too.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(tz).strftime(TIME_STYLES[style])


@pass_context
def local_time(context, moment: datetime | None, style: str = "datetime") -> str | Markup:
    """`in_zone` for templates, in the zone of the page's settings: in the page's text a
    `<time>` element (`_kept_whole`); the zone alone is a word."""
    if moment is None:
        return ""
    written = in_zone(moment, _zone(context), style)
    if style == "zone":
        return written
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if style == "date":
        return _kept_whole(moment.astimezone(_zone(context)).date().isoformat(), written)
    machine = moment.astimezone(UTC).isoformat(timespec="seconds")
    if style == "weekday":  # no hyphens: a heading may wrap it at its spaces (`time.words`)
        return Markup('<time class="words" datetime="{}">{}</time>').format(machine, written)
    return _kept_whole(machine, written)


def _kept_whole(machine: str, written: str) -> Markup:
    """A date or time as a `<time>` element, which the style sheet keeps on one line: in a
    narrow column "2026-12-04" broke at its hyphens, "2026-12-" over "04" (seen at 360 px)."""
    return Markup('<time datetime="{}">{}</time>').format(machine, written)


def ref(value: str | None) -> Markup | str:
    """A case's reference in a table's cell, kept on one line (`.ref`): read aloud and compared
    in a meeting, "MDT-2026-XVSERF" broke at its hyphens in a narrow column at 1280 px."""
    return Markup('<span class="ref">{}</span>').format(value) if value else ""


def _zone(context):
    settings = context.get("settings")
    return settings.tz if settings is not None else context["tz"]


@pass_context
def local_date(context, moment: datetime | date | None) -> str:
    """The calendar date of an instant in the MDT's zone (a date stays as it is), as plain
    text: for a value, a sentence's part, a title. In the page's text, `day`."""
    if moment is None:
        return ""
    if not isinstance(moment, datetime):
        return moment.isoformat()
    return in_zone(moment, _zone(context), "date")


@pass_context
def day(context, moment: datetime | date | None) -> Markup:
    """A day in the page's text, as `local_date` writes it, kept on one line."""
    if moment is None:
        return Markup("")
    written = local_date(context, moment)
    return _kept_whole(written, written)


@pass_context
def written_date(context, moment: datetime | date | None) -> str | Markup:
    """A day on a page read with the survivor (one naming a `language`): written out in
    that language ("31 de enero de 2027"); on a staff page as `day` writes it."""
    language = context.get("language")
    if language is None or moment is None:
        return day(context, moment)
    if isinstance(moment, datetime):
        moment = moment.astimezone(_zone(context)).date()
    return i18n.written_date(language, moment)


@pass_context
def recorded_word(context, value):
    """On a page read with the survivor (one naming a `language`), a word a section's
    choice is recorded in, in that language; anything else, free text above all, exactly
    as recorded (never looked up, so never taken for a catalogue's markup)."""
    language = context.get("language")
    if language is None or not isinstance(value, str) or value not in i18n.option_word_set():
        return value
    return i18n.gettext(language, value)


@pass_context
def release_state(context, status) -> str:
    return release_words.state_label(context.get("language"), status)


@pass_context
def release_reason(context, status) -> str | Markup:
    language = context.get("language")
    if language:
        return release_words.reason(language, status, _zone(context))
    # The consent library's English names its instant as pages write one: kept whole.
    words = release_words.reason(None, status, UTC)
    found = _LIBRARY_INSTANT.search(words)
    if found is None or status.on is None:
        return words
    machine = status.on.astimezone(UTC).isoformat(timespec="seconds")
    return (
        escape(words[: found.start()])
        + _kept_whole(machine, found[0])
        + escape(words[found.end() :])
    )


# How the consent library writes a release's instant: "2026-12-13", or "2026-12-13 17:59 EST"
# when it is not midnight in the MDT's zone (consent/status.py).
_LIBRARY_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}(?: \d{2}:\d{2} \S+)?")


@pass_context
def row_label(context, label: str) -> str:
    """A section row's label: in the page's `language` where a survivor reads it."""
    return release_words.row_label(context.get("language") or i18n.SOURCE_LANGUAGE, label)


@pass_context
def withheld_reason(context, why) -> str:
    """A placeholder's sentence, from the facts the disclosure point returns: on a page read
    with the survivor (one naming a `language`) composed in that language; on a staff page
    the English the audit entry keeps, but a survivor-mentor's own program's accompaniment
    is said as where they keep it (`placeholders.for_the_reader`)."""
    return for_the_reader(why, context.get("language"))


def task_value(value: str | None, field: str) -> str:
    """A task's recorded value in words, as the rest of the page gives it."""
    if field == "status" and value in {status.value for status in TaskStatus}:
        return TaskStatus(value).label
    if field == "priority" and value in {priority.value for priority in TaskPriority}:
        return TaskPriority(value).label
    return value or ""


# A history entry's field in words where its name alone would not say why it changed.
_TASK_FIELD_WORDS = {
    tasks.TO_NEW_MENTOR: "assignee (the case passed to a new mentor)",
    tasks.BACK_TO_PROGRAM: "assignee (the mentor's assignment ended, back to the program)",
}


def task_field(field: str) -> str:
    """A task history entry's field in words: "due date", or why the assignee changed."""
    return _TASK_FIELD_WORDS.get(field) or field.replace("_", " ")


templates.env.filters["task_value"] = task_value
templates.env.filters["task_field"] = task_field
templates.env.filters["local_time"] = local_time
templates.env.filters["ref"] = ref
# A release file's field, as a consent check names it, in words (the verify page).
templates.env.filters["field_word"] = field_word
templates.env.filters["event_words"] = event_words
templates.env.filters["gate_words"] = gate_words
templates.env.filters["role_words"] = role_words
templates.env.filters["purpose_words"] = purpose_words
templates.env.filters["local_date"] = local_date
templates.env.filters["day"] = day
templates.env.filters["written_date"] = written_date
templates.env.filters["recorded_word"] = recorded_word
templates.env.filters["release_state"] = release_state
templates.env.filters["release_reason"] = release_reason
templates.env.filters["referral_words"] = convening.source_label
templates.env.filters["basis_citation"] = legal_basis.citation
templates.env.filters["withheld_reason"] = withheld_reason
templates.env.tests["kept_by_the_reader"] = kept_by_the_reader
templates.env.filters["row_label"] = row_label


# What a survivor reads is rendered in the language the page names (`language` in the
# template's context: a release's language, the client's); staff pages leave it unset and
# read English, the catalogues' source language. A macro imported `with context` follows.
@pass_context
def _gettext(context, message: str) -> str:
    return i18n.gettext(context.get("language"), message)


@pass_context
def _ngettext(context, singular: str, plural: str, n: int) -> str:
    return i18n.ngettext(context.get("language"), singular, plural, n)


templates.env.install_gettext_callables(_gettext, _ngettext, newstyle=True)


def render(
    ctx: Context,
    template: str,
    values: dict | None = None,
    *,
    status: int = 200,
    block: str | None = None,
) -> Response:
    """The full page, or for an htmx request naming a block, just that block."""
    viewer = ctx.viewer
    context = {
        "viewer": viewer,
        "csrf_token": viewer.session.csrf_token
        if viewer
        else getattr(ctx.request.state, "presession_token", ""),
        "flashes": ctx.flashes,
        "can": (lambda p: viewer is not None and allows(viewer.roles, p)),
        "now": ctx.now,
        "settings": ctx.settings,
        **(values or {}),
    }
    is_htmx = ctx.request.headers.get("hx-request") == "true"
    response = templates.TemplateResponse(
        ctx.request,
        template,
        context,
        status_code=status,
        block_name=block if (block and is_htmx) else None,
    )
    if block:
        response.headers["Vary"] = "HX-Request"
    return response


def whole_page_instead(ctx: Context, status: int) -> Response:
    """The answer to an htmx request for a block whose fields were refused: htmx swaps no
    4xx answer, and the messages belong beside the fields, outside the block asked for;
    htmx loads the whole page at the same address instead, which shows them."""
    url = ctx.request.url
    address = url.path + (f"?{url.query}" if url.query else "")
    return Response(status_code=status, headers={"HX-Redirect": address})
