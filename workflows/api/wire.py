"""workflow-graph's JSON shapes (``../shared/reference/workflow-graph.md`` §2, §3.1, §5), byte
for byte where its clients read them: the runtime ``Workflow``/``Job`` of ``/status``, and the
worker protocol's ``QueuedJob`` and ``Lease``. Our additions are extra keys its clients ignore
(``run_id``, ``env``, ``timeout_secs``, ``run``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from workers.models import Worker
from workflows import definitions, domain
from workflows.models import JobRun, WorkflowDefinition, WorkflowRun


def epoch_ms(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp() * 1000


def backoff(policy: Mapping[str, Any] | domain.Backoff) -> Any:
    """``BackoffStrategy`` as serde tags it externally."""
    data = policy.model_dump() if isinstance(policy, domain.Backoff) else dict(policy)
    if data.get("strategy") == "fixed":
        return {"Fixed": {"delay_secs": data.get("seconds", 0)}}
    if data.get("strategy") == "exponential":
        return {
            "Exponential": {
                "base_secs": data.get("seconds", 0),
                "max_secs": data.get("max_seconds", 0),
            }
        }
    return "None"


def workflow(definition: WorkflowDefinition, run: WorkflowRun | None, jobs: list[JobRun]) -> dict:
    """The runtime ``Workflow``: the definition's jobs with the statuses of *run* (its latest
    run; every job ``queued`` before the first)."""
    spec = definitions.parse_document(definition.ordered_document)
    by_id = {job.job_id: job for job in jobs}
    return {
        "id": definition.workflow_id,
        "name": definition.name,
        "trigger": f"on: {spec.on}",
        "jobs": [_job(job, by_id.get(job.id), spec) for job in spec.jobs],
        # Ours: which run the statuses are of.
        "run": None if run is None else run_summary(run),
    }


def run_summary(run: WorkflowRun) -> dict:
    return {
        "run_id": str(run.run_id),
        "status": run.status,
        "definition_version": run.definition_version,
        "cancelled": run.cancelled,
        "created_at": run.created_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


def _job(spec: definitions.Job, row: JobRun | None, workflow: definitions.Workflow) -> dict:
    status = domain.JobStatus(row.status) if row is not None else domain.JobStatus.WAITING
    started = row.started_at if row is not None else None
    finished = row.finished_at if row is not None else None
    duration = (finished - started).total_seconds() if started and finished else None
    return {
        "id": spec.id,
        "name": spec.name,
        "status": status.wire,
        "command": spec.command(workflow.env) or "",
        "duration_secs": duration,
        "started_at": epoch_ms(started) if status is domain.JobStatus.RUNNING else None,
        "depends_on": list(spec.needs),
        "output": row.error if row is not None and status is domain.JobStatus.FAILURE else None,
        "required_labels": list(spec.labels),
        "max_retries": spec.retries,
        # workflow-graph counts attempts from 0.
        "attempt": max((row.attempt if row is not None else 0) - 1, 0),
        "metadata": {},
        "ports": [],
        "children": None,
        "collapsed": False,
    }


def queued_job(job: domain.JobRunState) -> dict:
    return {
        "job_id": job.job_id,
        "workflow_id": job.workflow_id,
        "command": job.command or "",
        "required_labels": list(job.labels),
        "retry_policy": {"max_retries": job.retries, "backoff": backoff(job.backoff)},
        "attempt": job.attempt - 1,  # from 0, as workflow-graph's
        "upstream_outputs": {k: dict(v) for k, v in job.upstream_outputs.items()},
        "enqueued_at_ms": epoch_ms(job.queued_at),
        "delayed_until_ms": epoch_ms(job.not_before),
        "run_id": str(job.run_id),
        "env": dict(job.env),
        "timeout_secs": job.timeout_seconds,
    }


def lease(job: domain.JobRunState) -> dict:
    return {
        "lease_id": str(job.lease_id),
        "job_id": job.job_id,
        "workflow_id": job.workflow_id,
        "worker_id": job.worker_id,
        "ttl_secs": job.ttl_seconds,
        "granted_at_ms": epoch_ms(job.started_at),
    }


def job_run(row: JobRun) -> dict:
    """Ours: a job run with its attempt, lease and outputs (``/api/workflows/{id}/runs/...``)."""
    return {
        "job_id": row.job_id,
        "name": row.name,
        "status": row.status,
        "attempt": row.attempt,
        "max_retries": row.retries,
        "needs": row.needs,
        "labels": row.labels,
        "condition": row.condition,
        "kind": "agent" if row.agent is not None else "shell",
        "worker_id": row.worker_id,
        "lease_epoch": row.lease_epoch,
        "lease_expires_at": row.lease_expires_at.isoformat() if row.lease_expires_at else None,
        "started_at": row.started_at.isoformat() if row.started_at else None,
        "finished_at": row.finished_at.isoformat() if row.finished_at else None,
        "outputs": row.outputs,
        "error": row.error,
    }


def worker_info(worker: Worker) -> dict:
    """workflow-graph's ``WorkerInfo``."""
    if worker.status in ("lost", "offline"):
        status = "offline"
    else:
        status = "busy" if worker.active_runs else "idle"
    return {
        "worker_id": worker.worker_id,
        "labels": worker.metadata.get("labels", []),
        "registered_at_ms": epoch_ms(worker.registered_at),
        "last_heartbeat_ms": epoch_ms(worker.last_heartbeat_at),
        "current_job": worker.metadata.get("current_job"),
        "status": status,
    }
