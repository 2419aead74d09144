"""PostgreSQL LISTEN, written once: a dedicated connection on a thread of its own.

Four loops wait for a NOTIFY: the outbox relay and the live streams serving from PostgreSQL
(``duragraph_outbox``, sent when events commit), the run waiters behind ``/wait`` and ``/join``
(``duragraph_run_ended``) and the executors' run-queue listener (``duragraph_run_queued``). Each
runs a :class:`Listener`: an autocommit connection that LISTENs on its channels, hands every
batch of notifications (and, every *tick*, an empty one) to a callback on its thread, reconnects
with a backoff when the connection is lost, and stops at once when asked.

A notification sent while nobody listens is lost: *on_connect* runs after every (re)connection,
once LISTEN is in place, so that its owner can catch up (re-read what it waits for).

This module is plumbing: it imports nothing from the apps.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
import psycopg.conninfo
from django.db import connection
from psycopg import sql

logger = logging.getLogger(__name__)

#: Between connection attempts: 0.1 s, doubling up to 1 s (a database restart costs a listener
#: at most a second once the server is back).
RECONNECT_INITIAL_SECONDS = 0.1
RECONNECT_MAX_SECONDS = 1.0

_CONNINFO_KEYS = ("dbname", "user", "password", "host", "port", "sslmode", "options")


def conninfo() -> str:
    """libpq parameters of Django's default database, as Django would connect to it (the
    embedded server's socket included), for connections Django does not manage: listeners,
    the relay's, tests'.

    Reads Django's settings and may start (or attach to) the embedded PostgreSQL: call it
    off the event loop.
    """
    params = connection.get_connection_params()
    return psycopg.conninfo.make_conninfo(
        **{k: v for k, v in params.items() if k in _CONNINFO_KEYS and v not in (None, "")}
    )


@dataclass
class Backoff:
    """Exponential backoff: *initial*, doubling up to *maximum*; :meth:`reset` after a success."""

    initial: float
    maximum: float
    _next: float = field(init=False)

    def __post_init__(self) -> None:
        self._next = self.initial

    def next(self) -> float:
        delay = self._next
        self._next = min(self._next * 2, self.maximum)
        return delay

    def reset(self) -> None:
        self._next = self.initial


#: ``on_wake(connection, notifications)``: after every wait, on the listener thread.
WakeCallback = Callable[[psycopg.Connection, list[psycopg.Notify]], None]


class _Run:
    """One listener thread's state: what :meth:`Listener.stop` reaches for."""

    def __init__(self, backoff: Backoff) -> None:
        self.backoff = backoff
        self.stop = threading.Event()
        #: Set once LISTEN is in place, or once a connection attempt failed (nobody waits for
        #: a database that is down).
        self.ready = threading.Event()
        self.listening = False
        self.idle_since = time.monotonic()
        # A byte on this pair ends the wait on the connection at once (see Listener.stop).
        self.interrupt_in, self.interrupt_out = socket.socketpair()
        self.thread: threading.Thread | None = None

    def interrupt(self) -> None:
        with contextlib.suppress(OSError):  # closed: the thread is gone already
            self.interrupt_out.send(b"\0")

    def close(self) -> None:
        self.interrupt_in.close()
        self.interrupt_out.close()


