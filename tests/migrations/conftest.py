"""What every migration test starts from: an empty database of each backend, migrated up to
the revision just before the one the test is about (its module's `BEFORE`)."""

import pytest

from portal import migrate
from portal.db import make_engine

from databases import BACKENDS, new_empty_database


@pytest.fixture(params=BACKENDS)
def engine_before(request, tmp_path):
    url, drop = new_empty_database(request.param, tmp_path)
    engine = make_engine(url)
    migrate.upgrade(engine, request.module.BEFORE)
    yield engine
    engine.dispose()
    drop()
