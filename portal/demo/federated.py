"""The federated demo: the demo's six agencies on three nodes on loopback (issue 16).

Each node has its own SQLite database, its own key-encryption key and so its own agencies'
keys; the coordinating agency's node signs the roster and every node imports it. Cases
are coordinated by the children's advocacy center; each links a client of every agency,
those elsewhere through the protocol (the owner confirms under its client's release).
Used by `portal demo --federated`, `portal bench federation` and the tests that start
real node processes. Synthetic data only.
"""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlmodel import select

import consent
from portal import migrate
from portal.audit import lock_order
from portal.crypto import KeyWrapper
from portal.db import make_engine, unit_of_work
from portal.demo.logins import AGENCY_LEADS, DEMO_LOGINS, DEMO_PASSWORD
from portal.demo.seed import AGENCIES
from portal.federation import links, membership
from portal.federation.roster import Mou
from portal.federation.transport import Federation
from portal.models import Agency, Client, MdtCase, Role, StaffUser
from portal.requester import Requester
from portal.sections import catalogue
from portal.services import agencies, cases, clients, releases, sections, staff

# Which demo agencies each node hosts (agency keys of portal.demo.seed.AGENCIES).
SPLIT = (("cac", "mentor"), ("cw", "pd"), ("shelter", "clinic"))
SIGNER = consent.Signer("Robin Example (demo)", consent.Capacity.SELF)
MARK = "SYNTHETIC-DEMO"
FIRST_NAMES = ("Ash", "Birch", "Cedar", "Dove", "Ember", "Fern", "Gale", "Hazel")


@dataclass
class FederatedNode:
    name: str
    url: str
    directory: Path
    agencies: tuple[str, ...]
    kek: str = field(default_factory=lambda: base64.b64encode(secrets.token_bytes(32)).decode())
    session_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    process: subprocess.Popen | None = None
    database_url_given: str | None = None  # e.g. PostgreSQL; None: a SQLite file here

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def database(self) -> Path:
        return self.directory / f"{self.name}.db"

    @property
    def database_url(self) -> str:
        return self.database_url_given or f"sqlite:///{self.database}"

    @property
    def keys(self) -> KeyWrapper:
        return KeyWrapper(base64.b64decode(self.kek))

    def environment(self, **extra: str) -> dict[str, str]:
        env = {
            "DATABASE_URL": self.database_url,
            "PORTAL_KEK": self.kek,
            "PORTAL_SESSION_KEY": self.session_key,
            "PORTAL_COOKIE_SECURE": "false",
            "PORTAL_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "PORTAL_AUDIT_JOURNAL": str(self.directory / f"{self.name}-audit-journal.jsonl"),
        }
        env.update(extra)
        return env

    def engine(self):
        return make_engine(self.database_url)


def plan(
    directory: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8101,
    ports: tuple[int, int, int] | None = None,
) -> list[FederatedNode]:
    """Three nodes at `port` and the next two (or at `ports`)."""
    ports = ports or (port, port + 1, port + 2)
    return [
        FederatedNode(f"node-{'abc'[i]}", f"http://{host}:{ports[i]}", directory, keys)
        for i, keys in enumerate(SPLIT)
    ]


@dataclass
class Federated:
    nodes: list[FederatedNode]
    ids: dict[str, str]  # agency key -> public id
    clients: dict[tuple[int, str], str]  # (case number, agency key) -> client public id
    cases: list[str] = field(default_factory=list)  # case public ids, on node A
    references: list[str] = field(default_factory=list)

    def node_of(self, agency_key: str) -> FederatedNode:
        return next(n for n in self.nodes if agency_key in n.agencies)


@contextmanager
def _seeding(engine) -> Iterator:
    """A unit of work of the seeding, before the nodes serve: nothing runs beside it."""
    with unit_of_work(engine) as db:
        yield lock_order.alone_on_the_node(db)


def _definitions():
    return {a.key: a for a in AGENCIES}


def staff_of(agency_key: str):
    for username, name, key, roles in DEMO_LOGINS:
        if key == agency_key:
            yield username, name, roles
    if agency_key in AGENCY_LEADS:
        username, name = AGENCY_LEADS[agency_key]
        yield username, name, (Role.AGENCY_LEAD,)
    if agency_key != "cac":  # every agency has someone who reads the summary
        yield (
            f"{agency_key}.casemanager",
            f"{agency_key.title()} Casemanager (demo)",
            (Role.CASE_MANAGER,),
        )


