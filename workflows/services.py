"""DAG jobs' commands: define a workflow, start and cancel runs, and the worker protocol's
claim, heartbeat, log, complete and fail; the reaper of expired leases and timed-out jobs.

Each command is one transaction: its events, the read models and the outbox commit together.
Lock order: a workflow run's row, then its jobs' rows in id order. A claim (and a heartbeat or
a log push) locks one job row only, never waiting for a run lock, so claims of different jobs
run side by side. Every change that ends a job goes through :func:`_settle`, which asks the
scheduler (``domain.decide``) what becomes of the jobs that needed it, in the same
transaction: a DAG cannot stall on a lost message, and split deployments share nothing but
PostgreSQL.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from accounts.domain import DEFAULT_TENANT
from assistants import selectors as assistant_selectors
from duragraph_site import serde
from duragraph_site.db import prepared
from duragraph_site.errors import (
    Conflict,
    DuraGraphError,
    IllegalTransition,
    InvalidInput,
    NotFound,
)
from duragraph_site.ids import new_id
from events import context as event_context
from events import metrics as event_metrics
from events import projections, store
from runs import payloads as run_payloads
from runs import services as run_services
from workflows import conditions, definitions, domain, projection
from workflows.models import JobRun, WorkflowDefinition, WorkflowRun
from workflows.sql import queries

#: A workflow's id: a file stem in WORKFLOWS_DIR, or what the API was given.
WORKFLOW_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
#: A lease's TTL when the worker asks for none (workflow-graph's default), and the bounds.
DEFAULT_LEASE_SECONDS = 30.0
MAX_LEASE_SECONDS = 3600.0
#: The most jobs one call claims or completes (a worker running many jobs at once batches).
MAX_BATCH = 100


# -- definitions -------------------------------------------------------------------------------
def workflow_define(
    *, workflow_id: str, workflow: definitions.Workflow, source: str, tenant: str = DEFAULT_TENANT
) -> domain.DefinitionState:
    """Save *workflow* as *workflow_id*'s next version (nothing when it is unchanged)."""
    if not WORKFLOW_ID.fullmatch(workflow_id) or len(workflow_id) > 200:
        raise InvalidInput(f"workflow id {workflow_id!r}: letters, digits, '_' and '-' only")
    now = timezone.now()
    with transaction.atomic():
        state = projection.definition_for_update(workflow_id)
        new_events = domain.define(
            state,
            workflow_id=workflow_id,
            name=workflow.name,
            document=workflow.as_document(),
            source=source,
            tenant=tenant,
        )
        return projections.record(
            projection.DEFINITIONS,
            projection.definition_stream(workflow_id),
            state,
            new_events,
            expected_version=state.stream_version if state else 0,
            now=now,
        )


@dataclass(frozen=True)
class Loaded:
    workflow_id: str
    version: int
    #: Whether this load made a new version (the file changed, or is new).
    changed: bool


def workflows_load_dir(directory: Path, *, tenant: str = DEFAULT_TENANT) -> list[Loaded]:
    """Define every workflow in *directory* (``.yml``, ``.yaml``, ``.json``; the id is the
    file stem), a new version for each file that changed. A file that does not parse stops
    nothing else: DefinitionError is raised after the others are loaded, naming every bad file.
    """
    loaded: list[Loaded] = []
    problems: list[str] = []
    for path in sorted(directory.iterdir()) if directory.is_dir() else []:
        if path.suffix not in (".yml", ".yaml", ".json") or not path.is_file():
            continue
        try:
            workflow = definitions.parse(path.read_text(), filename=path.name)
        except definitions.DefinitionError as error:
            problems.append(f"{path.name}: {error}")
            continue
        before = (
            WorkflowDefinition.objects.filter(workflow_id=path.stem)
            .values_list("version", flat=True)
            .first()
        )
        state = workflow_define(
            workflow_id=path.stem, workflow=workflow, source="file", tenant=tenant
        )
        loaded.append(Loaded(path.stem, state.version, state.version != before))
    if problems:
        raise InvalidInput("; ".join(problems))
    return loaded


# -- runs --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Started:
    run: WorkflowRun
    #: False when a run of the workflow was already going (it is that one).
    started: bool


