"""What crosses between nodes, as JSON: the requester, and the owner's decisions.

A requester is exactly `portal.requester.Requester`. A decision is what the owner's
disclosure point returned: released content (rows of label, type and value, the version
and when it was saved) or a placeholder naming the gate. The receiving node rebuilds the
same typed decisions, so the page and the receipts cannot tell a remote owner from a
local one; it never stores them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from portal.disclosure import Decision, Gate, Released, ReleasedLine, Withheld
from portal.disclosure.content import Content, Item, Row
from portal.disclosure.referrals import SECTION as REFERRAL_SECTION
from portal.disclosure.referrals import Referrals, referral_ref
from portal.models import Agency
from portal.models.workflow import Task, TaskPriority, TaskStatus
from portal.placeholders import Withholding, sentence
from portal.requester import Requester
from portal.sections import catalogue
from portal.services.tasks import TaskFilter

MAX_TEXT = 200


class WireError(ValueError):
    """A message from another node that does not have the expected shape."""


def requester_dict(requester: Requester) -> dict:
    sent = {
        "node": requester.node,
        "agency": requester.agency,
        "agency_kind": requester.agency_kind,
        "user": requester.user,
        "roles": sorted(requester.roles),
        "purpose": requester.purpose,
    }
    if requester.via is not None:  # the owner's log names the API token too
        sent["via"] = requester.via
    return sent


def _text(data: dict, key: str, *, optional: bool = False, longest: int = MAX_TEXT) -> str | None:
    value = data.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value or len(value) > longest:
        raise WireError(f"{key}: expected text of at most {longest} characters")
    return value


# What the logs keep of a requester and of a decision, by the audit columns that hold it: a
# longer value than its column fits is refused here (a 400, or an owner unavailable),
# never a failed write (a 500, and on the owner's side a nonce forgotten).
_ID, _ROLE, _PURPOSE, _SUBJECT, _RULE = 36, 30, 30, 120, 300


def requester_from(data: object) -> Requester:
    if not isinstance(data, dict):
        raise WireError("requester: expected an object")
    roles = data.get("roles")
    if (
        not isinstance(roles, list)
        or len(roles) > 20
        or not all(isinstance(r, str) and len(r) <= _ROLE for r in roles)
    ):
        raise WireError("requester.roles: expected a list of roles")
    return Requester(
        node=_text(data, "node"),
        agency=_text(data, "agency", longest=_ID),
        agency_kind=_text(data, "agency_kind", longest=_ROLE),
        user=_text(data, "user", optional=True, longest=_ID),
        roles=frozenset(roles),
        purpose=_text(data, "purpose", longest=_PURPOSE),
        via=_text(data, "via", optional=True, longest=_ID),
    )


def _json_value(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    return value


def decision_dict(decision: Decision) -> dict:
    if isinstance(decision, Released):
        content = decision.content
        return {
            "section": decision.section.key,
            "decision": "released",
            "content": {
                "rows": [
                    {"label": row.label, "type": row.type, "value": _json_value(row.value)}
                    for row in content.rows
                ],
                "version": content.version,
                "saved_at": None if content.saved_at is None else content.saved_at.isoformat(),
                "items": [_item_dict(item) for item in content.items],
            },
            "release_ref": decision.release_ref,
            "policy_rule": decision.policy_rule,
            "role": decision.role,
            # The statute a system-based owner shared under in place of a release (issue
            # 14), so the requester shows and receipts it as for an owner here.
            "legal_basis": decision.legal_basis,
            # What must accompany the content (42 CFR 2.32's notice), in the owner's words.
            "notices": list(decision.notices),
            # Its lines released under other sections' gates, each under its own release:
            # the requester's receipts name them, as the owner's log does.
            "lines": [
                {
                    "section": line.section.key,
                    "line": line.line,
                    "release_ref": line.release_ref,
                    "policy_rule": line.policy_rule,
                    "role": line.role,
                }
                for line in decision.lines
            ],
        }
    why = decision.why
    return {
        "section": decision.section.key,
        "decision": "withheld",
        "gate": str(decision.gate),
        # The typed facts of the placeholder (the requester words it, as for a local view)
        # and the owner's own sentence, for a reader of the raw answer.
        "why": {
            "roles": sorted(why.roles),
            "agency_kind": why.agency_kind,
            "own_agency": why.own_agency,
            "purpose": why.purpose,
            "release_status": why.release_status,
        },
        "reason": sentence(why),
    }


# An MDT record's facts, by name, as a page sets them beside what it shows (a decision's
# recommendation, notes, meeting day): only flat values cross. What a task's own page adds
# (comments, history) names staff and agencies by this node's row ids: never sent.
_TIMES = ("created_at",)
_DAYS = ("meeting_date",)
MAX_ITEMS = 1000
# The statements a released section carries (42 CFR 2.32's notice): a few, each a paragraph.
MAX_NOTICES, MAX_NOTICE = 5, 2000


def _item_dict(item: Item) -> dict:
    return {
        "ref": item.ref,
        "values": {
            key: _json_value(value)
            for key, value in item.values.items()
            if value is None
            or (isinstance(value, str | int | date | datetime) and not isinstance(value, bool))
        },
    }


def _item_from(data: object) -> Item:
    if not isinstance(data, dict) or not isinstance(data.get("values"), dict):
        raise WireError("decision.content.items: expected a reference and values")
    ref = _text(data, "ref", longest=_ID)
    values: dict[str, object] = {}
    for key, value in data["values"].items():
        if key in _TIMES or key in _DAYS:
            try:
                read = datetime.fromisoformat(value) if key in _TIMES else date.fromisoformat(value)
            except (TypeError, ValueError):
                raise WireError(f"decision.content.items: {key} is not a date") from None
            if key in _TIMES and read.tzinfo is None:
                raise WireError(f"decision.content.items: {key} has no time zone")
            values[key] = read
        elif (
            value is None
            or isinstance(value, str)
            or (isinstance(value, int) and not isinstance(value, bool))
        ):
            values[key] = value
        else:
            raise WireError(f"decision.content.items: {key} is not text")
    return Item(ref, values)


def _row_value(kind: str, value: object) -> object:
    """A released row's value in the shape its type is shown in: what another node sends
    is read as carefully as a form (a page must not fail on one owner's odd answer)."""
    if value is None:
        return None
    if kind == "checklist":
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return value
    elif kind == "domains":
        if isinstance(value, dict) and all(
            isinstance(name, str)
            and isinstance(entry, dict)
            and all(isinstance(entry.get(k, ""), str) for k in ("status", "note"))
            for name, entry in value.items()
        ):
            return value
    elif isinstance(value, str | int) and not isinstance(value, bool):
        return value
    raise WireError(f"decision.content.rows: a value that is not a {kind}")


def decision_from(data: object, owner: Agency) -> Decision:
    """One decision as the owner sent it; an unknown section or gate is a WireError."""
    if not isinstance(data, dict):
        raise WireError("decision: expected an object")
    section = catalogue().get(data.get("section") or "")
    if section is None:
        raise WireError("decision.section: not a section of the catalogue")
    if data.get("decision") == "withheld":
        try:
            gate = Gate(data.get("gate"))
        except ValueError:
            raise WireError("decision.gate: not a gate") from None
        facts = data.get("why")
        if not isinstance(facts, dict):
            raise WireError("decision.why: expected the placeholder's facts")
        roles, status = facts.get("roles"), facts.get("release_status")
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise WireError("decision.why.roles: expected a list of roles")
        if status is not None and (not isinstance(status, str) or len(status) > 500):
            raise WireError("decision.why.release_status: expected text")
        why = Withholding(
            gate,
            section,
            roles=frozenset(roles),
            agency_kind=str(facts.get("agency_kind") or ""),
            own_agency=bool(facts.get("own_agency")),
            purpose=str(facts.get("purpose") or ""),
            release_status=status,
        )
        return Withheld(section, owner, why)
    if data.get("decision") != "released":
        raise WireError("decision.decision: expected released or withheld")
    content = data.get("content")
    if not isinstance(content, dict) or not isinstance(content.get("rows"), list):
        raise WireError("decision.content: expected rows")
    rows = []
    for row in content["rows"]:
        if not isinstance(row, dict) or not isinstance(row.get("label"), str):
            raise WireError("decision.content.rows: expected label, type and value")
        kind = str(row.get("type") or "text")
        rows.append(Row(row["label"], kind, _row_value(kind, row.get("value"))))
    saved_at = content.get("saved_at")
    try:
        saved = None if saved_at is None else datetime.fromisoformat(saved_at)
    except (TypeError, ValueError):
        raise WireError("decision.content.saved_at: expected a time") from None
    version = content.get("version")
    listed = content.get("items") or []
    if not isinstance(listed, list) or len(listed) > MAX_ITEMS:
        raise WireError("decision.content.items: expected a list of records")
    items = tuple(_item_from(item) for item in listed)
    return Released(
        section,
        owner,
        Content(tuple(rows), version if isinstance(version, int) else None, saved, items),
        _kept(data, "release_ref", _ID),
        _kept(data, "policy_rule", _RULE),
        _kept(data, "role", _ROLE),
        _short(data.get("legal_basis")),
        notices=_notices(data.get("notices")),
        lines=_lines(data.get("lines"), section),
    )


def _lines(value, section) -> tuple[ReleasedLine, ...]:
    """The section's lines the owner released under other sections' gates (none from a
    node that sends none): each a line that the catalogue says another section guards."""
    if value is None:
        return ()
    guarded = {(option, guard) for f in section.fields for option, guard in f.guarded}
    if not isinstance(value, list) or len(value) > len(guarded):
        raise WireError("decision.lines: expected the lines other sections guard")
    lines = []
    for item in value:
        if not isinstance(item, dict) or (item.get("line"), item.get("section")) not in guarded:
            raise WireError("decision.lines: a line no other section guards")
        lines.append(
            ReleasedLine(
                catalogue().get(item["section"]),
                item["line"],
                _kept(item, "release_ref", _ID),
                _kept(item, "policy_rule", _RULE),
                _kept(item, "role", _ROLE),
            )
        )
    return tuple(lines)


def _notices(value) -> tuple[str, ...]:
    """The statements the owner sent to accompany its content: a few lines of text (none
    from a node that sends none)."""
    if value is None:
        return ()
    if (
        not isinstance(value, list)
        or len(value) > MAX_NOTICES
        or not all(isinstance(notice, str) and 0 < len(notice) <= MAX_NOTICE for notice in value)
    ):
        raise WireError(
            f"decision.notices: expected at most {MAX_NOTICES} texts of {MAX_NOTICE} characters"
        )
    return tuple(value)


def _kept(data: dict, key: str, longest: int) -> str | None:
    """An optional text the requester's log keeps: longer than its column, a WireError."""
    value = data.get(key)
    if not isinstance(value, str):
        return None
    if len(value) > longest:
        raise WireError(f"decision.{key}: longer than {longest} characters")
    return value


def _short(value: object) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= 2 * MAX_TEXT else None


def referrals_dict(found: Referrals) -> dict:
    """One owner's answer to the coordinator's referral question (issue 20)."""
    return {
        "owner": found.owner.public_id,
        "refused": None if found.refused is None else decision_dict(found.refused),
        "decisions": [decision_dict(d) for d in found.decisions],
        "more": found.more,
    }


def referrals_from(data: object, owner: Agency) -> Referrals:
    """One owner's answer as it sent it; anything of another section is a WireError."""
    if not isinstance(data, dict) or data.get("owner") != owner.public_id:
        raise WireError("answer: expected the owner's referrals")
    listed = data.get("decisions")
    if not isinstance(listed, list) or len(listed) > 1000:
        raise WireError("decisions: expected a list")
    refused = None if data.get("refused") is None else decision_from(data["refused"], owner)
    decisions = tuple(decision_from(item, owner) for item in listed)
    if any(d.section.key != REFERRAL_SECTION for d in (*decisions, *filter(None, [refused]))):
        raise WireError("decisions: expected MDT referrals only")
    if refused is not None and not isinstance(refused, Withheld):
        raise WireError("refused: expected a placeholder")
    for decision in decisions:
        reference = referral_ref(decision) if isinstance(decision, Released) else None
        if reference is not None and len(reference) > _SUBJECT:
            raise WireError(f"decisions: a referral's reference longer than {_SUBJECT}")
    return Referrals(owner, refused, decisions, bool(data.get("more")))


# -- A case's tasks assigned to an agency elsewhere (`/assigned-tasks`) ---------------------


def task_filter_dict(filters: TaskFilter) -> dict:
    """What of the task list's filters the coordinator applies (the case is the call's)."""
    return {
        "status": filters.status,
        "due_from": None if filters.due_from is None else filters.due_from.isoformat(),
        "due_to": None if filters.due_to is None else filters.due_to.isoformat(),
    }


def _day(data: dict, key: str) -> date | None:
    value = data.get(key)
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise WireError(f"{key}: expected a day (YYYY-MM-DD)") from None


def task_filter_from(data: object) -> TaskFilter:
    if data is None:
        return TaskFilter(scope="agency")
    if not isinstance(data, dict):
        raise WireError("filters: expected an object")
    status = data.get("status") or ""
    if not isinstance(status, str) or status not in {"", "all", *(s.value for s in TaskStatus)}:
        raise WireError("filters.status: not a task status")
    return TaskFilter(
        scope="agency", status=status, due_from=_day(data, "due_from"), due_to=_day(data, "due_to")
    )


@dataclass(frozen=True)
class AssignedTask:
    """One task's tracking as the coordinator's node told it: its text is in the owner's
    decision beside it."""

    ref: str
    owner: str  # the public id of the agency whose text the task is
    due_date: date
    priority: str
    status: str
    holder: str | None  # the staff member holding it; None: the agency picks


def assigned_task_dict(task: Task, owner: Agency, holder: str | None) -> dict:
    return {
        "ref": task.public_id,
        "owner": owner.public_id,
        "due_date": task.due_date.isoformat(),
        "priority": str(task.priority),
        "status": str(task.status),
        "holder": holder,
    }


def assigned_tasks_from(data: object) -> list[AssignedTask]:
    """The tasks a coordinator's node listed, read as carefully as a form."""
    if not isinstance(data, list) or len(data) > MAX_ITEMS:
        raise WireError("tasks: expected a list of tasks")
    found = []
    for item in data:
        if not isinstance(item, dict):
            raise WireError("tasks: expected a list of tasks")
        status, priority = item.get("status"), item.get("priority")
        # Compared as text only: a list or an object here is unhashable, and raised a
        # TypeError where a WireError (a clear refusal) is due.
        if not isinstance(status, str) or status not in {s.value for s in TaskStatus}:
            raise WireError("tasks.status: not a task status")
        if not isinstance(priority, str) or priority not in {p.value for p in TaskPriority}:
            raise WireError("tasks.priority: not a priority")
        due = _day(item, "due_date")
        if due is None:
            raise WireError("tasks.due_date: expected a day")
        found.append(
            AssignedTask(
                _text(item, "ref", longest=_ID),
                _text(item, "owner", longest=_ID),
                due,
                priority,
                status,
                _text(item, "holder", optional=True),
            )
        )
    return found
