"""The read models of DAG jobs as projections of their streams (replay and rebuild them like
every other aggregate: ``manage.py replay workflow_run <id>``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, TypeVar

from django.db import models

from duragraph_site.errors import NotFound
from events import projections, store
from events.domain import Recorded
from events.store import Stream
from workflows import domain
from workflows.models import JobRun, WorkflowDefinition, WorkflowRun, WorkflowVersion

M = TypeVar("M", bound=models.Model)

#: NATS subjects: a run's and its jobs' events (job logs among them) under the workflow.
RUN_SUBJECT = "duragraph.workflows.{workflow_id}.runs.{run_id}"
JOB_SUBJECT = "duragraph.workflows.{workflow_id}.runs.{run_id}.jobs.{job_id}"


# -- definitions -------------------------------------------------------------------------------
def definition_stream(workflow_id: str) -> Stream:
    return Stream(
        type=domain.DEFINITION_STREAM,
        id=domain.definition_stream_id(workflow_id),
        subject=f"duragraph.workflows.{workflow_id}",
    )


def _definition_state(row: WorkflowDefinition) -> domain.DefinitionState:
    return domain.DefinitionState(
        workflow_id=row.workflow_id,
        name=row.name,
        version=row.version,
        document=row.document,
        source=row.source,
        tenant=row.tenant,
        stream_version=row.stream_version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        job_order=tuple(row.job_order),
    )


def definition_for_update(workflow_id: str) -> domain.DefinitionState | None:
    row = WorkflowDefinition.objects.select_for_update().filter(workflow_id=workflow_id).first()
    return _definition_state(row) if row is not None else None


def _save_definition(state: domain.DefinitionState, previous: Any) -> None:
    WorkflowDefinition.objects.update_or_create(
        workflow_id=state.workflow_id,
        defaults={
            "name": state.name,
            "version": state.version,
            "document": dict(state.document),
            "job_order": list(state.job_order),
            "source": state.source,
            "stream_version": state.stream_version,
            "created_at": state.created_at,
            "updated_at": state.updated_at,
            "tenant": state.tenant,
        },
    )


def _record_version(state: domain.DefinitionState, recorded: Recorded[Any]) -> None:
    """The versions side table (``WorkflowVersion``), one row per ``WorkflowDefined``."""
    _save_definition(state, None)  # the row the version hangs on exists before it
    WorkflowVersion.objects.update_or_create(
        workflow_id=state.workflow_id,
        version=state.version,
        defaults={
            "document": dict(state.document),
            "job_order": list(state.job_order),
            "created_at": recorded.at,
        },
    )


def _read_definition(stream_id: uuid.UUID) -> domain.DefinitionState | None:
    for row in WorkflowDefinition.objects.all():
        if domain.definition_stream_id(row.workflow_id) == stream_id:
            return _definition_state(row)
    return None


def _reset_definitions() -> int:
    WorkflowVersion.objects.all().delete()
    count, _ = WorkflowDefinition.objects.all().delete()
    return count


DEFINITIONS = projections.Projection(
    stream_type=domain.DEFINITION_STREAM,
    event_types=domain.DEFINITION_EVENTS,
    apply=domain.apply_definition,
    read=_read_definition,
    save=_save_definition,
    reset=_reset_definitions,
    handle=_record_version,
)


# -- workflow runs -----------------------------------------------------------------------------
def run_stream(workflow_id: str, run_id: uuid.UUID) -> Stream:
    return Stream(
        type=domain.RUN_STREAM,
        id=run_id,
        subject=RUN_SUBJECT.format(workflow_id=workflow_id, run_id=run_id),
    )


def run_state(row: WorkflowRun) -> domain.WorkflowRunState:
    return domain.WorkflowRunState(
        run_id=row.run_id,
        workflow_id=row.workflow_id,
        definition_version=row.definition_version,
        jobs=tuple(row.jobs),
        status=domain.RunStatus(row.status),
        tenant=row.tenant,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        cancelled=row.cancelled,
        cancel_reason=row.cancel_reason,
        finished_at=row.finished_at,
    )


def _save_run(state: domain.WorkflowRunState, previous: Any) -> None:
    columns = {
        "workflow_id": state.workflow_id,
        "definition_version": state.definition_version,
        "jobs": list(state.jobs),
        "status": state.status.value,
        "cancelled": state.cancelled,
        "cancel_reason": state.cancel_reason,
        "version": state.version,
        "created_at": state.created_at,
        "updated_at": state.updated_at,
        "finished_at": state.finished_at,
        "tenant": state.tenant,
    }
    if previous is None:
        WorkflowRun.objects.create(run_id=state.run_id, **columns)
    else:
        WorkflowRun.objects.filter(run_id=state.run_id).update(**columns)


def run_state_of(names: Sequence[str], row: Sequence[Any]) -> domain.WorkflowRunState:
    """The run from a raw statement's ``workflows_workflowrun`` columns."""
    return run_state(_model_of(WorkflowRun, names, row))


