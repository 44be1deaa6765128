"""How a command asks before it does what cannot be undone: a typed answer, or --yes."""

from __future__ import annotations

import sys

from portal.cli import errors


def confirmed(question: str, *, answer: str = "yes") -> bool:
    """Whether the operator, asked `question`, typed `answer` (case and spaces aside).
    Without a terminal nothing can be asked: refused, saying to give --yes."""
    if not sys.stdin.isatty():
        raise errors.CommandError(
            "without a terminal nothing can be asked: run again with --yes; nothing was changed",
            errors.BAD_INPUT,
        )
    typed = input(f"{question} Type {answer} to go on: ")
    return typed.strip().casefold() == answer.strip().casefold()
