"""`portal bench disclosure`: the case summary and the disclosure point at scale.

Builds scratch databases (SQLite in a temporary folder, PostgreSQL as a throw-away
database), fills them with synthetic demo-like data scaled up (10,000 cases, 30 agencies,
100,000 audit entries by default), then times, through the real web stack, the full case
summary of one case with 6 owners and 15 sections. It compares that with the bare cost of
loading and rendering the same released content, by calling the loading and rendering
code directly: nothing in the product turns the gates off. Every scratch database is
dropped at the end. The figures are printed, not asserted.
"""

from __future__ import annotations

import base64
import dataclasses
import gc
import json
import os
import random
import secrets
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, update
from sqlmodel import Session, select
from starlette.datastructures import Secret

import consent
from portal import crypto, migrate
from portal.app import create_app
from portal.audit import chain, lock_order
from portal.auth.permissions import allows
from portal.bench import load
from portal.bench.http import Browser, serve
from portal.bench.percentiles import percentile
from portal.crypto import KeyWrapper
from portal.db import make_engine
from portal.disclosure import Released, RequestCache, disclose
from portal.disclosure import content as disclosure_content
from portal.models import (
    Agency,
    AgencyKind,
    CaseLink,
    Client,
    Discipline,
    MdtCase,
    Role,
    SectionEntry,
    StaffUser,
)
from portal.models.client import identity_sealed_for
from portal.models.section import sealed_for
from portal.requester import Requester
from portal.scratch_db import scratch_database, settle
from portal.sections import catalogue
from portal.services import (
    agencies,
    cases,
    clients,
    releases,
    section_versions,
    sections,
    staff,
)
from portal.services import case_summary as summary
from portal.settings import NodeSecrets, Settings
from portal.web.render import templates

PASSWORD = "bench-portal-2026"
AT = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
# 6 owners, 15 sections between them; the viewer works at the first (health, 5 sections).
BENCH_OWNERS = (
    (Discipline.HEALTH, AgencyKind.COMMUNITY),
    (Discipline.LAW_ENFORCEMENT, AgencyKind.SYSTEM),
    (Discipline.EDUCATION, AgencyKind.SYSTEM),
    (Discipline.JUVENILE_JUSTICE, AgencyKind.SYSTEM),
    (Discipline.GUARDIAN_AD_LITEM, AgencyKind.COMMUNITY),
    (Discipline.LAW_ENFORCEMENT, AgencyKind.SYSTEM),
)


@dataclass
class Figures:
    backend: str
    median_ms: float
    p95_ms: float
    split_median_ms: float  # the page's blocks fetched one request each, as htmx would
    split_p95_ms: float
    bare_median_ms: float
    decisions_per_second: float
    in_process_median_ms: float
    owners: int
    sections: int
    released: int
    # Each run of the summary is timed next to a bare run; these are the medians of the
    # ratios of such pairs, which a drift of the machine's speed moves least.
    ratio: float
    in_process_ratio: float
    page_html: str = ""  # the summary as served, for the floor
    concurrency: object = None  # Concurrency, when measured


def _content_for(section, rng) -> dict:
    values = {}
    for field in section.fields:
        if field.type in ("text", "textarea"):
            values[field.key] = "Synthetic bench note " + "x" * rng.randint(20, 200)
        elif field.type == "choice":
            values[field.key] = field.options[0]
        elif field.type == "checklist":
            values[field.key] = list(field.options[:2])
        elif field.type == "domains":
            values[field.key] = {
                d: {"status": field.statuses[0], "note": "synthetic"} for d in field.options
            }
        elif field.type == "date":
            values[field.key] = "2026-12-01"
    return values