def _values(section) -> dict:
    values = {}
    for item in section.fields:
        if item.type == "choice" and item.options:
            values[item.key] = item.options[0]
        elif item.type in ("text", "textarea"):
            values[item.key] = f"{MARK} {section.title.lower()}"
    return values


def prepare(nodes: list[FederatedNode], *, cases_count: int = 3, at: datetime | None = None):
    """Migrate and seed every node, sign the roster on node A and import it on the
    others, and open the cases on node A with its own agencies' clients linked. The links
    to agencies elsewhere are made by `link()`, once those nodes serve."""
    at = at or datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    definitions = _definitions()
    ids: dict[str, str] = {}
    authors: dict[str, str] = {}  # agency key -> the username who records its client
    entries = []
    for node in nodes:
        node.directory.mkdir(parents=True, exist_ok=True)
        engine = node.engine()
        migrate.upgrade(engine)
        with _seeding(engine) as db:
            for key in node.agencies:
                d = definitions[key]
                agency = agencies.create_agency(
                    db,
                    name=d.name,
                    kind=d.kind,
                    discipline=d.discipline,
                    actor=None,
                    keys=node.keys,
                    at=at,
                )
                db.flush()
                ids[key] = agency.public_id
                for username, name, roles in staff_of(key):
                    if Role.ADMINISTRATOR not in roles:
                        authors.setdefault(key, username)
                    staff.create_staff(
                        db,
                        agency,
                        username=username,
                        display_name=name,
                        password=DEMO_PASSWORD,
                        roles=[r.value for r in roles],
                        actor=None,
                        at=at,
                    )
                entries.append(
                    membership.member_entry(
                        db,
                        agency,
                        node=node.url,
                        mou=Mou(date(2025, 12, 15), date(2026, 12, 15)),
                    )
                )
        engine.dispose()
    # The roster, signed by the coordinating agency on its node, imported everywhere else:
    # releases name agencies elsewhere, which a node knows from its roster.
    first = nodes[0]
    engine = first.engine()
    with _seeding(engine) as db:
        cac = db.exec(select(Agency).where(Agency.public_id == ids["cac"])).one()
        signed = membership.sign_roster(
            db, cac, membership.entries_json(entries), node=first.url, keys=first.keys, at=at
        )
    engine.dispose()
    for node in nodes[1:]:
        engine = node.engine()
        with _seeding(engine) as db:
            membership.import_roster(db, signed.to_json().encode(), pin=signed.key_id, at=at)
        engine.dispose()
    (first.directory / "roster.json").write_text(signed.to_json())
    federated = Federated(nodes, ids, {})
    # Clients, sections and releases, now that every agency's public id is known.
    for node in nodes:
        engine = node.engine()
        with _seeding(engine) as db:
            for key in node.agencies:
                owner = db.exec(select(Agency).where(Agency.public_id == ids[key])).one()
                author = db.exec(select(StaffUser).where(StaffUser.username == authors[key])).one()
                owner_sections = [
                    s
                    for s in catalogue().for_discipline(owner.discipline)
                    if s.editable and _values(s)
                ]
                for number in range(cases_count):
                    client = clients.register_client(
                        db,
                        owner,
                        clients.Identity(
                            FIRST_NAMES[number % len(FIRST_NAMES)],
                            f"Example{number}",
                            date(2001, 3, 9),
                        ),
                        reference=f"{key.upper()}-{number + 1:04d}",
                        actor=None,
                        keys=node.keys,
                        at=at,
                    )
                    for section in owner_sections:
                        sections.save_section(
                            db,
                            client,
                            section.key,
                            _values(section),
                            actor=author,
                            keys=node.keys,
                            at=at,
                        )
                    row = releases.draft_release(
                        db,
                        client,
                        recipients=[ids[k] for k in ids if k != key],
                        # Every partner may also be told this agency takes part (issue 14):
                        # each node's point is asked, and says yes under this release.
                        sections=[s.key for s in owner_sections] + ["participation"],
                        purpose="mdt_case_review",
                        effective_at=at,
                        expiry=consent.DateExpiry(at + timedelta(days=180)),
                        keys=node.keys,
                        language="en",
                        actor=author,
                        at=at,
                    )
                    releases.sign(
                        db,
                        row,
                        signer=SIGNER,
                        second_signer=None,
                        method=consent.SignatureMethod.TYPED,
                        actor=author,
                        keys=node.keys,
                        at=at,
                    )
                    federated.clients[(number, key)] = client.public_id
        engine.dispose()
    # The cases, on the coordinating agency's node, with its own node's clients linked.
    engine = first.engine()
    with _seeding(engine) as db:
        cac = db.exec(select(Agency).where(Agency.public_id == ids["cac"])).one()
        for number in range(cases_count):
            case = cases.open_case(
                db,
                cac,
                intake_date=(at - timedelta(days=3 + number)).date(),
                referral_source="hotline",
                actor=None,
                at=at,
                today=at.date(),
            )
            for key in first.agencies:
                client = db.exec(
                    select(Client).where(Client.public_id == federated.clients[(number, key)])
                ).one()
                owner = db.get(Agency, client.agency_id)
                cases.link_client(db, case, owner, client, actor=None, at=at, confirmed=True)
            federated.cases.append(case.public_id)
            federated.references.append(case.reference)
    engine.dispose()
    return federated


