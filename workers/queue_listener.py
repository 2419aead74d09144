"""A Celery worker bootstep: executors wake up the moment a run is queued.

The ``runs_run`` triggers ``NOTIFY`` when a run becomes claimable. This step keeps one
connection ``LISTEN``ing and, for each notification (and every ``POLL_SECONDS`` in case one was
missed, or an ``after_seconds``/backoff delay just ended), hands a drain job to the worker's own
pool while it has free slots. A drain claims runs from PostgreSQL until none are left, so a
wake-up that finds nothing is harmless and the pool's size is the executor's concurrency.
"""

from __future__ import annotations

import logging
import threading
import time

import psycopg
from celery import bootsteps
from django.conf import settings
from django.db import close_old_connections

# Imported by duragraph_site/celery.py before Django is set up: models are imported lazily.
QUEUED_CHANNEL = "duragraph_run_queued"

logger = logging.getLogger(__name__)

POLL_SECONDS = 1.0


def drain_job(graph_ids: list[str] | None) -> int:
    """What the pool runs: execute claimable runs until there are none (Django connections closed after)."""
    from workers import executor

    try:
        return executor.drain(graph_ids=graph_ids)
    finally:
        close_old_connections()


class RunQueueListener(bootsteps.StartStopStep):
    """Feeds the worker pool from PostgreSQL notifications (see module docstring)."""

    requires = {"celery.worker.components:Pool"}

    def __init__(self, worker, **kwargs) -> None:  # noqa: ANN001 - Celery's signature
        super().__init__(worker, **kwargs)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._in_flight = 0
        self._thread: threading.Thread | None = None

    def start(self, worker) -> None:  # noqa: ANN001
        from assistants import services as assistant_services
        from runs.waiting import _conninfo

        assistant_services.assistants_ensure_system()
        conninfo = _conninfo()
        close_old_connections()
        self._thread = threading.Thread(
            target=self._listen, args=(worker, conninfo), name="run-queue-listener", daemon=True
        )
        self._thread.start()

    def stop(self, worker) -> None:  # noqa: ANN001
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _listen(self, worker, conninfo: str) -> None:  # noqa: ANN001
        graph_ids = settings.DURAGRAPH_EXECUTOR_GRAPHS or None
        while not self._stop.is_set():
            try:
                with psycopg.connect(conninfo, autocommit=True) as connection:
                    connection.execute(f"LISTEN {QUEUED_CHANNEL}")
                    last_poll = 0.0
                    while not self._stop.is_set():
                        notified = any(True for _ in connection.notifies(timeout=0.2, stop_after=1))
                        if notified:
                            self._dispatch(worker, graph_ids)
                        elif time.monotonic() - last_poll >= POLL_SECONDS:
                            last_poll = time.monotonic()
                            if self._claimable(connection, graph_ids):
                                self._dispatch(worker, graph_ids)
            except psycopg.Error:
                logger.warning(
                    "run queue listener lost its connection; reconnecting", exc_info=True
                )
                self._stop.wait(1)

    def _claimable(self, connection: psycopg.Connection, graph_ids: list[str] | None) -> bool:
        """Whether a pending run of a graph this worker serves is past its ``available_at``."""
        row = connection.execute(
            "SELECT EXISTS (SELECT 1 FROM runs_run r JOIN assistants_assistant a ON a.assistant_id = r.assistant_id"
            " WHERE r.status = 'pending' AND r.available_at <= now()"
            " AND (%s::text[] IS NULL OR a.graph_id = ANY(%s::text[])))",
            [graph_ids, graph_ids],
        ).fetchone()
        return bool(row and row[0])

    def _dispatch(self, worker, graph_ids: list[str] | None) -> None:  # noqa: ANN001
        with self._lock:
            if self._in_flight >= worker.concurrency:
                return  # every slot is draining already; they will find this run
            self._in_flight += 1
        worker.pool.apply_async(
            drain_job, args=(graph_ids,), callback=self._done, error_callback=self._done
        )

    def _done(self, *args) -> None:  # noqa: ANN002
        with self._lock:
            self._in_flight -= 1