def run_for_update(run_id: uuid.UUID) -> domain.WorkflowRunState:
    """The run with its row locked: the lock every change of its jobs' statuses takes first,
    so the scheduler's decisions for one run never interleave."""
    row = WorkflowRun.objects.select_for_update().filter(run_id=run_id).first()
    if row is None:
        raise NotFound(f"Workflow run {run_id} not found")
    return run_state(row)


def _read_run(run_id: uuid.UUID) -> domain.WorkflowRunState | None:
    row = WorkflowRun.objects.filter(run_id=run_id).first()
    return run_state(row) if row is not None else None


def _reset_runs() -> int:
    count, _ = WorkflowRun.objects.all().delete()
    return count


RUNS = projections.Projection(
    stream_type=domain.RUN_STREAM,
    event_types=domain.RUN_EVENTS,
    apply=domain.apply_run,
    read=_read_run,
    save=_save_run,
    reset=_reset_runs,
)


# -- job runs ----------------------------------------------------------------------------------
def job_stream(workflow_id: str, run_id: uuid.UUID, job_id: str) -> Stream:
    return Stream(
        type=domain.JOB_STREAM,
        id=domain.job_stream_id(run_id, job_id),
        subject=JOB_SUBJECT.format(workflow_id=workflow_id, run_id=run_id, job_id=job_id),
    )


def job_state(row: JobRun) -> domain.JobRunState:
    return domain.JobRunState(
        id=row.id,
        run_id=row.run_id,
        workflow_id=row.workflow_id,
        job_id=row.job_id,
        name=row.name,
        needs=tuple(row.needs),
        labels=tuple(row.labels),
        retries=row.retries,
        backoff=domain.Backoff(**row.backoff),
        timeout_seconds=row.timeout_seconds,
        condition=row.condition,
        command=row.command,
        agent=row.agent,
        env=row.env,
        tenant=row.tenant,
        status=domain.JobStatus(row.status),
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        attempt=row.attempt,
        not_before=row.not_before,
        queued_at=row.queued_at,
        upstream_outputs=row.upstream_outputs,
        lease_id=row.lease_id,
        lease_epoch=row.lease_epoch,
        worker_id=row.worker_id,
        ttl_seconds=row.ttl_seconds,
        lease_expires_at=row.lease_expires_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        outputs=row.outputs,
        error=row.error,
    )


def job_state_of(names: Sequence[str], row: Sequence[Any]) -> domain.JobRunState:
    """The job from a raw statement's ``workflows_jobrun`` columns."""
    return job_state(_model_of(JobRun, names, row))


def _model_of(model: type[M], names: Sequence[str], row: Sequence[Any]) -> M:
    """A read-model row from a raw statement's columns, as the ORM would load it (jsonb comes
    through a raw cursor as text)."""
    values = dict(zip(names, row, strict=True))
    for field in model._meta.concrete_fields:
        if isinstance(field, models.JSONField):
            values[field.attname] = store.loads(values[field.attname])
    return model(**values)


def _job_columns(state: domain.JobRunState) -> dict[str, Any]:
    return {
        "run_id": state.run_id,
        "workflow_id": state.workflow_id,
        "job_id": state.job_id,
        "name": state.name,
        "status": state.status.value,
        "needs": list(state.needs),
        "labels": list(state.labels),
        "retries": state.retries,
        "backoff": state.backoff.model_dump(),
        "timeout_seconds": state.timeout_seconds,
        "condition": state.condition,
        "command": state.command,
        "agent": dict(state.agent) if state.agent is not None else None,
        "env": dict(state.env),
        "attempt": state.attempt,
        "not_before": state.not_before,
        "queued_at": state.queued_at,
        "upstream_outputs": {k: dict(v) for k, v in state.upstream_outputs.items()},
        "lease_id": state.lease_id,
        "lease_epoch": state.lease_epoch,
        "worker_id": state.worker_id,
        "ttl_seconds": state.ttl_seconds,
        "lease_expires_at": state.lease_expires_at,
        "started_at": state.started_at,
        "finished_at": state.finished_at,
        "outputs": dict(state.outputs),
        "error": state.error,
        "version": state.version,
        "created_at": state.created_at,
        "updated_at": state.updated_at,
        "tenant": state.tenant,
    }


def _save_job(state: domain.JobRunState, previous: Any) -> None:
    if previous is None:
        JobRun.objects.create(id=state.id, **_job_columns(state))
    else:
        JobRun.objects.filter(id=state.id).update(**_job_columns(state))


def jobs_for_update(run_id: uuid.UUID) -> dict[str, domain.JobRunState]:
    """Every job of a run, rows locked in id order (take the run's lock first)."""
    rows = JobRun.objects.select_for_update().filter(run_id=run_id).order_by("id")
    return {row.job_id: job_state(row) for row in rows}


def _read_job(job_run_id: uuid.UUID) -> domain.JobRunState | None:
    row = JobRun.objects.filter(id=job_run_id).first()
    return job_state(row) if row is not None else None


def _reset_jobs() -> int:
    count, _ = JobRun.objects.all().delete()
    return count


JOBS = projections.Projection(
    stream_type=domain.JOB_STREAM,
    event_types=domain.JOB_EVENTS,
    apply=domain.apply_job,
    read=_read_job,
    save=_save_job,
    reset=_reset_jobs,
)
