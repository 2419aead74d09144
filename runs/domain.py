"""The run aggregate: a pure state machine. No Django, no clock reads, no id generation.

Statuses are LangGraph's wire statuses. ``pending`` runs are the queue; ``running`` runs are
leased to one worker at one *lease epoch* (the fencing token): every write a worker makes names
its epoch, and a write with any other epoch is refused (:class:`StaleLease`).

::

    pending --start--> running --complete--> success
       ^                  |----fail-------> error ----requeue--> pending
       |                  |----time_out---> timeout --requeue--> pending
       |                  |----interrupt--> interrupted (human-in-the-loop)
       |                  |----expire_lease: attempts left --> pending (retry, backoff)
       |                  |                  none left      --> error
       +--- cancel (pending or running) ------------------> interrupted

Commands validate against the current state and return new events (or raise); :func:`apply`
folds a recorded event into the state. The service passes ``now`` and ids in.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from accounts.domain import DEFAULT_TENANT
from duragraph_site.errors import IllegalTransition, InvalidInput, StaleLease
from events.domain import DomainEvent, EventTypes, Recorded, check_sequence, require_json

STREAM_TYPE = "run"


class RunStatus(StrEnum):
    #: Queued: waiting for a worker, for ``after_seconds``/backoff, or for its thread.
    PENDING = "pending"
    #: Leased to a worker.
    RUNNING = "running"
    #: Finished normally.
    SUCCESS = "success"
    #: Failed: the graph raised, or the retry budget was spent on lost leases.
    ERROR = "error"
    #: Ran longer than its time limit.
    TIMEOUT = "timeout"
    #: Cancelled, or parked at a human-in-the-loop interrupt.
    INTERRUPTED = "interrupted"


ACTIVE_STATUSES = frozenset({RunStatus.PENDING, RunStatus.RUNNING})
TERMINAL_STATUSES = frozenset(RunStatus) - ACTIVE_STATUSES
REQUEUEABLE_STATUSES = frozenset({RunStatus.ERROR, RunStatus.TIMEOUT})


class MultitaskStrategy(StrEnum):
    """What a new run does when its thread already has an active run (LangGraph semantics)."""

    REJECT = "reject"
    INTERRUPT = "interrupt"
    ROLLBACK = "rollback"
    ENQUEUE = "enqueue"


class CancelAction(StrEnum):
    #: Stop the run and keep it (status ``interrupted``).
    INTERRUPT = "interrupt"
    #: Stop the run and delete it with its checkpoints.
    ROLLBACK = "rollback"


# -- events ----------------------------------------------------------------------------------
class RunCreated(DomainEvent):
    run_id: uuid.UUID
    thread_id: uuid.UUID
    assistant_id: uuid.UUID
    kwargs: dict[str, Any]
    metadata: dict[str, Any]
    multitask_strategy: MultitaskStrategy
    max_attempts: int
    available_at: datetime
    #: Its thread's tenant; None in events recorded before tenants were: the default tenant's.
    tenant: str | None = None


class RunStarted(DomainEvent):
    worker_id: str
    lease_epoch: int
    lease_expires_at: datetime
    attempt: int


class RunLeaseRenewed(DomainEvent):
    lease_epoch: int
    lease_expires_at: datetime


class RunCompleted(DomainEvent):
    lease_epoch: int
    output: Any = None


class RunFailed(DomainEvent):
    #: None when the system failed it (lease lost with no attempts left), not a worker.
    lease_epoch: int | None
    error: str
    message: str


class RunTimedOut(DomainEvent):
    lease_epoch: int | None
    message: str


class RunInterrupted(DomainEvent):
    lease_epoch: int
    #: LangGraph's shape: ``{task_id: [Interrupt, ...]}`` (empty at a static breakpoint).
    interrupts: dict[str, Any]
    output: Any = None


class RunCancelled(DomainEvent):
    action: CancelAction
    reason: str


class RunLeaseExpired(DomainEvent):
    lease_epoch: int
    worker_id: str | None


class RunRetried(DomainEvent):
    available_at: datetime
    reason: str
    #: An operator's requeue grants a fresh retry budget.
    reset_attempts: bool = False


class RunDeleted(DomainEvent):
    pass


class RunOutputStreamed(DomainEvent):
    """A chunk the graph streamed (LangGraph stream modes), kept for live and replayed streams."""

    mode: str
    #: Subgraph namespace (``["parent_node:task_id", ...]``); empty for the root graph.
    namespace: list[str] = []
    data: Any = None


class NodeStarted(DomainEvent):
    node: str
    task_id: str
    namespace: list[str] = []
    step: int | None = None


class NodeCompleted(DomainEvent):
    node: str
    task_id: str
    namespace: list[str] = []
    #: ``{"error": <class>, "message": <text>}`` when the node raised.
    error: dict[str, Any] | None = None
    interrupted: bool = False


#: What the lease holder records while running; they do not change the run's state.
OUTPUT_EVENTS = (RunOutputStreamed, NodeStarted, NodeCompleted)


EVENT_TYPES = EventTypes(
    RunCreated,
    RunStarted,
    RunLeaseRenewed,
    RunCompleted,
    RunFailed,
    RunTimedOut,
    RunInterrupted,
    RunCancelled,
    RunLeaseExpired,
    RunRetried,
    RunDeleted,
    RunOutputStreamed,
    NodeStarted,
    NodeCompleted,
)


# -- state -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunState:
    run_id: uuid.UUID
    thread_id: uuid.UUID
    assistant_id: uuid.UUID
    status: RunStatus
    version: int
    created_at: datetime
    updated_at: datetime
    #: LangGraph's run kwargs: input, command, config, context, stream_mode, interrupts, ...
    kwargs: Mapping[str, Any]
    metadata: Mapping[str, Any]
    multitask_strategy: MultitaskStrategy
    max_attempts: int
    #: Not claimable before this (``after_seconds``, retry backoff).
    available_at: datetime
    #: How many times it was started; the current attempt while running.
    attempt: int = 0
    #: Bumped on every start: the fencing token of the current lease.
    lease_epoch: int = 0
    worker_id: str | None = None
    lease_expires_at: datetime | None = None
    #: ``{"error": <class>, "message": <text>}`` for error and timeout.
    error: Mapping[str, Any] | None = None
    #: The final values (success) or values at the interrupt (interrupted).
    output: Any = None
    #: ``{task_id: [Interrupt, ...]}`` while parked at an interrupt.
    interrupts: Mapping[str, Any] = field(default_factory=dict)
    #: Why it was cancelled (by a user, or superseded by a multitask strategy).
    cancel_reason: str | None = None
    #: Its thread's tenant.
    tenant: str = DEFAULT_TENANT
    deleted: bool = False

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff for runs whose lease expired (the worker vanished)."""

    base_seconds: float = 1.0
    factor: float = 2.0
    max_seconds: float = 60.0

    def delay(self, attempt: int) -> timedelta:
        """Backoff before the retry that follows attempt number *attempt* (1-based)."""
        seconds = min(self.max_seconds, self.base_seconds * self.factor ** max(attempt - 1, 0))
        return timedelta(seconds=seconds)


