"""Thread commands. Each is one transaction: events + read model + outbox, or nothing."""

from __future__ import annotations

import base64
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.db import router, transaction
from django.utils import timezone

from accounts.domain import DEFAULT_TENANT
from duragraph_site import ids, langgraph_config
from duragraph_site.db.connections import released
from duragraph_site.errors import Conflict, InvalidInput, NotFound
from events import projections
from threads import domain, hooks, projection, state
from threads.models import Checkpoint, CheckpointWrite, Thread

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
    supersteps: list[dict[str, Any]] | None = None,
    tenant: str = DEFAULT_TENANT,
    scope: str | None = None,
) -> Thread:
    """Create a thread (status ``idle``) of *tenant*, optionally with a history of state updates.

    *scope* is the tenant the caller sees (None: every tenant): ``if_exists="do_nothing"``
    never hands it a thread it cannot see; that id is taken (Conflict).

    *supersteps* (LangGraph's ``[{"updates": [{"values", "as_node"}]}]``) need the thread's
    graph, named by ``metadata["graph_id"]``; they are applied in the same transaction.

    Raises:
        Conflict: *thread_id* exists and *if_exists* is ``raise``.
        InvalidInput: bad metadata, ttl, supersteps or if_exists.
        BadRequest: supersteps without a graph_id.
    """
    if if_exists not in IF_EXISTS_CHOICES:
        raise InvalidInput(f"if_exists must be one of {list(IF_EXISTS_CHOICES)}")
    with transaction.atomic():
        if thread_id is None:
            # A UUIDv7 made just now names no thread and no stream: nothing to look up.
            thread = thread_create_unchecked(
                thread_id=ids.new_id(),
                metadata=metadata or {},
                ttl=ttl,
                new_stream=True,
                tenant=tenant,
            )
        else:
            if existing := Thread.objects.filter(thread_id=thread_id).first():
                if if_exists == "do_nothing" and domain.visible_to(existing.tenant, scope):
                    return existing
                raise Conflict(f"Thread {thread_id} already exists")
            thread = thread_create_unchecked(
                thread_id=thread_id, metadata=metadata or {}, ttl=ttl, tenant=tenant
            )
        if supersteps:
            thread_apply_supersteps(thread_id=thread.thread_id, supersteps=supersteps)
            thread = Thread.objects.get(thread_id=thread.thread_id)
        return thread


def thread_create_unchecked(
    *,
    thread_id: uuid.UUID,
    metadata: Mapping[str, Any],
    values: Any = None,
    ttl: Mapping[str, Any] | None = None,
    copied_from: uuid.UUID | None = None,
    now: datetime | None = None,
    new_stream: bool = False,
    tenant: str = DEFAULT_TENANT,
) -> Thread:
    """Create a thread whose id is known to be free. Call inside ``transaction.atomic()``.

    An id may have been a thread's that was deleted: the new thread continues that stream (see
    ``domain.apply``), so its events are loaded first, unless *new_stream* says that the id was
    generated just now (``ids.new_id()``) and cannot have any.

    Returns the row as written, without reading it back: its JSON fields hold the values given
    (jsonb gives objects back with its own key order, which the next read of the row shows).
    """
    state = _create(
        thread_id=thread_id,
        metadata=metadata,
        values=values,
        ttl=ttl,
        copied_from=copied_from,
        now=now or timezone.now(),
        new_stream=new_stream,
        tenant=tenant,
    )
    # What projection.save has just inserted (its columns), as a row loaded from the database.
    columns = {"thread_id": state.thread_id, **projection._columns(state)}
    return Thread.from_db(
        router.db_for_write(Thread),
        None,
        [columns[field.attname] for field in Thread._meta.concrete_fields],
    )


def _create(
    *,
    thread_id: uuid.UUID,
    metadata: Mapping[str, Any],
    now: datetime,
    new_stream: bool,
    values: Any = None,
    ttl: Mapping[str, Any] | None = None,
    copied_from: uuid.UUID | None = None,
    tenant: str = DEFAULT_TENANT,
) -> domain.ThreadState:
    previous = None if new_stream else projection.PROJECTION.rebuild(thread_id)
    if ttl is None and (minutes := langgraph_config.ttl_config("checkpointer").get("default_ttl")):
        ttl = {"strategy": "delete", "ttl": minutes}  # langgraph.json's, as LangGraph's
    new_events = domain.create(
        thread_id=thread_id,
        metadata=metadata,
        values=values,
        ttl=ttl,
        copied_from=copied_from,
        tenant=tenant,
    )
    return _record(previous, new_events, thread_id=thread_id, now=now)


