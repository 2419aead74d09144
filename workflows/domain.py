"""DAG jobs, the pure part: workflow definitions' versions, workflow runs and job runs as
aggregates (events, state, commands), and the scheduling rules. No Django, no database.

Three streams (docs/workflows.md):

- ``workflow``: a definition's versions (``WorkflowDefined``); a run records the version it ran.
- ``workflow_run``: one run of a definition: started, cancelled, finished.
- ``job_run``: one job of one run, from created (waiting for its needs) through queued,
  claimed under a lease (fencing: ``lease_id`` on the wire, ``lease_epoch`` in the log),
  attempts that fail and are retried with backoff, to success, failure, skipped or cancelled.
  Its log chunks are events of its stream too, so they reach SSE clients like run streams.

:func:`decide` is the scheduler: given the statuses of a run's jobs, which waiting jobs are
enqueued and which are skipped (or cancelled). Services call it in the transaction that
finishes a job, so a DAG never stalls on a lost message (workflow-graph's in-memory event bus).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from duragraph_site.errors import Conflict, IllegalTransition
from events.domain import DomainEvent, EventTypes, Recorded, check_sequence

DEFINITION_STREAM = "workflow"
RUN_STREAM = "workflow_run"
JOB_STREAM = "job_run"

#: Namespace of the stream ids of definitions (a workflow's id is a name: ``ci``) and jobs.
_IDS = uuid.UUID("6f0c1b2e-3d4a-4f5b-9c8d-7e6f5a4b3c2d")


def definition_stream_id(workflow_id: str) -> uuid.UUID:
    return uuid.uuid5(_IDS, f"workflow:{workflow_id}")


def job_stream_id(run_id: uuid.UUID, job_id: str) -> uuid.UUID:
    """A job run's id: one per (run, job), the same however often it is asked for."""
    return uuid.uuid5(_IDS, f"job:{run_id}:{job_id}")


class LeaseLost(Conflict):
    """The lease is not this job's current one: expired, superseded, cancelled or finished.
    The worker must stop; nothing it sends under this lease is recorded (409)."""

    code = "lease_lost"


# -- definitions -------------------------------------------------------------------------------
class WorkflowDefined(DomainEvent):
    workflow_id: str
    version: int
    name: str
    #: The definition as ``workflows.definitions.Workflow.as_document`` writes it.
    document: dict[str, Any]
    #: Where it came from: ``file`` (WORKFLOWS_DIR) or ``api``.
    source: str
    tenant: str
    #: The jobs in the definition's order: PostgreSQL's jsonb keeps no key order.
    job_order: list[str] = []


@dataclass(frozen=True)
class DefinitionState:
    workflow_id: str
    name: str
    version: int
    document: Mapping[str, Any]
    source: str
    tenant: str
    stream_version: int
    created_at: datetime
    updated_at: datetime
    job_order: tuple[str, ...] = ()

    @property
    def ordered_document(self) -> dict[str, Any]:
        return ordered(self.document, self.job_order)


def ordered(document: Mapping[str, Any], job_order: Sequence[str]) -> dict[str, Any]:
    """*document* with its ``jobs`` map in the definition's order (as stored, jsonb sorted it)."""
    jobs = document.get("jobs")
    if not isinstance(jobs, Mapping) or set(jobs) != set(job_order):
        return dict(document)
    return {**document, "jobs": {job_id: jobs[job_id] for job_id in job_order}}


def define(
    state: DefinitionState | None,
    *,
    workflow_id: str,
    name: str,
    document: Mapping[str, Any],
    source: str,
    tenant: str,
) -> list[DomainEvent]:
    """A new version, unless the document is the current one (loading files again at every
    start must not make versions)."""
    job_order = list((document.get("jobs") or {}).keys())
    if (
        state is not None
        and dict(state.document) == dict(document)
        and list(state.job_order) == job_order
    ):
        return []
    if state is not None and state.tenant != tenant:
        raise Conflict(f"workflow {workflow_id!r} belongs to another tenant")
    return [
        WorkflowDefined(
            workflow_id=workflow_id,
            version=(state.version if state else 0) + 1,
            name=name,
            document=dict(document),
            source=source,
            tenant=tenant,
            job_order=job_order,
        )
    ]


