"""Creating runs: the queue entry, and what the multitask strategy does to the thread's other runs."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.domain import DEFAULT_TENANT
from assistants import domain as assistant_domain
from assistants import graphs
from assistants.models import Assistant
from duragraph_site import ids
from duragraph_site.errors import Conflict, InvalidInput, NotFound
from runs import domain, projection
from runs.models import Run
from runs.services.recording import ACTIVE, record, sync_thread
from threads import domain as thread_domain
from threads import services as thread_services

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime


BUSY_MESSAGE = "Thread is already running a task. Wait for it to finish or choose a different multitask strategy."


def _default_max_attempts() -> int:
    return settings.DURAGRAPH_RUN_MAX_ATTEMPTS


def run_create(
    *,
    thread_id: uuid.UUID | None,
    assistant_id: uuid.UUID,
    kwargs: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    multitask_strategy: str = domain.MultitaskStrategy.ENQUEUE,
    after_seconds: float = 0,
    if_not_exists: str = "reject",
    max_attempts: int | None = None,
    run_id: uuid.UUID | None = None,
    tenant: str = DEFAULT_TENANT,
    scope: str | None = None,
) -> Run:
    """Queue a run, applying the multitask strategy to its thread's active runs.

    The run belongs to its thread's tenant. *scope* is the tenant the caller sees (None: every
    tenant): an assistant or thread it cannot see is NotFound, as an unknown id; *tenant* is
    the tenant of a thread created for the run (stateless, or ``if_not_exists="create"``).

    With *thread_id* None the run is stateless: it gets a thread of its own (deleted after the
    run when ``kwargs["temporary"]`` is set). With ``if_not_exists="create"`` an unknown
    *thread_id* is created. The thread's metadata records the assistant and graph it ran.

    Raises:
        NotFound: unknown thread (unless created) or assistant.
        Conflict: the thread has an active run and the strategy is ``reject``.
        InvalidInput: bad kwargs, metadata, strategy or if_not_exists.
    """
    if if_not_exists not in ("reject", "create"):
        raise InvalidInput("if_not_exists must be one of ['reject', 'create']")
    now = timezone.now()
    run_id = run_id or ids.new_id()
    with transaction.atomic():
        assistant = Assistant.objects.filter(assistant_id=assistant_id).first()
        if assistant is None or not assistant_domain.visible_to(assistant.tenant, scope):
            raise NotFound(f"Assistant {assistant_id} not found")
        refuse_what_remote_workers_ignore(assistant.graph_id, kwargs or {})
        thread = thread_services.thread_lock_for_run(
            thread_id=thread_id, if_not_exists=if_not_exists, now=now, tenant=tenant, scope=scope
        )
        new_events = domain.create(
            run_id=run_id,
            thread_id=thread.thread_id,
            assistant_id=assistant_id,
            kwargs=kwargs or {},
            metadata=metadata or {},
            multitask_strategy=multitask_strategy,
            max_attempts=max_attempts or _default_max_attempts(),
            now=now,
            after_seconds=after_seconds,
            tenant=thread.tenant,
        )
        strategy = new_events[0].multitask_strategy
        thread = _apply_multitask_strategy(thread, strategy, new_run_id=run_id, now=now)
        run = record(None, new_events, now=now)
        # The thread records the graph and assistant it last ran with (LangGraph's metadata).
        ran_with = {"graph_id": assistant.graph_id, "assistant_id": str(assistant_id)}
        sync_thread(thread, run, now=now, ran_with=ran_with)
        return Run.objects.get(run_id=run_id)


def refuse_what_remote_workers_ignore(graph_id: str, kwargs: Mapping[str, Any]) -> None:
    """InvalidInput naming the options of *kwargs* that remote workers, who run *graph_id*,
    cannot honour: refused at once rather than silently ignored by the worker."""
    if not (fields := domain.remote_unsupported(kwargs)):
        return
    try:
        graph = graphs.registry().get(graph_id)
    except NotFound:
        return  # no graph of that id now: the run fails as any such run does
    if not graph.local:
        raise InvalidInput(
            f"{', '.join(fields)}: not supported for graph '{graph_id}', which remote workers "
            "run (the worker protocol starts every run at the graph's entry with its input "
            "alone; docs/remote-workers.md)"
        )


def _apply_multitask_strategy(
    thread: thread_domain.ThreadState,
    strategy: domain.MultitaskStrategy,
    *,
    new_run_id: uuid.UUID,
    now: datetime,
) -> thread_domain.ThreadState:
    """What a new run does to the active runs of its (locked) thread; returns the thread's state."""
    if strategy is domain.MultitaskStrategy.ENQUEUE:
        return thread
    rows = Run.objects.select_for_update().filter(thread_id=thread.thread_id, status__in=ACTIVE)
    active = [projection.to_state(row) for row in rows]
    if not active:
        return thread
    if strategy is domain.MultitaskStrategy.REJECT:
        raise Conflict(BUSY_MESSAGE)
    rollback = strategy is domain.MultitaskStrategy.ROLLBACK
    action = domain.CancelAction.ROLLBACK if rollback else domain.CancelAction.INTERRUPT
    for state in active:
        reason = f"superseded by run {new_run_id} (multitask_strategy={strategy.value})"
        record(state, domain.cancel(state, action=action, reason=reason), now=now)
    if rollback:  # the old runs' checkpoints go with them
        thread = thread_services.thread_delete_checkpoints(
            thread_id=thread.thread_id,
            run_ids=[s.run_id for s in active],
            reason=f"rolled back by run {new_run_id}",
            state=thread,
        )
    return thread
