"""DAG jobs in the admin: workflows with their versions, runs with their jobs and event
timelines, jobs; operations (start a run, cancel a run or a job, requeue a job) as actions
calling services."""

from __future__ import annotations

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from duragraph_site.admin_base import ReadOnlyInline, ReadOnlyModelAdmin, pretty_json
from duragraph_site.errors import DuraGraphError
from events.admin import EventSourcedAdmin
from workflows import services
from workflows.models import JobRun, WorkflowDefinition, WorkflowRun, WorkflowVersion


class VersionInline(ReadOnlyInline):
    model = WorkflowVersion
    fields = ("version", "created_at")
    readonly_fields = fields
    ordering = ("-version",)


class RunInline(ReadOnlyInline):
    model = WorkflowRun
    fields = ("run_id", "status", "definition_version", "created_at", "finished_at")
    readonly_fields = fields
    ordering = ("-created_at",)
    show_change_link = True
    max_num = 20


def _report(admin_view, request, done: int, verb: str, problems: list[str]) -> None:
    for problem in problems:
        admin_view.message_user(request, problem, messages.WARNING)
    if done:
        admin_view.message_user(request, f"{done} {verb}.", messages.SUCCESS)


@admin.register(WorkflowDefinition)
class WorkflowAdmin(ReadOnlyModelAdmin):
    list_display = ("workflow_id", "name", "version", "source", "tenant", "updated_at")
    list_filter = ("source", "tenant")
    search_fields = ("workflow_id", "name")
    ordering = ("workflow_id",)
    fields = (
        "workflow_id",
        "name",
        "version",
        "source",
        "tenant",
        "created_at",
        "updated_at",
        "document_json",
    )
    readonly_fields = fields
    inlines = (VersionInline, RunInline)
    actions = ("start_runs",)

    @admin.display(description="definition")
    def document_json(self, workflow: WorkflowDefinition) -> str:
        return pretty_json(workflow.ordered_document)

    @admin.action(description="Start a run of the selected workflows")
    def start_runs(self, request, queryset) -> None:
        done, problems = 0, []
        for workflow in queryset:
            try:
                started = services.workflow_run_start(workflow_id=workflow.workflow_id)
            except DuraGraphError as error:
                problems.append(f"{workflow.workflow_id}: {error.message}")
                continue
            if started.started:
                done += 1
            else:
                problems.append(f"{workflow.workflow_id}: a run is going ({started.run.run_id})")
        _report(self, request, done, "run(s) started", problems)


class JobInline(ReadOnlyInline):
    model = JobRun
    fields = ("job_link", "status", "attempt", "worker_id", "started_at", "finished_at", "error")
    readonly_fields = fields
    ordering = ("created_at",)

    @admin.display(description="job")
    def job_link(self, job: JobRun) -> str:
        url = reverse("admin:workflows_jobrun_change", args=[job.id])
        return format_html('<a href="{}">{}</a>', url, job.job_id)


@admin.register(WorkflowRun)
class WorkflowRunAdmin(EventSourcedAdmin):
    stream_type = "workflow_run"
    list_display = (
        "run_id",
        "workflow_id",
        "status",
        "definition_version",
        "created_at",
        "finished_at",
    )
    list_filter = ("status", "workflow_id")
    search_fields = ("=run_id", "workflow__workflow_id")
    ordering = ("-created_at",)
    date_hierarchy = "created_at"
    fields = (
        "run_id", "workflow_id", "status", "definition_version", "cancelled", "cancel_reason",
        "created_at", "updated_at", "finished_at", "tenant",
    )  # fmt: skip
    readonly_fields = fields
    inlines = (JobInline,)
    actions = ("cancel_runs", "replay_selected")

    @admin.action(description="Cancel selected runs")
    def cancel_runs(self, request, queryset) -> None:
        done, problems = 0, []
        for run in queryset:
            try:
                services.workflow_run_cancel(
                    run_id=run.run_id, reason=f"cancelled by {request.user} in the admin"
                )
                done += 1
            except DuraGraphError as error:
                problems.append(f"{run.run_id}: {error.message}")
        _report(self, request, done, "run(s) cancelled", problems)


@admin.register(JobRun)
class JobRunAdmin(EventSourcedAdmin):
    stream_type = "job_run"
    list_display = (
        "job_id",
        "workflow_id",
        "status",
        "attempt",
        "worker_id",
        "labels",
        "started_at",
        "finished_at",
    )
    list_filter = ("status", "workflow_id")
    search_fields = ("job_id", "=run__run_id", "worker_id")
    ordering = ("-created_at",)
    show_full_result_count = False
    fields = (
        "id", "run_link", "workflow_id", "job_id", "name", "status", "attempt", "retries",
        "labels", "needs", "condition", "command", "agent_json", "worker_id", "lease_epoch",
        "lease_expires_at", "not_before", "started_at", "finished_at", "error", "outputs_json",
        "upstream_json",
    )  # fmt: skip
    readonly_fields = fields
    actions = ("cancel_jobs", "requeue_jobs", "replay_selected")

    @admin.display(description="run")
    def run_link(self, job: JobRun) -> str:
        url = reverse("admin:workflows_workflowrun_change", args=[job.run_id])
        return format_html('<a href="{}">{}</a>', url, job.run_id)

    @admin.display(description="agent")
    def agent_json(self, job: JobRun) -> str:
        return pretty_json(job.agent)

    @admin.display(description="outputs")
    def outputs_json(self, job: JobRun) -> str:
        return pretty_json(job.outputs)

    @admin.display(description="upstream outputs")
    def upstream_json(self, job: JobRun) -> str:
        return pretty_json(job.upstream_outputs)

    @admin.action(description="Cancel selected jobs (what needs them is decided by their if)")
    def cancel_jobs(self, request, queryset) -> None:
        done, problems = 0, []
        for job in queryset:
            try:
                services.job_cancel(
                    run_id=job.run_id,
                    job_id=job.job_id,
                    reason=f"cancelled by {request.user} in the admin",
                )
                done += 1
            except DuraGraphError as error:
                problems.append(f"{job.job_id}: {error.message}")
        _report(self, request, done, "job(s) cancelled", problems)

    @admin.action(description="Requeue selected failed or cancelled jobs (and what needs them)")
    def requeue_jobs(self, request, queryset) -> None:
        done, problems = 0, []
        for job in queryset.order_by("created_at"):
            try:
                services.job_requeue(
                    run_id=job.run_id,
                    job_id=job.job_id,
                    reason=f"by {request.user} in the admin",
                )
                done += 1
            except DuraGraphError as error:
                problems.append(f"{job.job_id}: {error.message}")
        _report(self, request, done, "job(s) requeued", problems)