def thread_lock_for_run(
    *,
    thread_id: uuid.UUID | None,
    if_not_exists: str,
    now: datetime,
    tenant: str = DEFAULT_TENANT,
    scope: str | None = None,
) -> domain.ThreadState:
    """The thread a new run goes on, its row locked for the rest of the caller's transaction:
    the existing one (if a caller scoped to *scope* sees it); a new one of *tenant* when
    *if_not_exists* is ``"create"``; a thread of its own for a stateless run (*thread_id*
    None). For the runs services.

    Raises:
        NotFound: unknown (or invisible) *thread_id* and *if_not_exists* is ``"reject"``.
        Conflict: *if_not_exists* is ``"create"`` and the id is another tenant's thread.
    """
    if thread_id is not None:
        row = Thread.objects.select_for_update().filter(thread_id=thread_id).first()
        if row is not None and domain.visible_to(row.tenant, scope):
            return projection.to_state(row)
        if if_not_exists != "create":
            raise NotFound(f"Thread with ID {thread_id} not found")
        if row is not None:
            raise Conflict(f"Thread {thread_id} already exists")
    # Created in this transaction: no other transaction sees the row before it commits.
    return _create(
        thread_id=thread_id or ids.new_id(),
        metadata={},
        now=now,
        new_stream=thread_id is None,
        tenant=tenant,
    )


def thread_update(
    *,
    thread_id: uuid.UUID,
    metadata: Mapping[str, Any],
    ttl: Mapping[str, Any] | None = None,
    tenant: str | None = None,
) -> Thread:
    """Merge *metadata* into the thread's metadata; set its TTL when *ttl* is given.

    *tenant* here and below: the caller's scope (None: every tenant); a thread it cannot see
    is NotFound, as an unknown id."""
    with transaction.atomic():
        state = projection.load_for_update(thread_id, tenant=tenant)
        new_events = domain.update_metadata(state, metadata=metadata)
        if ttl is not None:
            new_events += domain.set_ttl(state, ttl=ttl)
        _record(state, new_events, thread_id=thread_id)
    return Thread.objects.get(thread_id=thread_id)


def thread_delete(*, thread_id: uuid.UUID, tenant: str | None = None) -> None:
    """Delete the thread and its runs (active ones cancelled first: ``hooks.thread_deleting``,
    which ``runs`` answers)."""
    with transaction.atomic():
        state = projection.load_for_update(thread_id, tenant=tenant)
        hooks.thread_deleting(thread_id=thread_id)
        _record(state, domain.delete(state), thread_id=thread_id)


def threads_delete_for_assistant(*, assistant_id: uuid.UUID, delete_threads: bool) -> None:
    """``assistants.hooks.assistant_deleting``: with *delete_threads*, delete the threads the
    assistant ran on (their metadata names it), inside the assistant's deleting transaction."""
    if not delete_threads:
        return
    ran_on = Thread.objects.filter(metadata__contains={"assistant_id": str(assistant_id)})
    for thread_id in ran_on.values_list("thread_id", flat=True):
        thread_delete(thread_id=thread_id)


def threads_prune(
    *, thread_ids: list[uuid.UUID], strategy: str = "delete", tenant: str | None = None
) -> int:
    """LangGraph's prune: ``delete`` removes the threads, ``keep_latest`` keeps only the latest
    checkpoint of each namespace; returns how many threads were pruned.

    Unknown ids are skipped, not errors (pruning is idempotent).
    """
    if strategy not in ("delete", "keep_latest"):
        raise InvalidInput(f"unknown prune strategy {strategy!r}")
    pruned = 0
    for thread_id in thread_ids:
        with transaction.atomic():
            if not _visible(thread_id, tenant):
                continue
            if strategy == "delete":
                thread_delete(thread_id=thread_id)
            else:
                thread_delete_checkpoints(
                    thread_id=thread_id, keep_latest=True, reason="pruned: keep_latest"
                )
            pruned += 1
    return pruned


def thread_copy(*, thread_id: uuid.UUID, tenant: str | None = None) -> Thread:
    """A new thread with the source's metadata, values and every checkpoint (LangGraph's copy),
    in the source's tenant."""
    with transaction.atomic():
        source = projection.load_for_update(thread_id, tenant=tenant)
        copy_id = ids.new_id()
        thread_create_unchecked(
            thread_id=copy_id,
            metadata=source.metadata,
            values=source.values,
            copied_from=thread_id,
            new_stream=True,
            tenant=source.tenant,
        )
        state = projection.load_for_update(copy_id)
        for row in Checkpoint.objects.filter(thread_id=thread_id).order_by(
            "checkpoint_id", "checkpoint_ns"
        ):
            state = thread_record_checkpoint(
                state,
                checkpoint_ns=row.checkpoint_ns,
                checkpoint_id=row.checkpoint_id,
                parent_checkpoint_id=row.parent_checkpoint_id,
                run_id=None,
                checkpoint={"type": row.type, "data": _b64(row.checkpoint)},
                metadata=row.metadata,
                values=row.values,
            )
            for (task_id, task_path), writes in _writes_by_task(row).items():
                state = thread_record_writes(
                    state,
                    checkpoint_ns=row.checkpoint_ns,
                    checkpoint_id=row.checkpoint_id,
                    task_id=task_id,
                    task_path=task_path,
                    writes=writes,
                )
        return Thread.objects.get(thread_id=copy_id)


