"""Prometheus metrics of the event log, the outbox and the relay.

Everything registers once, at import, in ``prometheus_client``'s default registry, which
django-prometheus serves at ``/metrics`` (the relay serves it on its own port when asked,
``DURAGRAPH_RELAY_METRICS_PORT``).

- ``duragraph_events_appended_total{stream_type, type}``: events committed to the log. Counted
  by every statement that writes events: :func:`events.store.append` and the two run statements
  in ``runs/sql/queries.sql`` (``runs.services.runs_claim``, ``run_record_output``).
- ``duragraph_outbox_pending``, ``duragraph_outbox_struggling``, ``duragraph_relay_lag_seconds``:
  read from PostgreSQL at scrape time (:class:`OutboxBacklogCollector`), so every process that
  serves ``/metrics`` reports the same values and nobody has to keep them up to date.
- ``duragraph_relay_published_total``, ``duragraph_relay_publish_errors_total{kind}``: counted in
  the relay process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter as Tally
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import SynchronousOnlyOperation
from django.db import Error as DatabaseError
from django.db import connection, transaction
from prometheus_client import REGISTRY, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from duragraph_site.db.connections import released
from events.sql import queries

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from prometheus_client.metrics_core import Metric

logger = logging.getLogger(__name__)

EVENTS_APPENDED = Counter(
    "duragraph_events_appended",
    "Events committed to the event log, by stream type and event type.",
    ["stream_type", "type"],
)
RELAY_PUBLISHED = Counter(
    "duragraph_relay_published",
    "Outbox rows this relay published to JetStream (acknowledged, then marked published).",
)
RELAY_PUBLISH_ERRORS = Counter(
    "duragraph_relay_publish_errors",
    "Outbox rows whose publication failed, by kind: 'nats' (NATS or JetStream unavailable; "
    "the relay backs off) or 'message' (this message was refused; it is retried later).",
    ["kind"],
)


def count_appended(stream_type: str, types: Iterable[str]) -> None:
    """Count events of *stream_type* with these *types* once the current transaction commits.

    Call right after the statement that inserted them, inside the writer's transaction: a
    rolled-back append (a concurrency conflict, a stale lease) is never counted.
    """
    tally = Tally(types)
    if tally:
        transaction.on_commit(lambda: _increment(stream_type, tally))


def _increment(stream_type: str, tally: Tally[str]) -> None:
    for event_type, count in tally.items():
        EVENTS_APPENDED.labels(stream_type, event_type).inc(count)


@dataclass(frozen=True)
class Backlog:
    """What the relays have left to publish, as read from ``events_outbox``."""

    #: Unpublished rows.
    pending: int
    #: Age of the oldest unpublished row, in seconds (0 when there is none).
    lag_seconds: float
    #: Unpublished rows that failed at least ``DURAGRAPH_OUTBOX_SLOW_RETRY_AFTER`` times.
    struggling: int


def outbox_backlog() -> Backlog:
    """Read the backlog now (one statement over the pending rows only).

    Raises:
        django.db.Error: the database is unreachable or the query failed.
    """
    with released(), connection.cursor() as cursor:
        cursor.execute(
            queries["outbox_backlog"],
            {"struggling_after": settings.DURAGRAPH_OUTBOX_SLOW_RETRY_AFTER},
        )
        pending, lag, struggling = cursor.fetchone()
    return Backlog(pending=pending, lag_seconds=max(0.0, lag), struggling=struggling)


class OutboxBacklogCollector(Collector):
    """Scrape-time gauges of the outbox: pending rows, relay lag, struggling rows.

    Contract: ``collect()`` never raises. When the database cannot answer, the three samples are
    left out of that scrape (a gap in the graph, not a failed ``/metrics``) and a warning is
    logged. The answer is cached for *cache_seconds* so that several scrapers, or a scrape
    storm, cost one query.
    """

    _NAMES = (
        ("duragraph_outbox_pending", "Outbox rows not yet published to NATS."),
        (
            "duragraph_relay_lag_seconds",
            "Age in seconds of the oldest unpublished outbox row (0 when the outbox is drained).",
        ),
        (
            "duragraph_outbox_struggling",
            "Unpublished outbox rows that failed repeatedly (retried by the relay's slow pass).",
        ),
    )

    def __init__(self, *, cache_seconds: float = 1.0) -> None:
        self.cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._cached: Backlog | None = None
        self._cached_at = float("-inf")

    def describe(self) -> Iterator[Metric]:
        # Without describe() the registry would call collect() at registration: a query at import.
        for name, documentation in self._NAMES:
            yield GaugeMetricFamily(name, documentation)

    def collect(self) -> Iterator[Metric]:
        backlog = self._backlog()
        if backlog is None:
            return
        values = (backlog.pending, backlog.lag_seconds, backlog.struggling)
        for (name, documentation), value in zip(self._NAMES, values, strict=True):
            yield GaugeMetricFamily(name, documentation, value=value)

    def invalidate(self) -> None:
        """Forget the cached answer (tests)."""
        with self._lock:
            self._cached, self._cached_at = None, float("-inf")

    def _backlog(self) -> Backlog | None:
        with self._lock:
            if time.monotonic() - self._cached_at < self.cache_seconds:
                return self._cached
            try:
                self._cached = outbox_backlog()
            except (DatabaseError, SynchronousOnlyOperation):
                # SynchronousOnlyOperation: a scrape from inside an event loop; a bug elsewhere,
                # but /metrics must still answer with everything else.
                logger.warning("outbox metrics skipped: the database did not answer", exc_info=True)
                self._cached = None
            self._cached_at = time.monotonic()
            return self._cached


OUTBOX_BACKLOG = OutboxBacklogCollector()
REGISTRY.register(OUTBOX_BACKLOG)
