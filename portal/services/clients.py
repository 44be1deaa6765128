"""Clients of one agency: identity sealed with the agency's data key, found by blind index."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, func, select

from portal import crypto, i18n
from portal.audit import AuditTag, lock_logs, record
from portal.auth.sessions import Viewer
from portal.crypto import KeyWrapper
from portal.db import hold_write_lock
from portal.disclosure import own
from portal.errors import Conflict, Forbidden, Invalid, NotFound
from portal.models import Actor, Agency, Client, StaffUser
from portal.models.client import identity_sealed_for
from portal.requester import Requester
from portal.services import validation
from portal.services.keys import data_secret, data_secrets, sealing_secret
from portal.services.visibility import caseload_holder, client_held_by, client_visible_to


@dataclass(frozen=True)
class Identity:
    """Identifying fields; they leave the owner only inside the identity section."""

    given_name: str
    family_name: str
    birth_date: date
    phone: str = ""
    email: str = ""
    address: str = ""

    def to_dict(self) -> dict:
        return {
            "given_name": self.given_name,
            "family_name": self.family_name,
            "birth_date": self.birth_date.isoformat(),
            "phone": self.phone,
            "email": self.email,
            "address": self.address,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Identity:
        return cls(**{**data, "birth_date": date.fromisoformat(data["birth_date"])})

    @property
    def display_name(self) -> str:
        return f"{self.given_name} {self.family_name}"


def register_client(
    db: Session,
    agency: Agency,
    identity: Identity,
    *,
    reference: str,
    preferred_language: str = i18n.SOURCE_LANGUAGE,
    actor: Actor,
    keys: KeyWrapper,
    at: datetime,
) -> Client:
    language = check_language(preferred_language)
    reference = validation.text(reference, "reference", max_length=40)
    # The agency's log first: two registrations of one reference at once take turns (the
    # second finds the first), and its data key cannot be erased before this one commits.
    lock_logs(db, [agency.id])
    # A case link and a referral name the client by it: two with one reference would link
    # whichever came first.
    taken = db.exec(
        select(Client.id).where(Client.agency_id == agency.id, Client.reference == reference)
    ).first()
    if taken is not None:
        raise Conflict(
            "reference",
            f"Your agency already has a client with reference {reference}; give this one its own.",
        )
    key_id, secret = sealing_secret(db, agency.id, keys=keys)
    client = Client(
        agency_id=agency.id,
        reference=reference,
        key_id=key_id,
        identity_sealed=b"",  # sealed below, for the row it is in
        search_digest=crypto.search_digest(
            secret, identity.given_name, identity.family_name, identity.birth_date.isoformat()
        ),
        preferred_language=language,
        created_at=at,
        created_by_id=actor.id if actor else None,
    )
    db.add(client)
    db.flush()
    client.identity_sealed = crypto.seal_json(
        secret, identity.to_dict(), bound_to=identity_sealed_for(agency.id, client.id)
    )
    db.add(client)
    record(
        db,
        AuditTag.CLIENT_CREATED,
        agency_id=agency.id,
        actor=actor,
        subject=client.public_id,
        at=at,
    )
    return client


ALREADY_REGISTERED = (
    "Your agency already has a client with this name and birth date; "
    "find them with the search on the client list."
)
# A survivor-mentor's search finds only their caseload: the person may be another's.
ALREADY_REGISTERED_FOR_A_MENTOR = (
    "Your agency already has a client with this name and birth date. If you mentor them, "
    "find them with the search on the client list; if not, ask your lead to assign them."
)


def register_new(
    db: Session,
    agency: Agency,
    identity: Identity,
    *,
    requester: Requester,
    reference: str,
    preferred_language: str,
    actor: Actor,
    keys: KeyWrapper,
    at: datetime,
    holder: StaffUser | None = None,
) -> Client:
    """A person registered by a member of the agency's staff, once: one person, one record.

    Registering is asking whether the agency has a client of this name and birth date (a
    match is refused), so it is for the roles the agency's policy lets see its clients'
    names (`may_read_identity`), as the search is: any other role is refused whether or not
    the person is a client, so that the answer tells it nothing. A match is a read of that
    client's identity, audited as a search that found them is: the caller commits its
    entries with the 409 (Conflict), as a failed sign-in's are kept."""
    names = may_read_identity(db, agency, requester=requester)
    if not names.allowed:
        raise Forbidden(
            "Your agency keeps clients' names from your role, so you cannot register a "
            "client; ask a colleague who can see clients' names."
        )
    # The agency's log before the search: two registrations of one person at once take
    # turns, and the second finds the first (one person, one record).
    lock_logs(db, [agency.id])
    found = find_clients(
        db,
        agency,
        given_name=identity.given_name,
        family_name=identity.family_name,
        birth_date=identity.birth_date,
        keys=keys,
    )
    if found:
        own.record_reads(
            db,
            names,
            requester=requester,
            agency=agency,
            reads=[(c.public_id, c.public_id) for c in found],
            at=at,
            allowed_tag=AuditTag.CLIENT_IDENTITY_VIEWED,
            detail={"shown_in": "registration: already a client"},
        )
        raise Conflict(
            "given_name",
            ALREADY_REGISTERED if holder is None else ALREADY_REGISTERED_FOR_A_MENTOR,
        )
    return register_client(
        db,
        agency,
        identity,
        reference=reference,
        preferred_language=preferred_language,
        actor=actor,
        keys=keys,
        at=at,
    )


