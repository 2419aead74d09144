"""psycopg's connection pool, made to recover at once when the database's connections are cut.

Two behaviours of ``psycopg_pool.ConnectionPool`` (3.3) turned "every connection was terminated"
(``pg_terminate_backend``, a failover, a restart) into a 20-second outage of the API:

- a connection that fails its check at checkout makes the client *sleep* with exponential
  backoff (1 s, 2 s, 4 s...) before trying the next one, so with twenty dead idle connections
  a request spent its whole timeout discarding them and answered ``PoolTimeout``;
- while the database is unreachable, the background reconnection backs off the same way, to
  minutes, so the pool could stay empty long after the database was back.

:class:`ConnectionPool` discards dead connections without sleeping (they were cut together,
so the next one is most likely dead too, and each costs only a look at its socket), retries
reconnection at least every :attr:`~ConnectionPool.reconnect_max_delay` seconds, and, while the
last connection attempt failed, makes requests give up after :attr:`~ConnectionPool.outage_timeout`
instead of the pool's whole timeout, so the API answers 503 quickly and recovers within a second
of the database accepting connections again (docs/faults.md).
"""

from __future__ import annotations

import time
from typing import Any

import psycopg_pool
from psycopg_pool.base import AttemptWithBackoff


class _CappedBackoff(AttemptWithBackoff):
    """psycopg_pool's reconnection backoff, never waiting more than *max_delay* between tries."""

    def __init__(self, *, timeout: float, max_delay: float) -> None:
        super().__init__(timeout=timeout)
        self.max_delay = max_delay

    def update_delay(self, now: float) -> None:
        super().update_delay(now)
        self.delay = min(self.delay, self.max_delay)


class ConnectionPool(psycopg_pool.ConnectionPool):
    """See the module docstring. Relies on psycopg_pool 3.3's internals (pinned)."""

    def __init__(
        self,
        *args: Any,
        reconnect_max_delay: float = 0.5,
        outage_timeout: float = 1.0,
        **kwargs: Any,
    ) -> None:
        #: Longest wait between two reconnection attempts while the database is unreachable.
        self.reconnect_max_delay = reconnect_max_delay
        #: How long a request waits for a connection while the database is known unreachable.
        self.outage_timeout = outage_timeout
        #: Whether the latest attempt to connect failed (cleared by the next success).
        self.unreachable = False
        super().__init__(*args, **kwargs)

    def getconn(self, timeout: float | None = None) -> Any:
        if timeout is None:
            timeout = self.timeout
        if self.unreachable:
            timeout = min(timeout, self.outage_timeout)
        return super().getconn(timeout)

    def _getconn_with_check_loop(self, deadline: float) -> Any:
        """psycopg_pool's loop without the sleep after a failed check (see module docstring).

        A busy loop is not possible: each failed check discards one connection, and once the
        idle ones are gone the client waits for a new connection like any other.
        """
        while True:
            conn = self._getconn_unchecked(deadline - time.monotonic())
            try:
                self._check_connection(conn)
            except BaseException as error:
                self._putconn(conn, from_getconn=True)  # broken: closed and replaced
                if not isinstance(error, Exception):
                    raise  # cancellation, KeyboardInterrupt: do not try again
                continue
            return conn

    def _connect(self, timeout: float | None = None) -> Any:
        try:
            conn = super()._connect(timeout)
        except Exception as error:
            self.unreachable = True
            self._fail_waiting(error)
            raise
        self.unreachable = False
        return conn

    def _fail_waiting(self, error: Exception) -> None:
        """The database refuses connections: tell the clients waiting for one now (a 503 they
        can retry) rather than at the end of their timeout."""
        with self._lock:
            waiting = list(self._waiting)
            self._waiting.clear()
        for client in waiting:
            client.fail(psycopg_pool.PoolTimeout(f"the database is unreachable: {error}"))

    def _add_connection(self, attempt: AttemptWithBackoff | None, growing: bool = False) -> None:
        if attempt is None:
            attempt = _CappedBackoff(
                timeout=self.reconnect_timeout, max_delay=self.reconnect_max_delay
            )
        super()._add_connection(attempt, growing=growing)