def build(db: Session, keys: KeyWrapper, *, cases_n: int, agencies_n: int, audit_n: int, rng):
    """Scaled synthetic data; returns (bench case, viewer username)."""
    disciplines = list(Discipline)
    made = []
    for number, (discipline, kind) in enumerate(BENCH_OWNERS):
        made.append(
            agencies.create_agency(
                db,
                name=f"Bench Owner {number} (synthetic)",
                kind=kind,
                discipline=discipline,
                actor=None,
                keys=keys,
                at=AT,
            )
        )
    for number in range(len(made), agencies_n):
        made.append(
            agencies.create_agency(
                db,
                name=f"Bench Agency {number} (synthetic)",
                kind=rng.choice(list(AgencyKind)),
                discipline=rng.choice(disciplines),
                actor=None,
                keys=keys,
                at=AT,
            )
        )
    db.flush()
    viewer = staff.create_staff(
        db,
        made[0],
        username="bench.viewer",
        display_name="Bench Viewer",
        password=PASSWORD,
        roles=[Role.CASE_MANAGER.value],
        actor=None,
        at=AT,
    )
    witnesses = {
        a.id: staff.create_staff(
            db,
            a,
            username=f"bench.staff{i}",
            display_name="Bench Staff",
            password=PASSWORD,
            roles=[Role.ADVOCATE.value],
            actor=None,
            at=AT,
        )
        for i, a in enumerate(made[: len(BENCH_OWNERS)])
    }
    secrets_by_agency = {}
    for agency in made:
        secrets_by_agency[agency.id] = clients.data_secret(db, agency.id, keys=keys)

    # The bench case, built through the services (signed releases and all).
    bench_case = cases.open_case(
        db,
        made[0],
        intake_date=AT.date() - timedelta(days=3),
        referral_source="hotline",
        actor=None,
        at=AT,
        today=AT.date(),
    )
    person = clients.Identity("Bench", "Fictional", date(2009, 4, 1))
    for agency in made[: len(BENCH_OWNERS)]:
        client = clients.register_client(
            db, agency, person, reference="BENCH-1", actor=None, keys=keys, at=AT
        )
        cases.link_client(db, bench_case, agency, client, actor=None, at=AT, confirmed=True)
        owned = catalogue().for_discipline(agency.discipline)
        for section in owned:
            if section.part_of:  # read from its whole, which is written here
                continue
            # The screening and the plan's strategies have writers of their own (issue 20).
            save = section_versions.add_version if section.written_by else sections.save_section
            save(
                db,
                client,
                section.key,
                _content_for(section, rng),
                actor=witnesses[agency.id],
                keys=keys,
                at=AT,
            )
        if agency.id != made[0].id:
            row = releases.draft_release(
                db,
                client,
                recipients=[made[0].public_id],
                sections=[s.key for s in owned],
                purpose="mdt_case_review",
                effective_at=AT,
                expiry=consent.DateExpiry(AT + timedelta(days=365)),
                keys=keys,
                language="en",
                actor=witnesses[agency.id],
                at=AT,
            )
            releases.sign(
                db,
                row,
                signer=consent.Signer("Bench Fictional", consent.Capacity.SELF),
                # A minor: the client and a guardian sign (the default rule for minors).
                second_signer=consent.Signer("Bench Guardian", consent.Capacity.LEGAL_GUARDIAN),
                method=consent.SignatureMethod.TYPED,
                actor=witnesses[agency.id],
                keys=keys,
                at=AT,
            )
    db.flush()

    # The rest, in bulk: cases, linked clients, a few sealed sections, audit entries.
    case_rows, start = [], 10_000
    for number in range(cases_n - 1):
        case_rows.append(
            {
                "public_id": str(uuid.uuid4()),
                "reference": f"MDT-2025-{start + number:05d}",
                "coordinating_agency_id": rng.choice(made).id,
                "intake_date": AT.date() - timedelta(days=rng.randint(0, 700)),
                "referral_source": "hotline",
                "status": "open",
                "created_at": AT,
            }
        )
    db.execute(insert(MdtCase), case_rows)
    case_ids = [r for r in db.exec(select(MdtCase.id).where(MdtCase.reference.like("MDT-2025-%")))]
    client_rows, link_plan = [], []
    for case_id in case_ids:
        for agency in rng.sample(made, rng.randint(2, 4)):
            key_id, secret = secrets_by_agency[agency.id]
            client_rows.append(
                {
                    "public_id": str(uuid.uuid4()),
                    "agency_id": agency.id,
                    "reference": f"B-{case_id}-{agency.id}",
                    "key_id": key_id,
                    # sealed for its row below, once the row has its id
                    "identity_sealed": b"",
                    "search_digest": secrets.token_hex(32),
                    "created_at": AT,
                }
            )
            link_plan.append((case_id, agency.id, client_rows[-1]["public_id"]))
    db.execute(insert(Client), client_rows)
    client_ids = dict(
        db.exec(select(Client.public_id, Client.id).where(Client.reference.like("B-%"))).all()
    )
    # Every record sealed for its place, as the portal seals them, so the benchmark runs on
    # a node with PORTAL_SEALED_BOUND_ONLY set too.
    db.execute(
        update(Client),
        [
            {
                "id": client_ids[row["public_id"]],
                "identity_sealed": crypto.seal_json(
                    secrets_by_agency[row["agency_id"]][1],
                    person.to_dict(),
                    bound_to=identity_sealed_for(row["agency_id"], client_ids[row["public_id"]]),
                ),
            }
            for row in client_rows
        ],
    )
    db.execute(
        insert(CaseLink),
        [
            {
                "case_id": case_id,
                "agency_id": agency_id,
                "client_id": client_ids[public_id],
                "linked_at": AT,
                "confirmed_at": AT,
            }
            for case_id, agency_id, public_id in link_plan
        ],
    )
    entry_rows = []
    for _case_id, agency_id, public_id in link_plan:
        key_id, secret = secrets_by_agency[agency_id]
        entry_rows.append(
            {
                "public_id": str(uuid.uuid4()),
                "agency_id": agency_id,
                "client_id": client_ids[public_id],
                "section_key": "identity",
                "version": 1,
                "key_id": key_id,
                "content_sealed": crypto.seal_json(
                    secret,
                    {"preferred_name": "Bench"},
                    bound_to=sealed_for(agency_id, client_ids[public_id], "identity", 1),
                ),
                "at": AT,
            }
        )
    db.execute(insert(SectionEntry), entry_rows)
    for index, agency in enumerate(made):
        # Spread the existing entries over the agencies' own chained logs.
        count = len(range(index, audit_n, len(made)))
        chain.append_rows(
            db,
            agency.id,
            (
                {
                    "tag": "disclosure:section:withheld",
                    "at": AT - timedelta(seconds=number),
                    "detail": json.dumps({"bench": True}),
                    "case_ref": "MDT-2025-10000",
                    "section_key": "identity",
                    "purpose": "mdt_case_review",
                    "decision": "withheld",
                    "gate": "no_consent",
                }
                for number in range(count)
            ),
        )
    db.commit()
    return bench_case, viewer


