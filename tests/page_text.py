"""A page as a person reads it: its words without the markup between them.

A phrase a test looks for ("review was due 2026-10-01") is read as words, not as the markup
that happens to carry them today (a date is a `<time>` element inside the sentence)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

_UNREAD = {"script", "style", "template", "head"}
# Elements inside a line of text: no break between their words and their neighbours'. Every
# other element (a paragraph, a cell, a list item) stands apart, as a browser shows it.
_INLINE = {
    "a",
    "abbr",
    "b",
    "bdi",
    "bdo",
    "cite",
    "code",
    "data",
    "dfn",
    "em",
    "i",
    "kbd",
    "mark",
    "q",
    "s",
    "samp",
    "small",
    "span",
    "strong",
    "sub",
    "sup",
    "time",
    "u",
    "var",
}


class _Words(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._unread = 0

    def handle_starttag(self, tag, attrs) -> None:
        if tag in _UNREAD:
            self._unread += 1
        if tag not in _INLINE:
            self.parts.append(" ")

    def handle_endtag(self, tag) -> None:
        if tag in _UNREAD and self._unread:
            self._unread -= 1
        if tag not in _INLINE:
            self.parts.append(" ")

    def handle_data(self, data) -> None:
        if not self._unread:
            self.parts.append(data)


def page_text(html: str) -> str:
    """The page's text, runs of white space made one space."""
    words = _Words()
    words.feed(html)
    words.close()
    return re.sub(r"\s+", " ", "".join(words.parts)).strip()
