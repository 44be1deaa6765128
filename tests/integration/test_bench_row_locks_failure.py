"""The row-lock sampler's connection failing mid-run (the server restarted, the backend
terminated) must not leave the benchmark printing a lock-wait figure that silently stopped
counting: the failure is said when the block ends, as `portal bench`'s `_scratch_errors`
expects of "the benchmark's own connections (row-lock sampling)"."""

import time

import psycopg
import pytest
from sqlalchemy.engine import make_url

from portal.bench.row_locks import RowLockWaits

from databases import new_empty_database


def test_a_sampler_whose_connection_fails_says_so_when_the_block_ends(tmp_path):
    url, drop = new_empty_database("postgresql", tmp_path)
    plain = make_url(url).set(drivername="postgresql").render_as_string(False)
    try:
        with pytest.raises(psycopg.Error), RowLockWaits(url, interval=0.005):
            time.sleep(0.1)
            with psycopg.connect(plain, autocommit=True) as admin:
                ended = admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                ).fetchall()
            assert ended == [(True,)]
            time.sleep(0.1)  # the sampler's next query fails
    finally:
        drop()