def apply_definition(state: DefinitionState | None, recorded: Recorded[Any]) -> DefinitionState:
    check_sequence(state.stream_version if state else 0, recorded)
    event = recorded.event
    if not isinstance(event, WorkflowDefined):
        raise IllegalTransition(f"workflow events do not include {event.type_name}")
    return DefinitionState(
        workflow_id=event.workflow_id,
        name=event.name,
        version=event.version,
        document=event.document,
        source=event.source,
        tenant=event.tenant,
        stream_version=recorded.version,
        created_at=state.created_at if state else recorded.at,
        updated_at=recorded.at,
        job_order=tuple(event.job_order),
    )


DEFINITION_EVENTS = EventTypes(WorkflowDefined)


# -- workflow runs -----------------------------------------------------------------------------
class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCESS = "success"
    FAILURE = "failure"
    CANCELLED = "cancelled"


class WorkflowRunStarted(DomainEvent):
    run_id: uuid.UUID
    workflow_id: str
    #: The definition's version this run follows, whatever happens to the definition later.
    definition_version: int
    #: The run's jobs, in the definition's order.
    jobs: list[str]
    tenant: str


class WorkflowRunCancelled(DomainEvent):
    reason: str


class WorkflowRunFinished(DomainEvent):
    status: RunStatus


class WorkflowRunReopened(DomainEvent):
    """A finished run runs again: an operator requeued a job of it (:func:`requeue`)."""

    reason: str


@dataclass(frozen=True)
class WorkflowRunState:
    run_id: uuid.UUID
    workflow_id: str
    definition_version: int
    jobs: tuple[str, ...]
    status: RunStatus
    tenant: str
    version: int
    created_at: datetime
    updated_at: datetime
    cancelled: bool = False
    cancel_reason: str | None = None
    finished_at: datetime | None = None

    @property
    def is_active(self) -> bool:
        return self.status is RunStatus.RUNNING


def start_run(
    *,
    run_id: uuid.UUID,
    workflow_id: str,
    definition_version: int,
    jobs: Sequence[str],
    tenant: str,
) -> list[DomainEvent]:
    return [
        WorkflowRunStarted(
            run_id=run_id,
            workflow_id=workflow_id,
            definition_version=definition_version,
            jobs=list(jobs),
            tenant=tenant,
        )
    ]


def cancel_run(state: WorkflowRunState, *, reason: str) -> list[DomainEvent]:
    if not state.is_active:
        raise IllegalTransition(f"workflow run {state.run_id} is {state.status}, not running")
    if state.cancelled:
        return []
    return [WorkflowRunCancelled(reason=reason)]


def finish_run(state: WorkflowRunState, job_statuses: Mapping[str, JobStatus]) -> list[DomainEvent]:
    """The run's end once every job is terminal: cancelled if it was (or a job of it was and
    none failed), failure if a job failed, else success. Nothing while a job is still to run."""
    if not state.is_active or any(not s.is_terminal for s in job_statuses.values()):
        return []
    if any(s is JobStatus.FAILURE for s in job_statuses.values()) and not state.cancelled:
        status = RunStatus.FAILURE
    elif state.cancelled or any(s is JobStatus.CANCELLED for s in job_statuses.values()):
        status = RunStatus.CANCELLED  # the run, or one of its jobs (GitHub's conclusion too)
    else:
        status = RunStatus.SUCCESS
    return [WorkflowRunFinished(status=status)]


