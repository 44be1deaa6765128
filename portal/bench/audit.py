"""`portal bench audit`: audit appends per second on a log that already holds 100,000 entries.

Each backend gets a scratch database (a temporary SQLite file; a PostgreSQL database
created and dropped here), migrated, with one synthetic agency whose log is filled with
`existing` chained entries. Then: appends one per transaction (as a request makes them),
the same from several concurrent writers, and a full `verify` of the log.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from portal import migrate
from portal.audit import AuditTag, DisclosureFacts, chain, record, verify
from portal.audit.checkpoints import CheckpointSigner
from portal.crypto import KeyWrapper
from portal.db import make_engine, unit_of_work
from portal.scratch_db import scratch_database
from portal.services import agencies

AT = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
SECTIONS = ("safety_plan", "needs_assessment", "care_plan", "legal_court", "medical")


def run(*, existing: int, appends: int, writers: int, postgres_url: str) -> int:
    keys = KeyWrapper(secrets.token_bytes(32))
    print(
        f"audit appends: {existing:,} existing entries, {appends:,} appends, "
        f"{writers} concurrent writers"
    )
    for label, backend in (("SQLite", "sqlite"), ("PostgreSQL", "postgresql")):
        if label == "PostgreSQL" and not postgres_url:
            print("PostgreSQL: skipped (no --postgres-url)")
            continue
        folder = Path(tempfile.mkdtemp(prefix="portal-bench-audit-"))
        url, drop = scratch_database(
            backend, directory=folder, postgres_url=postgres_url, prefix="portal_bench_audit"
        )
        engine = make_engine(url)
        try:
            migrate.upgrade(engine)
            agency_id = _prepare(engine, existing, keys)
            serial = _serial(engine, agency_id, appends, keys)
            concurrent = _concurrent(engine, agency_id, appends, writers, keys)
            walked, seconds = _verify(engine)
            print(
                f"{label:<11} {serial:8,.0f} appends/s (one transaction each) · "
                f"{concurrent:8,.0f} appends/s ({writers} writers) · "
                f"verify {walked:,} entries in {seconds:.1f} s"
            )
        finally:
            engine.dispose()
            drop()
            shutil.rmtree(folder, ignore_errors=True)
    return 0


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


def _prepare(engine, existing: int, keys: KeyWrapper) -> int:
    """One synthetic agency whose log already holds `existing` chained entries."""
    with unit_of_work(engine) as db:
        agency = agencies.create_agency(
            db,
            name="Bench Agency (synthetic)",
            kind="community",
            discipline="advocacy",
            actor=None,
            keys=keys,
            at=AT,
        )
        db.flush()
        agency_id = agency.id
    with unit_of_work(engine) as db:
        chain.append_rows(db, agency_id, (_row(number) for number in range(existing)))
    return agency_id


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


def _serial(engine, agency_id: int, appends: int, keys: KeyWrapper) -> float:
    started = time.perf_counter()
    for number in range(appends):
        _append_one(engine, agency_id, number, keys)
    return appends / (time.perf_counter() - started)


def _concurrent(engine, agency_id: int, appends: int, writers: int, keys: KeyWrapper) -> float:
    share = max(1, appends // writers)

    def writer(offset: int) -> None:
        for number in range(share):
            _append_one(engine, agency_id, offset + number, keys)

    threads = [threading.Thread(target=writer, args=(i * share,)) for i in range(writers)]
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