def seed_partner_minors(federated: Federated, *, at: datetime | None = None) -> None:
    """Issue 20: the demo's minors with a clear concern, screened at the shelter and at
    child welfare, each on its own node: the coordinator's dashboard on node A asks their
    points over the protocol."""
    from portal.demo.screening import DEMO_TZ
    from portal.demo.screening import seed_partner_minors as seed

    at = at or datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    for node in federated.nodes:
        engine = node.engine()
        with _seeding(engine) as db:
            by_key = {
                key: db.exec(select(Agency).where(Agency.public_id == public_id)).one()
                for key, public_id in federated.ids.items()
            }
            seed(db, by_key, keys=node.keys, tz=DEMO_TZ, at=at, hosted=node.agencies)
        engine.dispose()


def link(federated: Federated, *, federation: Federation | None = None) -> None:
    """Ask each owner elsewhere to confirm its client for every case (its release names
    the coordinating agency, so each confirms)."""
    first = federated.nodes[0]
    own = federation or Federation(timeout_seconds=10, window_seconds=60)
    engine = first.engine()
    try:
        with unit_of_work(engine) as db:
            cac = db.exec(select(Agency).where(Agency.public_id == federated.ids["cac"])).one()
            coordinator = Requester(
                node="local",
                agency=cac.public_id,
                agency_kind=cac.kind,
                user=None,
                roles=frozenset({Role.MDT_COORDINATOR.value}),
            )
            for number, case_id in enumerate(federated.cases):
                case = db.exec(select(MdtCase).where(MdtCase.public_id == case_id)).one()
                for node in federated.nodes[1:]:
                    for key in node.agencies:
                        owner = db.exec(
                            select(Agency).where(Agency.public_id == federated.ids[key])
                        ).one()
                        confirmed = links.request_link(
                            db,
                            case,
                            owner,
                            federated.clients[(number, key)],
                            requester=coordinator,
                            at=datetime.now(UTC),
                            keys=first.keys,
                            federation=own,
                            commit=db.commit,  # the owners told with no log held
                        )
                        if not confirmed:
                            raise RuntimeError(
                                f"{owner.name} declined the link of {case.reference}"
                            )
    finally:
        engine.dispose()
        if federation is None:
            own.close()


def start(node: FederatedNode, *, log: Path | None = None, **env: str) -> subprocess.Popen:
    """`portal serve` for one node, in a process of its own, with one worker: three nodes
    share the machine, and `portal serve`'s default (one worker per core) would start three
    times as many processes as it has cores."""
    environment = {**os.environ, **node.environment(**env)}
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 (the process keeps it)
    node.process = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
        [
            sys.executable,
            "-m",
            "portal.cli.main",
            "serve",
            "--host",
            node.url.split("//")[1].rsplit(":", 1)[0],
            "--port",
            str(node.port),
            "--workers",
            "1",
        ],
        env=environment,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    return node.process


def wait_until_serving(node: FederatedNode, *, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if node.process is not None and node.process.poll() is not None:
            raise RuntimeError(f"{node.name} stopped (exit {node.process.returncode})")
        try:
            with urllib.request.urlopen(node.url + "/healthz", timeout=1) as answer:  # noqa: S310
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{node.name} did not start serving at {node.url} within {seconds} s")


def stop(node: FederatedNode) -> None:
    if node.process is not None and node.process.poll() is None:
        node.process.terminate()
        try:
            node.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            node.process.kill()
            node.process.wait(timeout=5)
    node.process = None
