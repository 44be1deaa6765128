"""The policy gate: Casbin over the default policy plus the owner agency's own lines.

An enforcer is built per owner from exactly the lines in force and memoised on the owner
and those lines, so a change is seen on the very next request without a restart.
Casbin's request logging stays off: its arguments describe survivors.
"""

from __future__ import annotations

import csv
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import cache, lru_cache

import casbin
from sqlalchemy import bindparam
from sqlmodel import Session, select

from portal.audit import ChangedMeanwhile, recheck_under_lock, rechecks
from portal.db import read_rows
from portal.models import Agency, PolicyLine
from portal.resources import POLICIES_DIR

MODEL_PATH = POLICIES_DIR / "model.conf"
DEFAULT_POLICY_PATH = POLICIES_DIR / "default_policy.csv"
ANY = "*"
# The recipient "kind" of the owner's own staff: a policy line for partners of a kind
# (community, system) never decides what the agency's own staff read of its own records,
# and a line can speak to its own staff alone (the address a system-based partner must not
# receive is still the record of a system-based owner's own caseworker).
OWN = "own"
_CASBIN_LOGGERS = ("casbin", "casbin.enforcer", "casbin.policy", "casbin.role")


@dataclass(frozen=True)
class PolicyAnswer:
    allowed: bool
    rule: str | None  # the policy line that decided, as written, when one matched


def field_match(requested: str, written: str) -> bool:
    """A policy field matches its request field exactly, or "*" matches anything.

    An empty field in either place never matches (Casbin would otherwise let "" == "").
    """
    if not requested or not written:
        return False
    return written in (ANY, requested)


@cache
def _model_text() -> str:
    return MODEL_PATH.read_text()


@cache
def default_lines() -> tuple[tuple[str, ...], ...]:
    """The default policy as rows of (owner, kind, role, section, purpose, effect)."""
    rows = []
    with DEFAULT_POLICY_PATH.open(newline="") as handle:
        for raw in csv.reader(handle, skipinitialspace=True):
            if not raw or raw[0].strip().startswith("#"):
                continue
            cells = tuple(cell.strip() for cell in raw)
            if cells[0] != "p" or len(cells) != 7 or not all(cells):
                raise ValueError(f"bad line in {DEFAULT_POLICY_PATH.name}: {raw!r}")
            if cells[6] not in ("allow", "deny"):
                raise ValueError(f"bad effect in {DEFAULT_POLICY_PATH.name}: {raw!r}")
            rows.append(cells[1:])
    return tuple(rows)


def _quiet_casbin() -> None:
    for name in _CASBIN_LOGGERS:
        logger = logging.getLogger(name)
        logger.disabled = True
        logger.setLevel(logging.CRITICAL + 1)


# Casbin parses its matcher with `ast.parse` on every enforce. Python 3.11 keeps the AST
# constructor's recursion depth per interpreter, not per thread, so two threads parsing at
# once can fail with "SystemError: AST constructor recursion depth mismatch" (CPython
# gh-106905): every enforce in the process takes this one lock. Answers are memoised per
# policy in force, so the lock is held only on a first answer.
_ENFORCING = threading.Lock()


class OwnerPolicy:
    """One owner's policy in force: an enforcer and a memo of its answers."""

    def __init__(self, lines: tuple[tuple[str, ...], ...]) -> None:
        enforcer = casbin.Enforcer(casbin.Enforcer.new_model(text=_model_text()), enable_log=False)
        _quiet_casbin()
        enforcer.add_function("field_match", field_match)
        if lines:
            enforcer.add_policies([list(line) for line in lines])
        self._enforcer = enforcer
        self._answers: dict[tuple[str, ...], PolicyAnswer] = {}

    def decide(self, owner: str, kind: str, role: str, section: str, purpose: str) -> PolicyAnswer:
        request = (owner, kind, role, section, purpose)
        answer = self._answers.get(request)
        if answer is None:
            with _ENFORCING:
                allowed, explain = self._enforcer.enforce_ex(*request)
            answer = PolicyAnswer(bool(allowed), ", ".join(explain) if explain else None)
            self._answers[request] = answer
        return answer


