"""Reading an agency's own audit log: who saw what of ours, the accounting, checkpoints.

Every query here is confined in SQL to one agency's log (`agency_id = the lead's
agency`), so counts, pages and exports say nothing about any other agency's log.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from portal.audit import AuditTag, chain, checkpoints, journal, record, verify
from portal.crypto import KeyWrapper
from portal.disclosure.legal_basis import citation as legal_basis_citation
from portal.errors import Conflict, Invalid, NotFound
from portal.models import (
    Actor,
    Agency,
    AuditCheckpoint,
    AuditEntry,
    AuditHead,
    Client,
    CompelledDisclosure,
    ConsentRelease,
    Role,
    StaffUser,
)
from portal.sections import catalogue
from portal.services.csv_cells import safe_cell

PER_PAGE = 50
DECISIONS = ("released", "withheld")

ActorAgency = aliased(Agency)


@dataclass(frozen=True)
class AuditFilters:
    """The search form, read (`portal.web.forms.audit_filters`): every field optional; all
    given ones must match."""

    user: str = ""  # the actor's username
    viewer_agency: str = ""  # the actor agency's public id
    case_ref: str = ""
    section: str = ""
    decision: str = ""
    date_from: date | None = None
    date_to: date | None = None

    def __post_init__(self) -> None:
        if self.date_from and self.date_to and self.date_to < self.date_from:
            raise Invalid("date_to", "The end of the range is before its start.")

    def query_values(self) -> dict[str, str]:
        """The filters as query-string values, for page links and the CSV link."""
        return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class AuditRow:
    entry: AuditEntry
    actor_name: str | None
    actor_username: str | None
    actor_agency_name: str | None

    @property
    def section_title(self) -> str | None:
        return section_title(self.entry.section_key)

    @property
    def api_token(self) -> str | None:
        return api_token_of(self.entry)

    @property
    def preview_role(self) -> str | None:
        """The recipient role a preview showed a release for (the entry's role is the
        previewing staff member's own)."""
        role = _detail(self.entry).get("preview_for_role")
        return role if isinstance(role, str) else None

    @property
    def record_owner(self) -> str | None:
        """The public id of the agency whose record was released under this agency's
        survivor's release (`disclosure:release:relied_on`)."""
        if self.entry.tag != AuditTag.DISCLOSURE_RELIED_ON:
            return None
        owner = _detail(self.entry).get("owner")
        return owner if isinstance(owner, str) else None

    @property
    def told_agency(self) -> str | None:
        """The public id of the agency told, when our client's record was confirmed on a
        case it coordinates, that we serve them (`casework.told_coordinator`): the
        recipient of that disclosure is the agency, whoever of whose staff asked."""
        if self.entry.tag != AuditTag.CASE_LINK_CONFIRMED:
            return None
        told = _detail(self.entry).get("recipient")
        return told if isinstance(told, str) else None

    @property
    def shown_in(self) -> str | None:
        """Where a read of a client's name was (or would have been) shown: the page or file,
        in words (`clients.read_names_in`)."""
        if self.entry.tag not in (AuditTag.CLIENT_IDENTITY_VIEWED, AuditTag.DISCLOSURE_WITHHELD):
            return None
        shown_in = _detail(self.entry).get("shown_in")
        return shown_in if isinstance(shown_in, str) else None

    @property
    def legal_basis(self) -> str | None:
        """The citation of the statute a disclosure was made under, where no release was."""
        named = _detail(self.entry).get("legal_basis")
        return legal_basis_citation(named) if isinstance(named, str) else None

    @property
    def change_words(self) -> str | None:
        """What a change of the agency's disclosure policy was, in words: the line added or
        retired, the legal basis recorded or retired (its log answers what changed)."""
        tag, detail = self.entry.tag, _detail(self.entry)
        if tag in (AuditTag.POLICY_LINE_ADDED, AuditTag.POLICY_LINE_RETIRED):
            parts = str(detail.get("line", "")).split(", ")
            if len(parts) != 5:
                return None
            kind, role, section, purpose, effect = parts
            return " · ".join(
                (
                    "any agency" if kind == "*" else f"{kind}-based agencies",
                    "any role" if role == "*" else _role_label(role),
                    "every section" if section == "*" else section_title(section) or section,
                    "any purpose" if purpose == "*" else purpose.replace("_", " "),
                    effect,
                )
            )
        if tag in (AuditTag.LEGAL_BASIS_RECORDED, AuditTag.LEGAL_BASIS_RETIRED):
            sections = detail.get("sections") or []
            titles = ", ".join(section_title(s) or s for s in sections if isinstance(s, str))
            return f"{detail.get('citation', '')}" + (f": {titles}" if titles else "")
        return None


def _detail(entry: AuditEntry) -> dict:
    try:
        detail = json.loads(entry.detail or "{}")
    except ValueError:
        return {}
    return detail if isinstance(detail, dict) else {}


def _role_label(role: str) -> str:
    try:
        return Role(role).label
    except ValueError:
        return role.replace("_", " ")


def api_token_of(entry: AuditEntry) -> str | None:
    """The API token the person named acted through (`portal.audit.acting_through`)."""
    if not entry.detail or '"api_token"' not in entry.detail:  # most entries: not parsed
        return None
    token = _detail(entry).get("api_token")
    return token if isinstance(token, str) else None


# The events one request writes one per section, together and at one instant: the
# decisions of an owner's disclosure point, the receipts of what came back, a preview, a
# compelled disclosure. On the page each request is one row that opens to its sections.
# A page view writes, in one log, both what the agency decided about its own sections and
# what it received from partners: one family, so that view is one row there too.
REQUEST_FAMILIES = {
    AuditTag.DISCLOSURE_RELEASED: "viewed",
    AuditTag.DISCLOSURE_WITHHELD: "viewed",
    AuditTag.DISCLOSURE_RECEIVED: "viewed",
    AuditTag.DISCLOSURE_PREVIEWED: "previewed",
    AuditTag.COMPELLED_DISCLOSURE: "compelled",
    # Another agency's MDT records released under our survivor's release: not our decision,
    # so a row of its own beside the view's.
    AuditTag.DISCLOSURE_RELIED_ON: "relied",
}


def same_request(a: AuditEntry, b: AuditEntry) -> bool:
    """Written by one request: the same kind of per-section event, by the same actor, about
    the same case, subject and purpose, at the same instant (a request stamps all of its
    entries with its one time)."""
    family = REQUEST_FAMILIES.get(a.tag)
    return (
        family is not None
        and family == REQUEST_FAMILIES.get(b.tag)
        and a.at == b.at
        and (a.actor_user_ref, a.actor_agency_ref) == (b.actor_user_ref, b.actor_agency_ref)
        and (a.actor_user_id, a.actor_agency_id) == (b.actor_user_id, b.actor_agency_id)
        and (a.case_ref, a.subject, a.purpose) == (b.case_ref, b.subject, b.purpose)
    )


@dataclass
class EntryGroup:
    """One row of the log page: an entry, or every section of one request together."""

    rows: list[AuditRow]

    @property
    def first(self) -> AuditRow:
        return self.rows[0]

    @property
    def family(self) -> str | None:
        return REQUEST_FAMILIES.get(self.first.entry.tag)

    @property
    def is_request(self) -> bool:
        return len(self.rows) > 1

    @property
    def seqs(self) -> tuple[int, int]:
        found = [r.entry.seq for r in self.rows]
        return min(found), max(found)

    @property
    def released(self) -> int:
        """Sections this agency released (to a partner or its own staff)."""
        return sum(
            1
            for r in self.rows
            if r.entry.decision == "released"
            and r.entry.tag not in (AuditTag.DISCLOSURE_RECEIVED, AuditTag.DISCLOSURE_RELIED_ON)
        )

    @property
    def relied(self) -> int:
        """Another agency's records released under this agency's survivor's release."""
        return sum(1 for r in self.rows if r.entry.tag == AuditTag.DISCLOSURE_RELIED_ON)

    @property
    def withheld(self) -> int:
        return sum(1 for r in self.rows if r.entry.decision == "withheld")

    @property
    def received(self) -> int:
        """Sections this agency's staff received from partners in the same request."""
        return sum(1 for r in self.rows if r.entry.tag == AuditTag.DISCLOSURE_RECEIVED)


def group_rows(rows: list[AuditRow]) -> list[EntryGroup]:
    groups: list[EntryGroup] = []
    for row in rows:
        if groups and same_request(groups[-1].rows[-1].entry, row.entry):
            groups[-1].rows.append(row)
        else:
            groups.append(EntryGroup([row]))
    return groups


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditRow]
    total: int
    page: int
    pages: int
    groups: list[EntryGroup] = field(default_factory=list)
    # Entries at the top of this page's window that belong to a request begun on an earlier
    # page, and shown there in full (so this page leaves them out).
    continued: int = 0
    # The agency's own releases the rows name (by public id), to be named by their signing
    # day and opened, not shown as an id.
    releases: dict[str, ConsentRelease] = field(default_factory=dict)


