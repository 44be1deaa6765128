"""A link styled as a secondary button looks like one.

`.secondary` styles a <button> only (portal.css: `button.secondary`); a link that is a
secondary button is `.button.secondary-link`. A review found the mentor program's
"Assignments" and the mentor's "Edit" and "Add a correction" written `button secondary`:
filled like the page's main action ("Log accompaniment") beside them, not outlined."""

from __future__ import annotations

import re

from portal.resources import TEMPLATES_DIR

LINK = re.compile(r"<a\b[^>]*>", re.S)
CLASSES = re.compile(r'\bclass="([^"]*)"')


def test_no_link_is_a_secondary_button_by_the_buttons_class():
    wrong = []
    for path in sorted(TEMPLATES_DIR.rglob("*.html")):
        for tag in LINK.findall(path.read_text(encoding="utf-8")):
            found = CLASSES.search(tag)
            if found and {"button", "secondary"} <= set(found.group(1).split()):
                wrong.append(f"{path.relative_to(TEMPLATES_DIR)}: {' '.join(tag.split())[:90]}")
    assert not wrong, "\n".join(wrong)