def apply_run(state: WorkflowRunState | None, recorded: Recorded[Any]) -> WorkflowRunState:
    check_sequence(state.version if state else 0, recorded)
    event = recorded.event
    if isinstance(event, WorkflowRunStarted):
        if state is not None:
            raise IllegalTransition("WorkflowRunStarted must be the first event of a run")
        return WorkflowRunState(
            run_id=event.run_id,
            workflow_id=event.workflow_id,
            definition_version=event.definition_version,
            jobs=tuple(event.jobs),
            status=RunStatus.RUNNING,
            tenant=event.tenant,
            version=recorded.version,
            created_at=recorded.at,
            updated_at=recorded.at,
        )
    if state is None:
        raise IllegalTransition(f"{event.type_name} cannot start a workflow run stream")
    state = replace(state, version=recorded.version, updated_at=recorded.at)
    match event:
        case WorkflowRunCancelled():
            return replace(state, cancelled=True, cancel_reason=event.reason)
        case WorkflowRunFinished():
            return replace(state, status=event.status, finished_at=recorded.at)
        case WorkflowRunReopened():
            return replace(state, status=RunStatus.RUNNING, finished_at=None)
    raise IllegalTransition(f"workflow run events do not include {event.type_name}")


RUN_EVENTS = EventTypes(
    WorkflowRunStarted, WorkflowRunCancelled, WorkflowRunFinished, WorkflowRunReopened
)


# -- job runs ----------------------------------------------------------------------------------
class JobStatus(StrEnum):
    #: Created with its run; waits for its needs.
    WAITING = "waiting"
    #: Enqueued: claimable once ``not_before`` passed, by a worker with its labels.
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILURE = "failure"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_JOB_STATUSES

    @property
    def wire(self) -> str:
        """workflow-graph's status: it knows no ``waiting`` (a job not run yet is queued)."""
        return "queued" if self is JobStatus.WAITING else self.value


TERMINAL_JOB_STATUSES = frozenset(
    {JobStatus.SUCCESS, JobStatus.FAILURE, JobStatus.SKIPPED, JobStatus.CANCELLED}
)


