"""`portal bench audit`: audit appends per second on a log that already holds 100,000 entries,
beside the raw driver's floor for the same statements.

Each backend gets a scratch database (a temporary SQLite file; a PostgreSQL database
created and dropped here), migrated, with synthetic agencies whose logs are filled with
`existing` chained entries. Then, in turns (floor, app, floor, app, ...), so that a drift
of the machine's speed weighs on both sides:

- the floor: the statements of one append (lock the log's head, insert the entry, move the
  head, commit) run by the driver itself (`sqlite3`, `psycopg`) with the entry's hash made
  by hashlib, one transaction each, nothing of the app;
- the app: `record()` in a unit of work of its own, as a request makes one append;
- a page's batch: `record_many()` of a case summary's entries (15, over 6 logs) per
  transaction;
- the app's single appends from several concurrent writers;
- two processes writing a page's batch per transaction at once, as two workers do
  (`portal/bench/processes.py`): how many each got and the longest wait;

and a full `verify` of the logs at the end.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import make_url

from portal import migrate
from portal.audit import (
    AuditTag,
    DisclosureFacts,
    chain,
    entry_values,
    lock_order,
    record,
    record_many,
    verify,
)
from portal.audit.checkpoints import CheckpointSigner
from portal.bench import processes
from portal.crypto import KeyWrapper
from portal.db import make_engine, unit_of_work
from portal.scratch_db import scratch_database, settle
from portal.services import agencies

AT = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
SECTIONS = ("safety_plan", "needs_assessment", "care_plan", "legal_court", "medical")
PAGE_ENTRIES = 15  # a case summary's owners' entries
PAGE_LOGS = 6  # over this many logs
TURNS = 5  # floor and app timed in this many alternating turns
DEFAULT_PREFIX = "portal_bench_audit"
PROCESSES = 2  # writing at once, as a node's two workers do


@dataclass
class Figures:
    backend: str
    floor: float  # raw driver appends/s, one transaction each (median of the turns)
    app: float  # record() appends/s, one transaction each (median of the turns)
    ratio: float  # median of floor/app over the turns, each pair timed side by side
    batch: float  # entries/s, a page's batch per transaction
    concurrent: float  # record() appends/s from `writers` threads
    processes: list  # processes.ProcessFigures, one per writing process
    verified: int
    verify_seconds: float


def run(
    *,
    existing: int,
    appends: int,
    writers: int,
    postgres_url: str,
    process_seconds: float = 4.0,
    backends: tuple[str, ...] = ("sqlite", "postgresql"),
    prefix: str = DEFAULT_PREFIX,
    out=print,
) -> list[Figures]:
    kek = secrets.token_bytes(32)
    keys = KeyWrapper(kek)
    out(
        f"audit appends: {existing:,} existing entries, {appends:,} appends per figure "
        f"(in {TURNS} turns, floor and app alternating), {writers} concurrent writers"
    )
    results = []
    for backend in backends:
        label = "SQLite" if backend == "sqlite" else "PostgreSQL"
        if backend == "postgresql" and not postgres_url:
            out("PostgreSQL: skipped (no --postgres-url)")
            continue
        folder = Path(tempfile.mkdtemp(prefix="portal-bench-audit-"))
        url, drop = scratch_database(
            backend, directory=folder, postgres_url=postgres_url, prefix=prefix
        )
        engine = make_engine(url)
        out(f"{label:<11} scratch database {make_url(url).database.rsplit('/', 1)[-1]}")
        try:
            migrate.upgrade(engine)
            logs = _prepare(engine, existing, keys)
            figures = _measure(
                backend,
                engine,
                url,
                logs,
                appends,
                writers,
                keys,
                kek=kek,
                process_seconds=process_seconds,
            )
            results.append(figures)
            out(
                f"{label:<11} one transaction each: app {figures.app:8,.0f} appends/s · "
                f"raw driver floor {figures.floor:8,.0f} appends/s · floor/app "
                f"{figures.ratio:.2f}x (median of {TURNS} turns side by side)"
            )
            out(
                f"{label:<11} a page's batch ({PAGE_ENTRIES} entries over {PAGE_LOGS} logs) per "
                f"transaction: {figures.batch:8,.0f} entries/s · {writers} writers, one "
                f"append each: {figures.concurrent:8,.0f} appends/s · verify "
                f"{figures.verified:,} entries in {figures.verify_seconds:.1f} s"
            )
            each = figures.processes
            out(
                f"{label:<11} {len(each)} processes writing a page's batch per transaction at "
                f"once for {process_seconds:g} s: "
                + " and ".join(f"{f.transactions:,}" for f in each)
                + " transactions, the longest "
                + " and ".join(f"{f.longest_ms:.1f}" for f in each)
                + " ms"
            )
        finally:
            engine.dispose()
            drop()
            shutil.rmtree(folder, ignore_errors=True)
    return results


def _measure(
    backend, engine, url, logs, appends, writers, keys, *, kek: bytes, process_seconds: float
) -> Figures:
    agency_id = logs[0]
    turn = max(1, appends // TURNS)
    floor_rates, app_rates, ratios = [], [], []
    counter = iter(range(10**9))
    with _RawAppender(backend, url, agency_id) as raw:
        raw.append(next(counter))  # connect and warm up both sides
        _append_one(engine, agency_id, next(counter), keys)
        for _ in range(TURNS):
            floor_seconds = _timed(lambda: [raw.append(next(counter)) for _ in range(turn)])
            app_seconds = _timed(
                lambda: [_append_one(engine, agency_id, next(counter), keys) for _ in range(turn)]
            )
            floor_rates.append(turn / floor_seconds)
            app_rates.append(turn / app_seconds)
            ratios.append(app_seconds / floor_seconds)
    pages = max(1, appends // PAGE_ENTRIES)
    batch_seconds = _timed(
        lambda: [_append_page(engine, logs, next(counter), keys) for _ in range(pages)]
    )
    concurrent = _concurrent(engine, agency_id, appends, writers, keys, counter)
    parallel = processes.run(url, kek, logs, processes=PROCESSES, seconds=process_seconds)
    walked, seconds = _verify(engine)
    return Figures(
        backend=backend,
        floor=statistics.median(floor_rates),
        app=statistics.median(app_rates),
        ratio=statistics.median(ratios),
        batch=pages * PAGE_ENTRIES / batch_seconds,
        concurrent=concurrent,
        processes=parallel,
        verified=walked,
        verify_seconds=seconds,
    )


def _timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _facts(number: int) -> DisclosureFacts:
    return DisclosureFacts(
        case_ref=f"MDT-2026-{number % 9000 + 1000:04d}",
        client_ref=None,
        section_key=SECTIONS[number % len(SECTIONS)],
        purpose="mdt_case_review",
        decision="released" if number % 3 else "withheld",
        gate=None if number % 3 else "consent",
        policy_rule="p, community, advocate, safety_plan, mdt_case_review, allow",
    )


def _prepare(engine, existing: int, keys: KeyWrapper) -> list[int]:
    """Synthetic agencies (a page's worth of logs); the first one's log already holds
    `existing` chained entries. Returns their ids."""
    with unit_of_work(engine) as db:
        lock_order.alone_on_the_node(db)  # built before anything is measured
        made = [
            agencies.create_agency(
                db,
                name=f"Bench Agency {number} (synthetic)",
                kind="community",
                discipline="advocacy",
                actor=None,
                keys=keys,
                at=AT,
            )
            for number in range(PAGE_LOGS)
        ]
        db.flush()
        ids = [agency.id for agency in made]
    with unit_of_work(engine) as db:
        chain.append_rows(db, ids[0], (_row(number) for number in range(existing)))
    settle(engine)
    return ids


def _row(number: int) -> dict:
    facts = _facts(number)
    return {
        "tag": "disclosure:section:decided",
        "at": AT + timedelta(seconds=number),
        "actor_role": "advocate",
        "detail": "{}",
        "case_ref": facts.case_ref,
        "section_key": facts.section_key,
        "purpose": facts.purpose,
        "decision": facts.decision,
        "gate": facts.gate,
        "policy_rule": facts.policy_rule,
    }


def _append_one(engine, agency_id: int, number: int, keys: KeyWrapper) -> None:
    with unit_of_work(engine) as db:
        CheckpointSigner(keys).attach(db)
        record(
            db,
            AuditTag.AUDIT_EXPORTED,  # any tag: the cost is the chain, not the words
            agency_id=agency_id,
            at=AT + timedelta(days=1, milliseconds=number),
            detail={"bench": number},
            disclosure=_facts(number),
        )


def _append_page(engine, logs: list[int], number: int, keys: KeyWrapper) -> None:
    with unit_of_work(engine) as db:
        CheckpointSigner(keys).attach(db)
        record_many(
            db,
            [
                entry_values(
                    AuditTag.DISCLOSURE_RELEASED,
                    agency_id=logs[index % len(logs)],
                    at=AT + timedelta(days=2, milliseconds=number),
                    disclosure=_facts(number * PAGE_ENTRIES + index),
                )
                for index in range(PAGE_ENTRIES)
            ],
        )


def _concurrent(engine, agency_id, appends, writers, keys, counter) -> float:
    share = max(1, appends // writers)
    numbers = [[next(counter) for _ in range(share)] for _ in range(writers)]

    def writer(mine: list[int]) -> None:
        for number in mine:
            _append_one(engine, agency_id, number, keys)

    threads = [threading.Thread(target=writer, args=(mine,)) for mine in numbers]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return share * writers / (time.perf_counter() - started)


def _verify(engine) -> tuple[int, float]:
    from sqlmodel import Session

    started = time.perf_counter()
    with Session(engine) as db:
        reports = verify.verify_all(db, pause=db.rollback)
        db.rollback()
    broken = [r for r in reports if not r.ok]
    if broken:
        raise RuntimeError("bench log does not verify: " + broken[0].line())
    return sum(r.entries for r in reports), time.perf_counter() - started


class _RawAppender:
    """The floor: one append's statements through the driver alone, on the same database,
    with the same connection settings as the app's (WAL, synchronous=NORMAL on SQLite),
    and the entry's hash made by hashlib over JSON of its columns. Its entries go to a
    log of its own (a head row it makes), so the app's log still verifies."""

    # In sqlite3's placeholders; psycopg's are put in by `_sql()`.
    _LOCK = "SELECT last_seq, last_hash FROM audit_head WHERE log_key = ?"
    _INSERT = (
        "INSERT INTO audit_entry (agency_id, format, log_key, seq, prev_hash, entry_hash, tag, "
        "at, actor_role, detail, case_ref, section_key, purpose, decision, gate, policy_rule) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    _MOVE = "UPDATE audit_head SET last_seq = ?, last_hash = ? WHERE log_key = ?"
    _NEW_HEAD = (
        "INSERT INTO audit_head (log_key, agency_id, last_seq, last_hash, checkpoint_seq) "
        "VALUES (?, NULL, 0, ?, 0)"
    )
    _DROP = (
        "DELETE FROM audit_entry WHERE log_key = ?",
        "DELETE FROM audit_head WHERE log_key = ?",
    )

    def __init__(self, backend: str, url: str, agency_id: int) -> None:
        self.backend, self.url, self.agency_id = backend, url, agency_id
        self.log_key = "bench-floor-" + secrets.token_hex(4)

    def _sql(self, statement: str) -> str:
        return statement if self.backend == "sqlite" else statement.replace("?", "%s")

    def __enter__(self) -> _RawAppender:
        self.lock = self._sql(self._LOCK) + ("" if self.backend == "sqlite" else " FOR UPDATE")
        self.insert, self.move = self._sql(self._INSERT), self._sql(self._MOVE)
        if self.backend == "sqlite":
            import sqlite3

            self.connection = sqlite3.connect(make_url(self.url).database, isolation_level=None)
            for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL"):
                self.connection.execute(f"PRAGMA {pragma}")
            self.begin = "BEGIN IMMEDIATE"
        else:
            import psycopg

            url = make_url(self.url).set(drivername="postgresql")
            self.connection = psycopg.connect(
                url.render_as_string(hide_password=False), autocommit=True
            )
            self.begin = "BEGIN"
        self.connection.execute(self._sql(self._NEW_HEAD), (self.log_key, "0" * 64))
        return self

    def __exit__(self, *_exc) -> None:
        # Its log is not the app's chain (another hash): taken out before `verify`.
        for statement in self._DROP:
            self.connection.execute(self._sql(statement), (self.log_key,))
        self.connection.close()

    def append(self, number: int) -> None:
        facts, at = _facts(number), AT + timedelta(days=3, milliseconds=number)
        execute = self.connection.execute
        execute(self.begin)
        seq, prev = execute(self.lock, (self.log_key,)).fetchone()
        columns = {
            "log_key": self.log_key,
            "seq": seq + 1,
            "prev_hash": prev,
            "tag": "audit:log:exported",
            "at": at.isoformat(),
            "detail": json.dumps({"bench": number}),
            **facts.__dict__,
        }
        hashed = hashlib.sha256(json.dumps(columns, sort_keys=True).encode()).hexdigest()
        stored_at = at.replace(tzinfo=None) if self.backend == "sqlite" else at
        execute(
            self.insert,
            (
                None,
                2,
                self.log_key,
                seq + 1,
                prev,
                hashed,
                columns["tag"],
                stored_at.isoformat(" ") if self.backend == "sqlite" else stored_at,
                "advocate",
                columns["detail"],
                facts.case_ref,
                facts.section_key,
                facts.purpose,
                facts.decision,
                facts.gate,
                facts.policy_rule,
            ),
        )
        execute(self.move, (seq + 1, hashed, self.log_key))
        execute("COMMIT")
