"""`portal bench workflow`: the coordinator dashboard and "my tasks" at scale.

Builds N cases and M tasks for one MDT in a scratch SQLite file and a scratch PostgreSQL
database (created and dropped here), then times the page work as a request does it: the
service functions and the template render, p50 and p95 over repeated runs after warm-up
runs, and for each database the ratio of the largest size's figures to the smallest's
(issue 6: no more than 1.2).

After bulk loading, the bench gathers statistics (ANALYZE; on PostgreSQL VACUUM ANALYZE,
which also sets the visibility map for index-only scans), as autovacuum would have done on
a live database: without them the planner works blind on half a million fresh rows.

The coordinator carries a larger share of the agency's tasks than a random colleague
(one in COORDINATOR_TASK_SHARE of them), so "my tasks" is a full page at every size and
the comparison measures growth with the data, not a half-empty page against a full one.

Rows are bulk-inserted with Core statements (a bench needs volume, not audit entries);
the schema is the real one, built by the migrations.
"""

from __future__ import annotations

import random
import secrets
import statistics
import tempfile
import time
import uuid
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as time_of_day
from pathlib import Path

from sqlalchemy import insert, text
from sqlmodel import Session

import consent
from portal import migrate
from portal.auth.sessions import Viewer
from portal.bench.percentiles import percentile
from portal.crypto import KeyWrapper
from portal.db import make_engine
from portal.models import (
    Agency,
    CaseLink,
    CaseStatus,
    MdtCase,
    ReferralSource,
    Role,
    StaffRole,
    StaffUser,
    WebSession,
)
from portal.models.workflow import Task, TaskPriority, TaskStatus
from portal.requester import Requester
from portal.scratch_db import scratch_database, settle
from portal.services import agencies, cases, tasks
from portal.web.dashboard_pages import dashboard_values
from portal.web.render import templates

WINDOW = 14
HISTORY_DAYS = 3 * 365  # intake dates spread over three years
STAFF_PER_AGENCY = 40
BATCH = 5000
COORDINATOR_TASK_SHARE = 20
WARM_UP_RUNS = 10  # fill caches and prepared statements, as a running server's would be
DEFAULT_REPEAT = 200  # enough samples that p95 is a percentile, not the slowest few runs


# What the services keep row by row, built at once for bulk-inserted cases.
TALLY_FROM_CASES = """
INSERT INTO convening_tally
    (coordinating_agency_id, intake_date, referral_source,
     opened, convened_in_time, convened_late)
SELECT coordinating_agency_id, intake_date, referral_source, COUNT(*),
    SUM(CASE WHEN first_mdt_date IS NOT NULL AND first_mdt_date <= convening_due
        THEN 1 ELSE 0 END),
    SUM(CASE WHEN first_mdt_date IS NOT NULL AND first_mdt_date > convening_due
        THEN 1 ELSE 0 END)
FROM mdt_case
GROUP BY coordinating_agency_id, intake_date, referral_source
"""
# ...and its monthly rollup, summed from the day rows (as migration dda53ab01df2 does).
TALLY_MONTHS_FROM_DAYS = """
INSERT INTO convening_tally_month
    (coordinating_agency_id, month, referral_source,
     opened, convened_in_time, convened_late)
SELECT coordinating_agency_id, {month}, referral_source,
    SUM(opened), SUM(convened_in_time), SUM(convened_late)
FROM convening_tally
GROUP BY coordinating_agency_id, {month}, referral_source
"""
# ...and the cases not yet convened, per intake day and deadline (as b7e4f1a93c06 does).
WAITING_FROM_CASES = """
INSERT INTO convening_waiting
    (coordinating_agency_id, referral_source, intake_date, convening_due, waiting)
SELECT coordinating_agency_id, referral_source, intake_date, convening_due, COUNT(*)
FROM mdt_case
WHERE first_mdt_date IS NULL AND convening_due IS NOT NULL
GROUP BY coordinating_agency_id, referral_source, intake_date, convening_due
"""
FIRST_OF_MONTH = {
    "sqlite": "date(intake_date, 'start of month')",
    "postgresql": "CAST(date_trunc('month', intake_date) AS date)",
}


