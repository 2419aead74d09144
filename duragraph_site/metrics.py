"""``/metrics``: Prometheus series from every process of the deployment, and from PostgreSQL.

Two kinds of series:

- **Counted where things happen** (``prometheus_client`` counters, histograms, gauges): events
  appended, claims, run durations, lease expirations, open streams... They happen in daphne, in
  the executors, in the scheduler, in the relay: different processes. With
  ``PROMETHEUS_MULTIPROC_DIR`` set (``manage.py dev`` sets it for all its children; set it for the
  processes of one host in production), every process writes its series there and ``/metrics``
  serves their sum (``prometheus_client.multiprocess``). Without it, each process serves its own.
- **Read at scrape time** (:class:`ScrapeTimeCollector`): runs by status, the queue, the
  outbox backlog, workers by status. They are facts of the database, the same whichever process
  answers, so nobody has to keep them up to date.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from abc import abstractmethod
from typing import TYPE_CHECKING

from django.core.exceptions import SynchronousOnlyOperation
from django.db import Error as DatabaseError
from django.http import HttpRequest, HttpResponse
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from duragraph_site.db.connections import released

if TYPE_CHECKING:
    from collections.abc import Iterator

    from prometheus_client.metrics_core import Metric

logger = logging.getLogger(__name__)

#: Collectors that read the database when scraped (also in the default registry).
SCRAPE_TIME: list[Collector] = []


class ScrapeTimeCollector(Collector):
    """Series read from PostgreSQL when ``/metrics`` is scraped.

    Contract: ``collect()`` never raises. When the database cannot answer, this collector's
    samples are left out of that scrape (a gap in the graph, not a failed ``/metrics``) and a
    warning is logged. The answer is cached for *cache_seconds*, so several scrapers, or a scrape
    storm, cost one query.
    """

    def __init__(self, *, cache_seconds: float = 1.0) -> None:
        self.cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._cached: list[Metric] = []
        self._cached_at = float("-inf")

    @abstractmethod
    def describe(self) -> Iterator[Metric]:
        """The families, without samples. (Without ``describe()`` the registry would call
        ``collect()`` at registration: a query at import.)"""

    @abstractmethod
    def read(self) -> list[Metric]:
        """The families with their samples, from the database (may raise ``django.db.Error``)."""

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            if time.monotonic() - self._cached_at >= self.cache_seconds:
                try:
                    with released():
                        self._cached = self.read()
                except (DatabaseError, SynchronousOnlyOperation):
                    # SynchronousOnlyOperation: a scrape from inside an event loop; a bug
                    # elsewhere, but /metrics must still answer with everything else.
                    logger.warning(
                        "%s skipped: the database did not answer",
                        type(self).__name__,
                        exc_info=True,
                    )
                    self._cached = []
                self._cached_at = time.monotonic()
            yield from self._cached

    def invalidate(self) -> None:
        """Forget the cached answer (tests)."""
        with self._lock:
            self._cached, self._cached_at = [], float("-inf")


def register_scrape_time(collector: ScrapeTimeCollector) -> ScrapeTimeCollector:
    """Serve *collector* at ``/metrics`` (in both modes)."""
    SCRAPE_TIME.append(collector)
    REGISTRY.register(collector)
    return collector


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def metrics_view(request: HttpRequest) -> HttpResponse:
    """The Prometheus exposition: every process's series (or this one's), and the database's."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        for collector in SCRAPE_TIME:
            registry.register(collector)
    else:
        registry = REGISTRY
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
