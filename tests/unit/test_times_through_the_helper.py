"""Every time a page shows goes through one helper (`portal.web.render.local_time`), so
each page writes it one way: in the MDT's zone, the zone named as the dashboard names it.

Before: a score of templates formatted instants themselves (`.astimezone(tz).strftime(...)`),
each its own way: some named the zone, some did not, some gave the weekday."""

from __future__ import annotations

from jinja2 import nodes

from portal.resources import TEMPLATES_DIR
from portal.web import render

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