class Backoff(BaseModel):
    """A job's retry delay (as ``workflows.definitions.Backoff``), kept with the job."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    strategy: str = "none"
    seconds: float = 0.0
    max_seconds: float = 300.0

    def delay(self, attempt: int) -> float:
        """Seconds before attempt number *attempt* (2 is the first retry)."""
        if self.strategy == "fixed":
            return self.seconds
        if self.strategy == "exponential":
            return min(self.seconds * 2 ** max(attempt - 1, 0), self.max_seconds)
        return 0.0


class JobCreated(DomainEvent):
    run_id: uuid.UUID
    workflow_id: str
    job_id: str
    name: str
    needs: list[str]
    labels: list[str]
    retries: int
    backoff: Backoff
    timeout_seconds: float | None
    #: The ``if`` expression (``workflows.conditions``).
    condition: str
    #: The shell script a worker runs (None: an agent job).
    command: str | None
    #: ``{"assistant", "input"}`` of an agent job (None: a shell job).
    agent: dict[str, Any] | None
    env: dict[str, str]
    tenant: str


class JobQueued(DomainEvent):
    attempt: int
    not_before: datetime
    #: The outputs of its direct needs: ``{job_id: {name: value}}``.
    upstream_outputs: dict[str, dict[str, str]]
    reason: str


class JobClaimed(DomainEvent):
    lease_id: uuid.UUID
    lease_epoch: int
    worker_id: str
    ttl_seconds: float
    lease_expires_at: datetime


class JobLeaseRenewed(DomainEvent):
    lease_epoch: int
    lease_expires_at: datetime


class JobLogged(DomainEvent):
    """Log lines a worker pushed under its lease (kept; they change no state)."""

    lease_epoch: int
    attempt: int
    #: ``[{"sequence", "stream", "data", "timestamp_ms"}]``
    chunks: list[dict[str, Any]]


class JobSucceeded(DomainEvent):
    lease_epoch: int
    outputs: dict[str, str]


class JobAttemptFailed(DomainEvent):
    """An attempt ended without success; a ``JobQueued`` (retry) or ``JobFailed`` follows."""

    #: None when the system ended it (lease expired, timed out).
    lease_epoch: int | None
    error: str
    #: ``failed`` (the worker said so), ``lease_expired`` or ``timed_out``.
    reason: str


class JobFailed(DomainEvent):
    error: str


class JobSkipped(DomainEvent):
    reason: str


class JobCancelled(DomainEvent):
    reason: str


class JobReset(DomainEvent):
    """Back to waiting for its needs: a job it needs, directly or not, was requeued."""

    reason: str


JOB_EVENTS = EventTypes(
    JobCreated,
    JobQueued,
    JobClaimed,
    JobLeaseRenewed,
    JobLogged,
    JobSucceeded,
    JobAttemptFailed,
    JobFailed,
    JobSkipped,
    JobCancelled,
    JobReset,
)


@dataclass(frozen=True)
class JobRunState:
    id: uuid.UUID
    run_id: uuid.UUID
    workflow_id: str
    job_id: str
    name: str
    needs: tuple[str, ...]
    labels: tuple[str, ...]
    retries: int
    backoff: Backoff
    timeout_seconds: float | None
    condition: str
    command: str | None
    agent: Mapping[str, Any] | None
    env: Mapping[str, str]
    tenant: str
    status: JobStatus
    version: int
    created_at: datetime
    updated_at: datetime
    #: The attempt queued or running (0 before the first one).
    attempt: int = 0
    not_before: datetime | None = None
    #: When it was last enqueued: claims take the oldest first.
    queued_at: datetime | None = None
    upstream_outputs: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    lease_id: uuid.UUID | None = None
    lease_epoch: int = 0
    worker_id: str | None = None
    ttl_seconds: float | None = None
    lease_expires_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    outputs: Mapping[str, str] = field(default_factory=dict)
    #: The last attempt's error (failure), or why it was skipped or cancelled.
    error: str | None = None

    @property
    def kind(self) -> str:
        return "agent" if self.agent is not None else "shell"


def create_job(
    *,
    run_id: uuid.UUID,
    workflow_id: str,
    job_id: str,
    name: str,
    needs: Sequence[str],
    labels: Sequence[str],
    retries: int,
    backoff: Backoff,
    timeout_seconds: float | None,
    condition: str,
    command: str | None,
    agent: Mapping[str, Any] | None,
    env: Mapping[str, str],
    tenant: str,
) -> list[DomainEvent]:
    return [
        JobCreated(
            run_id=run_id,
            workflow_id=workflow_id,
            job_id=job_id,
            name=name,
            needs=list(needs),
            labels=sorted(set(labels)),
            retries=retries,
            backoff=backoff,
            timeout_seconds=timeout_seconds,
            condition=condition,
            command=command,
            agent=dict(agent) if agent is not None else None,
            env=dict(env),
            tenant=tenant,
        )
    ]


def enqueue(
    state: JobRunState, *, upstream_outputs: Mapping[str, Mapping[str, str]], now: datetime
) -> list[DomainEvent]:
    """Its needs are met: its next attempt (the first, mostly) becomes claimable now."""
    _require(state, {JobStatus.WAITING}, "enqueue")
    return [
        JobQueued(
            # 1, unless it ran before it was reset (:func:`requeue`): attempts keep counting
            attempt=state.attempt + 1,
            not_before=now,
            upstream_outputs={k: dict(v) for k, v in upstream_outputs.items()},
            reason=enqueue_reason(state.needs),
        )
    ]


def enqueue_reason(needs: Sequence[str]) -> str:
    return "needs met" if needs else "root job"


def claim(
    state: JobRunState,
    *,
    lease_id: uuid.UUID,
    worker_id: str,
    ttl_seconds: float,
    now: datetime,
) -> list[DomainEvent]:
    _require(state, {JobStatus.QUEUED}, "claim")
    if state.not_before is not None and state.not_before > now:
        raise IllegalTransition(f"job {state.job_id} is not claimable before {state.not_before}")
    return [
        JobClaimed(
            lease_id=lease_id,
            lease_epoch=state.lease_epoch + 1,
            worker_id=worker_id,
            ttl_seconds=ttl_seconds,
            lease_expires_at=now + timedelta(seconds=ttl_seconds),
        )
    ]


def require_lease(state: JobRunState, lease_id: uuid.UUID, *, now: datetime) -> None:
    """Fencing: only the holder of the job's current, unexpired lease may write."""
    if state.lease_id != lease_id:
        raise LeaseLost(f"lease {lease_id} is not job {state.job_id}'s current lease")
    if state.status is not JobStatus.RUNNING:
        raise LeaseLost(f"lease {lease_id}: job {state.job_id} is {state.status.value}")
    if state.lease_expires_at is not None and state.lease_expires_at <= now:
        raise LeaseLost(f"lease {lease_id} expired at {state.lease_expires_at.isoformat()}")


