"""Prometheus metrics of the event log, the outbox and the relay.

Everything registers once, at import, in ``prometheus_client``'s default registry; ``/metrics``
serves it with every other process's series (``duragraph_site/metrics.py``); the relay also
serves its own on a port of its own when asked (``DURAGRAPH_RELAY_METRICS_PORT``).

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

from collections import Counter as Tally
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connection, transaction
from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily

from duragraph_site.db.connections import released
from duragraph_site.metrics import ScrapeTimeCollector, register_scrape_time
from events.sql import queries

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from prometheus_client.metrics_core import Metric

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


class OutboxBacklogCollector(ScrapeTimeCollector):
    """Scrape-time gauges of the outbox: pending rows, relay lag, struggling rows."""

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

    def describe(self) -> Iterator[Metric]:
        for name, documentation in self._NAMES:
            yield GaugeMetricFamily(name, documentation)

    def read(self) -> list[Metric]:
        backlog = outbox_backlog()
        values = (backlog.pending, backlog.lag_seconds, backlog.struggling)
        return [
            GaugeMetricFamily(name, documentation, value=value)
            for (name, documentation), value in zip(self._NAMES, values, strict=True)
        ]


OUTBOX_BACKLOG = register_scrape_time(OutboxBacklogCollector())