def _moving_clock(start: datetime):
    """The node's clock for the benchmark: starts at `start` and runs at real speed, so
    sessions age as they would."""
    began = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - began)


def _bare_page(db, settings, keys, viewer, case_public_id, released_plan, page_template) -> str:
    """The summary page's work without the gates, the audit or the web stack: load the case,
    its timeline and the released sections, and render the same template."""
    case = db.exec(select(MdtCase).where(MdtCase.public_id == case_public_id)).one()
    overview = summary.overview(
        db, case, window_days=settings.convening_window_days, today=AT.date()
    )
    links = dict(
        db.exec(
            select(CaseLink.agency_id, CaseLink.client_id).where(CaseLink.case_id == case.id)
        ).all()
    )
    cache = RequestCache().sources
    blocks = [
        summary.OwnerBlock(
            participant,
            [
                Released(
                    section,
                    participant.agency,
                    disclosure_content.load(
                        db,
                        owner_id=participant.agency.id,
                        client_id=links[participant.agency.id],
                        section=section,
                        keys=keys,
                        cache=cache,
                        case_id=case.id,
                    ),
                    None,
                    None,
                )
                for section in released_plan[participant.agency.id]
            ],
        )
        for participant in overview.participants
    ]
    return _render_page(page_template, overview, blocks, viewer, settings)


