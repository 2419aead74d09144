"""Waiting for runs to end, without polling delays and without holding a pooled connection.

One listener per process (a :class:`duragraph_site.db.listen.Listener`: its own thread and
connection) ``LISTEN``s on the channel that the ``runs_run`` triggers notify when a run ends (or
is deleted), and wakes the threads waiting for that run. Because a notification can be missed
(the listener reconnecting after a database restart), it also re-checks the waited runs'
statuses on every (re)connection and every ``SAFETY_POLL_SECONDS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator

import psycopg

from duragraph_site.db.listen import Listener
from runs.domain import TERMINAL_STATUSES
from runs.models import ENDED_CHANNEL

SAFETY_POLL_SECONDS = 1.0
_TERMINAL = [status.value for status in TERMINAL_STATUSES]


class RunWaiter:
    """Code waiting for a run registers a callback; the listener thread calls it when it ends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[uuid.UUID, list[Callable[[], None]]] = defaultdict(list)
        self._listener = Listener(
            ENDED_CHANNEL,
            name="run-waiter",
            on_connect=self._poll_statuses,  # anything that ended while we were away
            on_wake=self._on_wake,
            tick_seconds=SAFETY_POLL_SECONDS,
        )
        self._last_poll = 0.0

    @contextlib.contextmanager
    def watching(self, run_id: uuid.UUID) -> Iterator[threading.Event]:
        """An event set when *run_id* ends. Register first, then check the status, then wait:
        an end between the check and the wait is not lost."""
        self._ensure_listener()
        event = threading.Event()
        with self._registered(run_id, event.set):
            yield event

    @contextlib.asynccontextmanager
    async def awatching(self, run_id: uuid.UUID) -> AsyncIterator[asyncio.Event]:
        """:meth:`watching` for coroutines: an ``asyncio.Event`` set in the caller's loop."""
        await asyncio.to_thread(self._ensure_listener)  # may connect: not on the event loop
        loop = asyncio.get_running_loop()
        event = asyncio.Event()
        with self._registered(run_id, lambda: loop.call_soon_threadsafe(event.set)):
            yield event

    @contextlib.contextmanager
    def _registered(self, run_id: uuid.UUID, callback: Callable[[], None]) -> Iterator[None]:
        with self._lock:
            self._waiting[run_id].append(callback)
        try:
            yield
        finally:
            with self._lock:
                callbacks = self._waiting.get(run_id, [])
                if callback in callbacks:
                    callbacks.remove(callback)
                if not callbacks:
                    self._waiting.pop(run_id, None)

    def _wake(self, run_id: uuid.UUID) -> None:
        with self._lock:
            callbacks = list(self._waiting.get(run_id, []))
        for callback in callbacks:
            callback()

    # -- the listener thread ---------------------------------------------------------------------
    def _ensure_listener(self) -> None:
        self._listener.start()
        self._listener.wait_ready(5)

    def _on_wake(self, listener: psycopg.Connection, notifies: list[psycopg.Notify]) -> None:
        for notify in notifies:
            with contextlib.suppress(ValueError):
                self._wake(uuid.UUID(notify.payload))
        if time.monotonic() - self._last_poll >= SAFETY_POLL_SECONDS:
            self._poll_statuses(listener)

    def _poll_statuses(self, listener: psycopg.Connection) -> None:
        self._last_poll = time.monotonic()
        with self._lock:
            run_ids = list(self._waiting)
        if not run_ids:
            return
        # A waited run that ended, or vanished (rolled back / deleted), must wake its waiters.
        rows = listener.execute(
            "SELECT w.id FROM unnest(%s::uuid[]) AS w(id) LEFT JOIN runs_run r ON r.run_id = w.id "
            "WHERE r.run_id IS NULL OR r.status = ANY(%s)",
            [run_ids, _TERMINAL],
        ).fetchall()
        for (run_id,) in rows:
            self._wake(run_id)


waiter = RunWaiter()