def section_title(key: str | None) -> str | None:
    if key is None:
        return None
    section = catalogue().get(key)
    return section.title if section else key


def _conditions(agency: Agency, filters: AuditFilters, tz: ZoneInfo) -> list:
    conditions = [AuditEntry.agency_id == agency.id]
    if filters.user:
        conditions.append(StaffUser.username == filters.user)
    if filters.viewer_agency:
        conditions.append(ActorAgency.public_id == filters.viewer_agency)
    if filters.case_ref:
        conditions.append(AuditEntry.case_ref == filters.case_ref)
    if filters.section:
        conditions.append(AuditEntry.section_key == filters.section)
    if filters.decision:
        conditions.append(AuditEntry.decision == filters.decision)
    # Dates are the MDT's calendar days; the range includes both ends.
    if filters.date_from:
        conditions.append(AuditEntry.at >= datetime.combine(filters.date_from, time(), tz))
    if filters.date_to:
        end = datetime.combine(filters.date_to + timedelta(days=1), time(), tz)
        conditions.append(AuditEntry.at < end)
    return conditions


def _joined(statement):
    # Entries name people by public id: a viewer from another node has no row here, and
    # shows by the agency the roster names (or as from outside this node). A person is
    # named only as one of the agency the entry says asked: another node's request carries
    # its own word for who asked, and one naming a staff member of ours as its asker must
    # not put our colleague's name on what that node's agency was shown.
    return statement.outerjoin(
        ActorAgency, ActorAgency.public_id == AuditEntry.actor_agency_ref
    ).outerjoin(
        StaffUser,
        (StaffUser.public_id == AuditEntry.actor_user_ref)
        & (StaffUser.agency_id == ActorAgency.id),
    )


