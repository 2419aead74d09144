"""DAG jobs in the admin: workflows with their versions, runs with their jobs and event
timelines, jobs; operations (start a run, cancel a run or a job, requeue a job) as actions
calling services."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

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


def _each(
    admin_view, request, items: Iterable[tuple[str, Callable[[], object]]], verb: str
) -> None:
    """Run each ``(name, command)`` through its service; one message for the done ones, one
    per refusal (a command may also refuse by returning a reason)."""
    done, problems = 0, []
    for name, command in items:
        try:
            refusal = command()
        except DuraGraphError as error:
            refusal = error.message
        if isinstance(refusal, str):
            problems.append(f"{name}: {refusal}")
        else:
            done += 1
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
        def start(workflow_id: str) -> str | None:
            started = services.workflow_run_start(workflow_id=workflow_id)
            return None if started.started else f"a run is going ({started.run.run_id})"

        items = [(w.workflow_id, functools.partial(start, w.workflow_id)) for w in queryset]
        _each(self, request, items, "run(s) started")


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
        reason = f"cancelled by {request.user} in the admin"
        items = [
            (
                str(run.run_id),
                functools.partial(services.workflow_run_cancel, run_id=run.run_id, reason=reason),
            )
            for run in queryset
        ]
        _each(self, request, items, "run(s) cancelled")


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
        reason = f"cancelled by {request.user} in the admin"
        _each(
            self, request, self._commands(queryset, services.job_cancel, reason), "job(s) cancelled"
        )

    @admin.action(description="Requeue selected failed or cancelled jobs (and what needs them)")
    def requeue_jobs(self, request, queryset) -> None:
        reason = f"by {request.user} in the admin"
        _each(
            self, request, self._commands(queryset, services.job_requeue, reason), "job(s) requeued"
        )

    @staticmethod
    def _commands(queryset, command, reason: str) -> list[tuple[str, Callable[[], object]]]:
        return [
            (
                job.job_id,
                functools.partial(command, run_id=job.run_id, job_id=job.job_id, reason=reason),
            )
            for job in queryset.order_by("created_at")
        ]
