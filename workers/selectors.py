"""Worker registry queries."""

from __future__ import annotations

from django.db.models import Count, F, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from duragraph_site.errors import NotFound
from runs.domain import RunStatus
from runs.models import Run
from workers.models import Worker, WorkerGraph, WorkerStatus


def worker_list() -> list[Worker]:
    return list(Worker.objects.order_by("-last_heartbeat_at"))


def worker_get(worker_id: str) -> Worker:
    worker = Worker.objects.filter(worker_id=worker_id).first()
    if worker is None:
        raise NotFound(f"Worker {worker_id} is not registered")
    return worker


def worker_graph_get(graph_id: str) -> WorkerGraph | None:
    return WorkerGraph.objects.filter(graph_id=graph_id).first()


def worker_counts() -> dict[str, int]:
    """Registered workers by status (every status, zero included)."""
    counts = dict(Worker.objects.values_list("status").annotate(n=Count("worker_id")).order_by())
    return {status.value: counts.get(status.value, 0) for status in WorkerStatus}


def workers_listed(*, status: str | None = None, kind: str | None = None) -> QuerySet[Worker]:
    """Workers (of *status* and *kind* when given), each with ``runs_in_hand``: the runs
    running under it now, from the runs read model (what a worker reports may lag), counted in
    the same statement. Registration time is exposed as ``created_at``, the key the
    dashboard's keyset pages order by; unordered and unsliced."""
    held = (
        Run.objects.filter(worker_id=OuterRef("worker_id"), status=RunStatus.RUNNING)
        .order_by()
        .values("worker_id")
        .annotate(count=Count("*"))
        .values("count")
    )
    queryset = Worker.objects.annotate(
        runs_in_hand=Coalesce(Subquery(held), 0), created_at=F("registered_at")
    )
    if status:
        queryset = queryset.filter(status=status)
    if kind:
        queryset = queryset.filter(kind=kind)
    return queryset