def _render_page(page_template, overview, blocks, viewer, settings) -> str:
    """The summary template with what `render()` gives every page."""
    return page_template.render(
        overview=overview,
        blocks=blocks,
        purpose="mdt_case_review",
        purposes=list(consent.Purpose),
        viewer=viewer,
        csrf_token="",
        flashes=[],
        can=lambda p: allows(viewer.roles, p),
        now=AT,
        settings=settings,
    )


def _timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _p95(timings: list[float]) -> float:
    return percentile(timings, 0.95)


def measure(engine, settings: Settings, keys: KeyWrapper, bench_case, viewer_name, *, runs: int):
    """Times the summary over HTTP, the bare load and render, and the gated page in
    process: one run of each in turn, in a shuffled order. Each ratio is the median of
    the ratios of runs made side by side, so a drift of the machine's speed weighs on
    both of its sides, and no path is timed hot in a loop of its own."""
    summary_url = f"/cases/{bench_case.public_id}/summary?purpose=mdt_case_review"
    with Session(engine) as db:
        owners = [p.agency for p in summary.participants(db, bench_case)]
    block_urls = [
        f"/cases/{bench_case.public_id}/summary/owners/{o.public_id}?purpose=mdt_case_review"
        for o in owners
    ]
    fragment = {"HX-Request": "true"}

    # What the bare path loads: the sections the gates release to this viewer.
    released_count, section_count = 0, 0
    with Session(engine, expire_on_commit=False) as db:
        user = db.exec(select(StaffUser).where(StaffUser.username == viewer_name)).one()
        viewer = _BenchViewer(user, db.get(Agency, user.agency_id), frozenset({"case_manager"}))
        requester = Requester.of(user, viewer.agency, viewer.roles)
        released_plan = {}
        for owner in owners:
            decisions = summary.owner_block(
                db, requester, bench_case, owner, at=AT, tz=settings.tz, keys=keys
            )
            section_count += len(decisions)
            released_plan[owner.id] = [d.section for d in decisions if isinstance(d, Released)]
            released_count += len(released_plan[owner.id])
        db.expunge_all()  # kept loaded for the runs below, which use sessions of their own
        db.rollback()
    page_template = templates.env.get_template("cases/summary.html")

    # The bare cost: the same released content loaded and rendered, no gates, no audit.
    # Each run opens its own session, as a request does.
    def bare_page():
        with Session(engine, expire_on_commit=False) as db:
            _bare_page(
                db, settings, keys, viewer, bench_case.public_id, released_plan, page_template
            )

    # The same page in process: gates, audit entries and rendering, but no HTTP and no
    # web session; this separates the gates' cost from the web stack's.
    def gated_page():
        with Session(engine, expire_on_commit=False) as db:
            case = db.exec(select(MdtCase).where(MdtCase.public_id == bench_case.public_id)).one()
            overview = summary.overview(
                db, case, window_days=settings.convening_window_days, today=AT.date()
            )
            blocks = summary.page_blocks(
                db,
                requester,
                case,
                overview.participants,
                at=AT,
                tz=settings.tz,
                keys=keys,
                budget_seconds=60,
            )
            _render_page(page_template, overview, blocks, viewer, settings)
            db.flush()
            db.rollback()

    # The product as a browser meets it: uvicorn on 127.0.0.1, one kept-alive connection.
    timings, bare, in_process, split = [], [], [], []
    with serve(create_app(settings, engine=engine)) as port:
        browser = Browser(port)
        browser.sign_in(viewer_name, PASSWORD)
        for _ in range(5):  # warm up: templates compiled, policies built, signatures checked
            browser.get(summary_url)
            bare_page()
            gated_page()
        page_status, page = browser.get(summary_url)
        if page_status != 200 or 'hx-trigger="load"' in page:
            raise RuntimeError(f"the summary page did not decide every block ({page_status})")
        for url in block_urls:
            assert browser.get(url, fragment)[0] == 200, url
        paths = [
            (timings, lambda: browser.get(summary_url)),
            (bare, bare_page),
            (in_process, gated_page),
            # The same summary, every block a request of its own (a page past its budget).
            (split, lambda: [browser.get(url, fragment) for url in block_urls]),
        ]
        order = random.Random(7)
        for _ in range(runs):
            # In a new order each time, so no path always follows the same neighbour.
            for into, action in order.sample(paths, len(paths)):
                into.append(_timed(action))
        browser.close()
    ratio = statistics.median(t / b for t, b in zip(timings, bare, strict=True))
    in_process_ratio = statistics.median(g / b for g, b in zip(in_process, bare, strict=True))
    timings, bare, in_process, split = (sorted(t) for t in (timings, bare, in_process, split))

    with Session(engine, expire_on_commit=False) as db:
        # Decisions per second: the disclosure point alone, audit included.
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < 3:
            for owner in owners:
                cache = RequestCache()
                for section in catalogue().for_discipline(owner.discipline):
                    disclose(
                        db,
                        requester,
                        bench_case,
                        owner,
                        section,
                        AT,
                        tz=settings.tz,
                        keys=keys,
                        cache=cache,
                    )
                    count += 1
            db.flush()
        per_second = count / (time.perf_counter() - started)
        db.rollback()
    return Figures(
        backend=engine.dialect.name,
        median_ms=statistics.median(timings) * 1000,
        p95_ms=_p95(timings) * 1000,
        split_median_ms=statistics.median(split) * 1000,
        split_p95_ms=_p95(split) * 1000,
        bare_median_ms=statistics.median(bare) * 1000,
        decisions_per_second=per_second,
        in_process_median_ms=statistics.median(in_process) * 1000,
        owners=len(owners),
        sections=section_count,
        released=released_count,
        ratio=ratio,
        in_process_ratio=in_process_ratio,
        page_html=page,
    )


