"""Re-sealing: records sealed the old way (the agency's data key alone) sealed again for
their place, so that one moved onto another survivor's row no longer opens there; and
records sealed under a data key since retired (`portal keys rotate-data`) sealed again
under the agency's current one.

Releases' and revocations' documents and restricted persons' names, kept in clear before
they were sealed, are sealed for their place here too (the clear columns then emptied).

Which form a record is in is told by its authenticator (portal.crypto.open_unbound), not
by a column or the prefix alone: a record that opens under the key alone is the old form.
A batch is one transaction, and each record is written only if it is still what was read
(a save by staff in between wins, and is sealed for its place already): stopped at any
point, nothing is lost, and a second run re-seals what the first did not reach.

Once a retired data key seals nothing, `erase_data_key` erases it (crypto-shredding): what
it sealed and a backup still holds opens then only with that backup's key ring.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import aliased
from sqlmodel import Session, func, select

from portal import crypto
from portal.audit import AuditTag, lock_logs, record
from portal.crypto import KeyWrapper
from portal.errors import DomainError, Invalid, NotFound
from portal.hosting import is_local
from portal.models import (
    Actor,
    Agency,
    AgencyKey,
    Client,
    ConsentRelease,
    KeyPurpose,
    ReleaseRevocation,
    RestrictedPerson,
    SectionEntry,
)
from portal.models.client import identity_sealed_for
from portal.models.release import (
    release_sealed_for,
    restriction_sealed_for,
    revocation_sealed_for,
)
from portal.models.screening import (
    RiskScreen,
    RiskScreenPerson,
    Screening,
    ScreeningAmendment,
    amendment_sealed_for,
    risk_person_sealed_for,
    risk_screen_sealed_for,
    screening_sealed_for,
)
from portal.models.section import sealed_places
from portal.services.keys import data_secret


@dataclass(frozen=True)
class SealedKind:
    """One sealed column: its rows as (id, agency id, key id, sealed, places it may have
    been sealed for, the first being where it is sealed now). Sealed (and key id) NULL: a
    row of a kind kept in clear before it was sealed (`clear_columns`), not sealed yet."""

    name: str
    table: type
    column: str
    rows: Callable  # (after id) -> select of (id, agency_id, key_id, sealed, *place parts)
    places: Callable[..., tuple[str, ...]]
    key_column: str = "key_id"  # the data key's id (on a release, key_id is its signing key)
    # A kind whose rows written before it was sealed hold their content in clear in these
    # columns (sealed NULL): `reseal` seals {column: value} for its place and sets them to
    # `emptied` (and `cleared` beside them). The first must hold something to seal.
    clear_columns: tuple[str, ...] = ()
    emptied: dict = field(default_factory=dict)
    cleared: dict = field(default_factory=dict)

    def key_of(self):
        return getattr(self.table, self.key_column)


def _section_rows():
    e = SectionEntry
    return select(
        e.id, e.agency_id, e.key_id, e.content_sealed, e.client_id, e.section_key, e.version
    )


def _client_rows():
    return select(Client.id, Client.agency_id, Client.key_id, Client.identity_sealed)


def _screening_rows():
    s = Screening
    return select(s.id, s.agency_id, s.key_id, s.notes_sealed, s.client_id)


def _amendment_rows():
    a, s = ScreeningAmendment, Screening
    return select(a.id, s.agency_id, a.key_id, a.change_sealed, s.client_id, s.id).join(
        s, s.id == a.screening_id
    )


def _risk_screen_rows():
    r = RiskScreen
    return select(r.id, r.agency_id, r.key_id, r.notes_sealed, r.client_id)


def _risk_person_rows():
    p, r = RiskScreenPerson, RiskScreen
    return select(p.id, r.agency_id, p.key_id, p.content_sealed, r.client_id, r.id).join(
        r, r.id == p.risk_screen_id
    )


def _release_rows():
    r = ConsentRelease
    return select(r.id, r.agency_id, r.data_key_id, r.document_sealed, r.client_id)


_REVOKED = aliased(ConsentRelease)


def _revocation_rows():
    v, r = ReleaseRevocation, _REVOKED
    return select(v.id, r.agency_id, v.data_key_id, v.document_sealed, r.client_id, r.id).join(
        r, r.id == v.release_id
    )


def _restriction_rows():
    p = RestrictedPerson
    return select(p.id, Client.agency_id, p.data_key_id, p.details_sealed, p.client_id).join(
        Client, Client.id == p.client_id
    )


KINDS = (
    SealedKind(
        "section versions",
        SectionEntry,
        "content_sealed",
        _section_rows,
        lambda row_id, agency, client, key, version: sealed_places(agency, client, key, version),
    ),
    SealedKind(
        "client identities",
        Client,
        "identity_sealed",
        _client_rows,
        lambda row_id, agency: (identity_sealed_for(agency, row_id),),
    ),
    SealedKind(
        "screenings",
        Screening,
        "notes_sealed",
        _screening_rows,
        lambda row_id, agency, client: (screening_sealed_for(agency, client, row_id),),
    ),
    SealedKind(
        "screening amendments",
        ScreeningAmendment,
        "change_sealed",
        _amendment_rows,
        lambda row_id, agency, client, screening: (
            amendment_sealed_for(agency, client, screening, row_id),
        ),
    ),
    SealedKind(
        "risk screens",
        RiskScreen,
        "notes_sealed",
        _risk_screen_rows,
        lambda row_id, agency, client: (risk_screen_sealed_for(agency, client, row_id),),
    ),
    SealedKind(
        "risk screen household members",
        RiskScreenPerson,
        "content_sealed",
        _risk_person_rows,
        lambda row_id, agency, client, screen: (
            risk_person_sealed_for(agency, client, screen, row_id),
        ),
    ),
    SealedKind(
        "consent releases",
        ConsentRelease,
        "document_sealed",
        _release_rows,
        lambda row_id, agency, client: (release_sealed_for(agency, client, row_id),),
        key_column="data_key_id",
        clear_columns=("document",),
        emptied={"document": ""},
    ),
    SealedKind(
        "release revocations",
        ReleaseRevocation,
        "document_sealed",
        _revocation_rows,
        lambda row_id, agency, client, release: (
            revocation_sealed_for(agency, client, release, row_id),
        ),
        key_column="data_key_id",
        clear_columns=("document",),
        emptied={"document": ""},
        cleared={"reason": None},  # the signed revocation holds it: kept sealed only
    ),
    SealedKind(
        "restricted persons",
        RestrictedPerson,
        "details_sealed",
        _restriction_rows,
        lambda row_id, agency, client: (restriction_sealed_for(agency, client, row_id),),
        key_column="data_key_id",
        clear_columns=("name", "note", "end_reason"),
        emptied={"name": "", "note": None, "end_reason": None},
    ),
)

# What became of each record a batch read: sealed again for its place (and under the
# current key); bound to its place already, sealed again under the current key; bound to
# its place under the current key already; opening for no place here; saved meanwhile;
# kept in clear until now, sealed for its place.
RESEALED, REKEYED, BOUND, ELSEWHERE, CHANGED, SEALED = (
    "resealed",
    "rekeyed",
    "bound",
    "elsewhere",
    "changed",
    "sealed",
)


@dataclass
class Batch:
    last_id: int | None  # None: no rows after `after`
    counts: Counter


def reseal_batch(
    db: Session, kind: SealedKind, *, after: int, size: int, keys: KeyWrapper, at: datetime
) -> Batch:
    """The next `size` records of `kind` after id `after`, each still sealed the old way or
    under a retired data key sealed again for its place with its agency's current data key
    (as every save seals); one entry per agency in its log, naming how many. The caller
    commits."""
    table = kind.table
    rows = db.exec(kind.rows().where(table.id > after).order_by(table.id).limit(size)).all()
    # The agencies' logs before their current keys are read: a rotation and an erasure take
    # them too, so no record is sealed here under a key erased before this batch commits.
    # (Only agencies with a key here: a record of another node's agency is left as it is.)
    agencies = {agency_id for _, agency_id, *_rest in rows}
    keyed = db.exec(
        select(AgencyKey.agency_id)
        .where(AgencyKey.agency_id.in_(agencies), AgencyKey.purpose == KeyPurpose.DATA)
        .distinct()
    ).all()
    lock_logs(db, sorted(keyed))
    counts: Counter = Counter()
    by_agency: defaultdict[int, Counter] = defaultdict(Counter)
    current: dict[int, tuple[str, bytes]] = {}  # agency id -> its current data key
    clear = _clear_values(db, kind, [row[0] for row in rows if row[3] is None])
    for row_id, agency_id, key_id, sealed, *parts in rows:
        if sealed is None:
            outcome = _seal_clear(db, kind, row_id, agency_id, parts, clear, current, keys=keys)
            counts[outcome] += 1
            if outcome == SEALED:
                by_agency[agency_id][outcome] += 1
            continue
        try:
            _, secret = data_secret(db, agency_id, keys=keys, key_id=key_id)
        except NotFound:  # a key of no agency here, or of another: moved, left as it is
            counts[ELSEWHERE] += 1
            continue
        if agency_id not in current:
            current[agency_id] = data_secret(db, agency_id, keys=keys)
        new_key_id, new_secret = current[agency_id]
        places = kind.places(row_id, agency_id, *parts)
        value, outcome = crypto.open_unbound(secret, sealed), RESEALED
        if value is None and not crypto.opens_bound(secret, sealed, places):
            counts[ELSEWHERE] += 1
            continue
        if value is None and key_id == new_key_id:
            counts[BOUND] += 1
            continue
        if value is None:  # bound to its place, under a retired key
            value = crypto.open_json(secret, sealed, bound_to=places, old_form=False)
            outcome = REKEYED
        values = {
            kind.column: crypto.seal_json(new_secret, value, bound_to=places[0]),
            kind.key_column: new_key_id,
        }
        if table is Client and new_key_id != key_id:  # found by the current key's digest
            values["search_digest"] = crypto.search_digest(
                new_secret, value["given_name"], value["family_name"], value["birth_date"]
            )
        column = getattr(table, kind.column)
        written = db.execute(
            update(table).where(table.id == row_id, column == bytes(sealed)).values(values)
        ).rowcount
        if written != 1:  # changed by a save since read (sealed for its place, and
            outcome = CHANGED  # under the current key, by that save)
        counts[outcome] += 1
        if outcome != CHANGED:
            by_agency[agency_id][outcome] += 1
    for agency_id, done in sorted(by_agency.items()):
        detail = {"resealed": done[RESEALED]}
        if done[REKEYED]:
            detail["moved_to_current_key"] = done[REKEYED]
        if done[SEALED]:
            detail["sealed_from_clear"] = done[SEALED]
        record(
            db,
            AuditTag.KEY_RESEALED,
            agency_id=agency_id,
            actor=None,
            subject=kind.table.__tablename__,
            detail=detail,
            at=at,
        )
    return Batch(rows[-1][0] if rows else None, counts)


def _clear_values(db: Session, kind: SealedKind, row_ids: list[int]) -> dict[int, dict]:
    """The clear content of these rows of `kind` (those not sealed yet), by row id."""
    if not row_ids or not kind.clear_columns:
        return {}
    table = kind.table
    columns = [getattr(table, name) for name in kind.clear_columns]
    found = db.exec(select(table.id, *columns).where(table.id.in_(row_ids))).all()
    return {row_id: dict(zip(kind.clear_columns, values, strict=True)) for row_id, *values in found}


def _seal_clear(
    db: Session,
    kind: SealedKind,
    row_id: int,
    agency_id: int,
    parts: list,
    clear: dict[int, dict],
    current: dict[int, tuple[str, bytes]],
    *,
    keys: KeyWrapper,
) -> str:
    """A row kept in clear sealed for its place under its agency's current data key, its
    clear column emptied, if it still holds what was read: SEALED, CHANGED (sealed by a
    save meanwhile), or ELSEWHERE (nothing in clear to seal, or an agency with no key
    here: left as it is)."""
    value = clear.get(row_id)
    if not value or not value[kind.clear_columns[0]]:
        return ELSEWHERE
    if agency_id not in current:
        try:
            current[agency_id] = data_secret(db, agency_id, keys=keys)
        except NotFound:  # another node's agency: it seals its own
            return ELSEWHERE
    new_key_id, new_secret = current[agency_id]
    place = kind.places(row_id, agency_id, *parts)[0]
    table = kind.table
    unchanged = [
        getattr(table, name).is_(None) if held is None else getattr(table, name) == held
        for name, held in value.items()
    ]
    values = {
        kind.column: crypto.seal_json(new_secret, value, bound_to=place),
        kind.key_column: new_key_id,
        **kind.emptied,
        **kind.cleared,
    }
    written = db.execute(
        update(table)
        .where(table.id == row_id, getattr(table, kind.column).is_(None), *unchanged)
        .values(values)
    ).rowcount
    return SEALED if written == 1 else CHANGED


def _sealed_under(db: Session, key_ids=None) -> Counter:
    """How many records each data key seals, by (key id, kind's name): every sealed column
    `reseal` knows. A client's search digest is made under the key that seals its identity
    (registration and `reseal` write the two together), so it is counted with it. Key ids
    name one agency's key: rows are counted whatever agency they sit in (a moved one too)."""
    counts: Counter = Counter()
    for kind in KINDS:
        column = kind.key_of()
        query = select(column, func.count()).where(column.is_not(None)).group_by(column)
        if key_ids is not None:
            query = query.where(column.in_(key_ids))
        for key_id, count in db.exec(query).all():
            counts[key_id, kind.name] += count
    return counts


@dataclass(frozen=True)
class DataKeyUse:
    agency: Agency
    key: AgencyKey
    records: int  # survivor records it still seals

    @property
    def erasable(self) -> bool:
        """Retired and sealing nothing: `erase_data_key` may erase it."""
        return self.key.retired_at is not None and self.records == 0


def data_key_uses(db: Session) -> list[DataKeyUse]:
    """Every data key of the agencies this node hosts, newest first, with how many records
    each still seals: a retired key sealing none is no longer needed to read anything."""
    counts: Counter = Counter()
    for (key_id, _kind), count in _sealed_under(db).items():
        counts[key_id] += count
    found = db.exec(
        select(Agency, AgencyKey)
        .join(AgencyKey, AgencyKey.agency_id == Agency.id)
        .where(AgencyKey.purpose == KeyPurpose.DATA)
        .order_by(Agency.name, AgencyKey.created_at.desc(), AgencyKey.id.desc())
    ).all()
    return [
        DataKeyUse(agency, key, counts[key.key_id]) for agency, key in found if is_local(db, agency)
    ]


class KeyStillNeeded(DomainError):
    """A data key that may not be erased: the agency's current one, or one that still seals
    records. The message says what to run first."""

    status_code = 409


def erasable_data_key(db: Session, agency: Agency, key_id: str) -> AgencyKey:
    """The agency's data key `key_id`, if it may be erased: Invalid for a key that is not
    one of the agency's data keys, KeyStillNeeded for one still needed."""
    if not is_local(db, agency):
        raise Invalid("agency", f"{agency.name} is hosted on another node; erase its keys there.")
    key = db.exec(
        select(AgencyKey).where(
            AgencyKey.agency_id == agency.id,
            AgencyKey.key_id == key_id,
            AgencyKey.purpose == KeyPurpose.DATA,
        )
    ).first()
    if key is None:  # unknown, another agency's, or a signing key: all alike
        raise Invalid(
            "key",
            f"{key_id} is not a data key of {agency.name}; `portal keys data` lists its keys",
        )
    if key.retired_at is None:
        raise KeyStillNeeded(
            f"{key_id} is {agency.name}'s current data key, which seals what its staff save: "
            "run `portal keys rotate-data` and `portal keys reseal` first"
        )
    sealed = _sealed_under(db, [key_id])
    if total := sealed.total():
        kinds = ", ".join(f"{kind} {count}" for (_, kind), count in sealed.items())
        raise KeyStillNeeded(
            f"{key_id} still seals {total} record{'' if total == 1 else 's'} ({kinds}): run "
            "`portal keys reseal` to seal them under the current key, then this again"
        )
    return key


def erase_data_key(
    db: Session, agency: Agency, key_id: str, *, keys: KeyWrapper, actor: Actor, at: datetime
) -> None:
    """Erase a retired data key of the agency that seals nothing any more: its wrapped row
    deleted, forgotten by this process, the erasure in the agency's log. Nothing refers to
    a data key's row (sealed rows name it by its id; audit checks need signing keys only),
    so nothing else changes. The caller commits; the node's other processes forget it
    within `crypto.CONFIRM_HELD_SECONDS` (`keyring.confirm_held`), before it opens anything
    more there."""
    # The log's head first: a rotation (which takes it too) never runs alongside, and two
    # erasures of one key are one erasure and one refusal.
    lock_logs(db, [agency.id])
    key = erasable_data_key(db, agency, key_id)
    retired_at = key.retired_at
    db.delete(key)
    db.flush()
    keys.forget([key_id])
    record(
        db,
        AuditTag.KEY_ERASED,
        agency_id=agency.id,
        actor=actor,
        subject=key_id,
        detail={"purpose": str(KeyPurpose.DATA), "retired_at": retired_at.isoformat()},
        at=at,
    )
