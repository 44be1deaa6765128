"""Checks every request's input must pass before it reaches a handler, whatever the
door (a page, a form, the API): ids that are public ids, and text a database can store.
Kept apart from the web and the API, which both call them."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from portal.errors import Invalid, NotFound

_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")
_PUBLIC_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
UNSTORABLE_MESSAGE = "contains characters that are not allowed"


def check_path_ids(path_params: Mapping[str, object]) -> None:
    """An `…_id` in the address is a public id, or there is no such page."""
    for name, value in path_params.items():
        if name.endswith("_id") and not (isinstance(value, str) and _PUBLIC_ID.fullmatch(value)):
            # Worded as the loaders word a missing one: the answers cannot be told apart.
            raise NotFound(name.removesuffix("_id").replace("_", " "))


def check_form(items: Iterable[tuple[str, object]]) -> None:
    problems = {
        name if not _UNSTORABLE.search(name) else "form": _message(name)
        for name, value in items
        if _UNSTORABLE.search(name) or (isinstance(value, str) and _UNSTORABLE.search(value))
    }
    if problems:
        raise Invalid.of(problems)


def unstorable_field(data: object, where: str = "") -> str | None:
    """The path of the first string in a JSON document that no database can store."""
    if isinstance(data, str):
        return where or "body" if _UNSTORABLE.search(data) else None
    if isinstance(data, dict):
        items: Iterable = data.items()
    elif isinstance(data, list):
        items = enumerate(data)
    else:
        return None
    for key, value in items:
        here = f"{where}.{key}" if where else str(key)
        if isinstance(key, str) and _UNSTORABLE.search(key):
            return where or "body"
        found = unstorable_field(value, here)
        if found is not None:
            return found
    return None


def _message(name: str) -> str:
    label = name.replace("_", " ").capitalize() if not _UNSTORABLE.search(name) else "The form"
    return f"{label} {UNSTORABLE_MESSAGE}."