def _own_client(engine, viewer_name: str) -> str:
    """The public id of a client of the viewer's own agency (the users' write)."""
    with Session(engine) as db:
        user = db.exec(select(StaffUser).where(StaffUser.username == viewer_name)).one()
        return db.exec(
            select(Client.public_id).where(
                Client.agency_id == user.agency_id, Client.reference == "BENCH-1"
            )
        ).one()


@dataclass(frozen=True)
class _BenchViewer:
    user: StaffUser
    agency: Agency
    roles: frozenset[str]


def run(
    *,
    backends=("sqlite", "postgresql"),
    cases_n=10_000,
    agencies_n=30,
    audit_n=100_000,
    runs=50,
    postgres_url="postgresql://postgres@127.0.0.1:5432/postgres",
    prefix="portal_bench",
    levels=(1, 8, 32),
    seconds=4.0,
    rounds=3,
    users=50,
    users_seconds=60.0,
    workers=None,
    request_threads=None,
    out=print,
) -> list[Figures]:
    """`workers` None: each database served as this node's guide serves it in production
    (`PRODUCTION_WORKERS`); `request_threads` None: the setting's default."""
    results = []
    node_secrets = NodeSecrets(
        session_key=Secret(secrets.token_urlsafe(32)),
        key_encryption_key=Secret(base64.b64encode(secrets.token_bytes(32)).decode()),
    )
    # Measured as a node that opens survivor records only sealed for their place
    # (PORTAL_SEALED_BOUND_ONLY): the data built must be sealed so, as the portal seals it.
    keys = KeyWrapper(node_secrets.kek_bytes(), bound_only=True)
    for backend in backends:
        with tempfile.TemporaryDirectory(prefix="portal-bench-") as folder:
            url, drop = scratch_database(
                backend, directory=Path(folder), postgres_url=postgres_url, prefix=prefix
            )
            engine = make_engine(url)
            try:
                migrate.upgrade(engine)
                started = time.perf_counter()
                with Session(engine, expire_on_commit=False) as db:
                    lock_order.alone_on_the_node(db)  # built before anything is measured
                    bench_case, viewer = build(
                        db,
                        keys,
                        cases_n=cases_n,
                        agencies_n=agencies_n,
                        audit_n=audit_n,
                        rng=random.Random(5),
                    )
                    viewer_name = viewer.username
                settle(engine)
                out(f"[{backend}] data built in {time.perf_counter() - started:.1f} s")
                settings = Settings(
                    database_url=url,
                    secrets=node_secrets,
                    cookie_secure=False,
                    clock=_moving_clock(AT + timedelta(hours=1)),
                    # The page decides every owner's block whatever the machine's load: the
                    # benchmark measures that page (250 ms is the node's default budget).
                    summary_budget_ms=60_000,
                    sealed_bound_only=True,
                    **({} if request_threads is None else {"request_threads": request_threads}),
                )
                figures = measure(engine, settings, keys, bench_case, viewer_name, runs=runs)
                results.append(figures)
                out(
                    f"[{backend}] case summary over HTTP (uvicorn on 127.0.0.1; "
                    f"{figures.owners} owners, {figures.sections} sections, "
                    f"{figures.released} released, decided in the page): "
                    f"median {figures.median_ms:.1f} ms, p95 {figures.p95_ms:.1f} ms"
                )
                out(
                    f"[{backend}] bare load+render of the same released content: median "
                    f"{figures.bare_median_ms:.1f} ms; ratio (median of runs side by side) "
                    f"{figures.ratio:.2f}x over HTTP, {figures.in_process_ratio:.2f}x in "
                    "process (gates, audit and rendering without the web stack: median "
                    f"{figures.in_process_median_ms:.1f} ms)"
                )
                out(
                    f"[{backend}] the {figures.owners} owner blocks as a request each (htmx, "
                    f"for owners past the page's budget): median {figures.split_median_ms:.1f} "
                    f"ms, p95 {figures.split_p95_ms:.1f} ms"
                )
                out(
                    f"[{backend}] disclosure decisions/s {figures.decisions_per_second:.0f} "
                    "(one owner-log entry each, plus a viewer-log entry per release)"
                )
                if levels:
                    own_client = _own_client(engine, viewer_name)
                    engine.dispose()  # the server process opens its own connections
                    result = concurrency(
                        settings,
                        bench_case,
                        viewer_name,
                        figures.page_html,
                        levels=levels,
                        seconds=seconds,
                        rounds=rounds,
                        users=users,
                        users_seconds=users_seconds,
                        own_client=own_client,
                        workers=PRODUCTION_WORKERS[backend] if workers is None else workers,
                    )
                    figures.concurrency = result
                    for line in concurrency_lines(backend, result, levels):
                        out(line)
            finally:
                engine.dispose()
                drop()
    return results


