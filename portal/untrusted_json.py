"""JSON that came from outside the node (a partner's answer or request, an API body, a file
an operator names) read with its nesting bounded before the parser sees it.

The standard parser recurses once per level and stops only at the interpreter's recursion
limit. Caught, that RecursionError still leaves the process at the bottom of its stack for
as long as the parse takes, and anything that runs there (a garbage collection finalising
an object, its warning or error handler) fails in turn, outside any handler of ours. A
document nested deeper than any the portal writes is refused here, unparsed."""

from __future__ import annotations

import json
import re

# The portal's own documents nest a few levels (a federation answer: answers, rows, a
# row's value, a domain's fields); this leaves room for every one of them.
MAX_DEPTH = 32

# A string, or one left open to the end of the document: every character can be matched
# one way only and nothing is given back (possessive), so a scan is linear. An open string
# once tried each way of splitting its text between the two branches, about 2**n steps:
# a quote and 200 more bytes in an API body or a members file held a process for good.
_STRING = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+(?:"|\\?\Z)', re.DOTALL)
_NOT_A_BRACKET = bytes(sorted(set(range(256)) - set(b"[]{}")))


class TooDeep(ValueError):
    """The document nests deeper than MAX_DEPTH: a ValueError, as the parser's other
    refusals of well-formed text are (a number past the digit limit)."""

    def __init__(self) -> None:
        super().__init__(f"nested deeper than {MAX_DEPTH} levels")


def loads(document: bytes | str, *, max_depth: int = MAX_DEPTH):
    """`json.loads`, refusing with TooDeep a document nested deeper than `max_depth`.

    Raises what json.loads raises otherwise (JSONDecodeError, UnicodeDecodeError and
    ValueError for a number past the digit limit)."""
    if nesting_depth(document) > max_depth:
        raise TooDeep()
    return json.loads(document)


def nesting_depth(document: bytes | str) -> int:
    """How deep the document's arrays and objects nest, brackets inside strings not
    counted. A malformed document gets a number too; the parser then says what is wrong."""
    raw = document.encode("utf-8", "surrogatepass") if isinstance(document, str) else document
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_A_BRACKET)
    depth = deepest = 0
    for bracket in brackets:
        if bracket in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest
