"""Every time a page shows goes through one helper (`portal.web.render.local_time`), so
each page writes it one way: in the MDT's zone, the zone named as the dashboard names it.

Before: a score of templates formatted instants themselves (`.astimezone(tz).strftime(...)`),
each its own way: some named the zone, some did not, some gave the weekday."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from jinja2 import nodes

import consent
from portal.resources import TEMPLATES_DIR
from portal.web import render
from portal.web.routes import STATIC_DIR as STATIC

FORMATTING = {"strftime", "astimezone"}


def _parsed():
    for path in sorted(TEMPLATES_DIR.rglob("*.html")):
        yield path.relative_to(TEMPLATES_DIR), render.templates.env.parse(path.read_text())


def test_no_template_formats_an_instant_itself():
    own_way = [
        f"{where}:{call.lineno} .{call.node.attr}()"
        for where, tree in _parsed()
        for call in tree.find_all(nodes.Call)
        if isinstance(call.node, nodes.Getattr) and call.node.attr in FORMATTING
    ]
    assert own_way == [], "format times with | local_time or | local_date: " + ", ".join(own_way)


def test_every_use_of_the_helper_names_one_of_its_styles():
    unknown = [
        f"{where}:{use.lineno} {use.args[0]}"
        for where, tree in _parsed()
        for use in tree.find_all(nodes.Filter)
        if use.name == "local_time"
        and use.args
        and not (isinstance(use.args[0], nodes.Const) and use.args[0].value in render.TIME_STYLES)
    ]
    assert unknown == []


def _rendered(source: str, **values) -> str:
    template = render.templates.env.from_string(source)
    return template.render(tz=ZoneInfo("America/New_York"), **values)


def test_a_time_in_the_text_is_a_time_element_the_page_keeps_on_one_line():
    """A narrow column broke "2026-12-04" at its hyphens ("2026-12-" over "04", seen at
    360 px): every date and time a page writes is a `<time>`, which portal.css keeps whole."""
    moment = datetime(2026, 12, 4, 14, 59, tzinfo=UTC)
    assert _rendered("{{ m | local_time }}", m=moment) == (
        '<time datetime="2026-12-04T14:59:00+00:00">2026-12-04 09:59 EST</time>'
    )
    assert _rendered('{{ m | local_time("date") }}', m=moment) == (
        '<time datetime="2026-12-04">2026-12-04</time>'
    )
    assert _rendered("{{ d | day }}", d=date(2026, 12, 4)) == (
        '<time datetime="2026-12-04">2026-12-04</time>'
    )
    # where a word is wanted, a word: the zone, and a value a form sends back
    assert _rendered('{{ m | local_time("zone") }}', m=moment) == "EST"
    assert _rendered("{{ m | local_date }}", m=moment) == "2026-12-04"
    assert "time { white-space:nowrap; }" in (STATIC / "portal.css").read_text()


def test_a_releases_status_keeps_its_instant_whole_and_its_words_escaped():
    start = datetime(2026, 12, 13, 22, 59, tzinfo=UTC)
    status = consent.ReleaseStatus(
        consent.ReleaseState.NOT_YET_EFFECTIVE,
        "the release takes effect on 2026-12-13 17:59 EST <b>",
        start,
    )
    assert _rendered("{{ s | release_reason }}", s=status) == (
        "the release takes effect on "
        '<time datetime="2026-12-13T22:59:00+00:00">2026-12-13 17:59 EST</time> &lt;b&gt;'
    )


def test_an_appointment_in_the_new_year_says_its_year():
    # Before: "Sat 02 Jan, 13:00 EST", read in December as a date already past.
    new_year = datetime(2027, 1, 2, 18, 0, tzinfo=UTC)
    assert render.in_zone(new_year, ZoneInfo("America/New_York"), "weekday") == (
        "Sat 02 Jan 2027, 13:00 EST"
    )