def _visible(thread_id: uuid.UUID, tenant: str | None) -> bool:
    queryset = Thread.objects.filter(thread_id=thread_id)
    return (queryset if tenant is None else queryset.filter(tenant=tenant)).exists()


def _b64(data: bytes | memoryview) -> str:
    return base64.b64encode(bytes(data)).decode()


def _writes_by_task(checkpoint: Checkpoint) -> dict[tuple[str, str], list[dict[str, Any]]]:
    writes = CheckpointWrite.objects.filter(
        thread_id=checkpoint.thread_id,
        checkpoint_ns=checkpoint.checkpoint_ns,
        checkpoint_id=checkpoint.checkpoint_id,
    )
    by_task: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for write in writes.order_by("task_path", "task_id", "idx"):
        value = {"type": write.type, "data": _b64(write.value)}
        by_task.setdefault((write.task_id, write.task_path), []).append(
            {"idx": write.idx, "channel": write.channel, "value": value}
        )
    return by_task


def thread_update_state(
    *,
    thread_id: uuid.UUID,
    values: Any,
    as_node: str | None = None,
    checkpoint: Mapping[str, Any] | None = None,
    tenant: str | None = None,
) -> dict[str, Any]:
    """LangGraph's ``update_state``: apply *values* as if node *as_node* wrote them.

    Returns the new checkpoint's reference. Refused (409) while a run is active on the
    thread: that run's executor owns the state until it ends.

    Raises:
        NotFound: unknown thread or checkpoint. BadRequest: the thread has no graph yet.
        Conflict: the thread is busy. InvalidInput: LangGraph refused the update.
    """
    from langgraph.errors import InvalidUpdateError

    with transaction.atomic():  # every checkpoint write of the update, or none of them
        thread = Thread.objects.select_for_update().filter(thread_id=thread_id).first()
        if thread is None or not domain.visible_to(thread.tenant, tenant):
            raise NotFound(f"Thread with ID {thread_id} not found")
        if thread.status == domain.ThreadStatus.BUSY:
            raise Conflict(
                f"Thread {thread_id} is busy: wait for its run to end before updating its state"
            )
        graph = state.graph_for(thread, required=True, writer=ThreadWriter())
        config = state.thread_config(thread_id, dict(checkpoint or {}))
        try:
            config = graph.update_state(config, values, as_node=as_node)
        except (InvalidUpdateError, ValueError, KeyError) as error:
            raise InvalidInput(f"update_state refused: {error}") from None
    return {"checkpoint": state.checkpoint_ref(config)}


def thread_apply_supersteps(*, thread_id: uuid.UUID, supersteps: list[dict[str, Any]]) -> None:
    """LangGraph's ``bulk_update_state``: each superstep's updates as one step of history."""
    from langgraph.types import StateUpdate

    thread = Thread.objects.select_for_update().get(thread_id=thread_id)
    graph = state.graph_for(thread, required=True, writer=ThreadWriter())
    steps = [
        [
            StateUpdate(update.get("values"), update.get("as_node"))
            for update in step.get("updates", [])
        ]
        for step in supersteps
    ]
    try:
        graph.bulk_update_state(state.thread_config(thread_id), steps)
    except ValueError as error:
        raise InvalidInput(f"supersteps refused: {error}") from None


#: :func:`thread_follow_run`'s default: the run did not end with values.
UNCHANGED: Any = object()


def thread_follow_run(
    state: domain.ThreadState,
    *,
    status: domain.ThreadStatus,
    run_id: uuid.UUID,
    error: Mapping[str, Any] | None = None,
    interrupts: Mapping[str, Any] | None = None,
    ran_with: Mapping[str, Any] | None = None,
    values: Any = UNCHANGED,
    now: datetime,
) -> domain.ThreadState:
    """What a run's change does to its thread, in one append: its *status* (no event if
    unchanged); *ran_with* (the assistant and graph a new run uses) merged into its metadata
    where it differs; the *values* a run ended with, when they differ. Returns the new state.

    For the runs services: call inside their transaction with the thread row locked
    (*state* from :func:`thread_lock_for_run` or ``threads.projection.load_for_update``).
    """
    new_events = domain.change_status(
        state, status=status, run_id=run_id, error=error, interrupts=interrupts
    )
    if ran_with and any(state.metadata.get(key) != value for key, value in ran_with.items()):
        new_events += domain.update_metadata(state, metadata=ran_with)
    if values is not UNCHANGED and values != state.values:
        new_events += domain.update_values(state, values=values)
    return _record(state, new_events, thread_id=state.thread_id, now=now)


