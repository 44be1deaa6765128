"""JSON from outside the node is refused when nested deeper than the portal writes, before
the parser recurses into it.

CI failed once (stop 34) on a federation test whose partner answered a document nested
100,000 deep: the RecursionError was caught, but a garbage collection ran while the parser
sat at the bottom of the stack, and the object it finalised could not even report its
error there (pytest: "Failed to process unraisable exception")."""

from __future__ import annotations

import gc
import json

import pytest

from portal import untrusted_json

DEEP = b'{"answers": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


def _needs_stack(levels: int) -> int:
    return 0 if levels == 0 else 1 + _needs_stack(levels - 1)


def test_code_run_during_the_parse_of_a_deep_document_still_has_stack_to_run():
    """What a collection runs while a document is parsed (a finaliser, the hook that reports
    its error) needs some stack; with the nesting bounded it always has it."""
    starved = []

    def collecting(phase, info):
        if phase == "start":
            try:
                _needs_stack(60)
            except RecursionError:
                starved.append(info["generation"])

    thresholds = gc.get_threshold()
    gc.callbacks.append(collecting)
    gc.set_threshold(1, 1, 1)  # a collection at almost every allocation, the parse's too
    try:
        with pytest.raises((ValueError, RecursionError)):
            untrusted_json.loads(DEEP)
    finally:
        gc.set_threshold(*thresholds)
        gc.callbacks.remove(collecting)
    assert not starved, f"{len(starved)} collections ran with no stack left during the parse"


@pytest.mark.parametrize(
    "document",
    [DEEP, DEEP.decode(), b"[" * 33 + b"]" * 33, b'{"a": ' * 40 + b"1" + b"}" * 40],
    ids=["100000-deep-bytes", "100000-deep-text", "33-deep", "40-deep-objects"],
)
def test_a_document_nested_deeper_than_the_bound_is_refused_unparsed(document):
    with pytest.raises(untrusted_json.TooDeep, match="nested deeper than 32 levels"):
        untrusted_json.loads(document)


@pytest.mark.parametrize(
    "document",
    [
        b"[" * 32 + b"]" * 32,
        # Brackets inside strings, escaped quotes among them, are text, not nesting.
        json.dumps({"note": "[" * 500 + '\\"{' * 100, "rows": [[{"v": "]]]"}]]}).encode(),
        json.dumps(["\u00e9[[[[", {"k": "\\"}]).encode(),
        '{"name": "Ana [synthetic] \\u00e9"}',
        b"7",
    ],
    ids=["32-deep", "brackets-in-strings", "escaped-backslash", "text", "scalar"],
)
def test_a_document_within_the_bound_reads_as_json_loads_reads_it(document):
    assert untrusted_json.loads(document) == json.loads(document)


def test_its_refusal_is_a_value_error_as_the_parsers_other_refusals_are():
    """Every caller already answers a ValueError (a number past the digit limit) as input
    that cannot be read; the bound joins them without a new except clause."""
    assert issubclass(untrusted_json.TooDeep, ValueError)
    with pytest.raises(json.JSONDecodeError):
        untrusted_json.loads(b'{"a": [1, 2')
    with pytest.raises(ValueError):
        untrusted_json.loads(b"9" * 5000)


@pytest.mark.parametrize(
    ("document", "depth"),
    [(b"{}", 1), (b'[{"a": [1]}, []]', 3), (b'"[[["', 0), (b'["\\\\", ["]"]]', 2)],
)
def test_nesting_depth_counts_brackets_outside_strings(document, depth):
    assert untrusted_json.nesting_depth(document) == depth


OUTSIDE_INPUT = [
    "portal/federation/transport.py",  # a partner node's answer
    "portal/federation/endpoints.py",  # a partner node's request
    "portal/api/routing.py",  # an API client's body
    "portal/cli/roster.py",  # a members file an operator names
    "portal/cli/audit.py",  # a checkpoint file an operator names
    "portal/audit/journal.py",  # the journal, a file outside the database
]


@pytest.mark.parametrize("path", OUTSIDE_INPUT)
def test_modules_reading_outside_input_parse_it_only_through_the_bound(path):
    import ast
    from pathlib import Path

    tree = ast.parse((Path(__file__).parents[2] / path).read_text(encoding="utf-8"))
    unbounded = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr in {"loads", "load"}
        and isinstance(node.value, ast.Name)
        and node.value.id == "json"
    ]
    assert not unbounded, f"{path} calls json.loads directly on line(s) {unbounded}"


OPEN_STRINGS = {
    # A quote never closed: the old pattern tried every split of the text after it.
    "open-string": b'{"note": "' + b"ab" * 50_000,
    # Escaped quotes to the end: each one starts a scan again if the scan is not single-pass.
    "escaped-quotes": b'["' + b'\\"' * 50_000,
    "trailing-backslash": b'["abc\\',
}


@pytest.mark.parametrize("name", sorted(OPEN_STRINGS))
def test_a_string_left_open_is_measured_in_one_pass(name):
    """Measured in a process of its own, so a scan that never ends fails here rather than
    holding the test run: 100 KB must take well under the time given."""
    import subprocess
    import sys
    from pathlib import Path

    script = (
        "import sys; from portal import untrusted_json\n"
        "print(untrusted_json.nesting_depth(sys.stdin.buffer.read()))"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", script],
            input=OPEN_STRINGS[name],
            capture_output=True,
            timeout=20,
            check=True,
            cwd=Path(__file__).parents[2],
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"nesting_depth of {name} ran past 20 s")
    assert int(done.stdout) == 1


@pytest.mark.parametrize(
    ("document", "depth"),
    [(b'[["abc', 2), (b'["abc[[[[', 1), (b'[{"a": "\\"[[', 2), (b'"', 0)],
)
def test_brackets_after_an_open_quote_are_text_and_the_parser_refuses_the_document(document, depth):
    assert untrusted_json.nesting_depth(document) == depth
    with pytest.raises(json.JSONDecodeError):
        untrusted_json.loads(document)
