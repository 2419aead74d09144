"""DAG jobs' queries: read models, and a job's log from its stream."""

from __future__ import annotations

import uuid
from typing import Any

from duragraph_site.errors import NotFound
from events import store
from workflows import domain
from workflows.models import JobRun, WorkflowDefinition, WorkflowRun


def definition_get(workflow_id: str, *, tenant: str | None = None) -> WorkflowDefinition:
    """The workflow, or NotFound (also for another tenant's, as for an unknown id)."""
    definition = WorkflowDefinition.objects.filter(workflow_id=workflow_id).first()
    if definition is None or (tenant is not None and definition.tenant != tenant):
        raise NotFound(f"Workflow {workflow_id} not found")
    return definition


def definitions_list(
    *, tenant: str | None = None, limit: int = 100, offset: int = 0, status: str | None = None
) -> list[WorkflowDefinition]:
    """Workflows by id (a stable order, unlike workflow-graph's); with *status*, those whose
    latest run has a job in it (a wire status: ``queued`` includes jobs still waiting)."""
    queryset = WorkflowDefinition.objects.order_by("workflow_id")
    if tenant is not None:
        queryset = queryset.filter(tenant=tenant)
    if status is not None:
        statuses = [status, domain.JobStatus.WAITING.value] if status == "queued" else [status]
        latest = {
            run.workflow_id: run.run_id
            for run in WorkflowRun.objects.order_by("workflow_id", "-created_at").distinct(
                "workflow_id"
            )
        }
        matching = set(
            JobRun.objects.filter(run_id__in=latest.values(), status__in=statuses).values_list(
                "workflow_id", flat=True
            )
        )
        queryset = queryset.filter(workflow_id__in=matching)
    return list(queryset[offset : offset + limit])


def latest_run(workflow_id: str) -> WorkflowRun | None:
    return WorkflowRun.objects.filter(workflow_id=workflow_id).order_by("-created_at").first()


def latest_run_and_jobs(workflow_id: str) -> tuple[WorkflowRun | None, list[JobRun]]:
    """The workflow's latest run (None: never run) and its jobs (what ``/status`` shows)."""
    run = latest_run(workflow_id)
    return run, (list(JobRun.objects.filter(run_id=run.run_id)) if run is not None else [])


def latest_runs(workflow_ids: list[str]) -> dict[str, WorkflowRun]:
    """Each workflow's latest run, in one query."""
    runs = (
        WorkflowRun.objects.filter(workflow_id__in=workflow_ids)
        .order_by("workflow_id", "-created_at")
        .distinct("workflow_id")
    )
    return {run.workflow_id: run for run in runs}


def run_jobs(run_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[JobRun]]:
    jobs: dict[uuid.UUID, list[JobRun]] = {run_id: [] for run_id in run_ids}
    for job in JobRun.objects.filter(run_id__in=run_ids):
        jobs[job.run_id].append(job)
    return jobs


def run_get(
    run_id: uuid.UUID, *, workflow_id: str | None = None, tenant: str | None = None
) -> WorkflowRun:
    run = WorkflowRun.objects.filter(run_id=run_id).first()
    if (
        run is None
        or (workflow_id is not None and run.workflow_id != workflow_id)
        or (tenant is not None and run.tenant != tenant)
    ):
        raise NotFound(f"Workflow run {run_id} not found")
    return run


def runs_of(workflow_id: str, *, limit: int = 20, offset: int = 0) -> list[WorkflowRun]:
    return list(
        WorkflowRun.objects.filter(workflow_id=workflow_id).order_by("-created_at")[
            offset : offset + limit
        ]
    )


def job_of_latest_run(workflow_id: str, job_id: str) -> JobRun | None:
    return (
        JobRun.objects.filter(workflow_id=workflow_id, job_id=job_id)
        .order_by("-created_at")
        .first()
    )


def job_log(job_run_id: uuid.UUID, workflow_id: str, job_id: str) -> list[dict[str, Any]]:
    """The job run's log chunks in order, as workflow-graph's ``LogChunk`` (plus ``attempt``)."""
    chunks = []
    for event in store.load(job_run_id):
        if event.type == "JobLogged":
            chunks.extend(
                log_chunk(workflow_id, job_id, event.payload["attempt"], chunk)
                for chunk in event.payload["chunks"]
            )
    return chunks


def log_chunk(workflow_id: str, job_id: str, attempt: int, chunk: dict[str, Any]) -> dict:
    """A stored chunk on the wire; its ``attempt`` counts from 0, as the job's on these routes
    (workflow-graph's), though the events count from 1."""
    return {
        "workflow_id": workflow_id,
        "job_id": job_id,
        "sequence": chunk["sequence"],
        "data": chunk["data"],
        "timestamp_ms": chunk.get("timestamp_ms"),
        "stream": chunk["stream"],
        "attempt": attempt - 1,
    }