class Listener:
    """LISTEN on *channels* from a thread of its own, on a dedicated autocommit connection.

    Args:
        channels: the channels (identifiers, quoted as such).
        name: the thread's name, and the listener's in log messages.
        on_wake: ``on_wake(connection, notifications)``, called on the listener thread after
            each wait: with the notifications received (every one pending, in order), or an
            empty list when *tick_seconds* passed without any. It may run statements on the
            connection (autocommit); a ``psycopg.Error`` it raises counts as a lost connection.
        on_connect: ``on_connect(connection)``, called after each (re)connection once LISTEN is
            in place, before the first wait: catch up on what happened unheard.
        tick_seconds: the longest wait; *on_wake* runs at least this often.
        idle_seconds: with *in_use*, end the thread (closing its connection) once ``in_use()``
            has been false for this long; :meth:`start` starts a new one when needed again.
        in_use: whether anybody still needs the listener (called under the listener's lock:
            it must not call back into the listener).
        dsn: libpq connection string; None: :func:`conninfo`, read on the listener thread at
            each connection (so that a caller on an event loop never starts the embedded
            PostgreSQL itself).
        backoff_initial_seconds, backoff_max_seconds: the delay between connection attempts,
            doubling from the first to the second; back to the first once LISTEN is in place.

    Each call of :meth:`start` after the thread ended starts a new one, with its own
    connection. The listener never raises into its owner: connection failures are logged and
    retried until :meth:`stop`.
    """

    def __init__(
        self,
        *channels: str,
        name: str,
        on_wake: WakeCallback,
        on_connect: Callable[[psycopg.Connection], None] | None = None,
        tick_seconds: float = 1.0,
        idle_seconds: float | None = None,
        in_use: Callable[[], bool] | None = None,
        dsn: str | None = None,
        backoff_initial_seconds: float = RECONNECT_INITIAL_SECONDS,
        backoff_max_seconds: float = RECONNECT_MAX_SECONDS,
    ) -> None:
        if not channels:
            raise ValueError("channels is empty: name at least one channel to LISTEN on")
        if tick_seconds <= 0:
            raise ValueError(f"tick_seconds must be positive, not {tick_seconds}")
        if not 0 < backoff_initial_seconds <= backoff_max_seconds:
            raise ValueError(
                "backoff_initial_seconds must be positive and at most backoff_max_seconds, not "
                f"{backoff_initial_seconds} and {backoff_max_seconds}"
            )
        if (idle_seconds is None) != (in_use is None):
            raise ValueError("idle_seconds and in_use go together: give both or neither")
        self.channels = channels
        self.name = name
        self._on_wake = on_wake
        self._on_connect = on_connect
        self._tick_seconds = tick_seconds
        self._idle_seconds = idle_seconds
        self._in_use = in_use
        self._dsn = dsn
        self._backoff = (backoff_initial_seconds, backoff_max_seconds)
        self._lock = threading.Lock()
        self._run: _Run | None = None

    # -- owner's side ----------------------------------------------------------------------------
    def start(self) -> bool:
        """Start the listener thread unless it runs; True if it started now."""
        with self._lock:
            if self._run is not None and self._run.thread is not None:
                if self._run.thread.is_alive():
                    return False
            run = self._run = _Run(Backoff(*self._backoff))
            run.thread = threading.Thread(
                target=self._serve, args=(run,), name=self.name, daemon=True
            )
            run.thread.start()
            return True

    def stop(self, timeout: float = 5.0) -> None:
        """End the thread now (its connection closed) and wait up to *timeout* seconds for it.
        :meth:`start` may be called again afterwards."""
        with self._lock:
            run, self._run = self._run, None
        if run is None:
            return
        run.stop.set()
        run.interrupt()
        if run.thread is not None and run.thread is not threading.current_thread():
            run.thread.join(timeout)

    def wait_ready(self, timeout: float) -> bool:
        """Wait until LISTEN is in place or the connection attempt failed, at most *timeout*
        seconds; whether the listener is LISTENing now."""
        with self._lock:
            run = self._run
        if run is None:
            return False
        run.ready.wait(timeout)
        return run.listening

    @property
    def listening(self) -> bool:
        """Whether LISTEN is in place now (notifications sent from here on are heard)."""
        run = self._run
        return run is not None and run.listening

    # -- the thread --------------------------------------------------------------------------
    def _serve(self, run: _Run) -> None:
        try:
            while not self._should_end(run):
                try:
                    with psycopg.connect(self._dsn or conninfo(), autocommit=True) as conn:
                        for channel in self.channels:
                            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                        run.listening = True
                        run.ready.set()
                        run.backoff.reset()
                        if self._on_connect is not None:
                            self._on_connect(conn)
                        poller = select.poll()
                        poller.register(conn.fileno(), select.POLLIN)
                        poller.register(run.interrupt_in.fileno(), select.POLLIN)
                        while not self._should_end(run):
                            self._on_wake(conn, self._wait(conn, poller))
                except psycopg.Error as error:
                    run.listening = False
                    run.ready.set()
                    delay = run.backoff.next()
                    logger.warning(
                        "%s lost its database connection (%s); reconnecting in %.1f s",
                        self.name,
                        str(error).strip() or type(error).__name__,
                        delay,
                    )
                    run.stop.wait(delay)
                finally:
                    run.listening = False
        finally:
            run.close()

    def _wait(self, conn: psycopg.Connection, poller: select.poll) -> list[psycopg.Notify]:
        """The notifications pending now, or the first ones to come within a tick (or until
        :meth:`stop`); [] when none came."""
        # Notifications that arrived during the owner's statements wait in psycopg's backlog;
        # timeout=0 returns them (and whatever the socket holds) without blocking.
        pending = list(conn.notifies(timeout=0))
        if pending:
            return pending
        poller.poll(self._tick_seconds * 1000)
        return list(conn.notifies(timeout=0))

    def _should_end(self, run: _Run) -> bool:
        """Whether *run*'s thread must end; decided under the lock, so that a :meth:`start`
        racing with the decision starts a new thread instead of relying on a dying one."""
        with self._lock:
            end = run.stop.is_set()
            if not end and self._in_use is not None and self._idle_seconds is not None:
                now = time.monotonic()
                if self._in_use():
                    run.idle_since = now
                elif now - run.idle_since > self._idle_seconds:
                    end = True
            if end and self._run is run:
                self._run = None
            return end