def workflow_run_start(
    *, workflow_id: str, tenant: str | None = None, now: datetime | None = None
) -> Started:
    """Start a run of the workflow's current version: its jobs created, the roots enqueued.
    While a run of it is going, that run is the answer (workflow-graph's run is a no-op then).
    *tenant*: the caller's scope (None: every tenant); another tenant's workflow is NotFound."""
    now = now or timezone.now()
    with transaction.atomic():
        definition = projection.definition_for_update(workflow_id)
        if definition is None or (tenant is not None and definition.tenant != tenant):
            raise NotFound(f"Workflow {workflow_id} not found")
        active = WorkflowRun.objects.filter(workflow_id=workflow_id, status="running").first()
        if active is not None:
            return Started(run=active, started=False)
        workflow = definitions.parse_document(definition.ordered_document)
        run_id = new_id()
        run = projections.record(
            projection.RUNS,
            projection.run_stream(workflow_id, run_id),
            None,
            domain.start_run(
                run_id=run_id,
                workflow_id=workflow_id,
                definition_version=definition.version,
                jobs=[job.id for job in workflow.jobs],
                tenant=definition.tenant,
            ),
            expected_version=0,
            now=now,
        )
        for job in workflow.jobs:
            _record_job(None, domain.create_job(**_job_spec(run, workflow, job)), now)
        _settle(run, now=now)
        return Started(run=WorkflowRun.objects.get(run_id=run_id), started=True)


def _job_spec(
    run: domain.WorkflowRunState, workflow: definitions.Workflow, job: definitions.Job
) -> dict[str, Any]:
    agent = None
    if job.agent is not None:
        agent = {"assistant": job.agent.assistant, "input": job.agent.input}
    return {
        "run_id": run.run_id,
        "workflow_id": run.workflow_id,
        "job_id": job.id,
        "name": job.name,
        "needs": job.needs,
        "labels": job.labels,
        "retries": job.retries,
        "backoff": domain.Backoff(
            strategy=job.backoff.strategy,
            seconds=job.backoff.seconds,
            max_seconds=job.backoff.max_seconds,
        ),
        "timeout_seconds": job.timeout_seconds,
        "condition": job.condition,
        "command": job.command(workflow.env),
        "agent": agent,
        "env": {**workflow.env, **job.env},
        "tenant": run.tenant,
    }


def workflow_run_cancel(
    *, run_id: uuid.UUID, reason: str = "cancelled", tenant: str | None = None
) -> domain.WorkflowRunState:
    """Cancel a run: its queued and running jobs are cancelled (a running job's lease ends:
    the worker's cancel poll says so, and its late complete or fail is refused), the waiting
    ones whose ``if`` says ``always()`` or ``cancelled()`` still run, the others are cancelled."""
    now = timezone.now()
    with transaction.atomic():
        run, jobs = _run_and_jobs(run_id, tenant)
        run = _record_run(run, domain.cancel_run(run, reason=reason), now)
        for job in jobs.values():
            if job.status in (domain.JobStatus.QUEUED, domain.JobStatus.RUNNING):
                _record_job(job, domain.cancel(job, reason=reason), now)
                _cancel_agent_run(job)
        _settle(run, now=now)
        return projection.run_for_update(run_id)


def workflow_cancel_latest(
    *, workflow_id: str, reason: str, tenant: str | None = None
) -> WorkflowRun | None:
    """Cancel the workflow's running run, if it has one (a run that ended meanwhile stays as it
    ended); its latest run, as it is now (None: never run). NotFound: an unknown workflow."""
    definition = WorkflowDefinition.objects.filter(workflow_id=workflow_id).first()
    if definition is None or (tenant is not None and definition.tenant != tenant):
        raise NotFound(f"Workflow {workflow_id} not found")
    run = WorkflowRun.objects.filter(workflow_id=workflow_id).order_by("-created_at").first()
    if run is not None and run.status == domain.RunStatus.RUNNING:
        try:
            workflow_run_cancel(run_id=run.run_id, reason=reason)
        except IllegalTransition:
            pass  # it ended meanwhile
        run.refresh_from_db()
    return run


def _run_and_jobs(
    run_id: uuid.UUID, tenant: str | None
) -> tuple[domain.WorkflowRunState, dict[str, domain.JobRunState]]:
    """The run and every job of it, locked in the lock order (NotFound: unknown, or another
    tenant's)."""
    run = projection.run_for_update(run_id)
    if tenant is not None and run.tenant != tenant:
        raise NotFound(f"Workflow run {run_id} not found")
    return run, projection.jobs_for_update(run_id)


