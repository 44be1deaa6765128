"""Every box a person types into says what the browser may keep of it.

A browser keeps what is typed into a text box and offers it again in any box of the same
name, on this site or another, to whoever uses the computer next: a survivor's name, a
follow-up naming a court date, a person around the survivor. A review found boxes that
asked nothing (the sections, the mentor's log, the risk screen's people, the mandated
report…); a box added later without `autocomplete` fails here. Sign-in boxes name what
they are (`username`, `current-password`), which is an answer too."""

from __future__ import annotations

import re

from portal.resources import TEMPLATES_DIR

INPUT = re.compile(r"<input\b[^>]*>", re.S)
TYPE = re.compile(r'\btype="([^"]+)"')
KEPT_BY_NOBODY = {
    "hidden",
    "checkbox",
    "radio",
    "submit",
    "button",
    "date",
    "time",
    "datetime-local",
    "file",
}


def test_every_text_box_says_autocomplete():
    silent = []
    for path in sorted(TEMPLATES_DIR.rglob("*.html")):
        for tag in INPUT.findall(path.read_text(encoding="utf-8")):
            found = TYPE.search(tag)
            kind = found.group(1) if found else "text"
            if kind in KEPT_BY_NOBODY or "autocomplete=" in tag:
                continue
            silent.append(f"{path.relative_to(TEMPLATES_DIR)}: {' '.join(tag.split())[:90]}")
    assert not silent, "\n".join(silent)
