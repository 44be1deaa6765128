"""Services do not read forms (issue 13): the web layer reads a request's fields into
typed inputs (`portal/web/*forms.py`) and the services take those, as the CLI and the demo
build them. A public service function that takes a mapping of raw fields (a form, a query
string, a dict of what was typed) fails this test.

Read from the source (ast), so the check needs no database and sees every module, imported
or not. A parameter takes raw fields when its annotation is a request's type (`FormData`,
`QueryParams`, `Request`, ...) or a mapping from names to what was typed (`dict`,
`Mapping[str, object]`, `dict[str, str]`, ...); or when it is untyped (or `object`, `Any`)
and the function reads it by field name (`p.get("name")`, `p["name"]`, `p.getlist(...)`).
A mapping to a named type (`dict[str, SectionEntry]`), a container of mappings, or a named
alias that says what it holds (`SectionContent`, a section's checked content) is not."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import portal

SERVICES = Path(portal.__file__).parent / "services"

MAPPINGS = {"Mapping", "MutableMapping", "dict", "Dict"}
REQUEST_TYPES = {"MultiDict", "ImmutableMultiDict", "FormData", "QueryParams", "Request"}
TYPED_AS_TEXT = {"str", "object", "Any"}  # a value as typed: not yet read into a type
OPTIONAL = {"Optional", "Union"}

# Each exception says why it is not a form read in a service. An entry that no longer
# matches anything fails the test, so the list only shrinks.
ALLOWED = {
    (
        "portal.services.sections",
        "write_section",
        "raw",
    ): "a section's content as submitted, by the web form or the API's JSON body alike, "
    "checked against the catalogue (policies/sections.toml) only after the owner's policy "
    "has decided the requester may write it: a refusal is a 403, audited, before any 400",
    (
        "portal.services.sections",
        "save_section",
        "raw",
    ): "the same content, for the owner's own writes (write_section, the demo)",
    (
        "portal.services.sections",
        "clean_content",
        "raw",
    ): "the same content's check against the catalogue",
    (
        "portal.services.clients",
        "Identity.from_dict",
        "data",
    ): "a client's identity as it was sealed (JSON), opened from storage: no form",
    (
        "portal.services.mentoring",
        "program_read",
        "detail",
    ): "an audit entry's detail (the records shown, and where), made by the mentor pages' "
    "own services from the rows they read: no form",
}


def _expression(annotation: ast.expr | None) -> ast.expr | None:
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        return ast.parse(annotation.value, mode="eval").body
    return annotation


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Constant) and node.value is None:
        return "None"
    return None


def _alternatives(node: ast.expr) -> list[ast.expr]:
    """`A | B | None`, `Optional[A]`, `Union[A, B]` as [A, B, None]."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return [*_alternatives(node.left), *_alternatives(node.right)]
    if isinstance(node, ast.Subscript) and _name(node.value) in OPTIONAL:
        inner = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        return [alternative for item in inner for alternative in _alternatives(item)]
    return [node]


def _as_typed(node: ast.expr) -> bool:
    """A value as it was typed: text, anything, or a list of text (a multi-valued field)."""
    if _name(node) in TYPED_AS_TEXT:
        return True
    if isinstance(node, ast.Subscript) and _name(node.value) in {"list", "tuple", "Sequence"}:
        items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        return all(_as_typed(item) for item in items if not isinstance(item, ast.Constant))
    return len(_alternatives(node)) > 1 and any(_as_typed(a) for a in _alternatives(node))


def takes_raw_fields(annotation: ast.expr | None) -> bool:
    for node in _alternatives(_expression(annotation)) if annotation is not None else []:
        name = _name(node)
        if name in REQUEST_TYPES or name in MAPPINGS:
            return True  # a request's own type, or a bare mapping of anything
        if (
            isinstance(node, ast.Subscript)
            and _name(node.value) in MAPPINGS
            and isinstance(node.slice, ast.Tuple)
            and len(node.slice.elts) == 2
        ):
            key, value = node.slice.elts
            if _name(key) == "str" and _as_typed(value):
                return True
    return False


def _untyped(annotation: ast.expr | None) -> bool:
    if annotation is None:
        return True
    return all(
        _name(a) in {"object", "Any", "None"} for a in _alternatives(_expression(annotation))
    )