def job_cancel(
    *, run_id: uuid.UUID, job_id: str, reason: str = "cancelled", tenant: str | None = None
) -> domain.JobRunState:
    """Cancel one job of a run; what needed it is then decided by its ``if`` (skipped, by
    default)."""
    now = timezone.now()
    with transaction.atomic():
        run, jobs = _run_and_jobs(run_id, tenant)
        if job_id not in jobs:
            raise NotFound(f"Job {job_id} not found in run {run_id}")
        if jobs[job_id].status.is_terminal:
            raise IllegalTransition(f"job {job_id} is {jobs[job_id].status.value} already")
        cancelled = jobs[job_id]
        jobs[job_id] = _record_job(cancelled, domain.cancel(cancelled, reason=reason), now)
        _cancel_agent_run(cancelled)
        _settle(run, now=now)
        return jobs[job_id]


def job_requeue(
    *, run_id: uuid.UUID, job_id: str, reason: str, tenant: str | None = None
) -> domain.JobRunState:
    """Another attempt of a failed (or cancelled) job, claimable now; what needed it waits for
    it again, and a finished run runs again (``domain.requeue``). Conflict: the run was
    cancelled, a job downstream still runs, or another run of the workflow is going."""
    now = timezone.now()
    with transaction.atomic():
        workflow_id = (
            WorkflowRun.objects.filter(run_id=run_id).values_list("workflow_id", flat=True).first()
        )
        if workflow_id is None:
            raise NotFound(f"Workflow run {run_id} not found")
        projection.definition_for_update(workflow_id)  # as a start: one active run at a time
        run, jobs = _run_and_jobs(run_id, tenant)
        if job_id not in jobs:
            raise NotFound(f"Job {job_id} not found in run {run_id}")
        decided = domain.requeue(run, jobs, job_id, reason=reason, now=now)
        going = WorkflowRun.objects.filter(workflow_id=workflow_id, status=domain.RunStatus.RUNNING)
        if decided.run_events and going.exists():
            raise Conflict(f"another run of workflow {workflow_id} is going: requeue after it")
        run = _record_run(run, decided.run_events, now)
        for other, new_events in decided.job_events.items():
            _record_job(jobs[other], new_events, now)
        _settle(run, now=now)
        return projection.job_state(JobRun.objects.get(id=jobs[job_id].id))


# -- the worker protocol -----------------------------------------------------------------------
def job_claim(
    *, worker_id: str, labels: Sequence[str], ttl_seconds: float | None = None
) -> domain.JobRunState | None:
    """Lease the oldest claimable job whose labels are all among *labels*, for *ttl_seconds*;
    None when there is none."""
    claimed = jobs_claim(worker_id=worker_id, labels=labels, ttl_seconds=ttl_seconds, limit=1)
    return claimed[0] if claimed else None


def jobs_claim(
    *, worker_id: str, labels: Sequence[str], ttl_seconds: float | None = None, limit: int
) -> list[domain.JobRunState]:
    """Lease up to *limit* of the oldest claimable jobs whose labels are all among *labels*,
    each under a lease of its own for *ttl_seconds*; oldest first. One statement
    (``workflows/sql/queries.sql``: claim_jobs), atomic on its own: no transaction around it."""
    ttl = DEFAULT_LEASE_SECONDS if ttl_seconds is None else float(ttl_seconds)
    if not 0 < ttl <= MAX_LEASE_SECONDS:
        raise InvalidInput(f"lease_ttl_secs must be in (0, {MAX_LEASE_SECONDS:.0f}]")
    if not 1 <= limit <= MAX_BATCH:
        raise InvalidInput(f"max_jobs must be in [1, {MAX_BATCH}]")
    params = {
        **_job_statement_params({"worker_id": worker_id}),
        "labels": serde.dumps(sorted(set(labels))).decode(),
        "worker_id": worker_id,
        "ttl_seconds": ttl,
        "limit": limit,
    }
    names, rows = prepared.execute(queries["claim_jobs"], params)
    event_metrics.count_appended(domain.JOB_STREAM, ["JobClaimed"] * len(rows))
    return [projection.job_state_of(names, row) for row in rows]