def check_language(value: object, field: str = "preferred_language") -> str:
    if not isinstance(value, str) or value not in i18n.languages():
        raise Invalid(field, "Choose a language from the list.")
    return value


def set_preferred_language(
    db: Session, client: Client, language: object, *, actor: Actor, at: datetime
) -> Client:
    """The language the client reads: the next release is prepared and printed in it."""
    client.preferred_language = check_language(language)
    record(
        db,
        AuditTag.CLIENT_LANGUAGE_SET,
        agency_id=client.agency_id,
        actor=actor,
        subject=client.public_id,
        detail={"language": client.preferred_language},
        at=at,
    )
    return client


def find_clients(
    db: Session,
    agency: Agency,
    *,
    given_name: str,
    family_name: str,
    birth_date: date,
    keys: KeyWrapper,
    holder: StaffUser | None = None,
) -> list[Client]:
    """Exact match on normalised name + birth date, answered by the index, not by
    decrypting the agency's whole client list. A client is indexed under the key that
    sealed it: after a rotation, until `portal keys reseal` moves them, some are under
    a retired one, so the digest is made with each. With `holder`, only their caseload's
    (registering asks the whole agency: one person, one record)."""
    born = birth_date.isoformat()
    digests = [
        crypto.search_digest(secret, given_name, family_name, born)
        for _, secret in data_secrets(db, agency.id, keys=keys)
    ]
    return list(
        db.exec(
            select(Client)
            .where(
                Client.agency_id == agency.id,
                Client.search_digest.in_(digests),
                *_held(holder),
            )
            .order_by(Client.id)
        ).all()
    )


@dataclass(frozen=True)
class SafeContact:
    """The part of the identity record released apart from the name (issue 14)."""

    phone: str
    email: str
    address: str


@dataclass(frozen=True)
class IdentityView:
    """A client's identity as the viewer may see it: the name and date of birth, and the
    address and safe contact, each under its own section of the owner's policy; what is
    withheld keeps the policy's reason."""

    answer: own.OwnAnswer
    contact_answer: own.OwnAnswer
    name: Identity | None  # given and family name and date of birth, when allowed
    contact: SafeContact | None  # when allowed


def view_identity(
    db: Session, client: Client, *, requester: Requester, keys: KeyWrapper, at: datetime
) -> IdentityView:
    """The owner's own staff opening a client's record: the agency's policy on the identity
    and the address-and-safe-contact sections decides for the requester's roles; decrypted
    only if allowed, each read audited either way."""
    agency = db.get(Agency, client.agency_id)
    if agency is None or agency.public_id != requester.agency:
        raise NotFound("client")
    answers = [
        own.read(
            db,
            requester,
            section,
            agency=agency,
            client_ref=client.public_id,
            subject=client.public_id,
            at=at,
            allowed_tag=AuditTag.CLIENT_IDENTITY_VIEWED,
        )
        for section in (own.IDENTITY, own.SAFE_CONTACT)
    ]
    name = contact = None
    if answers[0].allowed or answers[1].allowed:
        whole = reveal_identity(db, client, keys=keys)
        if answers[0].allowed:
            name = Identity(whole.given_name, whole.family_name, whole.birth_date)
        if answers[1].allowed:
            contact = SafeContact(whole.phone, whole.email, whole.address)
    return IdentityView(answers[0], answers[1], name, contact)


def may_read_identity(db: Session, agency: Agency, *, requester: Requester) -> own.OwnAnswer:
    """Whether the requester's roles may see their agency's clients' names (lists, search)."""
    return own.decide(db, requester, own.IDENTITY, agency=agency)