FLOOR_PATH = "/bench-floor"
# Worker processes as a node is served in production on this two-core machine: one uvicorn
# worker per core (ops/README.md, `portal serve --workers 2`), on PostgreSQL and on the
# embedded SQLite node alike (its workers' writers take turns: portal/process_queue.py;
# they count failed sign-ins together in the database: portal/auth/throttle.py).
PRODUCTION_WORKERS = {"sqlite": 2, "postgresql": 2}


class _WithFloor:
    """The portal app, and beside it the floor: the summary's HTML from memory, served by
    the same server (uvicorn, the node's options) without the app's work."""

    def __init__(self, app, html: str) -> None:
        from starlette.responses import HTMLResponse

        self.app, self.state = app, app.state
        self.floor = HTMLResponse(html)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"] == FLOOR_PATH:
            await self.floor(scope, receive, send)
            return
        await self.app(scope, receive, send)


@dataclass
class Concurrency:
    backend: str
    runs: dict[tuple[str, int], load.Run]  # ("summary" | "floor", connections) -> merged runs
    mixed: load.Run | None
    rounds: dict[tuple[str, int], list[load.Run]] = dataclasses.field(default_factory=dict)
    workers: int = 1
    request_threads: int = 40
    load_average: tuple[float, float, float] | None = None  # the machine's, as the run began


def _merged(runs: list[load.Run]) -> load.Run:
    first = runs[0]
    waits = [r.lock_waited for r in runs if r.lock_waited is not None]
    return load.Run(
        first.label,
        first.connections,
        sum(r.seconds for r in runs),
        [latency for r in runs for latency in r.latencies],
        sum(r.errors for r in runs),
        sum(waits) if waits else None,
    )


