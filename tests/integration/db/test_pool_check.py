"""The pool's check at checkout (``duragraph_site.db.base.check_when_readable``): no round trip
for a healthy idle connection, and a connection the server closed is still replaced."""

from __future__ import annotations

import time

import psycopg
import pytest
from django.db import connection
from psycopg_pool import ConnectionPool

from duragraph_site.db import base
from duragraph_site.db.listen import conninfo

pytestmark = pytest.mark.django_db(transaction=True)


def terminate(pid: int, timeout: float = 10) -> None:
    """Terminate a backend and wait until it has exited (its goodbye is then on the socket)."""
    with psycopg.connect(conninfo(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        deadline = time.monotonic() + timeout
        while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone():
            assert time.monotonic() < deadline, f"backend {pid} is still there"
            time.sleep(0.01)


def wait_readable(conn: psycopg.Connection, timeout: float = 5) -> None:
    """Until the server's goodbye has reached the idle socket."""
    import select

    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN)
    assert poller.poll(timeout * 1000), "the server never closed the connection"


@pytest.fixture
def real_checks(monkeypatch):
    """Counts the empty-query checks that :func:`check_when_readable` falls back to."""
    calls = []
    real = ConnectionPool.check_connection

    def counting(conn):
        calls.append(conn)
        real(conn)

    monkeypatch.setattr(ConnectionPool, "check_connection", staticmethod(counting))
    return calls


def test_a_healthy_idle_connection_passes_without_a_round_trip(real_checks):
    with psycopg.connect(conninfo(), autocommit=True) as conn:
        conn.execute("SELECT 1")
        base.check_when_readable(conn)
        assert real_checks == []


def test_a_connection_the_server_closed_fails_the_check(real_checks):
    with psycopg.connect(conninfo(), autocommit=True) as conn:
        terminate(conn.info.backend_pid)
        wait_readable(conn)
        with pytest.raises(psycopg.OperationalError):
            base.check_when_readable(conn)
        assert len(real_checks) == 1, "the socket spoke: the real check decided"


def test_a_closed_connection_fails_the_check():
    conn = psycopg.connect(conninfo(), autocommit=True)
    conn.close()
    with pytest.raises(psycopg.OperationalError):
        base.check_when_readable(conn)


def test_the_pool_replaces_connections_terminated_while_idle():
    """Through Django: every idle pooled connection is killed; the next checkout still works."""
    assert connection.pool is not None and connection.pool._check is base.check_when_readable
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (before,) = cursor.fetchone()
    connection.close()  # back to the pool, idle
    with psycopg.connect(conninfo(), autocommit=True) as admin:
        pids = [
            pid
            for (pid,) in admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
            )
        ]
    assert before in pids
    for pid in pids:
        terminate(pid)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (after,) = cursor.fetchone()
    assert after not in pids
