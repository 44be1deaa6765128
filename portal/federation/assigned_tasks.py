"""An agency's tasks on cases coordinated on other nodes, as their coordinators' nodes tell.

A case's tasks are kept on its coordinator's node: an agency elsewhere that a task is
assigned to follows it on its own node from the coordinator's answer, fetched for the page
(`POST /federation/v1/assigned-tasks`), never kept. Due date, status and assignee are the
case's tracking and always shown; each task's text is what its owner's point released, or
the placeholder naming the gate. What was received is receipted in the agency's log here.
A coordinator's node that does not answer leaves its cases' tasks unavailable, said so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from sqlmodel import Session, select

from portal.audit import record_many
from portal.crypto import KeyWrapper
from portal.db import at_commit, commit_before_waiting
from portal.disclosure import Decision, Gate, Withheld, receipt, requester_held
from portal.federation import transport, wire
from portal.federation.transport import Call, Federation, Unavailable
from portal.models import Agency, CaseLink, MdtCase, Node, StaffUser
from portal.requester import Requester
from portal.services import case_records, tasks, visibility

PATH = transport.PREFIX + "/assigned-tasks"
# Cases asked for one page; past it the page says so, and the list's case filter narrows
# to one (never a silent gap in an agency's work).
MAX_CASES = 50


@dataclass(frozen=True)
class Unanswered:
    """A case whose coordinator's node did not answer (or whose answer did not verify)."""

    case_reference: str
    coordinator: str  # its name
    why: str


@dataclass(frozen=True)
class Assigned:
    rows: list[tasks.TaskRow]
    unavailable: list[Unanswered]
    more_cases: bool = False  # more cases elsewhere than one page asks about (MAX_CASES)


def cases_elsewhere(
    db: Session, agency: Agency, *, case_reference: str = "", holder: StaffUser | None = None
) -> list[tuple[MdtCase, Agency]]:
    """The cases the agency is confirmed on whose coordinator another node hosts, with
    that coordinator (`case_reference`: only that one; `holder`: only those that mentor
    holds)."""
    query = (
        select(MdtCase, Agency)
        .join(CaseLink, CaseLink.case_id == MdtCase.id)
        .join(Agency, Agency.id == MdtCase.coordinating_agency_id)
        .join(Node, Node.id == Agency.node_id)
        .where(
            CaseLink.agency_id == agency.id,
            CaseLink.confirmed_at.is_not(None),
            Node.is_local.is_(False),
        )
    )
    if case_reference:
        query = query.where(MdtCase.reference == case_reference)
    if holder is not None:
        query = query.where(visibility.held_by(holder.id))
    # One past the page's limit: whether the agency has more than one page asks about.
    return list(db.exec(query.order_by(MdtCase.reference).limit(MAX_CASES + 1)).all())


def assigned_elsewhere(
    db: Session,
    requester: Requester,
    agency: Agency,
    filters: tasks.TaskFilter,
    *,
    at: datetime,
    keys: KeyWrapper,
    federation: Federation,
    cases: list[tuple[MdtCase, Agency]] | None = None,
    between: Callable[[], None] | None = None,
    holder: StaffUser | None = None,
) -> Assigned:
    """The tasks assigned to the agency on cases coordinated elsewhere (`cases`, default
    `cases_elsewhere` under the filter's case), each coordinator's node asked at once; the
    receipts for what came back written in the agency's log here as its transaction
    commits. `between`: the caller's commit, ending what it holds before any node is
    asked."""
    if cases is None:
        cases = cases_elsewhere(db, agency, case_reference=filters.case_reference, holder=holder)
    more_cases, cases = len(cases) > MAX_CASES, cases[:MAX_CASES]
    if not cases:
        return Assigned([], [], more_cases)
    roster, local_url = transport.roster_and_url(db)
    asking = replace(requester, node=local_url or requester.node)
    calls: list[tuple[MdtCase, Agency, Call | None, str]] = []
    key_id, signing_key = transport.signing_key_of(db, agency, keys=keys)
    for case, coordinator in cases:
        member = None if roster is None else roster.member(coordinator.public_id)
        if member is None:
            calls.append((case, coordinator, None, "it is no longer in the MDT's roster"))
            continue
        payload = {
            "requester": wire.requester_dict(asking),
            "case": case.reference,
            "filters": wire.task_filter_dict(filters),
        }
        calls.append((case, coordinator, Call((member,), PATH, payload, key_id, signing_key), ""))
    sent = [call for _case, _coordinator, call, _why in calls if call is not None]
    if sent:
        commit_before_waiting(db, between)  # no lock held while their nodes answer
    answers = iter(federation.submit(sent).results() if sent else [])
    rows, unavailable, receipts = [], [], []
    for case, coordinator, call, why in calls:
        answer = next(answers) if call is not None else Unavailable(why)
        try:
            if isinstance(answer, Unavailable):
                raise answer
            shown, decisions = _rows(db, case, coordinator, agency, answer)
        except Unavailable as failed:
            unavailable.append(Unanswered(case.reference, coordinator.name, str(failed)))
            continue
        rows.extend(shown)
        for owner, decision in decisions:
            receipts.extend(
                receipt.received_entries(
                    asking,
                    case_ref=case.reference,
                    owner_ref=owner.public_id,
                    decisions=[decision],
                    at=at,
                    agency_id=agency.id,
                )
            )

    # As the transaction's last work (`case_records.write_sides`): the agency's log is not
    # held while the rest of the page asks owners here, who lock their logs in turn.
    def received() -> None:
        requester_held.note(db, requester)  # who asked, read again as the receipts are logged
        record_many(db, receipts)

    at_commit(db, received)
    rows.sort(key=lambda row: (row.due_date, row.case_reference, row.public_id))
    return Assigned(rows, unavailable, more_cases)


