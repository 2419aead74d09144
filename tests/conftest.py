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


@pytest.fixture(scope="session", autouse=True)
def _authentication_off_unless_a_test_turns_it_on():
    """Most tests exercise the API itself, as ``manage.py dev`` serves it: without credentials.
    The authentication tests turn it on (``settings.AUTH_ENABLED = True``, or the e2e
    ``auth_env``); the e2e servers get ``AUTH_ENABLED=false`` from ``server_env``."""
    from django.conf import settings

    settings.AUTH_ENABLED = False
    yield


@pytest.fixture(scope="session", autouse=True)
def _rate_limits_off_unless_a_test_turns_them_on():
    """Likewise rate limits (which would otherwise follow AUTH_ENABLED): the rate limit tests
    turn them on (``settings.RATE_LIMIT_ENABLED = True``, or ``RATE_LIMIT_ENABLED=true`` in a
    server's environment); the e2e servers get ``RATE_LIMIT_ENABLED=false`` from ``server_env``."""
    from django.conf import settings

    settings.RATE_LIMIT_ENABLED = False
    yield
