"""Thread commands. Each is one transaction: events + read model + outbox, or nothing."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from duragraph_site import ids
from duragraph_site.errors import Conflict, InvalidInput
from events import projections
from threads import domain, projection
from threads.models import Thread

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

IF_EXISTS_CHOICES = ("raise", "do_nothing")


def thread_create(
    *,
    thread_id: uuid.UUID | None = None,
    metadata: Mapping[str, Any] | None = None,
    if_exists: str = "raise",
    ttl: Mapping[str, Any] | None = None,
) -> Thread:
    """Create a thread (status ``idle``).

    Raises:
        Conflict: *thread_id* exists and *if_exists* is ``raise``.
        InvalidInput: bad metadata, ttl or if_exists.
    """
    if if_exists not in IF_EXISTS_CHOICES:
        raise InvalidInput(f"if_exists must be one of {list(IF_EXISTS_CHOICES)}")
    with transaction.atomic():
        if thread_id is not None and (
            existing := Thread.objects.filter(thread_id=thread_id).first()
        ):
            if if_exists == "do_nothing":
                return existing
            raise Conflict(f"Thread {thread_id} already exists")
        return thread_create_unchecked(
            thread_id=thread_id or ids.new_id(), metadata=metadata or {}, ttl=ttl
        )


def thread_create_unchecked(
    *,
    thread_id: uuid.UUID,
    metadata: Mapping[str, Any],
    values: Any = None,
    ttl: Mapping[str, Any] | None = None,
    copied_from: uuid.UUID | None = None,
    now: datetime | None = None,
) -> Thread:
    """Create a thread whose id is known to be free. Call inside ``transaction.atomic()``."""
    now = now or timezone.now()
    # A previously deleted thread with this id continues its stream (see domain.apply).
    previous = projection.PROJECTION.rebuild(thread_id)
    new_events = domain.create(
        thread_id=thread_id, metadata=metadata, values=values, ttl=ttl, copied_from=copied_from
    )
    _record(previous, new_events, thread_id=thread_id, now=now)
    return Thread.objects.get(thread_id=thread_id)


def thread_update(
    *, thread_id: uuid.UUID, metadata: Mapping[str, Any], ttl: Mapping[str, Any] | None = None
) -> Thread:
    """Merge *metadata* into the thread's metadata; set its TTL when *ttl* is given."""
    with transaction.atomic():
        state = projection.load_for_update(thread_id)
        new_events = domain.update_metadata(state, metadata=metadata)
        if ttl is not None:
            new_events += domain.set_ttl(state, ttl=ttl)
        _record(state, new_events, thread_id=thread_id)
    return Thread.objects.get(thread_id=thread_id)


def thread_delete(*, thread_id: uuid.UUID) -> None:
    """Delete the thread and its runs; active runs are cancelled first."""
    # runs depends on threads; importing at call time keeps the module graph acyclic.
    from runs import services as run_services

    with transaction.atomic():
        state = projection.load_for_update(thread_id)
        run_services.runs_delete_for_thread(thread_id=thread_id)
        _record(state, domain.delete(state), thread_id=thread_id)


def threads_prune(*, thread_ids: list[uuid.UUID], strategy: str = "delete") -> int:
    """LangGraph's prune: ``delete`` removes the threads; returns how many were pruned.

    Unknown ids are skipped, not errors (pruning is idempotent).
    """
    if strategy != "delete":
        raise InvalidInput(f"unknown prune strategy {strategy!r}")
    pruned = 0
    for thread_id in thread_ids:
        with transaction.atomic():
            if Thread.objects.filter(thread_id=thread_id).exists():
                thread_delete(thread_id=thread_id)
                pruned += 1
    return pruned


def thread_copy(*, thread_id: uuid.UUID) -> Thread:
    """A new thread with the source's metadata and values."""
    with transaction.atomic():
        source = projection.load_for_update(thread_id)
        return thread_create_unchecked(
            thread_id=ids.new_id(),
            metadata=source.metadata,
            values=source.values,
            copied_from=thread_id,
        )


def thread_record_status(
    state: domain.ThreadState,
    *,
    status: domain.ThreadStatus,
    run_id: uuid.UUID | None,
    error: Mapping[str, Any] | None = None,
    interrupts: Mapping[str, Any] | None = None,
    now: datetime,
) -> domain.ThreadState:
    """Record the thread's new status (no event if unchanged); returns the new state.

    For the runs services: call inside their transaction with the thread row locked
    (*state* from ``threads.projection.load_for_update``).
    """
    new_events = domain.change_status(
        state, status=status, run_id=run_id, error=error, interrupts=interrupts
    )
    return _record(state, new_events, thread_id=state.thread_id, now=now)


def thread_record_metadata(
    state: domain.ThreadState, *, metadata: Mapping[str, Any], now: datetime
) -> domain.ThreadState:
    """Merge *metadata* into the thread's; same preconditions as :func:`thread_record_status`."""
    return _record(
        state, domain.update_metadata(state, metadata=metadata), thread_id=state.thread_id, now=now
    )


def thread_record_values(
    state: domain.ThreadState, *, values: Any, checkpoint_id: str | None = None, now: datetime
) -> domain.ThreadState:
    """Record the thread's latest values; same preconditions as :func:`thread_record_status`."""
    new_events = domain.update_values(state, values=values, checkpoint_id=checkpoint_id)
    return _record(state, new_events, thread_id=state.thread_id, now=now)


def _record(
    state: domain.ThreadState | None,
    new_events: list,
    *,
    thread_id: uuid.UUID,
    now: datetime | None = None,
) -> domain.ThreadState:
    return projections.record(
        projection.PROJECTION,
        projection.stream(thread_id),
        state,
        new_events,
        expected_version=state.version if state is not None else 0,
        now=now or timezone.now(),
    )