@dataclass(frozen=True)
class RetryDecision:
    """The reaper's answer for an expired lease: retry at ``available_at``, or fail."""

    retry: bool
    available_at: datetime | None
    reason: str


# -- commands --------------------------------------------------------------------------------
def create(
    *,
    run_id: uuid.UUID,
    thread_id: uuid.UUID,
    assistant_id: uuid.UUID,
    kwargs: Mapping[str, Any],
    metadata: Mapping[str, Any],
    multitask_strategy: MultitaskStrategy | str,
    max_attempts: int,
    now: datetime,
    after_seconds: float = 0,
    tenant: str = DEFAULT_TENANT,
) -> list[DomainEvent]:
    require_json("kwargs", kwargs)
    require_json("metadata", metadata)
    if max_attempts < 1:
        raise InvalidInput("max_attempts must be at least 1")
    if after_seconds < 0:
        raise InvalidInput("after_seconds must not be negative")
    try:
        strategy = MultitaskStrategy(multitask_strategy)
    except ValueError:
        raise InvalidInput(
            f"multitask_strategy must be one of {[s.value for s in MultitaskStrategy]}"
        ) from None
    return [
        RunCreated(
            run_id=run_id,
            thread_id=thread_id,
            assistant_id=assistant_id,
            kwargs=dict(kwargs),
            metadata=dict(metadata),
            multitask_strategy=strategy,
            max_attempts=max_attempts,
            available_at=now + timedelta(seconds=after_seconds),
            tenant=tenant,
        )
    ]


#: What a run may ask for that the DuraGraph worker protocol cannot carry: a remote worker
#: starts every run at its graph's entry with the input alone, and pauses only at its human
#: nodes (docs/remote-workers.md). Its context and config do travel, in the task's ``config``.
REMOTE_UNSUPPORTED = ("interrupt_before", "interrupt_after", "checkpoint_id", "command.goto")


def remote_unsupported(kwargs: Mapping[str, Any]) -> list[str]:
    """The options of :data:`REMOTE_UNSUPPORTED` a run's *kwargs* set (``checkpoint_id``, and
    ``checkpoint``'s, land in ``config.configurable``)."""
    command = kwargs.get("command")
    given = {
        "interrupt_before": kwargs.get("interrupt_before"),
        "interrupt_after": kwargs.get("interrupt_after"),
        "checkpoint_id": ((kwargs.get("config") or {}).get("configurable") or {}).get(
            "checkpoint_id"
        ),
        "command.goto": command.get("goto") if isinstance(command, Mapping) else None,
    }
    return [name for name in REMOTE_UNSUPPORTED if given[name]]