@contextmanager
def _measuring_side_settled() -> Iterator[None]:
    """The load generator is this process, which holds the data it built: its own full
    garbage collections (tens of ms) would count as the server's latency."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def concurrency(
    settings: Settings,
    bench_case,
    viewer_name: str,
    page_html: str,
    *,
    levels=(1, 8, 32),
    seconds: float = 4.0,
    rounds: int = 3,
    users: int = 50,
    users_seconds: float = 60.0,
    think=(1.0, 3.0),
    own_client: str | None = None,
    workers: int = 1,
) -> Concurrency:
    """The summary and the floor at each number of connections, over real HTTP to a server
    in its own process: `rounds` rounds, each level and path in turn (so a drift of the
    machine's speed weighs on all), then `users` users mixing pages and writes."""
    summary_url = f"/cases/{bench_case.public_id}/summary?purpose=mdt_case_review"
    collected: dict[tuple[str, int], list[load.Run]] = {}
    mixed = None
    load_average = os.getloadavg() if hasattr(os, "getloadavg") else None
    with (
        _measuring_side_settled(),
        load.serve_in_process(
            lambda: _WithFloor(create_app(settings), page_html),
            workers=workers,
            database_url=settings.database_url,
        ) as server,
    ):
        browser = Browser(server.port)
        browser.sign_in(viewer_name, PASSWORD)
        cookies = dict(browser._cookies)
        for _ in range(3):  # warm up the server's caches
            browser.get(summary_url)
        browser.close()
        for _ in range(rounds):
            for connections in levels:
                for label, path in (("summary", summary_url), ("floor", FLOOR_PATH)):
                    run = load.closed_loop(
                        server, cookies, path, label=label, connections=connections, seconds=seconds
                    )
                    collected.setdefault((label, connections), []).append(run)
        if users:
            sessions, tokens = [], []
            for _ in range(users):
                person = Browser(server.port)
                person.sign_in(viewer_name, PASSWORD)
                _status, home = person.get("/")
                sessions.append(dict(person._cookies))
                tokens.append(home.split('"X-CSRF-Token": "')[1].split('"')[0])
                person.close()
            visits = [
                load.Visit(7, "GET", summary_url),
                load.Visit(2, "GET", "/"),
            ]
            if own_client is not None:
                from urllib.parse import urlencode

                visits.append(
                    load.Visit(
                        1,
                        "POST",
                        f"/clients/{own_client}/language",
                        # each user sends its own session's token: the number says whose
                        body=lambda n: urlencode(
                            {
                                "csrf_token": tokens[n // 1_000_000],
                                "preferred_language": ("en", "es")[n % 2],
                            }
                        ).encode(),
                        ok=frozenset({303}),
                    )
                )
            mixed = load.users(
                server, sessions, visits, seconds=users_seconds, think=think, label="mixed"
            )
    return Concurrency(
        backend=settings.database_url.split(":", 1)[0],
        runs={key: _merged(runs) for key, runs in collected.items()},
        rounds=collected,
        mixed=mixed,
        workers=workers,
        request_threads=settings.request_threads,
        load_average=load_average,
    )


def concurrency_lines(backend: str, result: Concurrency, levels) -> list[str]:
    load_average = (
        "unknown"
        if result.load_average is None
        else " ".join(f"{figure:.1f}" for figure in result.load_average)
    )
    lines = [
        f"[{backend}] setup: the server is `portal serve`'s uvicorn with {result.workers} worker "
        f"process{'es' if result.workers != 1 else ''} (forked), each working on at most "
        f"{result.request_threads} requests at once (PORTAL_REQUEST_THREADS); the load "
        "generator is this process (asyncio, one thread), on the same machine: "
        f"{os.cpu_count()} cores, load average {load_average} as the run began (other "
        "work on the machine counts in every figure)",
        f"[{backend}] concurrency over HTTP (127.0.0.1; rounds interleaved): connections, "
        "pages/s, p50, p99, errors, write-lock wait share",
    ]
    for connections in levels:
        summary_run, floor_run = (
            result.runs[("summary", connections)],
            result.runs[("floor", connections)],
        )
        share = summary_run.lock_share
        lines.append(
            f"[{backend}]   {connections:>3} conn  summary {summary_run.throughput:7.1f}/s "
            f"p50 {summary_run.p50_ms:7.1f} ms p99 {summary_run.p99_ms:7.1f} ms "
            f"errors {summary_run.errors} lock wait {0 if share is None else share * 100:4.1f} %"
            f" · floor {floor_run.throughput:7.1f}/s p50 {floor_run.p50_ms:5.1f} ms "
            f"p99 {floor_run.p99_ms:5.1f} ms"
        )
    one, eight = result.runs.get(("summary", 1)), result.runs.get(("summary", 8))
    if one and eight:
        gained = eight.throughput / one.throughput
        # A p99 may be below its mean (under 1 % of the pages in a long stall): the least
        # p99 the mean allows is said only of a run whose p99 is not.
        least = (
            f"; p99 at 8 is not below its mean, so at this throughput p99 at 8 is at least "
            f"{eight.mean_ms / one.p99_ms:.2f}x p99 at 1"
            if eight.p99_ms >= eight.mean_ms * (1 - 1e-9)  # equal, but for the float sum
            else f"; p99 at 8 is below its mean here ({eight.p99_ms:.1f} ms): a few pages "
            "far slower than the rest"
        )
        lines.append(
            f"[{backend}]   summary p99 at 8 / at 1: {eight.p99_ms / one.p99_ms:.2f}x; "
            f"throughput at 8 / at 1: {gained:.2f}x (so by Little's law the mean latency at 8 "
            f"is 8 / {gained:.2f} = {8 / gained:.1f}x the mean at 1: {eight.mean_ms:.1f} ms "
            f"against {one.mean_ms:.1f} ms{least})"
        )
        # The p99 ratio is the means' ratio (fixed by the throughput: at least 8 / cores
        # once the work is the CPU's) times the ratio of the tails, each p99 over its own
        # mean: below 3x on two cores only if the tail at 8 is the shorter by a quarter.
        tail_one, tail_eight = one.p99_ms / one.mean_ms, eight.p99_ms / eight.mean_ms
        lines.append(
            f"[{backend}]   summary p99 at 8 / at 1 = means at 8 / at 1 "
            f"{eight.mean_ms / one.mean_ms:.2f}x × tails {tail_eight / tail_one:.2f}x "
            f"(p99 over its mean: {tail_eight:.2f} at 8, {tail_one:.2f} at 1)"
        )
    ones, eights = result.rounds.get(("summary", 1), []), result.rounds.get(("summary", 8), [])
    by_round = list(zip(ones, eights, strict=True)) if ones and eights else []
    if len(by_round) > 1:
        # Each round times 1 and 8 connections a few seconds apart: a ratio within a round
        # is the least moved by the machine's other work, which changes from round to round.
        p99s = [eight.p99_ms / one.p99_ms for one, eight in by_round]
        gains = [eight.throughput / one.throughput for one, eight in by_round]
        spread = ""
        if result.workers > 1:
            # uvicorn's workers share one listening socket: the one that wakes first takes
            # every connection then waiting; the workers then even out the requests they
            # serve (portal/worker_shares.py).
            spread = "; requests each worker answered at 8: " + ", ".join(
                "/".join(str(count) for count in eight.per_worker) for _one, eight in by_round
            )
        lines.append(
            f"[{backend}]   the same, round by round: p99 at 8 / at 1 "
            f"{', '.join(f'{r:.2f}' for r in p99s)} (median {statistics.median(p99s):.2f}x); "
            f"throughput at 8 / at 1 {', '.join(f'{g:.2f}' for g in gains)} "
            f"(median {statistics.median(gains):.2f}x){spread}"
        )
    if result.mixed is not None:
        mixed = result.mixed
        share = mixed.lock_share
        lines.append(
            f"[{backend}] {mixed.connections} mixed users for {mixed.seconds:.0f} s (summary "
            f"7, dashboard 2, a write 1; 1-3 s between): {len(mixed.latencies)} answered, "
            f"errors {mixed.errors}, p50 {mixed.p50_ms:.1f} ms, p95 {mixed.p95_ms:.1f} ms, "
            f"p99 {mixed.p99_ms:.1f} ms, lock wait {0 if share is None else share * 100:.1f} %"
        )
    return lines
