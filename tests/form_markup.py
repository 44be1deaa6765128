"""Reading a page's form markup as assistive technology does: which message is tied to which
field, where the error summary's links go, which hint is read with which control."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}
CONTROLS = {"input", "select", "textarea"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str | None]
    parent: Element | None
    children: list[Element] = field(default_factory=list)
    text: str = ""

    def get(self, name: str) -> str | None:
        return self.attrs.get(name)

    def ancestors(self):
        node = self.parent
        while node is not None:
            yield node
            node = node.parent

    def descendants(self):
        for child in self.children:
            yield child
            yield from child.descendants()

    @property
    def classes(self) -> set[str]:
        return set((self.get("class") or "").split())

    def described_by(self) -> list[str]:
        return (self.get("aria-describedby") or "").split()


class Page(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {}, None)
        self._open = [self.root]
        self.feed(html)
        self.close()
        self.by_id = {e.get("id"): e for e in self.root.descendants() if e.get("id")}

    def handle_starttag(self, tag, attrs):
        element = Element(tag, dict(attrs), self._open[-1])
        self._open[-1].children.append(element)
        if tag not in VOID:
            self._open.append(element)

    def handle_startendtag(self, tag, attrs):
        element = Element(tag, dict(attrs), self._open[-1])
        self._open[-1].children.append(element)

    def handle_endtag(self, tag):
        for index in range(len(self._open) - 1, 0, -1):
            if self._open[index].tag == tag:
                del self._open[index:]
                return

    def handle_data(self, data):
        for element in self._open[1:]:
            element.text += data

    def all(self, tag: str | None = None):
        return [e for e in self.root.descendants() if tag is None or e.tag == tag]

    def text_of(self, element_id: str) -> str:
        return " ".join(self.by_id[element_id].text.split())


def check_error_markup(html: str, *, form_id: str | None = None) -> dict[str, str]:
    """Assert the error pattern of a form that failed: an error summary first, announced
    and focused, each message a link to a control (or its group) that carries that same
    message by aria-describedby and is marked invalid; every hint of the form read with its
    control. Returns {summary link target: message}."""
    page = Page(html)
    summary = page.by_id.get("error-summary")
    assert summary is not None, "no error summary"
    assert summary.get("role") == "alert" and "autofocus" in summary.attrs
    assert summary.get("tabindex") == "-1"  # focusable, so autofocus lands on it
    ordered = [e for e in page.all() if e.get("id") in ("error-summary", form_id)]
    if form_id is not None:
        assert ordered[0] is summary, "the summary comes before the form"
    links = {}
    for link in (e for e in summary.descendants() if e.tag == "a"):
        target_id = (link.get("href") or "")[1:]
        message = " ".join(link.text.split())
        assert target_id in page.by_id, f"the link for {message!r} goes nowhere"
        target = page.by_id[target_id]
        links[target_id] = message
        if target.tag not in CONTROLS:
            continue  # a group or the form itself: the message is beside it
        assert target.get("aria-invalid") == "true", f"#{target_id} is not marked invalid"
        # The message is read with the control, or with the group (fieldset) it sits in.
        readers = [target, *(a for a in target.ancestors() if a.tag == "fieldset")]
        said = " ".join(page.text_of(i) for r in readers for i in r.described_by())
        assert message in said, f"#{target_id} is not described by {message!r}"
    assert links, "the summary lists nothing"
    # Every hint in the form is read with its control or group.
    scope = page.by_id[form_id] if form_id else page.root
    referenced = {i for e in scope.descendants() for i in e.described_by()}
    for hint in (e for e in scope.descendants() if "hint" in e.classes):
        assert hint.get("id") in referenced, f"hint not tied to a field: {hint.text.strip()!r}"
    # Every field message is read with its field.
    for message in (e for e in scope.descendants() if "field-error" in e.classes):
        assert message.get("id") in referenced, f"message not tied: {message.text.strip()!r}"
    return links