def renew(state: JobRunState, *, lease_id: uuid.UUID, now: datetime) -> list[DomainEvent]:
    """A heartbeat: the lease runs for the TTL its holder asked for, from now."""
    require_lease(state, lease_id, now=now)
    return [
        JobLeaseRenewed(
            lease_epoch=state.lease_epoch,
            lease_expires_at=now + timedelta(seconds=state.ttl_seconds or 30),
        )
    ]


def log(
    state: JobRunState, *, lease_id: uuid.UUID, chunks: Sequence[Mapping[str, Any]], now: datetime
) -> list[DomainEvent]:
    require_lease(state, lease_id, now=now)
    if not chunks:
        return []
    return [JobLogged(lease_epoch=state.lease_epoch, attempt=state.attempt, chunks=list(chunks))]


def succeed(
    state: JobRunState, *, lease_id: uuid.UUID, outputs: Mapping[str, str], now: datetime
) -> list[DomainEvent]:
    require_lease(state, lease_id, now=now)
    return [JobSucceeded(lease_epoch=state.lease_epoch, outputs=dict(outputs))]


def fail(
    state: JobRunState,
    *,
    error: str,
    retryable: bool,
    reason: str,
    now: datetime,
    lease_id: uuid.UUID | None = None,
) -> list[DomainEvent]:
    """An attempt failed: a worker said so (under its lease), its lease expired, or it ran out
    of time (the system, *lease_id* None). Retried with backoff while retries remain and
    *retryable*; else the job fails (the scheduler then skips what needed it)."""
    if lease_id is not None:
        require_lease(state, lease_id, now=now)
    else:
        _require(state, {JobStatus.RUNNING}, "fail")
    events: list[DomainEvent] = [
        JobAttemptFailed(
            lease_epoch=state.lease_epoch if lease_id is not None else None,
            error=error,
            reason=reason,
        )
    ]
    if retryable and state.attempt <= state.retries:
        attempt = state.attempt + 1
        events.append(
            JobQueued(
                attempt=attempt,
                not_before=now + timedelta(seconds=state.backoff.delay(attempt)),
                upstream_outputs={k: dict(v) for k, v in state.upstream_outputs.items()},
                reason=f"retry {attempt - 1} of {state.retries} after {reason}",
            )
        )
    else:
        events.append(JobFailed(error=error))
    return events


def expired(state: JobRunState, *, now: datetime) -> bool:
    return (
        state.status is JobStatus.RUNNING
        and state.lease_expires_at is not None
        and state.lease_expires_at <= now
    )


def timed_out(state: JobRunState, *, now: datetime) -> bool:
    return (
        state.status is JobStatus.RUNNING
        and state.timeout_seconds is not None
        and state.started_at is not None
        and state.started_at + timedelta(seconds=state.timeout_seconds) <= now
    )


def skip(state: JobRunState, *, reason: str) -> list[DomainEvent]:
    _require(state, {JobStatus.WAITING}, "skip")
    return [JobSkipped(reason=reason)]


def cancel(state: JobRunState, *, reason: str) -> list[DomainEvent]:
    """Cancel a job not over yet. A running one's lease ends with it: the worker's cancel poll
    says so, and whatever it sends after is refused (409)."""
    if state.status.is_terminal:
        return []
    return [JobCancelled(reason=reason)]


@dataclass(frozen=True)
class Requeued:
    """What :func:`requeue` decided: the run's events, and each job's."""

    run_events: list[DomainEvent]
    job_events: dict[str, list[DomainEvent]]


