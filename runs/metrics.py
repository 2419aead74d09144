"""Prometheus metrics of runs and of their live streams (served at ``/metrics`` with every
process's series and the database's: ``duragraph_site/metrics.py``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from django.db import connection, transaction
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily

from duragraph_site.metrics import ScrapeTimeCollector, register_scrape_time
from runs.domain import RunStatus
from runs.sql import queries

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

# "livesum": with several processes (PROMETHEUS_MULTIPROC_DIR), the sum over the live ones.
STREAMS_LIVE = Gauge(
    "duragraph_streams_live",
    "Streams following their run or thread live: subscribed (to NATS, or to the outbox NOTIFY "
    "without it) and caught up from PostgreSQL",
    multiprocess_mode="livesum",
)
SSE_STREAMS_OPEN = Gauge(
    "duragraph_sse_streams_open",
    "Server-sent event streams being served",
    multiprocess_mode="livesum",
)
WEBSOCKET_STREAMS_OPEN = Gauge(
    "duragraph_websocket_streams_open",
    "WebSocket streams being served",
    multiprocess_mode="livesum",
)


@contextlib.contextmanager
def counted(gauge: Gauge) -> Iterator[None]:
    """*gauge* + 1 for as long as the block runs (however it ends)."""
    gauge.inc()
    try:
        yield
    finally:
        gauge.dec()


#: Events that reached a live stream, by where they came from: ``nats`` (pushed by the relay) or
#: ``postgres`` (catch-up, gaps, and everything while NATS is away).
STREAM_EVENTS = Counter(
    "duragraph_stream_events",
    "Run events delivered to SSE/WebSocket streams, by source",
    ["source"],
)


# -- runs --------------------------------------------------------------------------------------
#: Seconds buckets from a fast claim (ms) to a long agent run (hours).
_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400)

RUN_CLAIM_WAIT = Histogram(
    "duragraph_run_claim_wait_seconds",
    "Claim latency: seconds from a run becoming claimable (created, or its retry backoff or "
    "after_seconds over) to a worker leasing it.",
    ["worker_kind"],
    buckets=_SECONDS,
)
RUN_DURATION = Histogram(
    "duragraph_run_duration_seconds",
    "Seconds from a run's creation to the status it ended with (success, error, timeout, "
    "interrupted, cancelled: by status).",
    ["status"],
    buckets=_SECONDS,
)
RUN_LEASE_EXPIRATIONS = Counter(
    "duragraph_run_lease_expirations",
    "Leases that ended without their worker finishing the run (expired, worker lost, "
    "restarted or gone), by what happened next: 'retried' or 'failed' (no attempts left).",
    ["outcome"],
)
RUN_RETRIES = Counter("duragraph_run_retries", "Runs handed back to the queue for another attempt.")

#: The event that ends a run, and the status it ends in.
_ENDINGS = {
    "RunCompleted": "success",
    "RunFailed": "error",
    "RunTimedOut": "timeout",
    "RunInterrupted": "interrupted",
    "RunCancelled": "cancelled",
}


# Every label value exists from the start (at 0), so that each series is there to graph and
# alert on before the first event, in every process.
for _kind in ("builtin", "remote"):
    RUN_CLAIM_WAIT.labels(_kind)
for _status in _ENDINGS.values():
    RUN_DURATION.labels(_status)
for _outcome in ("retried", "failed"):
    RUN_LEASE_EXPIRATIONS.labels(_outcome)


def count_recorded(created_at: datetime, event_types: list[str], *, now: datetime) -> None:
    """Count what a run's newly recorded events mean, once the transaction commits."""
    ended = next((_ENDINGS[t] for t in event_types if t in _ENDINGS), None)
    expired = "RunLeaseExpired" in event_types
    retried = "RunRetried" in event_types
    if ended is None and not expired and not retried:
        return

    def count() -> None:
        if ended is not None:
            RUN_DURATION.labels(ended).observe(max(0.0, (now - created_at).total_seconds()))
        if expired:
            RUN_LEASE_EXPIRATIONS.labels("retried" if retried else "failed").inc()
        if retried:
            RUN_RETRIES.inc()

    transaction.on_commit(count)


def observe_claims(available_at: list[datetime], *, now: datetime, worker_kind: str) -> None:
    """Claim latency of runs just leased (the claim has committed)."""
    for at in available_at:
        RUN_CLAIM_WAIT.labels(worker_kind).observe(max(0.0, (now - at).total_seconds()))


class RunsCollector(ScrapeTimeCollector):
    """Scrape-time gauges of the runs read model: runs by status, the queue and its age."""

    def describe(self) -> Iterator[Metric]:
        yield from self._families()

    def read(self) -> list[Metric]:
        with connection.cursor() as cursor:
            cursor.execute(queries["runs_by_status"])
            by_status = dict(cursor.fetchall())
            cursor.execute(queries["run_queue"])
            depth, oldest_age = cursor.fetchone()
        runs, queue, age = self._families()
        for status in RunStatus:
            runs.add_metric([status.value], by_status.get(status.value, 0))
        queue.add_metric([], depth)
        age.add_metric([], max(0.0, oldest_age or 0.0))
        return [runs, queue, age]

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily("duragraph_runs", "Runs by status.", labels=["status"]),
            GaugeMetricFamily(
                "duragraph_run_queue_depth",
                "Pending runs that a worker could claim now (their after_seconds or backoff over).",
            ),
            GaugeMetricFamily(
                "duragraph_run_queue_oldest_age_seconds",
                "Seconds the oldest claimable run has been waiting (0 when the queue is empty).",
            ),
        )


RUNS = register_scrape_time(RunsCollector())
