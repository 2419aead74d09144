"""Worker registry queries."""

from __future__ import annotations

from django.db.models import Count, F, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from duragraph_site.errors import NotFound
from events.models import Event
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


#: How each way a run's lease ends reads in a worker's log: level, and what happened.
LEASE_ENDS = {
    "RunCompleted": ("INFO", "succeeded"),
    "RunInterrupted": ("INFO", "interrupted"),
    "RunCancelled": ("INFO", "cancelled"),
    "RunFailed": ("ERROR", "failed"),
    "RunTimedOut": ("ERROR", "timed out"),
    "RunLeaseExpired": ("WARNING", "lost its lease"),
}


def worker_log(worker_id: str | None = None, *, limit: int = 100) -> list[dict]:
    """What workers did, from the event log (the original server's ``/api/v1/workers/logs``,
    which ``duragraph logs`` prints): each of the latest *limit* runs started by *worker_id*
    (every worker's when None), and how its lease ended, as ``{timestamp, level, message,
    worker, run_id}``, oldest first. Two queries: the starts (newest first, by id), then the
    first end after each."""
    starts = Event.objects.filter(type="RunStarted")
    if worker_id is not None:
        starts = starts.filter(payload__worker_id=worker_id)
    starts = list(starts.order_by("-id")[:limit])
    ends: dict = {}
    later = Event.objects.filter(
        stream_id__in={start.stream_id for start in starts}, type__in=LEASE_ENDS
    ).order_by("version")
    for end in later:
        ends.setdefault(end.stream_id, []).append(end)
    entries = []
    for start in starts:
        worker, run_id = start.payload.get("worker_id"), str(start.stream_id)
        epoch = start.payload.get("lease_epoch")
        entries.append(_log_entry(start, "INFO", f"run {run_id} started (lease {epoch})", worker))
        end = next((e for e in ends.get(start.stream_id, []) if e.version > start.version), None)
        if end is not None:
            level, what = LEASE_ENDS[end.type]
            detail = end.payload.get("message") or end.payload.get("error")
            message = f"run {run_id} {what}" + (f": {detail}" if detail else "")
            entries.append(_log_entry(end, level, message, worker))
    return [entry for _, entry in sorted(entries, key=lambda pair: pair[0])]


def _log_entry(event: Event, level: str, message: str, worker: str | None) -> tuple:
    return event.created_at, {
        "timestamp": event.created_at.isoformat(),
        "level": level,
        "message": message,
        "worker": worker,
        "run_id": str(event.stream_id),
    }


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
