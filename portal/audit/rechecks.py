"""What a disclosure was decided on, read again once its entries' logs are held.

A page decides without its owners' logs locked (issue 15: readers do not wait), and every
change that can withhold what was released (a revocation, a client's link withdrawn, an
owner's policy line, a legal basis retired) holds the owner's log from its start to its
commit. So an append, once it holds the logs, sees any such change that committed after
the page read: a decision made on what was read before is then refused
(`ChangedMeanwhile`), nothing is written, and the page is made again (`web.routing`).
Revocations are read again on every append (`revoked`); what a gate read for this
transaction's decisions (the policy lines in force, the legal bases in force, the case's
links and the releases their clients joined under, the asker's roles, account and API token)
registers its own check here (`recheck_under_lock`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlmodel import Session

from portal.errors import DomainError

Rows = list[Mapping[str, Any]]
_RECHECKS = "audit_rechecks"  # Session.info: name -> check, until the transaction ends
_KEPT = {_RECHECKS}  # and the keys where the gates note what their checks read again


def notes(key: str) -> str:
    """A Session.info key where a gate notes what its check reads again: kept with the
    checks through a commit made before the decisions are logged (`kept_through`), and
    forgotten with them when the transaction ends."""
    _KEPT.add(key)
    return key


def owners_released(rows: Rows) -> set[int]:
    """The logs (owners) of the entries among `rows` that say something was released."""
    return {row["agency_id"] for row in rows if row.get("decision") == "released"}


class ChangedMeanwhile(DomainError):
    """A disclosure decided on what changed before it could be logged (see the module):
    nothing of it is written or shown."""

    status_code = 409

    def __init__(self, what: str = "What may be shared changed") -> None:
        super().__init__(
            f"{what} while this was being prepared, so nothing was shown. Open it again."
        )


def recheck_under_lock(db: Session, name: str, check: Callable[[Session, Rows], None]) -> None:
    """Run `check(db, rows)` in each append of this transaction once it holds the rows'
    logs; it raises ChangedMeanwhile when what a decision among `rows` was made on has
    changed. One check per name."""
    db.info.setdefault(_RECHECKS, {})[name] = check


@contextmanager
def kept_through(db: Session) -> Iterator[None]:
    """The checks, and what they read again, kept through a commit made between a page's
    decisions and their append (`case_records.write_sides`: a page that commits what it
    wrote first): the decisions were still made on what was read before it."""
    kept = {key: db.info[key] for key in _KEPT if key in db.info}
    yield
    db.info.update(kept)


def run(db: Session, rows: Rows) -> None:
    for check in list(db.info.get(_RECHECKS, {}).values()):
        check(db, rows)


@event.listens_for(Session, "after_transaction_end")
def _forget_rechecks(session, transaction) -> None:
    if transaction.parent is None:  # the transaction itself, not a savepoint or a flush
        for key in _KEPT:
            session.info.pop(key, None)