# -- checkpoints -----------------------------------------------------------------------------
def thread_record_checkpoint(
    state: domain.ThreadState, *, now: datetime | None = None, **fields: Any
) -> domain.ThreadState:
    """Record a LangGraph checkpoint; same preconditions as :func:`thread_follow_run`."""
    return _record(
        state, domain.save_checkpoint(state, **fields), thread_id=state.thread_id, now=now
    )


def thread_record_writes(
    state: domain.ThreadState, *, now: datetime | None = None, **fields: Any
) -> domain.ThreadState:
    """Record a task's pending writes; same preconditions as :func:`thread_follow_run`."""
    return _record(state, domain.save_writes(state, **fields), thread_id=state.thread_id, now=now)


class ThreadWriter:
    """The checkpointer's writer for the API's own changes of state (``update_state``, bulk
    updates): unfenced, the thread's services (``threads.checkpointer.CheckpointWriter``)."""

    def save_checkpoint(self, thread_id: uuid.UUID, **fields: Any) -> None:
        with released():
            thread_save_checkpoint(thread_id=thread_id, **fields)

    def save_writes(self, thread_id: uuid.UUID, **fields: Any) -> None:
        with released():
            thread_save_writes(thread_id=thread_id, **fields)

    def delete_thread(self, thread_id: uuid.UUID) -> None:
        thread_delete_checkpoints(thread_id=thread_id, reason="delete_thread")


def thread_save_checkpoint(*, thread_id: uuid.UUID, **fields: Any) -> None:
    """Record a checkpoint written outside any run (``update_state``): no lease to check."""
    with transaction.atomic():
        thread_record_checkpoint(projection.load_for_update(thread_id), **fields)


def thread_save_writes(*, thread_id: uuid.UUID, **fields: Any) -> None:
    with transaction.atomic():
        thread_record_writes(projection.load_for_update(thread_id), **fields)


def thread_delete_checkpoints(
    *,
    thread_id: uuid.UUID,
    reason: str,
    run_ids: list[uuid.UUID] | None = None,
    keep_latest: bool = False,
    state: domain.ThreadState | None = None,
) -> domain.ThreadState:
    """Delete checkpoints: all of them, those written by *run_ids*, or all but the latest per
    namespace (*keep_latest*). The thread's values fall back to its latest remaining root
    checkpoint. Pass *state* when the caller already holds the thread row lock."""
    with transaction.atomic():
        state = state or projection.load_for_update(thread_id)
        rows = Checkpoint.objects.filter(thread_id=thread_id)
        if run_ids is not None:
            rows = rows.filter(run_id__in=run_ids)
        doomed = list(
            rows.order_by("checkpoint_ns", "-checkpoint_id").values(
                "checkpoint_ns", "checkpoint_id"
            )
        )
        if keep_latest:
            seen: set[str] = set()
            kept = [
                ref
                for ref in doomed
                if ref["checkpoint_ns"] not in seen and not seen.add(ref["checkpoint_ns"])
            ]
            doomed = [ref for ref in doomed if ref not in kept]
        doomed_ids = {ref["checkpoint_id"] for ref in doomed if ref["checkpoint_ns"] == ""}
        remaining = (
            Checkpoint.objects.filter(thread_id=thread_id, checkpoint_ns="")
            .exclude(checkpoint_id__in=doomed_ids)
            .order_by("-checkpoint_id")
            .values_list("values", flat=True)
            .first()
        )
        new_events = domain.delete_checkpoints(
            state, checkpoints=doomed, values=remaining, reason=reason
        )
        return _record(state, new_events, thread_id=thread_id)


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


def threads_delete_expired(*, now: datetime | None = None) -> int:
    """Delete every thread whose TTL (minutes since its last update) has passed; returns how many."""
    now = now or timezone.now()
    deleted = 0
    for thread in Thread.objects.filter(ttl__isnull=False).only("thread_id", "ttl", "updated_at"):
        minutes = (thread.ttl or {}).get("ttl")
        if (
            isinstance(minutes, int | float)
            and thread.updated_at + timedelta(minutes=minutes) <= now
        ):
            with transaction.atomic():
                if Thread.objects.filter(
                    thread_id=thread.thread_id, updated_at=thread.updated_at
                ).exists():
                    thread_delete(thread_id=thread.thread_id)
                    deleted += 1
    return deleted