def read_names_in(
    db: Session, client: Client, *, requester: Requester, subject: str, at: datetime, shown_in: str
) -> own.OwnAnswer:
    """A page or file about one client that names them (a release names who signed it):
    whether the requester's roles may read it, under the agency's policy on the identity
    section, audited as opening the client is, allowed or withheld."""
    agency = db.get(Agency, client.agency_id)
    return own.read(
        db,
        requester,
        own.IDENTITY,
        agency=agency,
        client_ref=client.public_id,
        subject=subject,
        at=at,
        allowed_tag=AuditTag.CLIENT_IDENTITY_VIEWED,
        detail={"shown_in": shown_in},
    )


def listed_identities(
    db: Session,
    names: own.OwnAnswer,
    rows: list[Client],
    *,
    requester: Requester,
    keys: KeyWrapper,
    at: datetime,
    shown_in: str,
) -> list[Identity | None]:
    """The identities of the clients a list or search page shows, under `names` (the
    agency's policy for the requester, `may_read_identity`); None each where it withholds.
    Every client whose name is shown is a read of their identity, audited as opening the
    client is, one entry each; a page of clients whose names are withheld is one entry."""
    if not rows:
        return []
    agency = db.get(Agency, rows[0].agency_id)
    reads = [(c.public_id, c.public_id) for c in rows] if names.allowed else [(None, shown_in)]
    own.record_reads(
        db,
        names,
        requester=requester,
        agency=agency,
        reads=reads,
        at=at,
        allowed_tag=AuditTag.CLIENT_IDENTITY_VIEWED,
        detail={"shown_in": shown_in},
    )
    if not names.allowed:
        return [None] * len(rows)
    secrets: dict[str | None, bytes] = {}  # one read of each data key for the page
    return [reveal_identity(db, client, keys=keys, secrets=secrets) for client in rows]


def reveal_identity(
    db: Session, client: Client, *, keys: KeyWrapper, secrets: dict[str | None, bytes] | None = None
) -> Identity:
    """`secrets`: data keys already read, by key id (a page of clients reads each once)."""
    secrets = {} if secrets is None else secrets
    if client.key_id not in secrets:
        _, secrets[client.key_id] = data_secret(
            db, client.agency_id, keys=keys, key_id=client.key_id
        )
    return Identity.from_dict(
        keys.open_sealed(
            secrets[client.key_id],
            client.identity_sealed,
            bound_to=identity_sealed_for(client.agency_id, client.id),
        )
    )


def _held(holder: StaffUser | None) -> tuple:
    return () if holder is None else (client_held_by(holder.id),)


def access_client(
    db: Session, agency: Agency, public_id: str, *, holder: StaffUser | None = None
) -> Client:
    """Only the owning agency ever loads its client rows; with `holder` (a viewer who
    reads only as a survivor-mentor), only one of their caseload. Any other answers 404,
    as a client that does not exist."""
    client = db.exec(
        select(Client).where(
            Client.public_id == public_id, client_visible_to(agency.id), *_held(holder)
        )
    ).first()
    if client is None:
        raise NotFound("client")
    return client


def client_for(db: Session, viewer: Viewer, public_id: str) -> Client:
    """A client a signed-in person opens: their agency serves them, and a viewer who reads
    only as a survivor-mentor mentors them (or registered them, before anyone holds their
    case). Every page and API operation that opens a client by its id loads it here (a
    test holds the handlers to it)."""
    return access_client(db, viewer.agency, public_id, holder=caseload_holder(viewer))


# Listing one agency's clients (issue 4): counted and paged in SQL, so only the rows on the
# page shown are ever decrypted.
def count_clients(db: Session, agency: Agency, *, holder: StaffUser | None = None) -> int:
    return db.exec(
        select(func.count(Client.id)).where(client_visible_to(agency.id), *_held(holder))
    ).one()


def clients_page(
    db: Session, agency: Agency, *, page: int, per_page: int, holder: StaffUser | None = None
) -> list[Client]:
    return list(
        db.exec(
            select(Client)
            .where(client_visible_to(agency.id), *_held(holder))
            .order_by(Client.created_at.desc(), Client.id.desc())
            .offset(max(page - 1, 0) * per_page)
            .limit(per_page)
        ).all()
    )


def lock_client(db: Session, client: Client) -> None:
    """Hold the client's record until this transaction ends, so that two saves about one
    client at once (a double submit) check what is recorded and write in turn: on SQLite
    the writers' lock (taken before the check reads), on PostgreSQL the client's row."""
    lock_clients(db, [client.id])


def lock_clients(db: Session, client_ids) -> None:
    """`lock_client` for several, in one fixed order (two transactions never wait for
    each other's)."""
    hold_write_lock(db)
    db.exec(
        select(Client.id)
        .where(Client.id.in_(list(client_ids)))
        .order_by(Client.id)
        .with_for_update()
    ).all()
