"""Project-wide test setup."""

from __future__ import annotations

import pgtrigger
import pytest
from django.db.backends.postgresql.operations import DatabaseOperations


@pytest.fixture(scope="session", autouse=True)
def _flush_may_truncate_the_event_log():
    """Transactional tests end with Django's ``flush`` (a TRUNCATE of every table).

    The event log refuses TRUNCATE; only this test-teardown flush is let through, by name.
    Everything else in the tests meets the trigger as production does.
    """
    original = DatabaseOperations.execute_sql_flush

    def execute_sql_flush(self, sql_list):
        with pgtrigger.ignore("events.Event:no_truncate"):
            return original(self, sql_list)

    DatabaseOperations.execute_sql_flush = execute_sql_flush
    yield
    DatabaseOperations.execute_sql_flush = original
