"""The one order in which a transaction locks what other writers wait for, kept as it goes.

Rows first (a case, its link, the client, the mentor assignment, the tasks), then the audit
logs: the node's own log, then the agencies' by id (`chain.lock_logs`). Two transactions
that take the same two things in opposite orders wait for each other on PostgreSQL, and
the server ends one of them: whoever made it is told to try again, their change thrown
away. A deadlock needs a second request at the right moment; the order only this one, so
each transaction's is checked as it is taken, and one taken out of order is reported
(`taken_out_of_order`): said in the node's log, raised where `LOG_ORDER` says so (the
tests, which fail on it).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable

from sqlalchemy import event
from sqlalchemy.sql.util import find_tables
from sqlmodel import Session

log = logging.getLogger(__name__)

# Where this is "refuse" (the tests, and the nodes and commands they start: they inherit
# the environment), a log taken out of order raises, so that the build fails on it.
LOG_ORDER = "PORTAL_AUDIT_LOG_ORDER"
# Session.info: a transaction nothing else on the node runs beside (the demo's seeding, a
# benchmark's build, a test's setup), which may do in one what no request does: the order
# of what it locks is not checked.
ALONE = "alone_on_the_node"
# Session.info: the logs this transaction has locked, in the order it took them. Kept until
# the transaction itself ends (chain's copies of the heads go at every flush, the locks do
# not).
_TAKEN = "audit_logs_taken"
_ROWS_FIRST = "rows_held_before_logs"  # Session.info: tables whose rows it held before any log
# Case links are the exception, on purpose: every writer of the link of an agency elsewhere
# holds the coordinator's log first (`portal.federation.links`), every writer of the link
# of an agency of this node holds it before that agency's log (`casework`); no link is
# both.
_LINKS = frozenset({"case_link"})


class LogTakenOutOfOrder(RuntimeError):
    """A log (or rows) locked behind a log the transaction holds that comes later."""


def alone_on_the_node(db: Session) -> Session:
    """Mark a transaction nothing else runs beside (see `ALONE`)."""
    db.info[ALONE] = True
    return db


def log_order(agency_id: int | None) -> tuple[bool, int]:
    """The order logs are taken in: the node's own first, then by agency id."""
    return (agency_id is not None, agency_id or 0)


def note_taken(db: Session, agency_ids: list[int | None]) -> None:
    """Note the logs about to be locked, in order; one taken behind a log already held
    that comes later in the order is reported (`taken_out_of_order`)."""
    taken = db.info.setdefault(_TAKEN, [])
    new = [agency_id for agency_id in agency_ids if agency_id not in taken]
    behind = taken and new and max(map(log_order, taken)) > min(map(log_order, new))
    if behind and not db.info.get(ALONE):
        taken_out_of_order(db, list(taken), new)
    taken.extend(new)


def takes_behind(db: Session, agency_ids: Iterable[int | None]) -> bool:
    """Whether locking these logs now would take one after a log this transaction already
    holds that comes later in the order: a transaction holding that other log and waiting
    for this one would then wait for each other (a deadlock on PostgreSQL). The caller
    that may commit first (a page between its owners' answers) does so."""
    held = db.info.get(_TAKEN, [])
    wanted = [agency_id for agency_id in set(agency_ids) if agency_id not in held]
    if not wanted or not held:
        return False
    return max(map(log_order, held)) > min(map(log_order, wanted))


@event.listens_for(Session, "after_transaction_end")
def _forget_taken(session, transaction) -> None:
    if transaction.parent is None:  # the transaction itself, not a savepoint or a flush
        session.info.pop(_TAKEN, None)
        session.info.pop(_ROWS_FIRST, None)


@event.listens_for(Session, "do_orm_execute")
def _rows_locked_after_logs(state) -> None:
    # The logs come last: rows held FOR UPDATE (a case, a client, a mentor assignment, a
    # task) after one of them are taken out of order, unless rows of that table were held
    # before the logs (read again: the same rows, as a service that holds the case and then
    # calls another that holds it too).
    if not state.is_select or state.statement._for_update_arg is None:
        return
    info = state.session.info
    if info.get(ALONE):
        return
    tables = _locked_tables(state.statement) - _LINKS
    taken = info.get(_TAKEN)
    if not taken:
        info.setdefault(_ROWS_FIRST, set()).update(tables)
    elif tables - info.get(_ROWS_FIRST, set()):
        taken_out_of_order(state.session, list(taken), [f"rows of {', '.join(sorted(tables))}"])


@event.listens_for(Session, "after_flush")
def _rows_made_here(session, _context) -> None:
    # Rows this transaction inserts (a case opened from a referral, then held to add its
    # agencies) are its own until it commits: no other transaction can hold them, so holding
    # them after a log takes nothing out of order. Counted by table: a transaction that
    # makes a case and then holds another one after a log is not seen.
    if session.new:
        made = {type(row).__table__.name for row in session.new if hasattr(type(row), "__table__")}
        session.info.setdefault(_ROWS_FIRST, set()).update(made)


def _locked_tables(statement) -> set[str]:
    """The tables whose rows a SELECT ... FOR UPDATE holds (those named by OF, or every
    table it reads, joins included)."""
    targets = statement._for_update_arg.of or statement.get_final_froms()
    return {table.name for target in targets for table in find_tables(target)}


def taken_out_of_order(db: Session, held: list[int | None], taking: list) -> None:
    """Say that this transaction locks logs (or rows) behind a log it holds that comes
    later in the order: in the node's log, by agency ids and table names only, with where,
    for whoever maintains the code; the work goes on (see `LOG_ORDER` for the tests)."""
    message = (
        f"audit logs locked out of order: {', '.join(map(_name, taking))} taken while "
        f"holding {', '.join(map(_name, held))} (a deadlock is possible on PostgreSQL)"
    )
    log.error("%s", message, stack_info=True)
    if os.environ.get(LOG_ORDER) == "refuse":
        raise LogTakenOutOfOrder(message)


def _name(taken: int | str | None) -> str:
    if isinstance(taken, str):  # rows of a table
        return taken
    return "the node's log" if taken is None else f"agency {taken}'s log"