def _reads_fields_by_name(function: ast.FunctionDef, name: str) -> bool:
    for node in ast.walk(function):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            target = node.func.value
            if isinstance(target, ast.Name) and target.id == name:
                if node.func.attr == "getlist":
                    return True
                if node.func.attr == "get" and node.args:
                    key = node.args[0]
                    if isinstance(key, ast.Constant | ast.JoinedStr) and (
                        not isinstance(key, ast.Constant) or isinstance(key.value, str)
                    ):
                        return True
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
            key = node.slice
            if node.value.id == name and (
                isinstance(key, ast.JoinedStr)
                or (isinstance(key, ast.Constant) and isinstance(key.value, str))
            ):
                return True
    return False


def _public_functions(tree: ast.Module):
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if not node.name.startswith("_"):
                yield node.name, node
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and (
                    not item.name.startswith("_")
                ):
                    yield f"{node.name}.{item.name}", item


def raw_field_parameters(source: str, module: str) -> list[tuple[str, str, str]]:
    """(module, function, parameter) for each public function's parameter that takes a
    mapping of raw fields, as the module docstring defines it."""
    found = []
    for name, function in _public_functions(ast.parse(source)):
        arguments = function.args
        parameters = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
        if arguments.vararg is not None:
            parameters.append(arguments.vararg)
        if arguments.kwarg is not None:
            parameters.append(arguments.kwarg)  # **fields: a form spread into keywords
        for parameter in parameters:
            if parameter.arg in ("self", "cls"):
                continue
            if takes_raw_fields(parameter.annotation) or (
                _untyped(parameter.annotation) and _reads_fields_by_name(function, parameter.arg)
            ):
                found.append((module, name, parameter.arg))
    return found


def _modules():
    for path in sorted(SERVICES.rglob("*.py")):
        dotted = ".".join(path.relative_to(SERVICES.parent.parent).with_suffix("").parts)
        yield dotted.removesuffix(".__init__"), path.read_text(encoding="utf-8")


def test_no_public_service_function_takes_a_forms_raw_fields():
    found = [hit for module, source in _modules() for hit in raw_field_parameters(source, module)]
    unexplained = [hit for hit in found if hit not in ALLOWED]
    assert unexplained == [], (
        "read the form in portal/web (a typed input the service takes), not in a service: "
        f"{unexplained}"
    )
    assert sorted(set(ALLOWED) - set(found)) == [], "an exception no longer needed: drop it"


@pytest.mark.parametrize(
    "source",
    [
        # The shapes this issue took out of the services, as they were.
        "def period_from(query: Mapping[str, str], *, today: date) -> Period: ...",
        "def log_accompaniment(db, case, fields: Mapping[str, object], *, actor, at): ...",
        "def start(db: Session, client: Client, raw: dict, *, actor, keys, tz, at): ...",
        "def record_screen(db, screen, *, person_notes: dict[str, object], actor, at): ...",
        "class TaskFilter:\n"
        "    @classmethod\n"
        "    def parse(cls, params) -> TaskFilter:\n"
        "        return cls(status=params.get('status', ''))\n",
        "def save(db, form: object):\n    return form['title']\n",
        "def save(db, form):\n    return [form.get(f'person_{i}') for i in range(3)]\n",
        "def save(db, request: 'Request'): ...",
        "def save(db, form: starlette.datastructures.FormData): ...",
        "def save(db, **fields):\n    return fields['title']\n",
        "def save(db, form: Optional[dict[str, str]] = None): ...",
        "def save(db, form: Mapping[str, str | list[str]] | None): ...",
        "def save(db, *, query: 'Mapping[str, str]'): ...",
    ],
)
def test_the_check_catches_a_form_read_in_a_service(source):
    assert raw_field_parameters(source, "portal.services.example") != []


@pytest.mark.parametrize(
    "source",
    [
        "def log_accompaniment(db, case, *, given: AccompanimentInput, actor, at): ...",
        "def build_report(db, agency, period: Period, *, today: date): ...",
        "def note(db, case, kind, *, reason: object, at): return validation.text(reason)",
        "def _entry_values(fields: Mapping[str, object], today): ...",  # private: its caller
        "def saved(db, content: SectionContent):\n    return content.get('review_date')\n",
        "def latest(db, client, key: str, *, options):\n    return options.get(key)\n",
        "def write(db, entries: list[dict], *, by_id: dict[int, SectionEntry]): ...",
        "def collect(**checks) -> dict: ...",
        "def run(db, *, cache: dict[tuple[int, str], Answer] | None = None): ...",
    ],
)
def test_the_check_leaves_typed_inputs_alone(source):
    assert raw_field_parameters(source, "portal.services.example") == []
