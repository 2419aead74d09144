"""A Celery worker bootstep: executors wake up the moment a run is queued, and prove they live.

The ``runs_run`` triggers ``NOTIFY`` when a run becomes claimable. This step keeps one
connection ``LISTEN``ing and, for each notification (and every ``POLL_SECONDS`` in case one was
missed, or an ``after_seconds``/backoff delay just ended), hands a drain job to the worker's own
pool while it has free slots. A drain claims runs from PostgreSQL until none are left, so a
wake-up that finds nothing is harmless and the pool's size is the executor's concurrency.

The same thread registers the process in the worker registry and heartbeats every
``DURAGRAPH_EXECUTOR_HEARTBEAT_SECONDS``: if the process dies or freezes, the reaper declares it
lost after a few missed heartbeats and hands its runs to other executors, without waiting for
their leases to lapse.
"""

from __future__ import annotations

import logging
import os
import threading
import time

import psycopg
from celery import bootsteps
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from duragraph_site.db.listen import Listener, conninfo
from runs.sql import queries

# Imported by duragraph_site/celery.py before Django is set up: models are imported lazily.
QUEUED_CHANNEL = "duragraph_run_queued"

logger = logging.getLogger(__name__)

POLL_SECONDS = 1.0


def drain_job(worker_id: str, graph_ids: list[str] | None) -> int:
    """What the pool runs: execute claimable runs until there are none (Django connections closed after)."""
    from workers import executor

    try:
        return executor.drain(worker_id=worker_id, graph_ids=graph_ids)
    finally:
        close_old_connections()


class RunQueueListener(bootsteps.StartStopStep):
    """Feeds the worker pool from PostgreSQL notifications (see module docstring)."""

    requires = {"celery.worker.components:Pool"}

    def __init__(self, worker, **kwargs) -> None:  # noqa: ANN001 - Celery's signature
        super().__init__(worker, **kwargs)
        self.worker_id = ""  # set at start(), once Django is set up
        self._lock = threading.Lock()
        self._in_flight = 0
        self._listener: Listener | None = None
        self._last_poll = self._last_beat = 0.0

    def start(self, worker) -> None:  # noqa: ANN001
        from assistants import services as assistant_services

        assistant_services.assistants_ensure_system()
        from workers import executor

        self.worker_id = executor.default_worker_id()
        self.graph_ids = executor.served_graphs()
        self._register(worker, graph_ids=self.graph_ids)
        dsn = conninfo()
        close_old_connections()
        self._listener = Listener(
            QUEUED_CHANNEL,
            name="run-queue-listener",
            on_connect=self._connected,
            on_wake=lambda connection, notifies: self._listen(worker, connection, notifies),
            tick_seconds=0.2,
            dsn=dsn,
        )
        self._listener.start()

    def stop(self, worker) -> None:  # noqa: ANN001
        from workers import services

        if self._listener is not None:
            self._listener.stop(5)
        try:
            services.worker_deregister(worker_id=self.worker_id)
        except Exception:  # noqa: BLE001 - shutting down: the reaper copes with a silent worker
            logger.warning("could not deregister %s", self.worker_id, exc_info=True)
        close_old_connections()

    def _register(self, worker, *, graph_ids: list[str], again: bool = False) -> None:  # noqa: ANN001
        from workers import services
        from workers.models import WorkerKind

        services.worker_register(
            worker_id=self.worker_id,
            kind=WorkerKind.BUILTIN,
            name=worker.hostname,
            graph_ids=graph_ids,
            max_concurrent_runs=worker.concurrency,
            heartbeat_interval=settings.DURAGRAPH_EXECUTOR_HEARTBEAT_SECONDS,
            metadata={"pid": os.getpid(), "pool": type(worker.pool).__module__},
            same_process=again,
        )
        close_old_connections()

    def _connected(self, connection: psycopg.Connection) -> None:
        self._last_poll = self._last_beat = 0.0  # a heartbeat and a poll at once

    def _listen(
        self,
        worker,  # noqa: ANN001
        connection: psycopg.Connection,
        notifies: list[psycopg.Notify],
    ) -> None:
        """After each wait of the listener (a notification, or 0.2 s without one): heartbeat
        when due, then, if a run is claimable, a drain per notification (a burst of runs gets
        as many slots), or one if the poll finds one. A run queued behind a running one on its
        thread is not claimable: its notification wakes nobody (the drain that ends the first
        run claims it next)."""
        interval = settings.DURAGRAPH_EXECUTOR_HEARTBEAT_SECONDS
        now = time.monotonic()
        if now - self._last_beat >= interval:
            self._last_beat = now
            self._heartbeat(worker, connection)
        if notifies or now - self._last_poll >= POLL_SECONDS:
            self._last_poll = now
            if self._claimable(connection):
                for _ in range(max(1, len(notifies))):
                    self._dispatch(worker)

    def _heartbeat(self, worker, connection: psycopg.Connection) -> None:  # noqa: ANN001
        """Record liveness; if we were declared lost meanwhile (frozen), register again: our old
        runs went to others, and our stale writes to them are refused anyway."""
        updated = connection.execute(
            "UPDATE workers_worker SET last_heartbeat_at = now(), active_runs = %s, reported_status = 'ready'"
            " WHERE worker_id = %s AND status IN ('online', 'draining')",
            [self._in_flight, self.worker_id],
        ).rowcount
        if not updated:
            logger.warning("%s was declared lost; registering again", self.worker_id)
            self._register(worker, graph_ids=self.graph_ids, again=True)

    def _claimable(self, connection: psycopg.Connection) -> bool:
        """Whether a run of a graph this worker serves can be claimed now (the claim's own
        definition: ``runs/sql/queries.sql`` claimable_exist), on the listener's connection."""
        row = connection.execute(
            queries["claimable_exist"], {"graph_ids": self.graph_ids, "now": timezone.now()}
        ).fetchone()
        return bool(row and row[0])

    def _dispatch(self, worker) -> None:  # noqa: ANN001
        with self._lock:
            if self._in_flight >= worker.concurrency:
                return  # every slot is draining already; they will find this run
            self._in_flight += 1
        worker.pool.apply_async(
            drain_job,
            args=(self.worker_id, self.graph_ids),
            callback=self._done,
            error_callback=self._done,
        )

    def _done(self, *args) -> None:  # noqa: ANN002
        with self._lock:
            self._in_flight -= 1
