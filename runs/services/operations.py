"""What users and operators do to runs: cancel, requeue, delete."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from duragraph_site.errors import IllegalTransition, NotFound
from runs import domain, projection
from runs.models import Cron, Run
from runs.services.recording import ACTIVE, load_thread_and_run, record, sync_thread
from threads import services as thread_services

if TYPE_CHECKING:
    pass


def run_cancel(
    *,
    run_id: uuid.UUID,
    thread_id: uuid.UUID | None = None,
    action: str = domain.CancelAction.INTERRUPT,
    reason: str = "cancelled by user",
    tenant: str | None = None,
) -> Run | None:
    """Cancel a pending or running run; ``rollback`` deletes it too (then returns None).

    A running worker learns of it at its next write (its lease is no longer valid). *tenant*
    here and below: the caller's scope (None: every tenant); another tenant's run is NotFound.
    """
    now = timezone.now()
    with transaction.atomic():
        thread, state = load_thread_and_run(run_id, thread_id=thread_id, tenant=tenant)
        run = record(state, domain.cancel(state, action=action, reason=reason), now=now)
        if run.deleted:  # rollback: the run's checkpoints go too
            thread = thread_services.thread_delete_checkpoints(
                thread_id=thread.thread_id,
                run_ids=[run_id],
                reason=f"run {run_id} rolled back",
                state=thread,
            )
        sync_thread(thread, run, now=now)
        return None if run.deleted else Run.objects.get(run_id=run_id)


def runs_cancel_many(
    *,
    thread_id: uuid.UUID | None = None,
    run_ids: list[uuid.UUID] | None = None,
    status: str | None = None,
    action: str = domain.CancelAction.INTERRUPT,
    tenant: str | None = None,
) -> int:
    """Cancel every active run matching the selector; returns how many.

    The selector is LangGraph's: ``status`` (``pending``, ``running`` or ``all``), or
    ``thread_id`` and/or ``run_ids``. Runs that end meanwhile are skipped; runs of tenants
    other than *tenant* (when given) match nothing, as unknown ids.

    Raises:
        NotFound: no active run matched.
    """
    queryset = Run.objects.filter(status__in=ACTIVE)
    if tenant is not None:
        queryset = queryset.filter(tenant=tenant)
    if status is not None:
        if status != "all":
            queryset = queryset.filter(status=status)
    else:
        if thread_id is not None:
            queryset = queryset.filter(thread_id=thread_id)
        if run_ids:
            queryset = queryset.filter(run_id__in=run_ids)
    targets = list(queryset.order_by("created_at").values_list("run_id", flat=True))
    if not targets:
        raise NotFound("No active runs matched")
    cancelled = 0
    for run_id in targets:
        try:
            run_cancel(run_id=run_id, action=action, tenant=tenant)
            cancelled += 1
        except (IllegalTransition, NotFound):
            continue  # ended or vanished since we looked
    return cancelled


def run_requeue(*, run_id: uuid.UUID, reason: str = "requeued by operator") -> Run:
    """Send an ``error``/``timeout`` run back to the queue with a fresh retry budget."""
    now = timezone.now()
    with transaction.atomic():
        thread, state = load_thread_and_run(run_id)
        run = record(state, domain.requeue(state, now=now, reason=reason), now=now)
        sync_thread(thread, run, now=now)
        return Run.objects.get(run_id=run_id)


def run_delete(
    *, run_id: uuid.UUID, thread_id: uuid.UUID | None = None, tenant: str | None = None
) -> None:
    """Delete a finished run (Conflict while it is pending or running)."""
    now = timezone.now()
    with transaction.atomic():
        thread, state = load_thread_and_run(run_id, thread_id=thread_id, tenant=tenant)
        run = record(state, domain.delete(state), now=now)
        sync_thread(thread, run, now=now)


def runs_delete_for_thread(*, thread_id: uuid.UUID) -> int:
    """Cancel and delete every run (and cron) of a thread being deleted (thread already locked)."""
    now = timezone.now()
    Cron.objects.filter(thread_id=thread_id).delete()
    count = 0
    for row in Run.objects.select_for_update().filter(thread_id=thread_id).order_by("created_at"):
        state = projection.to_state(row)
        if state.is_active:
            new_events = domain.cancel(
                state, action=domain.CancelAction.ROLLBACK, reason=f"thread {thread_id} deleted"
            )
        else:
            new_events = domain.delete(state)
        record(state, new_events, now=now)
        count += 1
    return count