def _job_statement_params(metadata: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """What every single-statement write of jobs' events is given."""
    return {
        "now": now or timezone.now(),
        "stream_type": domain.JOB_STREAM,
        "subject": projection.JOB_SUBJECT,
        "metadata": serde.dumps({**event_context.current(), **metadata}).decode(),
    }


def _job_by_lease(lease_id: uuid.UUID, *, lock: bool) -> domain.JobRunState:
    rows = JobRun.objects.filter(lease_id=lease_id)
    row = (rows.select_for_update() if lock else rows).first()
    if row is None:
        raise domain.LeaseLost(f"lease {lease_id} is not a job's current lease")
    return projection.job_state(row)


def job_heartbeat(*, lease_id: uuid.UUID) -> domain.JobRunState:
    """Extend the lease by its TTL from now (LeaseLost: expired, superseded, cancelled...)."""
    now = timezone.now()
    with transaction.atomic():
        job = _job_by_lease(lease_id, lock=True)
        return _record_job(job, domain.renew(job, lease_id=lease_id, now=now), now)


def job_log(*, lease_id: uuid.UUID, chunks: Sequence[Mapping[str, Any]]) -> int:
    """Keep log chunks the lease holder pushed; how many."""
    now = timezone.now()
    clean = [_log_chunk(chunk, index) for index, chunk in enumerate(chunks)]
    with transaction.atomic():
        job = _job_by_lease(lease_id, lock=True)
        _record_job(job, domain.log(job, lease_id=lease_id, chunks=clean, now=now), now)
    return len(clean)


def storable(text: str) -> str:
    """*text* as PostgreSQL can keep it (jsonb and text refuse NUL and lone surrogates): what a
    program prints is kept, never refused, with those few characters replaced."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode()
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode()
    return text


def _log_chunk(chunk: Any, index: int) -> dict[str, Any]:
    if not isinstance(chunk, Mapping) or not isinstance(chunk.get("data"), str):
        raise InvalidInput(f"chunks[{index}]: an object with a string 'data'")
    stream = chunk.get("stream", "stdout")
    if stream not in ("stdout", "stderr"):
        raise InvalidInput(f"chunks[{index}].stream: 'stdout' or 'stderr'")
    sequence = chunk.get("sequence", index)
    timestamp = chunk.get("timestamp_ms")
    if not isinstance(sequence, int) or isinstance(sequence, bool):
        raise InvalidInput(f"chunks[{index}].sequence: an integer")
    if timestamp is not None and not isinstance(timestamp, int | float):
        raise InvalidInput(f"chunks[{index}].timestamp_ms: a number")
    return {
        "sequence": sequence,
        "stream": stream,
        "data": storable(chunk["data"]),
        "timestamp_ms": timestamp,
    }


def job_complete(*, lease_id: uuid.UUID, outputs: Mapping[str, Any]) -> None:
    """The job succeeded with *outputs*; what needed it is enqueued (or skipped) now."""
    [refusal] = jobs_complete([(lease_id, outputs)])
    if refusal is not None:
        raise refusal


def jobs_complete(
    completions: Sequence[tuple[uuid.UUID, Mapping[str, Any]]],
) -> list[domain.LeaseLost | None]:
    """End each attempt of *completions* (its lease, its outputs) with success, in one
    transaction: the fenced writes are one statement (``workflows/sql/queries.sql``:
    complete_jobs), then the scheduler decides each run once. Per completion, in order: None,
    or why its lease was refused (that one changed nothing; the others still complete).
    Invalid input refuses the whole batch."""
    if not 1 <= len(completions) <= MAX_BATCH:
        raise InvalidInput(f"completions: from 1 to {MAX_BATCH}")
    clean = []
    for index, (_, outputs) in enumerate(completions):
        if not isinstance(outputs, Mapping):
            field = "outputs" if len(completions) == 1 else f"completions[{index}].outputs"
            raise InvalidInput(f"{field}: an object of strings")
        clean.append({storable(str(key)): storable(str(value)) for key, value in outputs.items()})
    lease_ids = [lease_id for lease_id, _ in completions]
    if len(set(lease_ids)) != len(lease_ids):
        raise InvalidInput("completions: a lease may be completed once per call")
    params = {
        **_job_statement_params({}),
        "lease_ids": lease_ids,
        "outputs": [serde.dumps(outputs).decode() for outputs in clean],
    }
    now = params["now"]
    with transaction.atomic():
        names, rows = prepared.execute(queries["complete_jobs"], params)
        completed = {row[0] for row in rows}  # completed_lease_id, then the run's columns
        event_metrics.count_appended(domain.JOB_STREAM, ["JobSucceeded"] * len(completed))
        run_names = names[1:]
        run_id_at = names.index("run_id")
        runs = {row[run_id_at]: row[1:] for row in rows}
        for run_id in sorted(runs):  # the runs' lock order
            _settle(projection.run_state_of(run_names, runs[run_id]), now=now)
    return [
        None if lease_id in completed else _why_refused(lease_id, outputs, now)
        for lease_id, outputs in zip(lease_ids, clean, strict=True)
    ]


def _why_refused(lease_id: uuid.UUID, outputs: dict[str, str], now: datetime) -> domain.LeaseLost:
    """Why the completion under *lease_id* changed nothing: the domain's fence says it."""
    try:
        job = _job_by_lease(lease_id, lock=False)
        domain.succeed(job, lease_id=lease_id, outputs=outputs, now=now)
    except domain.LeaseLost as refusal:
        return refusal
    return domain.LeaseLost(f"lease {lease_id} is not job {job.job_id}'s current lease")


def job_fail(*, lease_id: uuid.UUID, error: str, retryable: bool) -> domain.JobRunState:
    """The attempt failed: retried with backoff while retries remain and *retryable*, else the
    job fails and what needed it is decided (skipped, by default)."""
    return _finish_attempt(
        lease_id,
        lambda job, now: domain.fail(
            job,
            lease_id=lease_id,
            error=storable(str(error)[:65536]),
            retryable=bool(retryable),
            reason="failed",
            now=now,
        ),
    )


def _finish_attempt(lease_id: uuid.UUID, decide_events: Any) -> domain.JobRunState:
    """End an attempt under its lease: the run's lock, then the job's, then the scheduler."""
    now = timezone.now()
    with transaction.atomic():
        run_id = JobRun.objects.filter(lease_id=lease_id).values_list("run_id", flat=True).first()
        if run_id is None:
            raise domain.LeaseLost(f"lease {lease_id} is not a job's current lease")
        run = projection.run_for_update(run_id)
        job = _job_by_lease(lease_id, lock=True)
        job = _record_job(job, decide_events(job, now), now)
        _settle(run, now=now)
        return job


def job_is_cancelled(*, workflow_id: str, job_id: str) -> bool:
    """workflow-graph's cancel poll: whether the job of the workflow's latest run is
    cancelled."""
    latest = (
        JobRun.objects.filter(workflow_id=workflow_id, job_id=job_id)
        .order_by("-created_at")
        .values_list("status", flat=True)
        .first()
    )
    return latest == domain.JobStatus.CANCELLED


# -- agent jobs: a job that is a run of an assistant -------------------------------------------------
#: How long an agent job's run may take when the job sets no timeout.
AGENT_LEASE_SECONDS = 24 * 3600.0
AGENT_WORKER_PREFIX = "agent-run:"
#: The run's metadata key naming the job run it serves.
JOB_METADATA_KEY = "workflow_job_run"


def _start_agent_run(job: domain.JobRunState, *, now: datetime) -> domain.JobRunState:
    """Start the job's agent run (a stateless run of its assistant with its input) and lease
    the job to it: the run's end ends the job (:func:`agent_run_ended`). A run that cannot be
    created (an unknown assistant, a bad input) fails the attempt at once."""
    agent = dict(job.agent or {})
    lease_seconds = job.timeout_seconds or AGENT_LEASE_SECONDS
    try:
        request = run_payloads.build(
            {"assistant_id": agent.get("assistant"), "input": agent.get("input")}, stateless=True
        )
        created = run_services.run_create(
            thread_id=None,
            assistant_id=assistant_selectors.resolve_assistant_id(agent.get("assistant")),
            kwargs=request.kwargs,
            metadata={JOB_METADATA_KEY: str(job.id), "workflow_id": job.workflow_id},
            tenant=job.tenant,
            scope=job.tenant,
        )
    except DuraGraphError as error:
        job = _record_job(
            job,
            domain.claim(
                job, lease_id=uuid.uuid4(), worker_id="agent", ttl_seconds=lease_seconds, now=now
            ),
            now,
        )
        return _record_job(
            job,
            domain.fail(
                job,
                error=f"agent run not started: {error.message}",
                retryable=False,
                reason="failed",
                now=now,
            ),
            now,
        )
    return _record_job(
        job,
        domain.claim(
            job,
            lease_id=uuid.uuid4(),
            worker_id=f"{AGENT_WORKER_PREFIX}{created.run_id}",
            ttl_seconds=lease_seconds,
            now=now,
        ),
        now,
    )


def agent_run_ended(*, run: Any, now: datetime) -> None:
    """``runs.hooks.run_ended``: the run an agent job started ended, so does the job's attempt:
    success with the run's final values as outputs (JSON text for what is not a string), or a
    failed attempt (retried like any job while retries remain). Runs of no job, and runs a job
    no longer waits for (cancelled, or given up after its lease ran out), change nothing."""
    job_run_id = (run.metadata or {}).get(JOB_METADATA_KEY)
    if job_run_id is None:
        return
    found = JobRun.objects.filter(id=job_run_id).values_list("run_id", flat=True).first()
    if found is None:
        return
    workflow_run = projection.run_for_update(found)
    jobs = projection.jobs_for_update(found)
    job = next((j for j in jobs.values() if str(j.id) == job_run_id), None)
    if (
        job is None
        or job.status is not domain.JobStatus.RUNNING
        or job.worker_id != f"{AGENT_WORKER_PREFIX}{run.run_id}"
    ):
        return
    if run.status.value == "success":
        values = run.output if isinstance(run.output, dict) else {"output": run.output}
        outputs = {
            str(key): value if isinstance(value, str) else serde.dumps(value).decode()
            for key, value in values.items()
        }
        new_events = domain.succeed(job, lease_id=job.lease_id, outputs=outputs, now=now)
    else:
        detail = (run.error or {}).get("message") if run.error else run.cancel_reason
        new_events = domain.fail(
            job,
            lease_id=job.lease_id,
            error=f"agent run {run.run_id} ended {run.status.value}: {detail or 'no detail'}",
            retryable=True,
            reason="failed",
            now=now,
        )
    _record_job(job, new_events, now)
    _settle(workflow_run, now=now)


def _cancel_agent_run(job: domain.JobRunState) -> None:
    """A cancelled agent job's run is cancelled too (its end then changes nothing here)."""
    if job.kind != "agent" or not (job.worker_id or "").startswith(AGENT_WORKER_PREFIX):
        return
    run_id = uuid.UUID(job.worker_id.removeprefix(AGENT_WORKER_PREFIX))
    try:
        run_services.run_cancel(run_id=run_id, reason=f"its DAG job {job.job_id} was cancelled")
    except DuraGraphError:
        pass  # it ended meanwhile


# -- the reaper --------------------------------------------------------------------------------
def jobs_reap(*, now: datetime | None = None, limit: int = 500) -> int:
    """Fail the attempts whose lease expired (the worker died or froze) or whose time ran out:
    retried with backoff while retries remain, else the job fails and its downstream is
    decided; and start the runs of agent jobs whose retry is due. Each under its run's lock;
    how many attempts were reaped."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(queries["overdue_jobs"], {"now": now, "limit": limit})
        overdue = cursor.fetchall()
    reaped = 0
    for job_run_id, run_id in overdue:
        with transaction.atomic():
            run = projection.run_for_update(run_id)
            jobs = projection.jobs_for_update(run_id)
            job = next((j for j in jobs.values() if j.id == job_run_id), None)
            if job is None:
                continue
            if domain.timed_out(job, now=now):
                error, reason = f"timed out after {job.timeout_seconds:g} s", "timed_out"
            elif domain.expired(job, now=now):
                error, reason = f"lease expired (worker {job.worker_id})", "lease_expired"
            else:
                continue  # renewed or finished since we looked
            new_events = domain.fail(job, error=error, retryable=True, reason=reason, now=now)
            _record_job(job, new_events, now)
            _cancel_agent_run(job)
            _settle(run, now=now)
            reaped += 1
    with connection.cursor() as cursor:
        cursor.execute(queries["due_agent_jobs"], {"now": now, "limit": limit})
        due = cursor.fetchall()
    for _, run_id in due:
        with transaction.atomic():
            run = projection.run_for_update(run_id)
            _settle(run, now=now)  # starts their runs
    return reaped


# -- the scheduler, in the caller's transaction --------------------------------------------------
def _settle(run: domain.WorkflowRunState, *, now: datetime) -> domain.WorkflowRunState:
    """Decide the waiting jobs whose needs are over, start due agent jobs, then end the run
    once every job is. The caller holds the run's row lock (and has recorded its own change).

    The jobs' statuses are read without locking them: under the run's lock no job becomes
    terminal and no waiting job changes (those take the run's lock); a concurrent claim only
    turns queued into running, which no decision depends on. The rows that change here are
    locked as they are written: the jobs to enqueue in one statement (:func:`_enqueue`)."""
    if not run.is_active:
        return run
    _, found = prepared.execute(queries["settle_jobs"], {"run_id": run.run_id})
    rows = {row[0]: _SettleRow.of(row) for row in found}
    statuses = {job_id: domain.JobStatus(row.status) for job_id, row in rows.items()}
    waiting = [j for j in run.jobs if j in rows and statuses[j] is domain.JobStatus.WAITING]
    if waiting:
        parsed = [(j, rows[j].needs, _condition(rows[j].condition)) for j in waiting]
        ready = []
        for decision in domain.decide(parsed, statuses, cancelled=run.cancelled):
            if decision.action == "enqueue":
                ready.append(rows[decision.job_id])
                statuses[decision.job_id] = domain.JobStatus.QUEUED
                continue
            job = _job_for_update(run.run_id, decision.job_id)
            if decision.action == "skip":
                new_events = domain.skip(job, reason=decision.reason)
            else:
                new_events = domain.cancel(job, reason=decision.reason)
            statuses[decision.job_id] = _record_job(job, new_events, now).status
        if ready:
            _enqueue(ready, now=now)
    for job_id, row in rows.items():
        if row.is_agent and statuses[job_id] is domain.JobStatus.QUEUED:
            job = _job_for_update(run.run_id, job_id)
            if job.not_before is not None and job.not_before <= now:
                statuses[job_id] = _start_agent_run(job, now=now).status
    return _record_run(run, domain.finish_run(run, statuses), now)


@dataclass(frozen=True, slots=True)
class _SettleRow:
    """A job as the scheduler sees it (``settle_jobs``): needs and ``if`` of waiting ones only."""

    job_id: str
    status: str
    id: uuid.UUID
    needs: tuple[str, ...]
    condition: str | None
    is_agent: bool

    @classmethod
    def of(cls, row: Sequence[Any]) -> _SettleRow:
        job_id, status, row_id, needs, condition, is_agent = row
        needs = tuple(store.loads(needs)) if needs is not None else ()
        return cls(job_id, status, row_id, needs, condition, is_agent)


def _enqueue(ready: list[_SettleRow], *, now: datetime) -> None:
    """Queue the *ready* waiting jobs in one statement (``workflows/sql/queries.sql``:
    enqueue_jobs): the rows and events ``domain.enqueue`` decides for each, the outputs of
    their needs handed down in the database."""
    params = {
        **_job_statement_params({}, now),
        "ids": [row.id for row in ready],
        "reasons": [domain.enqueue_reason(row.needs) for row in ready],
    }
    _, [(count,)] = prepared.execute(queries["enqueue_jobs"], params)
    if count != len(ready):  # the run's lock makes this impossible; never half-enqueue
        raise IllegalTransition(f"enqueued {count} of {len(ready)} jobs: not all were waiting")
    event_metrics.count_appended(domain.JOB_STREAM, ["JobQueued"] * count)


def _job_for_update(run_id: uuid.UUID, job_id: str) -> domain.JobRunState:
    return projection.job_state(
        JobRun.objects.select_for_update().get(run_id=run_id, job_id=job_id)
    )


#: A job's ``if``, parsed once per process (conditions are immutable values).
_condition = functools.lru_cache(maxsize=4096)(conditions.parse)


def _record_run(
    run: domain.WorkflowRunState, new_events: list, now: datetime
) -> domain.WorkflowRunState:
    return projections.record(
        projection.RUNS,
        projection.run_stream(run.workflow_id, run.run_id),
        run,
        new_events,
        expected_version=run.version,
        now=now,
    )


def _record_job(
    job: domain.JobRunState | None,
    new_events: list,
    now: datetime,
    *,
    metadata: dict[str, Any] | None = None,
) -> domain.JobRunState:
    key = job if job is not None else new_events[0]
    return projections.record(
        projection.JOBS,
        projection.job_stream(key.workflow_id, key.run_id, key.job_id),
        job,
        new_events,
        expected_version=job.version if job is not None else 0,
        now=now,
        metadata=metadata,
    )
