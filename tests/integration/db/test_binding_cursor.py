"""``binding_cursor`` raises Django's database errors, never psycopg's: the executor tells a lost
database (leave the run to be retried) from a failed graph (fail the run) by ``DatabaseError``.
Under chaos a connection cut mid-statement failed runs as ``AdminShutdown`` before this."""

from __future__ import annotations

import psycopg
import pytest
from django.db import DatabaseError, OperationalError, connection, transaction

from duragraph_site.db.connections import binding_cursor
from tests.integration.db.test_pool_check import terminate

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_connection_cut_under_it_raises_djangos_operational_error():
    with binding_cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    terminate(pid)
    with (
        pytest.raises(OperationalError) as raised,
        transaction.atomic(),
        binding_cursor() as cursor,
    ):
        cursor.execute("SELECT 1")
    assert isinstance(raised.value.__cause__, psycopg.errors.AdminShutdown)
    connection.close()  # the broken connection goes; the next checkout gets a new one
    with binding_cursor() as cursor:
        cursor.execute("SELECT 2")
        assert cursor.fetchone() == (2,)


def test_a_bad_statement_is_djangos_error_and_leaves_the_transaction_usable_after_rollback():
    with pytest.raises(DatabaseError) as raised:
        with transaction.atomic(), binding_cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table")
    assert not isinstance(raised.value, psycopg.Error)
    with binding_cursor() as cursor:
        cursor.execute("SELECT %s::int", [3])
        assert cursor.fetchone() == (3,)
