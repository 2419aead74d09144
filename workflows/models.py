"""Read models of DAG jobs: projections of the ``workflow``, ``workflow_run`` and ``job_run``
streams (``workflows.projection``), and the job queue itself (``JobRun`` rows in ``queued``)."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models

from accounts.domain import DEFAULT_TENANT
from workflows.domain import JobStatus, RunStatus, ordered


class WorkflowDefinition(models.Model):
    """A workflow's current version (its versions: :class:`WorkflowVersion`)."""

    #: Its name in the API: the file stem of a definition in ``WORKFLOWS_DIR`` (``ci``).
    workflow_id = models.CharField(max_length=200, primary_key=True)
    name = models.CharField(max_length=255)
    version = models.PositiveIntegerField()
    document = models.JSONField()
    #: The jobs in the definition's order (jsonb keeps no key order).
    job_order = models.JSONField(default=list)
    source = models.CharField(max_length=16)
    stream_version = models.PositiveIntegerField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    tenant = models.CharField(max_length=255, default=DEFAULT_TENANT)

    def __str__(self) -> str:
        return f"workflow {self.workflow_id} v{self.version}"

    @property
    def ordered_document(self) -> dict:
        return ordered(self.document, self.job_order)


class WorkflowVersion(models.Model):
    workflow = models.ForeignKey(
        WorkflowDefinition, on_delete=models.CASCADE, related_name="versions"
    )
    version = models.PositiveIntegerField()
    document = models.JSONField()
    job_order = models.JSONField(default=list)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workflow", "version"], name="workflow_version_uniq")
        ]

    def __str__(self) -> str:
        return f"workflow {self.workflow_id} v{self.version}"


class WorkflowRun(models.Model):
    run_id = models.UUIDField(primary_key=True)
    workflow = models.ForeignKey(
        WorkflowDefinition, on_delete=models.DO_NOTHING, db_constraint=False, related_name="runs"
    )
    definition_version = models.PositiveIntegerField()
    jobs = models.JSONField(default=list)
    status = models.CharField(max_length=16, choices=[(s.value, s.value) for s in RunStatus])
    cancelled = models.BooleanField(default=False)
    cancel_reason = models.TextField(null=True, blank=True)
    version = models.PositiveIntegerField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    tenant = models.CharField(max_length=255, default=DEFAULT_TENANT)

    class Meta:
        indexes = [models.Index(fields=["workflow", "-created_at"], name="wf_runs_latest_idx")]
        constraints = [
            # One active run per workflow (starting another while one runs answers with it).
            models.UniqueConstraint(
                fields=["workflow"],
                condition=models.Q(status="running"),
                name="wf_one_active_run",
            )
        ]

    def __str__(self) -> str:
        return f"run {self.run_id} of {self.workflow_id} ({self.status})"


class JobRun(models.Model):
    """One job of one run; the rows in ``queued`` are the job queue."""

    id = models.UUIDField(primary_key=True)
    run = models.ForeignKey(
        WorkflowRun, on_delete=models.DO_NOTHING, db_constraint=False, related_name="job_runs"
    )
    workflow_id = models.CharField(max_length=200)
    job_id = models.CharField(max_length=200)
    name = models.CharField(max_length=255)
    status = models.CharField(max_length=16, choices=[(s.value, s.value) for s in JobStatus])
    needs = models.JSONField(default=list)
    #: What a worker must have (each of them): claims match ``labels <@ worker's labels``.
    labels = ArrayField(models.TextField(), default=list)
    retries = models.PositiveIntegerField(default=0)
    backoff = models.JSONField(default=dict)
    timeout_seconds = models.FloatField(null=True, blank=True)
    condition = models.TextField(default="success()")
    command = models.TextField(null=True, blank=True)
    agent = models.JSONField(null=True, blank=True)
    env = models.JSONField(default=dict)
    attempt = models.PositiveIntegerField(default=0)
    not_before = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    upstream_outputs = models.JSONField(default=dict)
    lease_id = models.UUIDField(null=True, blank=True, unique=True)
    lease_epoch = models.PositiveIntegerField(default=0)
    worker_id = models.CharField(max_length=255, null=True, blank=True)
    ttl_seconds = models.FloatField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    outputs = models.JSONField(default=dict)
    error = models.TextField(null=True, blank=True)
    version = models.PositiveIntegerField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    tenant = models.CharField(max_length=255, default=DEFAULT_TENANT)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "job_id"], name="job_run_per_run_uniq")
        ]
        indexes = [
            # The queue, oldest first (workflows/sql/queries.sql: claim_jobs).
            models.Index(
                fields=["queued_at", "id"],
                name="job_runs_queue_idx",
                condition=models.Q(status="queued"),
            ),
            # The reaper: running jobs by lease end.
            models.Index(
                fields=["lease_expires_at"],
                name="job_runs_running_idx",
                condition=models.Q(status="running"),
            ),
            # A workflow's job by name (the cancel poll, logs).
            models.Index(fields=["workflow_id", "job_id"], name="job_runs_by_job_idx"),
        ]

    def __str__(self) -> str:
        return f"job {self.job_id} of run {self.run_id} ({self.status})"
