"""Run queries: read models only."""

from __future__ import annotations

import uuid
from typing import Any

from django.utils import timezone

from duragraph_site.errors import NotFound
from events import store
from runs.domain import ACTIVE_STATUSES, RunStatus
from runs.models import Run
from threads.models import Thread


def run_get(run_id: uuid.UUID, *, thread_id: uuid.UUID | None = None) -> Run:
    """The run (under *thread_id* when given), or NotFound."""
    queryset = Run.objects.filter(run_id=run_id)
    if thread_id is not None:
        queryset = queryset.filter(thread_id=thread_id)
    run = queryset.first()
    if run is None:
        raise NotFound(f"Run {run_id} not found")
    return run


def run_list(
    thread_id: uuid.UUID, *, limit: int = 10, offset: int = 0, status: str | None = None
) -> list[Run]:
    """A thread's runs, newest first (NotFound for an unknown thread)."""
    if not Thread.objects.filter(thread_id=thread_id).exists():
        raise NotFound(f"Thread with ID {thread_id} not found")
    queryset = Run.objects.filter(thread_id=thread_id)
    if status:
        queryset = queryset.filter(status=status)
    return list(queryset.order_by("-created_at", "-run_id")[offset : offset + limit])


def run_is_over(run_id: uuid.UUID) -> bool:
    """True once the run ended, or no longer exists (rolled back, deleted)."""
    status = Run.objects.filter(run_id=run_id).values_list("status", flat=True).first()
    return status is None or RunStatus(status) not in ACTIVE_STATUSES


def run_result(run_id: uuid.UUID, thread_id: uuid.UUID) -> Any:
    """What ``/wait`` and ``/join`` return for an ended run (LangGraph's rules).

    The final values; with ``__interrupt__`` (all interrupts, flattened) when parked at an
    ``interrupt()``; ``{"__error__": {error, message}}`` when it failed; the thread's values
    when the run produced none; ``{}`` when there is nothing at all.
    """
    run = Run.objects.filter(run_id=run_id).first()
    if run is None:
        return _result_from_events(run_id)
    if run.status in (RunStatus.ERROR, RunStatus.TIMEOUT):
        return {"__error__": run.error or {"error": "Error", "message": ""}}
    values = run.output
    if values is None:
        values = Thread.objects.filter(thread_id=thread_id).values_list("values", flat=True).first()
    return _with_interrupts(values, run.interrupts if run.status == RunStatus.INTERRUPTED else None)


def _with_interrupts(values: Any, interrupts: dict[str, list] | None) -> Any:
    if interrupts:
        flattened = [item for items in interrupts.values() for item in items]
        return {**(values if isinstance(values, dict) else {}), "__interrupt__": flattened}
    return values if values is not None else {}


def _result_from_events(run_id: uuid.UUID) -> Any:
    """The result of a run whose row is gone (a stateless run's thread was deleted, or the run
    was rolled back): the event log still has how it ended."""
    for event in reversed(store.load(run_id)):
        if event.type in ("RunFailed", "RunTimedOut"):
            error = event.payload.get("error", "TimeoutError")
            return {"__error__": {"error": error, "message": event.payload.get("message", "")}}
        if event.type == "RunCompleted":
            return _with_interrupts(event.payload.get("output"), None)
        if event.type == "RunInterrupted":
            return _with_interrupts(event.payload.get("output"), event.payload.get("interrupts"))
    return {}


def runs_claimable_exist() -> bool:
    """Whether any pending run can be claimed now (past its ``available_at``)."""
    return Run.objects.filter(status=RunStatus.PENDING, available_at__lte=timezone.now()).exists()
