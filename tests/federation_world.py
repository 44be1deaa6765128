"""Nodes for federation tests: each its own SQLite database and key-encryption key, a
shared roster, a case coordinated on one node with owners on others. Used in this process
(apps joined by ASGI transports) and by the tests that start real node processes."""

from __future__ import annotations

import base64
import secrets
import socket
import threading
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx2
import uvicorn
from sqlmodel import select
from starlette.datastructures import Secret

import consent
from portal import migrate
from portal.crypto import KeyWrapper
from portal.db import make_engine, unit_of_work
from portal.federation import links, membership
from portal.federation.roster import Mou
from portal.federation.transport import Federation
from portal.models import Agency, AuditEntry, Client, MdtCase, Role, StaffUser
from portal.requester import Requester
from portal.services import agencies, cases, clients, releases, sections, staff
from portal.settings import NodeSecrets, Settings

from databases import new_empty_database, setup_unit

PASSWORD = "federation-test-2026"
SIGNER = consent.Signer("Robin Example", consent.Capacity.SELF)
SECRET = "SYNTHETIC-FEDERATED-NOTE"


class NodeDown(httpx2.AsyncBaseTransport):
    """A node that is down: every request to it is refused at once, as a closed port
    refuses it, and counted. Mounted for a node's URL instead of leaving the URL unmounted,
    which would send its name to the resolver, off this machine, and wait on the answer."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def handle_async_request(self, request):
        self.paths.append(request.url.path)
        raise httpx2.ConnectError("the node is down", request=request)


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@dataclass
class Node:
    name: str
    url: str
    directory: Path
    kek: str = field(default_factory=lambda: base64.b64encode(secrets.token_bytes(32)).decode())
    session_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    # A database of its own made by the test (PostgreSQL); None: a SQLite file here.
    database_url_given: str | None = None

    @property
    def database_url(self) -> str:
        if self.database_url_given is not None:
            return self.database_url_given
        return f"sqlite:///{self.directory / (self.name + '.db')}"

    @property
    def keys(self) -> KeyWrapper:
        return KeyWrapper(base64.b64decode(self.kek))

    def secrets(self) -> NodeSecrets:
        return NodeSecrets(Secret(self.session_key), Secret(self.kek))

    def settings(self, **overrides) -> Settings:
        values = dict(
            database_url=self.database_url,
            secrets=self.secrets(),
            cookie_secure=False,
            summary_budget_ms=60_000,
            federation_window_seconds=30,
        )
        values.update(overrides)
        return Settings(**values)

    def environment(self) -> dict[str, str]:
        """For `portal serve` in a process of its own."""
        return {
            "DATABASE_URL": self.database_url,
            "PORTAL_KEK": self.kek,
            "PORTAL_SESSION_KEY": self.session_key,
            "PORTAL_COOKIE_SECURE": "false",
            "PORTAL_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "PORTAL_AUDIT_JOURNAL": str(self.directory / f"{self.name}-journal.jsonl"),
            "PORTAL_SUMMARY_BUDGET_MS": "60000",
            "PORTAL_FEDERATION_WINDOW_SECONDS": "30",
            "PORTAL_FEDERATION_TIMEOUT_MS": "1500",
        }

    def engine(self):
        return make_engine(self.database_url)


@dataclass
class World:
    a: Node  # the coordinating agency (and a shelter) live here
    b: Node  # a health clinic
    c: Node  # a child-welfare office
    case_ref: str
    case_id: str
    ids: dict[str, str]  # agency name -> public id
    clients: dict[str, str]  # agency name -> its client's public id


CAC = "Coordinating CAC (synthetic)"
SHELTER = "Shelter Here (synthetic)"
CLINIC = "Clinic Elsewhere (synthetic)"
WELFARE = "Child Welfare Elsewhere (synthetic)"


def _agency(db, node: Node, name, kind, discipline, at):
    return agencies.create_agency(
        db, name=name, kind=kind, discipline=discipline, actor=None, keys=node.keys, at=at
    )


def _user(db, agency, username, role, at):
    return staff.create_staff(
        db,
        agency,
        username=username,
        display_name=f"{username} (synthetic)",
        password=PASSWORD,
        roles=[role.value],
        actor=None,
        at=at,
    )


def _client_with_release(db, node: Node, owner, author, recipients, section_values, at):
    client = clients.register_client(
        db,
        owner,
        clients.Identity("Robin", "Example", date(2000, 5, 17)),
        reference=f"R-{owner.name.split()[0].upper()}",
        actor=None,
        keys=node.keys,
        at=at,
    )
    for key, values in section_values.items():
        sections.save_section(db, client, key, values, actor=author, keys=node.keys, at=at)
    sign_release(db, node, client, author, recipients, list(section_values), at)
    return client


def sign_release(
    db,
    node: Node,
    client,
    author,
    recipients,
    sections,
    at,
    *,
    purpose="mdt_case_review",
    second_signer=None,
):
    """A release of `client` naming `recipients` for `sections`, signed by the client (and
    by `second_signer`, a minor's parent)."""
    row = releases.draft_release(
        db,
        client,
        recipients=recipients,
        sections=list(sections),
        purpose=purpose,
        effective_at=at,
        expiry=consent.DateExpiry(at + timedelta(days=90)),
        keys=node.keys,
        language="en",
        actor=author,
        at=at,
    )
    releases.sign(
        db,
        row,
        signer=SIGNER,
        second_signer=second_signer,
        method=consent.SignatureMethod.TYPED,
        actor=author,
        keys=node.keys,
        at=at,
    )
    return row


def nodes(directory: Path, urls: tuple[str, str, str]) -> tuple[Node, Node, Node]:
    a, b, c = (Node(n, u, directory) for n, u in zip("abc", urls, strict=True))
    return a, b, c


def on_backend(backend: str, nodes, directory: Path, stack: ExitStack) -> None:
    """Each node on a PostgreSQL database of its own, dropped when `stack` closes; on
    SQLite, as they are (a file in `directory` each)."""
    if backend != "postgresql":
        return
    for node in nodes:
        url, drop = new_empty_database("postgresql", directory)
        node.database_url_given = url
        stack.callback(drop)


def prepare(a: Node, b: Node, c: Node) -> World:
    """Migrated and seeded; the roster signed on A and imported on B and C. The case is
    opened and linked by `link()`, once B and C answer."""
    at = now() - timedelta(minutes=5)
    ids: dict[str, str] = {}
    client_ids: dict[str, str] = {}
    entries = []
    for node, made in (
        (a, [(CAC, "community", "advocacy"), (SHELTER, "community", "shelter")]),
        (b, [(CLINIC, "community", "health")]),
        (c, [(WELFARE, "system", "child_welfare")]),
    ):
        engine = node.engine()
        migrate.upgrade(engine)
        with setup_unit(engine) as db:
            for name, kind, discipline in made:
                agency = _agency(db, node, name, kind, discipline, at)
                ids[name] = agency.public_id
            db.flush()
            for agency in membership.local_agencies(db):
                entries.append(
                    membership.member_entry(
                        db, agency, node=node.url, mou=Mou(date(2026, 1, 15), date(2027, 1, 15))
                    )
                )
        engine.dispose()
    # Users and clients, now that every agency's id is known (releases name them).
    with setup_unit(a.engine()) as db:
        cac = db.exec(select(Agency).where(Agency.name == CAC)).one()
        shelter = db.exec(select(Agency).where(Agency.name == SHELTER)).one()
        _user(db, cac, "coordinator", Role.MDT_COORDINATOR, at)
        _user(db, cac, "casemanager", Role.CASE_MANAGER, at)
        _user(db, cac, "cac.lead", Role.AGENCY_LEAD, at)
        author = _user(db, shelter, "shelter.cm", Role.CASE_MANAGER, at)
        shelter_client = _client_with_release(
            db,
            a,
            shelter,
            author,
            [ids[CAC]],
            {"placement_housing": {"placement_type": "shelter", "stability": SECRET + " shelter"}},
            at,
        )
        client_ids[SHELTER] = shelter_client.public_id
        signed = membership.sign_roster(
            db,
            cac,
            membership.entries_json(entries),
            node=a.url,
            keys=a.keys,
            at=at,
        )
    roster_bytes = signed.to_json().encode()
    for node, owner_name, discipline_values, username in (
        (
            b,
            CLINIC,
            {"medical": {"exam_done": "completed", "follow_up": SECRET + " clinic"}},
            "clinic.cm",
        ),
        (
            c,
            WELFARE,
            {"placement_housing": {"placement_type": "kinship", "stability": SECRET + " cw"}},
            "cw.cm",
        ),
    ):
        engine = node.engine()
        with setup_unit(engine) as db:
            membership.import_roster(db, roster_bytes, pin=signed.key_id, at=at)
            owner = db.exec(select(Agency).where(Agency.name == owner_name)).one()
            author = _user(db, owner, username, Role.CASE_MANAGER, at)
            _user(db, owner, username.split(".")[0] + ".lead", Role.AGENCY_LEAD, at)
            client = _client_with_release(
                db, node, owner, author, [ids[CAC]], discipline_values, at
            )
            client_ids[owner_name] = client.public_id
        engine.dispose()
    return World(a, b, c, "", "", ids, client_ids)


def link(world: World, *, mounts=None) -> World:
    """A case opened on A, the shelter's client linked there, the clinic's and child
    welfare's clients linked through the protocol (`mounts`: how A reaches B and C in this
    process; None for real nodes serving at their URLs)."""
    a, client_ids = world.a, world.clients
    at = now() - timedelta(minutes=4)
    # A partner in this process answers unless it is stuck; under CI's load (three test
    # workers on two cores) an answer took more than 5 s once and the setup failed.
    federation = Federation(timeout_seconds=30, window_seconds=30, mounts=mounts)
    try:
        with unit_of_work(a.engine()) as db:
            cac = db.exec(select(Agency).where(Agency.name == CAC)).one()
            shelter = db.exec(select(Agency).where(Agency.name == SHELTER)).one()
            case = cases.open_case(
                db,
                cac,
                intake_date=at.date(),
                referral_source="hotline",
                actor=None,
                at=at,
                today=at.date(),
            )
            shelter_client = db.exec(select(Client).where(Client.agency_id == shelter.id)).one()
            cases.link_client(db, case, shelter, shelter_client, actor=None, at=at, confirmed=True)
            coordinator = Requester(
                node="local",
                agency=cac.public_id,
                agency_kind=cac.kind,
                user=None,
                roles=frozenset({Role.MDT_COORDINATOR.value}),
            )
            for name in (CLINIC, WELFARE):
                owner = db.exec(select(Agency).where(Agency.name == name)).one()
                assert links.request_link(
                    db,
                    case,
                    owner,
                    client_ids[name],
                    requester=coordinator,
                    at=now(),
                    keys=a.keys,
                    federation=federation,
                    commit=db.commit,  # the owners told with no lock held, as a page does
                )
            world.case_ref, world.case_id = case.reference, case.public_id
    finally:
        federation.close()
    return world


def case_on(node: Node, reference: str) -> MdtCase | None:
    engine = node.engine()
    with unit_of_work(engine) as db:
        found = db.exec(select(MdtCase).where(MdtCase.reference == reference)).first()
    engine.dispose()
    return found


def login(client, username: str) -> None:
    """Sign `username` in through a node's form (a TestClient of its app)."""
    page = client.get("/login")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    response = client.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 303, response.text


def ask_remote_link(client, world: World, owner_name: str):
    """The coordinator asks `owner_name` (on its node) to confirm its client for the case,
    through the case page's form on node A (`client`: signed in there); the answer."""
    page = client.get(f"/cases/{world.case_id}").text
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    return client.post(
        f"/cases/{world.case_id}/remote-link",
        data={
            "csrf_token": token,
            "agency": world.ids[owner_name],
            "client_reference": world.clients[owner_name],
        },
    )


def agency_named(db, name: str) -> Agency:
    """The agency of that name on the node whose session `db` is."""
    return db.exec(select(Agency).where(Agency.name == name)).one()


def staff_named(db, username: str) -> StaffUser:
    """The staff user of that username on the node whose session `db` is."""
    return db.exec(select(StaffUser).where(StaffUser.username == username)).one()


def entries(node: Node, **where) -> list[AuditEntry]:
    """A node's audit entries whose columns hold the values given, in log order."""
    engine = node.engine()
    with unit_of_work(engine) as db:
        query = select(AuditEntry)
        for name, value in where.items():
            query = query.where(getattr(AuditEntry, name) == value)
        found = list(db.exec(query.order_by(AuditEntry.seq)).all())
    engine.dispose()
    return found


def free_ports(count: int) -> tuple[int, ...]:
    """`count` ports on 127.0.0.1 that no socket held a moment ago, for nodes to serve on."""
    sockets = []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
    ports = tuple(s.getsockname()[1] for s in sockets)
    for s in sockets:
        s.close()
    return ports


@contextmanager
def serving(app, port: int):
    """`app` served by uvicorn on 127.0.0.1:`port`, in a thread of this process, until the
    block ends."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("a node did not start")
        time.sleep(0.02)
    try:
        yield server
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def stop_serving(server, url: str) -> None:
    """A node `serving` serves stops, and its address refuses connections (or 10 s pass)."""
    server.should_exit = True
    port = int(url.rsplit(":", 1)[1])
    deadline = time.monotonic() + 10
    while server.started and time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
        except OSError:
            break
        time.sleep(0.05)
