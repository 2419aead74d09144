"""How every run command records its change: the lock order (thread, then run), the run's
events and read model, and the thread following the run."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from duragraph_site.errors import NotFound
from events import projections
from runs import domain, hooks, projection
from runs import metrics as run_metrics
from runs.models import Run
from threads import domain as thread_domain
from threads import projection as thread_projection
from threads import services as thread_services

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime


ACTIVE = [status.value for status in domain.ACTIVE_STATUSES]


def load_thread_and_run(
    run_id: uuid.UUID, *, thread_id: uuid.UUID | None = None, tenant: str | None = None
) -> tuple[thread_domain.ThreadState, domain.RunState]:
    """Lock the run's thread, then the run (the project's lock order). NotFound for an unknown
    run, one not on *thread_id*, or one a caller scoped to *tenant* cannot see."""
    found = Run.objects.filter(run_id=run_id).values_list("thread_id", "tenant").first()
    if (
        found is None
        or (thread_id is not None and found[0] != thread_id)
        or not domain.visible_to(found[1], tenant)
    ):
        raise NotFound(f"Run {run_id} not found")
    run_thread_id = found[0]
    thread = thread_projection.load_for_update(run_thread_id)
    return thread, projection.load_for_update(run_id)


def sync_thread(
    thread: thread_domain.ThreadState,
    run: domain.RunState,
    *,
    now: datetime,
    ran_with: Mapping[str, Any] | None = None,
    values: Any = thread_services.UNCHANGED,
) -> thread_domain.ThreadState:
    """Keep the thread true after *run* changed (the thread row is locked): its status, and
    what :func:`threads.services.thread_follow_run` records with it, in one call."""
    has_active = (
        run.is_active  # then no need to ask
        or Run.objects.filter(thread_id=thread.thread_id, status__in=ACTIVE).exists()
    )
    status = thread_domain.status_after_runs(
        has_active_run=has_active,
        last_run_status=None if run.deleted else run.status.value,
        last_run_cancelled=run.cancel_reason is not None,
    )
    return thread_services.thread_follow_run(
        thread,
        status=status,
        run_id=run.run_id,
        error=run.error if status is thread_domain.ThreadStatus.ERROR else None,
        interrupts=run.interrupts if status is thread_domain.ThreadStatus.INTERRUPTED else None,
        ran_with=ran_with,
        values=values,
        now=now,
    )


def record(
    state: domain.RunState | None,
    new_events: list,
    *,
    now: datetime,
    metadata: dict[str, Any] | None = None,
) -> domain.RunState:
    """Append *new_events* to the run's stream after *state* (None: a new run) and update its
    read model, in the caller's transaction; returns the new state."""
    key = state if state is not None else new_events[0]  # a RunCreated names its thread and run
    run = projections.record(
        projection.PROJECTION,
        projection.stream(key.thread_id, key.run_id),
        state,
        new_events,
        expected_version=state.version if state is not None else 0,
        now=now,
        metadata=metadata,
    )
    run_metrics.count_recorded(run.created_at, [e.type_name for e in new_events], now=now)
    if state is not None and state.is_active and not run.is_active:
        hooks.run_ended(run=run, now=now)
    return run