def start(
    state: RunState, *, worker_id: str, lease_seconds: float, now: datetime
) -> list[DomainEvent]:
    """Lease a pending run to *worker_id* under a new epoch."""
    _require_status(state, {RunStatus.PENDING}, "start")
    if state.available_at > now:
        raise IllegalTransition(
            f"run {state.run_id} is not available before {state.available_at.isoformat()}"
        )
    return [
        RunStarted(
            worker_id=worker_id,
            lease_epoch=state.lease_epoch + 1,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            attempt=state.attempt + 1,
        )
    ]


def renew_lease(
    state: RunState, *, lease_epoch: int, lease_seconds: float, now: datetime
) -> list[DomainEvent]:
    require_lease(state, lease_epoch)
    return [
        RunLeaseRenewed(
            lease_epoch=lease_epoch, lease_expires_at=now + timedelta(seconds=lease_seconds)
        )
    ]


def complete(state: RunState, *, lease_epoch: int, output: Any = None) -> list[DomainEvent]:
    require_lease(state, lease_epoch)
    require_json("output", output, object_only=False)
    return [RunCompleted(lease_epoch=lease_epoch, output=output)]


def fail(state: RunState, *, lease_epoch: int, error: str, message: str) -> list[DomainEvent]:
    require_lease(state, lease_epoch)
    return [RunFailed(lease_epoch=lease_epoch, error=error, message=message)]


def time_out(state: RunState, *, lease_epoch: int | None, message: str) -> list[DomainEvent]:
    """End a running run as ``timeout``; *lease_epoch* None when the system enforces the limit."""
    if lease_epoch is None:
        _require_status(state, {RunStatus.RUNNING}, "time out")
    else:
        require_lease(state, lease_epoch)
    return [RunTimedOut(lease_epoch=lease_epoch, message=message)]


def interrupt(
    state: RunState, *, lease_epoch: int, interrupts: Mapping[str, Any], output: Any = None
) -> list[DomainEvent]:
    """Park the run at a human-in-the-loop interrupt (``interrupt()`` or a breakpoint)."""
    require_lease(state, lease_epoch)
    require_json("interrupts", interrupts)
    require_json("output", output, object_only=False)
    return [RunInterrupted(lease_epoch=lease_epoch, interrupts=dict(interrupts), output=output)]


def cancel(state: RunState, *, action: CancelAction | str, reason: str) -> list[DomainEvent]:
    """Stop a pending or running run; ``rollback`` also deletes it."""
    try:
        action = CancelAction(action)
    except ValueError:
        raise InvalidInput(f"action must be one of {[a.value for a in CancelAction]}") from None
    _require_status(state, ACTIVE_STATUSES, "cancel")
    events: list[DomainEvent] = [RunCancelled(action=action, reason=reason)]
    if action is CancelAction.ROLLBACK:
        events.append(RunDeleted())
    return events


def decide_retry(
    state: RunState, *, now: datetime, policy: RetryPolicy, worker_gone: str | None = None
) -> RetryDecision | None:
    """What to do with a running run whose worker is gone: its lease expired, or the worker
    itself is known gone (*worker_gone* says how: lost, restarted, went offline). None while
    the lease holds and the worker lives."""
    if state.status is not RunStatus.RUNNING:
        return None
    if worker_gone is None and (state.lease_expires_at is None or state.lease_expires_at > now):
        return None
    gone = (
        f"worker {state.worker_id!r} {worker_gone} during attempt {state.attempt}"
        if worker_gone
        else f"lease of worker {state.worker_id!r} expired during attempt {state.attempt}"
    )
    if state.attempt < state.max_attempts:
        return RetryDecision(
            retry=True, available_at=now + policy.delay(state.attempt), reason=gone
        )
    return RetryDecision(
        retry=False,
        available_at=None,
        reason=f"{gone}; no attempts left ({state.max_attempts} allowed)",
    )


def expire_lease(
    state: RunState, *, now: datetime, policy: RetryPolicy, worker_gone: str | None = None
) -> list[DomainEvent]:
    """The reaper's command: the lease is gone; retry with backoff or fail."""
    decision = decide_retry(state, now=now, policy=policy, worker_gone=worker_gone)
    if decision is None:
        raise IllegalTransition(f"run {state.run_id} has no expired lease")
    expired = RunLeaseExpired(lease_epoch=state.lease_epoch, worker_id=state.worker_id)
    if decision.retry:
        assert decision.available_at is not None
        return [expired, RunRetried(available_at=decision.available_at, reason=decision.reason)]
    return [expired, RunFailed(lease_epoch=None, error="LeaseExpired", message=decision.reason)]


