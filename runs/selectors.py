"""Run queries: read models only."""

from __future__ import annotations

import uuid
from typing import Any

from duragraph_site.errors import NotFound
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
    if run is not None and run.status in (RunStatus.ERROR, RunStatus.TIMEOUT):
        return {"__error__": run.error or {"error": "Error", "message": ""}}
    values = run.output if run is not None else None
    if values is None:
        values = Thread.objects.filter(thread_id=thread_id).values_list("values", flat=True).first()
    if run is not None and run.status == RunStatus.INTERRUPTED and run.interrupts:
        flattened = [item for items in run.interrupts.values() for item in items]
        return {**(values if isinstance(values, dict) else {}), "__interrupt__": flattened}
    return values if values is not None else {}