@dataclass(frozen=True)
class Figures:
    backend: str
    cases: int
    tasks: int
    dashboard_p50: float
    dashboard_p95: float
    my_tasks_p50: float
    my_tasks_p95: float


def build(engine, *, case_count: int, task_count: int, today: date, seed: int = 7) -> dict:
    """The scratch MDT: six agencies, their staff, cases with links, tasks. Returns ids."""
    rng = random.Random(seed)
    at = datetime.combine(today, datetime.min.time(), tzinfo=UTC)
    keys = KeyWrapper(secrets.token_bytes(32))
    with Session(engine, expire_on_commit=False) as db:
        made = [
            agencies.create_agency(
                db,
                name=f"Bench agency {i} (synthetic)",
                kind="community" if i % 2 else "system",
                discipline="advocacy",
                actor=None,
                keys=keys,
                at=at,
            )
            for i in range(6)
        ]
        db.commit()
        agency_ids = [a.id for a in made]
    coordinating = agency_ids[0]
    partners = agency_ids[1:]

    with engine.begin() as connection:
        users = []
        for agency_id in agency_ids:
            for n in range(STAFF_PER_AGENCY):
                users.append(
                    {
                        "public_id": str(uuid.uuid4()),
                        "agency_id": agency_id,
                        "username": f"bench{agency_id}-{n}",
                        "display_name": f"Bench Person {agency_id}-{n}",
                        "password_hash": "!",  # cannot sign in
                        "password_changed_at": at,
                        "is_active": True,
                        "created_at": at,
                    }
                )
        connection.execute(insert(StaffUser), users)
        staff_by_agency: dict[int, list[int]] = {}
        for user_id, agency_id in connection.execute(text("SELECT id, agency_id FROM staff_user")):
            staff_by_agency.setdefault(agency_id, []).append(user_id)
        connection.execute(
            insert(StaffRole),
            [
                {"user_id": uid, "role": Role.MDT_COORDINATOR.value, "granted_at": at}
                for uid in staff_by_agency[coordinating][:1]
            ],
        )

        sources = [s.value for s in ReferralSource]
        case_rows = []
        for number in range(case_count):
            intake = today - timedelta(days=int(HISTORY_DAYS * number / case_count))
            due = cases.convening_deadline(intake, WINDOW)
            age = (today - intake).days
            roll = rng.random()
            if age <= WINDOW and roll < 0.6:
                first = None  # still waiting, inside the window
            elif roll < 0.8:
                first = intake + timedelta(days=rng.randint(2, WINDOW))
            elif roll < 0.95:
                first = intake + timedelta(days=rng.randint(WINDOW + 1, WINDOW + 20))
            else:
                first = None  # never convened
            if first is not None and first > today:
                first = None
            closed = age > 180 and rng.random() < 0.9
            case_rows.append(
                {
                    "public_id": str(uuid.uuid4()),
                    "reference": f"MDT-B-{number:07d}",
                    "coordinating_agency_id": coordinating,
                    "intake_date": intake,
                    "referral_source": rng.choice(sources),
                    "status": CaseStatus.CLOSED if closed else CaseStatus.OPEN,
                    "created_at": at,
                    "convening_due": due,
                    "first_mdt_date": first,
                    "last_review_date": first,
                    "review_every_days": 30 if first else None,
                    "next_review_date": first + timedelta(days=30) if first else None,
                }
            )
        for start in range(0, len(case_rows), BATCH):
            connection.execute(insert(MdtCase), case_rows[start : start + BATCH])
        case_ids = [row[0] for row in connection.execute(text("SELECT id FROM mdt_case"))]
        connection.execute(text(TALLY_FROM_CASES))
        month = FIRST_OF_MONTH[engine.dialect.name]
        connection.execute(text(TALLY_MONTHS_FROM_DAYS.format(month=month)))
        connection.execute(text(WAITING_FROM_CASES))

        link_rows, participants = [], {}
        for case_id in case_ids:
            chosen = rng.sample(partners, 2)
            participants[case_id] = [coordinating, *chosen]
            for agency_id in chosen:
                link_rows.append({"case_id": case_id, "agency_id": agency_id, "linked_at": at})
        for start in range(0, len(link_rows), BATCH):
            connection.execute(insert(CaseLink), link_rows[start : start + BATCH])

        statuses = list(TaskStatus)
        priorities = [p.value for p in TaskPriority]
        task_rows = []
        for n in range(task_count):
            case_id = case_ids[n % len(case_ids)]
            agency_id = rng.choice(participants[case_id])
            assignee = rng.choice(staff_by_agency[agency_id])
            if agency_id == coordinating and n % COORDINATOR_TASK_SHARE == 0:
                assignee = staff_by_agency[coordinating][0]  # the coordinator
            task_rows.append(
                {
                    "public_id": str(uuid.uuid4()),
                    "case_id": case_id,
                    "title": f"Bench task {n}",
                    "details": "",
                    "assignee_agency_id": agency_id,
                    "assignee_user_id": assignee,
                    "owner_agency_id": coordinating,  # written at the MDT meeting
                    "due_date": today + timedelta(days=rng.randint(-60, 60)),
                    "priority": rng.choice(priorities),
                    "status": rng.choice(statuses),
                    "created_at": at,
                    "updated_at": at,
                }
            )
            if len(task_rows) == BATCH:
                connection.execute(insert(Task), task_rows)
                task_rows = []
        if task_rows:
            connection.execute(insert(Task), task_rows)
    settle(engine)  # index-only scans stay index-only, as on a live database
    # The coordinator is also an assignee, like a real one.
    return {
        "coordinating": coordinating,
        "coordinator": staff_by_agency[coordinating][0],
        "keys": keys,
    }