def _rows(
    db: Session, case: MdtCase, coordinator: Agency, agency: Agency, answer: dict
) -> tuple[list[tasks.TaskRow], list[tuple[Agency, Decision]]]:
    """The rows a coordinator's answer lists, each with its owner's text or placeholder,
    and each owner's decision (for the receipts); an answer that does not read, Unavailable."""
    try:
        listed = wire.assigned_tasks_from(answer.get("tasks"))
        decided = _decisions(db, answer.get("answers"))
    except wire.WireError as error:
        raise Unavailable(f"its node's answer could not be read: {error}") from None
    rows = []
    for task in listed:
        if task.owner not in decided:
            raise Unavailable("its node did not answer for a task's text")
        owner, decision = decided[task.owner]
        rows.append(_row(case, coordinator, agency, task, owner, decision))
    return rows, list(decided.values())


def _decisions(db: Session, answers: object) -> dict[str, tuple[Agency, Decision]]:
    """Each owner's decision on its tasks' text, by its public id; an owner this node's
    roster does not know, or a decision on anything else, is a WireError."""
    if not isinstance(answers, list) or len(answers) > 100:
        raise wire.WireError("answers: expected a list")
    found = {}
    for item in answers:
        if not isinstance(item, dict) or not isinstance(item.get("decisions"), list):
            raise wire.WireError("answers: expected each owner's decisions")
        owner = db.exec(select(Agency).where(Agency.public_id == item.get("owner"))).first()
        if owner is None or len(item["decisions"]) != 1:
            raise wire.WireError("answers: an owner this node does not know")
        decision = wire.decision_from(item["decisions"][0], owner)
        if decision.section.key != case_records.TASKS:
            raise wire.WireError("answers: expected tasks' text only")
        found[owner.public_id] = (owner, decision)
    return found


def _row(
    case: MdtCase,
    coordinator: Agency,
    agency: Agency,
    task: wire.AssignedTask,
    owner: Agency,
    decision: Decision,
) -> tasks.TaskRow:
    # A community-based owner whose taking part the agency may not be told: its point
    # answered as one not on the case, and the row does not name it.
    owner_told = not (isinstance(decision, Withheld) and decision.gate == Gate.NOT_LINKED)
    row = tasks.TaskRow(
        public_id=task.ref,
        case_reference=case.reference,
        case_public_id=case.public_id,
        due_date=task.due_date,
        priority=task.priority,
        status=task.status,
        assignee=task.holder or f"{agency.name} (agency picks)",
        case_id=case.id,
        owner_id=owner.id,
        owner_name=owner.name if owner_told else tasks.UNTOLD,
        assignee_agency_id=agency.id,
        coordinating_id=coordinator.id,
        owner_told=owner_told,
        elsewhere=True,
    )
    if isinstance(decision, Withheld):
        return replace(row, withheld=decision)
    item = decision.content.item(task.ref)
    values = item.values if item is not None else {}
    return replace(row, title=values.get("title"), blocked_reason=values.get("blocked_reason"))
