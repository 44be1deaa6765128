"""`portal keys rewrap --batch 1` killed with SIGKILL part-way (the machine's power cut, the
operator's kill -9): nothing is lost, and a second run finishes: every secret then opens
under the current KEK alone, unchanged, and the logs count each secret re-wrapped once.
SQLite, in a process of its own. Synthetic data only."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from nacl.exceptions import CryptoError
from sqlmodel import Session, select
from test_kek_rotation import _alone, _file, _opened, _wrapped, node  # noqa: F401 - a fixture

from portal.audit import AuditTag
from portal.cli import main as cli
from portal.db import unit_of_work
from portal.models import Agency, AuditEntry, StaffUser
from portal.settings import from_environment

from killed_helpers import kill_part_way

# With TOTP each, beside the node's six secrets. The re-wrap must still be running when the
# watcher has seen ten done and kills it: with 150 it re-wrapped the rest in under 0.2 s,
# which a watcher slowed by a loaded machine could miss.
STAFF = 450


def _under_current(engine, current) -> int:
    """How many secrets the current KEK alone opens."""
    return sum(_opens(current, wrapped) for wrapped in _wrapped(engine).values())


def _opens(keys, wrapped: bytes) -> bool:
    try:
        keys.unwrap(wrapped)
    except CryptoError:
        return False
    return True


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_rewrap_killed_part_way_loses_nothing_and_a_second_run_finishes(
    node,  # noqa: F811 - the fixture imported above
    tmp_path,
    capsys,
):
    engine = node
    keys = from_environment().key_wrapper()
    at = datetime.now(UTC)
    with unit_of_work(engine) as db:
        owner = db.exec(select(Agency).order_by(Agency.id)).first()
        for number in range(STAFF):
            db.add(
                StaffUser(
                    agency_id=owner.id,
                    username=f"mentor{number}",
                    display_name=f"Morgan Mentor {number} (synthetic)",
                    password_hash="synthetic",
                    password_changed_at=at,
                    totp_secret=keys.wrap(f"SYNTHETICTOTP{number:04d}".encode()),
                    totp_enabled_at=at,
                    created_at=at,
                )
            )
    before = _opened(engine, keys)
    total = len(before)
    assert total == STAFF + 6

    assert cli.main(["keys", "rotate-kek"]) == 0
    current = _alone(_file()["key_encryption_key"])
    assert _under_current(engine, current) == 0

    kill_part_way(
        tmp_path, ["keys", "rewrap", "--batch", "1"], lambda: _under_current(engine, current) >= 10
    )

    done = _under_current(engine, current)
    assert 0 < done < total  # stopped part-way
    restarted = from_environment().key_wrapper()
    assert _opened(engine, restarted) == before  # each opens, under one KEK or the other

    # The previous KEK may not be forgotten yet (refused: exit 4); a second run finishes.
    assert cli.main(["keys", "forget-previous-kek", "--yes"]) == 4
    capsys.readouterr()
    assert cli.main(["keys", "rewrap", "--batch", "7"]) == 0
    counts = [
        re.match(r"[^:]+: (\d+) re-wrapped under the current KEK, (\d+) already$", line)
        for line in capsys.readouterr().out.splitlines()[:3]
    ]
    assert sum(int(m[1]) for m in counts) == total - done  # what the first run did not reach
    assert sum(int(m[2]) for m in counts) == done
    assert _under_current(engine, current) == total
    assert _opened(engine, current) == before
    with Session(engine) as db:
        details = db.exec(
            select(AuditEntry.detail).where(AuditEntry.tag == AuditTag.KEY_REWRAPPED)
        ).all()
    assert sum(json.loads(detail)["rewrapped"] for detail in details) == total
    assert cli.main(["keys", "forget-previous-kek", "--yes"]) == 0
    assert _opened(engine, from_environment().key_wrapper()) == before
