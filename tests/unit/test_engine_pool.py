"""The engine's pool hands out the connection given back last: its caches are the warm
ones (SQLite drops a connection's page cache when another connection wrote since it was
last used; PostgreSQL prepares statements per connection)."""

import pytest

from portal.db import make_engine

from databases import BACKENDS, new_empty_database


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_connection_given_back_last_is_the_next_one_handed_out(backend, tmp_path):
    url, drop = new_empty_database(backend, tmp_path)
    engine = make_engine(url)
    try:
        first, second = engine.raw_connection(), engine.raw_connection()
        first_driver, second_driver = first.dbapi_connection, second.dbapi_connection
        first.close()
        second.close()
        again = engine.raw_connection()
        assert again.dbapi_connection is second_driver is not first_driver
        again.close()
    finally:
        engine.dispose()
        drop()


def test_an_in_memory_database_keeps_its_one_connection_pool():
    engine = make_engine("sqlite:///:memory:")  # a pool with no order to choose
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT 1").scalar() == 1
    engine.dispose()
