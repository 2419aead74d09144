"""The connection pool through a database outage (``duragraph_site.db.pool``), on real PostgreSQL
behind a proxy that can cut every connection and refuse new ones (``tests.outage``).

psycopg_pool alone slept 1 s, 2 s, 4 s... after each dead connection found at checkout, and
backed off reconnecting for minutes: after an outage, requests hung for the pool's whole
timeout and the pool stayed empty long after the database was back.
"""

from __future__ import annotations

import threading
import time

import psycopg
import psycopg_pool
import pytest

from duragraph_site.db.base import check_when_readable
from duragraph_site.db.listen import conninfo
from duragraph_site.db.pool import ConnectionPool
from tests.outage import DatabaseProxy

pytestmark = pytest.mark.django_db(transaction=True)

#: The pool's own timeout: far longer than anything below may take.
POOL_TIMEOUT = 10.0


@pytest.fixture
def proxy():
    proxy = DatabaseProxy(conninfo()).start()
    yield proxy
    proxy.close()


def open_pool(proxy: DatabaseProxy, size: int) -> ConnectionPool:
    pool = ConnectionPool(
        proxy.conninfo(),
        min_size=size,
        max_size=size,
        timeout=POOL_TIMEOUT,
        check=check_when_readable,
        kwargs={"autocommit": True},
        open=False,
    )
    pool.open(wait=True)
    return pool


@pytest.fixture
def pool(proxy):
    pool = open_pool(proxy, 5)
    yield pool
    pool.close()


def backend_pid(pool: ConnectionPool) -> int:
    with pool.connection() as conn:
        return conn.execute("SELECT pg_backend_pid()").fetchone()[0]


def timed(action):
    started = time.monotonic()
    result = action()
    return result, time.monotonic() - started


def test_connections_cut_while_idle_are_replaced_without_waiting(proxy, pool):
    before = {backend_pid(pool) for _ in range(5)}
    proxy.cut()
    proxy.restore()  # the database is back at once: only the pooled connections are dead
    pid, seconds = timed(lambda: backend_pid(pool))
    assert pid not in before
    # psycopg_pool alone: five dead connections, sleeps of ~1 + 2 + 4 s between them.
    assert seconds < 1.0, f"the first checkout after the cut took {seconds:.2f}s"


def test_while_the_database_is_unreachable_a_request_gives_up_quickly(proxy, pool):
    backend_pid(pool)
    proxy.cut()
    with pytest.raises(psycopg_pool.PoolTimeout):
        pool.getconn()  # finds the dead ones, then no way to connect
    assert pool.unreachable
    _, seconds = timed(lambda: pytest.raises(psycopg_pool.PoolTimeout, pool.getconn))
    assert seconds < 2.0, f"a request waited {seconds:.2f}s (pool timeout {POOL_TIMEOUT}s)"


def test_clients_waiting_when_the_database_goes_away_are_told_at_once(proxy, pool):
    """Every connection busy, clients waiting; the database goes: they get an error now."""
    held = [pool.getconn() for _ in range(5)]
    outcomes: list[tuple[type, float]] = []

    def wait_for_a_connection() -> None:
        started = time.monotonic()
        try:
            pool.putconn(pool.getconn())
            outcomes.append((object, time.monotonic() - started))
        except psycopg_pool.PoolTimeout as error:
            outcomes.append((type(error), time.monotonic() - started))

    waiters = [threading.Thread(target=wait_for_a_connection) for _ in range(3)]
    for waiter in waiters:
        waiter.start()
    proxy.cut()
    for conn in held:  # their queries fail: back to the pool, broken, to be replaced
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")
        pool.putconn(conn)
    for waiter in waiters:
        waiter.join(POOL_TIMEOUT + 5)
    assert [kind for kind, _ in outcomes] == [psycopg_pool.PoolTimeout] * 3
    assert max(seconds for _, seconds in outcomes) < 3.0, outcomes


def test_the_pool_recovers_within_a_second_of_the_database_returning(proxy):
    pool = open_pool(proxy, 1)  # one connection: one reconnection schedule to follow
    backend_pid(pool)
    proxy.cut()
    with pytest.raises(psycopg.OperationalError):
        backend_pid(pool)  # finds the connection dead: reconnection attempts begin
    time.sleep(3.5)  # the outage lasts; psycopg_pool alone tries at ~1, 3, 7 s: next at ~7 s
    proxy.restore()
    returned = time.monotonic()
    deadline = returned + POOL_TIMEOUT
    while time.monotonic() < deadline:
        try:
            backend_pid(pool)
            break
        except psycopg_pool.PoolTimeout:
            continue
    recovered = time.monotonic() - returned
    pool.close()
    assert recovered < 1.0, (
        f"the first query succeeded {recovered:.2f}s after the database returned"
    )