def measure(
    engine, ids: dict, *, today: date, repeat: int, warm_up: int = WARM_UP_RUNS
) -> tuple[list[float], list[float]]:
    """Milliseconds per dashboard and per "my tasks": the services plus the render."""
    dashboard, my_tasks = [], []
    with Session(engine, expire_on_commit=False) as db:
        agency = db.get(Agency, ids["coordinating"])
        user = db.get(StaffUser, ids["coordinator"])
        session = WebSession(
            token_hash="bench",  # noqa: S106 - an unsaved stand-in, never a credential
            user_id=user.id,
            csrf_token="bench",  # noqa: S106
            stage="full",
            created_at=datetime.now(UTC),
            last_seen_at=datetime.now(UTC),
        )
        viewer = Viewer(user, agency, frozenset({Role.MDT_COORDINATOR.value}), session)
        base = {
            "viewer": viewer,
            "csrf_token": "bench",
            "flashes": [],
            "can": lambda p: True,
            # Noon in the MDT's zone on the bench's own "today", which the data is built around.
            "now": datetime.combine(today, time_of_day(12), tzinfo=_BenchSettings.tz),
            "settings": _BenchSettings(),
            "today": today,
        }
        dashboard_page = templates.env.get_template("dashboard.html")
        tasks_page = templates.env.get_template("workflow/tasks.html")
        for run in range(repeat + warm_up):
            started = time.perf_counter()
            values = dashboard_values(
                db, viewer, settings=_BenchSettings(), now=base["now"], keys=ids["keys"]
            )
            html = dashboard_page.render(**{**base, **values})
            elapsed = (time.perf_counter() - started) * 1000
            assert "Awaiting first MDT" in html
            if run >= warm_up:
                dashboard.append(elapsed)
            started = time.perf_counter()
            filters = tasks.TaskFilter()
            page = tasks.task_page(db, user, agency, filters)
            requester = Requester.of(
                user, agency, viewer.roles, purpose=consent.Purpose.MDT_CASE_REVIEW.value
            )
            html = tasks_page.render(
                **base,
                rows=tasks.with_text(
                    db, requester, page.rows, at=base["now"], tz=_BenchSettings.tz, keys=ids["keys"]
                ),
                page=page,
                query={"scope": "mine"},
                filters=filters,
                typed={},  # the filters as typed: none, as the page first opens
                errors={},
                statuses=list(TaskStatus),
            )
            elapsed = (time.perf_counter() - started) * 1000
            assert "My tasks" in html
            if run >= warm_up:
                my_tasks.append(elapsed)
            db.rollback()
    return dashboard, my_tasks