def requeue(
    run: WorkflowRunState,
    jobs: Mapping[str, JobRunState],
    job_id: str,
    *,
    reason: str,
    now: datetime,
) -> Requeued:
    """An operator gives a failed (or cancelled) job another attempt, claimable now, as GitHub's
    "re-run failed jobs" does: every job downstream of it that ended (skipped, mostly) waits for
    its needs again, and a finished run runs again. Not in a cancelled run (start a new one), nor
    while a job downstream still runs."""
    if run.cancelled:
        raise IllegalTransition(f"workflow run {run.run_id} was cancelled: start a new run")
    job = jobs[job_id]
    if job.status not in (JobStatus.FAILURE, JobStatus.CANCELLED):
        raise IllegalTransition(
            f"job {job_id} is {job.status.value}: only a failed or cancelled job is requeued"
        )
    downstream = _downstream(jobs, job_id)
    going = [d for d in downstream if jobs[d].status in (JobStatus.QUEUED, JobStatus.RUNNING)]
    if going:
        raise IllegalTransition(f"job {job_id}: {', '.join(going)} downstream of it still run")
    job_events: dict[str, list[DomainEvent]] = {
        job_id: [
            JobQueued(
                attempt=job.attempt + 1,
                not_before=now,
                upstream_outputs={k: dict(v) for k, v in job.upstream_outputs.items()},
                reason=f"requeued: {reason}",
            )
        ]
    }
    for other in downstream:
        if jobs[other].status is not JobStatus.WAITING:
            job_events[other] = [JobReset(reason=f"{job_id} was requeued")]
    run_events: list[DomainEvent] = []
    if not run.is_active:
        run_events.append(WorkflowRunReopened(reason=f"{job_id} requeued: {reason}"))
    return Requeued(run_events=run_events, job_events=job_events)


def _downstream(jobs: Mapping[str, JobRunState], job_id: str) -> list[str]:
    """The jobs that need *job_id*, directly or not, in the run's order."""
    found = {job_id}
    changed = True
    while changed:
        changed = False
        for other, job in jobs.items():
            if other not in found and found.intersection(job.needs):
                found.add(other)
                changed = True
    return [other for other in jobs if other in found and other != job_id]


def apply_job(state: JobRunState | None, recorded: Recorded[Any]) -> JobRunState:
    check_sequence(state.version if state else 0, recorded)
    event = recorded.event
    if isinstance(event, JobCreated):
        if state is not None:
            raise IllegalTransition("JobCreated must be the first event of a job run")
        return JobRunState(
            id=job_stream_id(event.run_id, event.job_id),
            run_id=event.run_id,
            workflow_id=event.workflow_id,
            job_id=event.job_id,
            name=event.name,
            needs=tuple(event.needs),
            labels=tuple(event.labels),
            retries=event.retries,
            backoff=event.backoff,
            timeout_seconds=event.timeout_seconds,
            condition=event.condition,
            command=event.command,
            agent=event.agent,
            env=event.env,
            tenant=event.tenant,
            status=JobStatus.WAITING,
            version=recorded.version,
            created_at=recorded.at,
            updated_at=recorded.at,
        )
    if state is None:
        raise IllegalTransition(f"{event.type_name} cannot start a job run stream")
    state = replace(state, version=recorded.version, updated_at=recorded.at)
    match event:
        case JobQueued():
            return replace(
                state,
                status=JobStatus.QUEUED,
                attempt=event.attempt,
                not_before=event.not_before,
                queued_at=recorded.at,
                upstream_outputs=event.upstream_outputs,
                finished_at=None,
                lease_id=None,
                worker_id=None,
                ttl_seconds=None,
                lease_expires_at=None,
                started_at=None,
            )
        case JobClaimed():
            return replace(
                state,
                status=JobStatus.RUNNING,
                lease_id=event.lease_id,
                lease_epoch=event.lease_epoch,
                worker_id=event.worker_id,
                ttl_seconds=event.ttl_seconds,
                lease_expires_at=event.lease_expires_at,
                started_at=recorded.at,
                error=None,
            )
        case JobLeaseRenewed():
            return replace(state, lease_expires_at=event.lease_expires_at)
        case JobLogged():
            return state
        case JobSucceeded():
            return _over(state, JobStatus.SUCCESS, recorded.at, outputs=event.outputs)
        case JobAttemptFailed():
            return replace(state, error=event.error)
        case JobFailed():
            return _over(state, JobStatus.FAILURE, recorded.at, error=event.error)
        case JobSkipped():
            return _over(state, JobStatus.SKIPPED, recorded.at, error=event.reason)
        case JobCancelled():
            return _over(state, JobStatus.CANCELLED, recorded.at, error=event.reason)
        case JobReset():
            return replace(state, status=JobStatus.WAITING, finished_at=None, error=None)
    raise IllegalTransition(f"job run events do not include {event.type_name}")