def requeue(state: RunState, *, now: datetime, reason: str) -> list[DomainEvent]:
    """An operator sends a failed or timed-out run back to the queue with a fresh retry budget."""
    _require_status(state, REQUEUEABLE_STATUSES, "requeue")
    return [RunRetried(available_at=now, reason=reason, reset_attempts=True)]


def delete(state: RunState) -> list[DomainEvent]:
    if state.is_active:
        raise IllegalTransition(
            f"run {state.run_id} is {state.status}; cancel it before deleting it"
        )
    _require_not_deleted(state)
    return [RunDeleted()]


def require_lease(state: RunState, lease_epoch: int) -> None:
    """Fencing: only the current lease holder of a running run may write."""
    _require_not_deleted(state)
    if state.status is not RunStatus.RUNNING or lease_epoch != state.lease_epoch:
        raise StaleLease(
            f"run {state.run_id} is {state.status} at lease epoch {state.lease_epoch}; "
            f"a write under epoch {lease_epoch} is refused"
        )


def _require_not_deleted(state: RunState) -> None:
    if state.deleted:
        raise IllegalTransition(f"run {state.run_id} was deleted")


def _require_status(
    state: RunState, allowed: frozenset[RunStatus] | set[RunStatus], verb: str
) -> None:
    _require_not_deleted(state)
    if state.status not in allowed:
        raise IllegalTransition(f"cannot {verb} run {state.run_id}: it is {state.status}")


# -- fold ------------------------------------------------------------------------------------
def tenant_of(event: RunCreated) -> str:
    return event.tenant if event.tenant is not None else DEFAULT_TENANT


def visible_to(owner: str, tenant: str | None) -> bool:
    """Whether a run of tenant *owner* is visible to a caller scoped to *tenant* (None: every
    tenant). Another tenant's run is, to the caller, a run that does not exist."""
    return tenant is None or owner == tenant


def apply(state: RunState | None, recorded: Recorded[Any]) -> RunState:
    """Fold one recorded event into the run's state."""
    check_sequence(state.version if state else 0, recorded)
    event = recorded.event
    if isinstance(event, RunCreated):
        # A deleted aggregate's id may be used again: the stream goes on with a new incarnation.
        if state is not None and not state.deleted:
            raise IllegalTransition("RunCreated must be the first event of a run")
        return RunState(
            run_id=event.run_id,
            thread_id=event.thread_id,
            assistant_id=event.assistant_id,
            status=RunStatus.PENDING,
            version=recorded.version,
            created_at=recorded.at,
            updated_at=recorded.at,
            kwargs=event.kwargs,
            metadata=event.metadata,
            multitask_strategy=event.multitask_strategy,
            max_attempts=event.max_attempts,
            available_at=event.available_at,
            tenant=tenant_of(event),
        )
    if state is None:
        raise IllegalTransition(f"{event.type_name} cannot start a run stream")
    state = replace(state, version=recorded.version, updated_at=recorded.at)
    match event:
        case RunStarted():
            return replace(
                state,
                status=RunStatus.RUNNING,
                worker_id=event.worker_id,
                lease_epoch=event.lease_epoch,
                lease_expires_at=event.lease_expires_at,
                attempt=event.attempt,
                error=None,
            )
        case RunLeaseRenewed():
            return replace(state, lease_expires_at=event.lease_expires_at)
        case RunCompleted():
            return _ended(state, RunStatus.SUCCESS, output=event.output)
        case RunFailed():
            return _ended(
                state, RunStatus.ERROR, error={"error": event.error, "message": event.message}
            )
        case RunTimedOut():
            return _ended(
                state, RunStatus.TIMEOUT, error={"error": "TimeoutError", "message": event.message}
            )
        case RunInterrupted():
            return _ended(
                state, RunStatus.INTERRUPTED, output=event.output, interrupts=event.interrupts
            )
        case RunCancelled():
            return _ended(state, RunStatus.INTERRUPTED, cancel_reason=event.reason)
        case RunLeaseExpired():
            return replace(state, worker_id=None, lease_expires_at=None)
        case RunRetried():
            return replace(
                state,
                status=RunStatus.PENDING,
                available_at=event.available_at,
                attempt=0 if event.reset_attempts else state.attempt,
                worker_id=None,
                lease_expires_at=None,
            )
        case RunDeleted():
            return replace(state, deleted=True)
        case RunOutputStreamed() | NodeStarted() | NodeCompleted():
            return state
    raise IllegalTransition(f"run events do not include {event.type_name}")


def _ended(state: RunState, status: RunStatus, **changes: Any) -> RunState:
    return replace(state, status=status, worker_id=None, lease_expires_at=None, **changes)