class _BenchSettings:
    convening_window_days = WINDOW
    screening_due_hours = 24  # the settings' defaults (PORTAL_SCREENING_DUE_HOURS, ...)
    risk_screen_window_hours = 48
    age_of_majority = 18
    mdt_timezone = "America/New_York"
    tz = zoneinfo.ZoneInfo(mdt_timezone)
    coordinating_agency = None  # no partner refers minors in the bench's data


def _figures(backend, case_count, task_count, dashboard, my_tasks) -> Figures:
    return Figures(
        backend,
        case_count,
        task_count,
        statistics.median(dashboard),
        percentile(dashboard, 0.95),
        statistics.median(my_tasks),
        percentile(my_tasks, 0.95),
    )


ROUNDS = 10  # the sizes take turns, so a drift of the machine weighs on them alike


def run(
    *,
    sizes: list[tuple[int, int]],
    postgres_url: str | None,
    repeat: int = DEFAULT_REPEAT,
    today: date | None = None,
    prefix: str = "portal_bench_workflow",
    out=print,
) -> list[Figures]:
    """Build every size on each database, then measure them in turns (ROUNDS rounds of
    repeat / ROUNDS runs each), so the ratio compares sizes under the same conditions."""
    today = today or date(2026, 11, 25)
    results = []
    with tempfile.TemporaryDirectory(prefix="portal-bench-") as directory:
        backends = ["sqlite", "postgresql"] if postgres_url else ["sqlite"]
        for backend in backends:
            built, drops = [], []
            try:
                for case_count, task_count in sizes:
                    url, drop = scratch_database(
                        backend,
                        directory=Path(directory),
                        postgres_url=postgres_url or "",
                        prefix=prefix,
                    )
                    drops.append(drop)
                    engine = make_engine(url)
                    migrate.upgrade(engine)
                    started = time.perf_counter()
                    ids = build(engine, case_count=case_count, task_count=task_count, today=today)
                    built.append(
                        (engine, ids, case_count, task_count, time.perf_counter() - started)
                    )
                samples = [([], []) for _ in built]
                rounds = max(1, min(ROUNDS, repeat))
                for round_number in range(rounds):
                    for (engine, ids, *_), (dashboard, my_tasks) in zip(
                        built, samples, strict=True
                    ):
                        more = measure(
                            engine,
                            ids,
                            today=today,
                            repeat=max(1, repeat // rounds),
                            warm_up=WARM_UP_RUNS if round_number == 0 else 1,
                        )
                        dashboard.extend(more[0])
                        my_tasks.extend(more[1])
                for (_, _, case_count, task_count, seconds), (dashboard, my_tasks) in zip(
                    built, samples, strict=True
                ):
                    figures = _figures(backend, case_count, task_count, dashboard, my_tasks)
                    results.append(figures)
                    out(
                        f"{backend:<10} {case_count:>7} cases {task_count:>7} tasks  "
                        f"dashboard p50 {figures.dashboard_p50:6.1f} ms p95 "
                        f"{figures.dashboard_p95:6.1f} ms   my tasks p50 "
                        f"{figures.my_tasks_p50:6.1f} ms p95 {figures.my_tasks_p95:6.1f} ms"
                        f"   (built in {seconds:.1f} s)"
                    )
            finally:
                for engine, *_ in built:
                    engine.dispose()
                for drop in drops:
                    drop()
            sized = [f for f in results if f.backend == backend]
            if len(sized) > 1:
                out(ratio_line(sized[0], sized[-1]))
    return results


def ratio_line(small: Figures, large: Figures) -> str:
    """The largest size's figures over the smallest's: issue 6 allows at most 1.2."""

    def ratio(name: str) -> str:
        return f"x{getattr(large, name) / getattr(small, name):.2f}"

    return (
        f"{large.backend:<10} ratio {large.cases}/{small.cases} cases  "
        f"dashboard p50 {ratio('dashboard_p50')} p95 {ratio('dashboard_p95')}   "
        f"my tasks p50 {ratio('my_tasks_p50')} p95 {ratio('my_tasks_p95')}"
    )