def _rows_statement(agency: Agency, filters: AuditFilters, tz: ZoneInfo):
    return (
        _joined(
            select(
                AuditEntry, StaffUser.display_name, StaffUser.username, ActorAgency.name
            ).select_from(AuditEntry)
        )
        .where(*_conditions(agency, filters, tz))
        .order_by(AuditEntry.seq.desc())
    )


def search(
    db: Session,
    agency: Agency,
    filters: AuditFilters,
    *,
    tz: ZoneInfo,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> AuditPage:
    """One page of the agency's own log, newest first; the count is computed in SQL."""
    total = db.exec(
        _joined(select(func.count()).select_from(AuditEntry)).where(
            *_conditions(agency, filters, tz)
        )
    ).one()
    pages = max(1, math.ceil(total / per_page))
    page = min(max(1, page), pages)
    statement = _rows_statement(agency, filters, tz)

    def read_rows(offset: int, limit: int) -> list[AuditRow]:
        return [AuditRow(*row) for row in db.exec(statement.offset(offset).limit(limit)).all()]

    # A request's rows are never split between pages: a page shows every request whose
    # first entry falls in its window, read on past the window to the request's end, and
    # leaves out a request that began on the page before (shown there in full).
    offset = (page - 1) * per_page
    start = max(offset - 1, 0)
    found = read_rows(start, per_page + 1 + (offset - start))
    before = found[0] if offset > 0 and found else None
    window = found[offset - start :][:per_page]
    after = found[offset - start + per_page :]
    skipped = 0
    last = before
    while (
        skipped < len(window)
        and last is not None
        and same_request(last.entry, window[skipped].entry)
    ):
        last = window[skipped]
        skipped += 1
    rows = window[skipped:]
    position = offset + per_page + len(after)
    while rows and after and same_request(rows[-1].entry, after[0].entry):
        rows.append(after.pop(0))
        if not after:
            after = read_rows(position, per_page)
            position += len(after)
    # Rows left out, all of them when the whole page lies inside one long request.
    named = {row.entry.release_ref for row in rows if row.entry.release_ref}
    releases = {
        r.public_id: r
        for r in db.exec(
            select(ConsentRelease)
            .join(Client, Client.id == ConsentRelease.client_id)
            .where(Client.agency_id == agency.id, ConsentRelease.public_id.in_(named))
        )
    }
    return AuditPage(
        rows, total, page, pages, group_rows(rows), continued=skipped, releases=releases
    )


CSV_HEADER = (
    "seq",
    "time_utc",
    "time_local",  # in the MDT's time zone, named: the time an agency lead reads
    "event",  # in words, as the page gives them; the codes follow at the end
    "user",
    "user_name",
    "viewer_agency",
    "role",
    "api_token",  # the token the user (the lead who issued it) acted through, if any
    "case",
    "section",
    "purpose",
    "decision",
    "gate",
    "release",
    "policy_rule",
    "subject",
    "entry_hash",
    # The same as codes, for a program reading the file.
    "event_code",
    "role_code",
    "section_code",
    "purpose_code",
    "gate_code",
)


# A search narrowed by one of these reads, on screen, what the export of the same rows would
# hand over: which sections of which case went to whom.
_NARROWING = ("user", "viewer_agency", "case_ref", "section")


def record_search(
    db: Session, agency: Agency, filters: AuditFilters, *, actor: Actor, at: datetime
) -> None:
    """A search of the log narrowed to a case, a section, a person or an agency is itself
    in the log, with its filters, as an export is (browsing the newest entries is not)."""
    given = {k: v for k, v in filters.query_values().items() if v}
    if not any(given.get(name) for name in _NARROWING):
        return
    record(
        db,
        AuditTag.AUDIT_SEARCHED,
        agency_id=agency.id,
        actor=actor,
        subject=agency.public_id,
        detail=given,
        at=at,
    )


def export_statement(
    db: Session, agency: Agency, filters: AuditFilters, *, tz: ZoneInfo, actor: Actor, at: datetime
):
    """The export's query, for the caller to stream; the export itself is audited."""
    record(
        db,
        AuditTag.AUDIT_EXPORTED,
        agency_id=agency.id,
        actor=actor,
        subject=agency.public_id,
        detail={k: v for k, v in filters.query_values().items() if v},
        at=at,
    )
    return _rows_statement(agency, filters, tz)


@dataclass(frozen=True)
class CsvWords:
    """How the codes of an entry read, as the log page gives them (the web's words)."""

    event: Callable[[str | None], str]
    role: Callable[[str | None], str]
    purpose: Callable[[str | None], str]
    gate: Callable[[str | None], str]


def csv_rows(results, *, tz: ZoneInfo, words: CsvWords) -> Iterator[tuple]:
    """One CSV row per (entry, actor name, actor username, actor agency name). Each entry's
    time twice: as its hash covers it (UTC), and as the MDT reads it (its zone, named);
    its codes in words, and again as codes at the end."""
    for entry, actor_name, actor_username, actor_agency_name in results:
        at = entry.at if entry.at.tzinfo else entry.at.replace(tzinfo=UTC)
        yield tuple(
            safe_cell(value)
            for value in (
                entry.seq,
                chain.format_at(at),
                at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S %Z"),
                words.event(entry.tag),
                actor_username,
                actor_name,
                actor_agency_name,
                words.role(entry.actor_role),
                api_token_of(entry),
                entry.case_ref,
                section_title(entry.section_key) or entry.section_key,
                words.purpose(entry.purpose),
                entry.decision,
                words.gate(entry.gate),
                entry.release_ref,
                entry.policy_rule,
                entry.subject,
                entry.entry_hash,
                entry.tag,
                entry.actor_role,
                entry.section_key,
                entry.purpose,
                entry.gate,
            )
        )


@dataclass(frozen=True)
class Accounting:
    client: Client
    agency: Agency
    rows: list[AuditRow]
    # The compelled disclosures the rows name (by public id): to whom, on what basis.
    compelled: dict[str, CompelledDisclosure] = field(default_factory=dict)
    # The client's releases the rows name (by public id): the survivor knows a release by
    # the day they signed it and what it was for, not by its id.
    releases: dict[str, ConsentRelease] = field(default_factory=dict)
    # The agencies told that we serve the client (`AuditRow.told_agency`): by name.
    told_agencies: dict[str, str] = field(default_factory=dict)


def find_own_client(db: Session, agency: Agency, reference: str) -> Client:
    """The agency's own client by its reference or public id; 404 for anything else."""
    reference = (reference or "").strip()
    if not reference or len(reference) > 40:
        raise NotFound("client")
    found = db.exec(
        select(Client).where(
            Client.agency_id == agency.id,
            or_(Client.reference == reference, Client.public_id == reference),
        )
    ).all()
    if not found:
        raise NotFound("client")
    if len(found) > 1:
        raise Invalid("client", "Several clients share that reference: use the client's id.")
    return found[0]


def accounting(
    db: Session, agency: Agency, client_reference: str, *, actor: Actor, at: datetime
) -> Accounting:
    """Every release of the client's information to anyone outside the agency, compelled
    disclosures included (a lead of the agency records those, so they are found by tag), and
    each time the agency told a case's coordinating agency that it serves the client (its
    own staff confirm that: found by tag too)."""
    client = find_own_client(db, agency, client_reference)
    released_outside = and_(
        AuditEntry.agency_id == agency.id,
        AuditEntry.client_ref == client.public_id,
        AuditEntry.decision == "released",
        or_(
            AuditEntry.actor_agency_ref.is_(None),
            AuditEntry.actor_agency_ref != agency.public_id,
            AuditEntry.tag == str(AuditTag.COMPELLED_DISCLOSURE),
            # Our own staff confirmed the client on a case another agency coordinates.
            AuditEntry.tag == str(AuditTag.CASE_LINK_CONFIRMED),
        ),
    )
    found = db.exec(
        _joined(
            select(
                AuditEntry, StaffUser.display_name, StaffUser.username, ActorAgency.name
            ).select_from(AuditEntry)
        )
        .where(released_outside)
        .order_by(AuditEntry.at, AuditEntry.seq)
    ).all()
    record(
        db,
        AuditTag.ACCOUNTING_VIEWED,
        agency_id=agency.id,
        actor=actor,
        subject=client.public_id,
        at=at,
    )
    rows = [AuditRow(*row) for row in found]
    compelled_ids = {
        row.entry.subject for row in rows if row.entry.tag == AuditTag.COMPELLED_DISCLOSURE
    }
    compelled = {
        c.public_id: c
        for c in db.exec(
            select(CompelledDisclosure).where(
                CompelledDisclosure.client_id == client.id,
                CompelledDisclosure.public_id.in_(compelled_ids),
            )
        )
    }
    named = {row.entry.release_ref for row in rows if row.entry.release_ref}
    releases = {
        r.public_id: r
        for r in db.exec(
            select(ConsentRelease).where(
                ConsentRelease.client_id == client.id, ConsentRelease.public_id.in_(named)
            )
        )
    }
    told = {row.told_agency for row in rows if row.told_agency}
    told_agencies = dict(
        db.exec(select(Agency.public_id, Agency.name).where(Agency.public_id.in_(told))).all()
    )
    return Accounting(client, agency, rows, compelled, releases, told_agencies)


@dataclass(frozen=True)
class LogStatus:
    entries: int
    checkpoint: AuditCheckpoint | None


def log_status(db: Session, agency: Agency) -> LogStatus:
    head = db.exec(select(AuditHead).where(AuditHead.agency_id == agency.id)).first()
    latest = db.exec(
        select(AuditCheckpoint)
        .where(AuditCheckpoint.agency_id == agency.id)
        .order_by(AuditCheckpoint.seq.desc())
    ).first()
    return LogStatus(head.last_seq if head else 0, latest)


def latest_signed_checkpoint(db: Session, agency: Agency) -> dict | None:
    """The log's latest checkpoint as its journal line: a witness's copy to keep."""
    checkpoint = log_status(db, agency).checkpoint
    return None if checkpoint is None else journal.line_of(checkpoint)


class BrokenLog(Conflict):
    """A log that does not verify, which no checkpoint may vouch for."""


def checkpoint_log(
    db: Session, agency: Agency, *, keys: KeyWrapper, actor: Actor, at: datetime
) -> AuditCheckpoint:
    """Sign the agency's log now, up to and including the entry that records this; refused
    (BrokenLog) for a log that does not verify: the signature would vouch for whatever was
    changed in it, and a rewrite since the last checkpoint would pass as the log itself."""
    report = verify.verify_log(db, agency.public_id)
    if not report.ok:
        raise BrokenLog(
            "log",
            f"{report.line()}: no checkpoint was signed, since it would vouch for the log as "
            "it is now. Keep the database as it is and see `portal audit verify`.",
        )
    entry = record(
        db, AuditTag.AUDIT_CHECKPOINTED, agency_id=agency.id, actor=actor, subject=None, at=at
    )
    head = chain.lock_head(db, agency.id)
    if head["checkpoint_seq"] == entry.seq:  # this append reached the interval and signed
        db.flush()
        return db.exec(
            select(AuditCheckpoint).where(
                AuditCheckpoint.log_key == entry.log_key, AuditCheckpoint.seq == entry.seq
            )
        ).one()
    checkpoint = checkpoints.sign(
        db, agency.id, entry.log_key, entry.seq, entry.entry_hash, at, keys=keys
    )
    chain.move_head(db, agency.id, checkpoint_seq=entry.seq)
    return checkpoint


def agencies_for_filter(db: Session) -> list[Agency]:
    """Who could be a viewer: every agency on the node (the roster is no secret)."""
    return list(db.exec(select(Agency).order_by(Agency.name)).all())
