"""Prometheus gauges of the worker registry, read at scrape time (``duragraph_site/metrics.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily

from duragraph_site.metrics import ScrapeTimeCollector, register_scrape_time
from workers.models import Worker, WorkerKind, WorkerStatus

if TYPE_CHECKING:
    from collections.abc import Iterator

    from prometheus_client.metrics_core import Metric


class WorkersCollector(ScrapeTimeCollector):
    def describe(self) -> Iterator[Metric]:
        yield self._family()

    def read(self) -> list[Metric]:
        counts = {
            (row["kind"], row["status"]): row["count"]
            for row in Worker.objects.values("kind", "status").annotate(count=Count("*"))
        }
        family = self._family()
        for kind in WorkerKind.values:
            for status in WorkerStatus.values:
                family.add_metric([kind, status], counts.get((kind, status), 0))
        return [family]

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "duragraph_workers",
            "Workers in the registry by kind (builtin executor, remote SDK worker) and status.",
            labels=["kind", "status"],
        )


WORKERS = register_scrape_time(WorkersCollector())