def _over(state: JobRunState, status: JobStatus, at: datetime, **changes: Any) -> JobRunState:
    """A terminal state: the lease is gone (its id stays, so a late call is told why)."""
    return replace(state, status=status, finished_at=at, lease_expires_at=None, **changes)


def _require(state: JobRunState, allowed: set[JobStatus], action: str) -> None:
    if state.status not in allowed:
        raise IllegalTransition(f"cannot {action} job {state.job_id}: it is {state.status.value}")


# -- the scheduler -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Decision:
    """What the scheduler does with a waiting job."""

    job_id: str
    #: ``enqueue``, ``skip`` or ``cancel``.
    action: str
    reason: str


def decide(
    jobs: Sequence[tuple[str, Sequence[str], Any]],
    statuses: Mapping[str, JobStatus],
    *,
    cancelled: bool,
) -> list[Decision]:
    """The waiting jobs whose needs are all over, and what becomes of each, to a fixed point
    (a skip can decide the jobs that need the skipped one).

    Args:
        jobs: ``(job_id, needs, condition)`` in the definition's order; ``condition`` has
            ``evaluate(needs=[statuses], cancelled=bool) -> bool`` (``workflows.conditions``).
        statuses: every job's status now.
        cancelled: whether the run was cancelled (``cancelled()``; jobs whose ``if`` is false
            then end cancelled, not skipped).

    Returns:
        Decisions in the definition's order, each job at most once.
    """
    statuses = dict(statuses)
    decisions: list[Decision] = []
    changed = True
    while changed:
        changed = False
        for job_id, needs, condition in jobs:
            if statuses.get(job_id) is not JobStatus.WAITING:
                continue
            need_statuses = [statuses[need] for need in needs]
            if any(not status.is_terminal for status in need_statuses):
                if not cancelled and _never_true(condition, need_statuses):
                    # Its ``if`` is false however the needs still going end (``success()``
                    # after a failure): skipped now, not when the slowest need ends.
                    failed = [
                        n
                        for n, s in zip(needs, need_statuses, strict=True)
                        if s.is_terminal and s is not JobStatus.SUCCESS
                    ]
                    decisions.append(
                        Decision(job_id, "skip", f"needs not met: {', '.join(failed)}")
                    )
                    statuses[job_id] = JobStatus.SKIPPED
                    changed = True
                continue
            if condition.evaluate(needs=[s.value for s in need_statuses], cancelled=cancelled):
                decisions.append(Decision(job_id, "enqueue", "needs met"))
                statuses[job_id] = JobStatus.QUEUED
            elif cancelled:
                decisions.append(Decision(job_id, "cancel", "the run was cancelled"))
                statuses[job_id] = JobStatus.CANCELLED
                changed = True
            else:
                failed = [
                    n
                    for n, s in zip(needs, need_statuses, strict=True)
                    if s is not JobStatus.SUCCESS
                ]
                reason = (
                    f"needs not met: {', '.join(failed)}" if failed else "its condition is false"
                )
                decisions.append(Decision(job_id, "skip", reason))
                statuses[job_id] = JobStatus.SKIPPED
                changed = True
    return decisions


#: The final statuses a need still going may end in.
_FINAL = (JobStatus.SUCCESS, JobStatus.FAILURE, JobStatus.SKIPPED, JobStatus.CANCELLED)


def _never_true(condition: Any, need_statuses: Sequence[JobStatus]) -> bool:
    """Whether *condition* is false whichever way the needs still going end, tried with all of
    them ending alike in each final status (the extremes of ``success()`` and ``failure()``,
    which ask about every need or about any)."""
    for final in _FINAL:
        ended = [s.value if s.is_terminal else final.value for s in need_statuses]
        if condition.evaluate(needs=ended, cancelled=False):
            return False
    return True