class _Cache:
    """A small LRU of OwnerPolicy, keyed on (owner, policy version, lines in force)."""

    def __init__(self, size: int = 256) -> None:
        self._items: OrderedDict = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key, build):
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        made = build()
        with self._lock:
            self._items[key] = made
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return made


_policies = _Cache()


_LINE = (
    PolicyLine.recipient_kind,
    PolicyLine.recipient_role,
    PolicyLine.section_key,
    PolicyLine.purpose,
    PolicyLine.effect,
)


@lru_cache(maxsize=64)
def _lines_in_force(count: int):
    """The lines in force of `count` owners, by bind parameters of their own (`owner_0`...):
    prebuilt for each count and run by the driver (`db.read_rows`), as every page reads
    them and every append that releases reads them again."""
    owners = [bindparam(f"owner_{place}") for place in range(count)]
    return (
        select(PolicyLine.agency_id, *_LINE)
        .where(PolicyLine.agency_id.in_(owners), PolicyLine.retired_at.is_(None))
        .order_by(PolicyLine.id)
    )


Lines = tuple[tuple[str, ...], ...]
# Session.info: owner id -> (public id, its lines) last read
_READ = rechecks.notes("policy_lines_read")


def _lines_of(db: Session, public_ids: dict[int, str]) -> dict[int, Lines]:
    found: dict[int, list[tuple[str, ...]]] = {owner_id: [] for owner_id in public_ids}
    owners = {f"owner_{place}": owner_id for place, owner_id in enumerate(public_ids)}
    for row in read_rows(db, _lines_in_force(len(owners)), owners):
        found[row["agency_id"]].append(
            (public_ids[row["agency_id"]], *(row[column.key] for column in _LINE))
        )
    return {owner_id: tuple(lines) for owner_id, lines in found.items()}


def _decided_on(db: Session, owners: list[Agency], lines: dict[int, Lines]) -> None:
    """Note the lines this transaction's decisions are made on (a request reads each
    owner's once, `RequestCache.policies`), and have them read again as its entries are
    appended (`_unchanged`)."""
    noted = db.info.setdefault(_READ, {})
    for owner in owners:
        noted[owner.id] = (owner.public_id, lines[owner.id])
    recheck_under_lock(db, "policy", _unchanged)


def _unchanged(db: Session, rows) -> None:
    """ChangedMeanwhile when an owner's lines in force are not those a release among
    `rows` was decided on: a lead's change holds the owner's log from its start, so one
    committed since the page read them is seen here, under that log."""
    noted = db.info.get(_READ, {})
    released = rechecks.owners_released(rows) & noted.keys()
    if not released:
        return
    now = _lines_of(db, {owner_id: noted[owner_id][0] for owner_id in released})
    if any(now[owner_id] != noted[owner_id][1] for owner_id in released):
        raise ChangedMeanwhile("A sharing rule of the agency changed")


def owner_policy(db: Session, owner: Agency) -> OwnerPolicy:
    """The policy in force for this owner now. Read on every request, built once per change."""
    return owner_policies(db, [owner])[owner.id]


def owner_policies(db: Session, owners: list[Agency]) -> dict[int, OwnerPolicy]:
    """The policies in force for several owners now, read in one query.

    An enforcer is a pure function of the default policy and the owner's lines in force,
    so the lines themselves are the cache key: a change, even one rolled back and another
    made in its place, can never be served from a stale entry.
    """
    lines = _lines_of(db, {owner.id: owner.public_id for owner in owners})
    _decided_on(db, owners, lines)
    return {
        owner.id: _policies.get(
            (owner.public_id, lines[owner.id]),
            lambda owner=owner: OwnerPolicy(default_lines() + lines[owner.id]),
        )
        for owner in owners
    }


def decide(
    policy: OwnerPolicy, owner: Agency, *, kind: str, roles, section: str, purpose: str
) -> tuple[PolicyAnswer, str | None]:
    """(answer, role it was decided for). Deny overrides across the viewer's roles too:
    an explicit deny for any one role withholds, whatever another role would be allowed."""
    allowed: tuple[PolicyAnswer, str] | None = None
    for role in sorted(roles):
        answer = policy.decide(owner.public_id, kind, role, section, purpose)
        if not answer.allowed and answer.rule:
            return answer, role
        if answer.allowed and allowed is None:
            allowed = (answer, role)
    return allowed or (PolicyAnswer(False, None), None)
