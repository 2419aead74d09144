"""Runs in the admin: filters, the event timeline, and operations as actions calling services."""

from __future__ import annotations

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from duragraph_site.admin_base import InputFilter, ReadOnlyInline, pretty_json
from duragraph_site.errors import DuraGraphError
from events.admin import EventSourcedAdmin
from runs import services
from runs.models import Run
from threads.admin import ThreadAdmin
from threads.models import Thread


class RunInline(ReadOnlyInline):
    model = Run
    fields = ("run_id", "status", "assistant_id", "worker_id", "attempt", "created_at")
    readonly_fields = fields
    ordering = ("-created_at",)
    show_change_link = True


# A thread's page lists its runs: runs sits above threads, so it extends the thread admin here
# (threads.admin knows nothing of runs).
admin.site.unregister(Thread)


@admin.register(Thread)
class ThreadWithRunsAdmin(ThreadAdmin):
    inlines = (*ThreadAdmin.inlines, RunInline)


class ThreadFilter(InputFilter):
    title = "thread id"
    parameter_name = "thread"
    lookup = "thread_id"


class AssistantFilter(InputFilter):
    title = "assistant id"
    parameter_name = "assistant"
    lookup = "assistant_id"


@admin.register(Run)
class RunAdmin(EventSourcedAdmin):
    stream_type = "run"
    list_display = (
        "run_id",
        "status",
        "thread_id",
        "assistant_id",
        "worker_id",
        "attempt",
        "lease_epoch",
        "created_at",
        "updated_at",
    )
    list_filter = ("status", "worker_id", ThreadFilter, AssistantFilter)
    search_fields = ("=run_id",)
    ordering = ("-created_at",)
    date_hierarchy = "created_at"
    show_full_result_count = False
    actions = ("cancel_runs", "requeue_runs", "replay_selected")
    fields = (
        "run_id", "status", "thread_link", "assistant_id", "multitask_strategy", "worker_id", "lease_epoch",
        "lease_expires_at", "attempt", "max_attempts", "available_at", "version", "created_at", "updated_at",
        "cancel_reason", "error_json", "kwargs_json", "metadata_json", "output_json", "interrupts_json",
    )  # fmt: skip
    readonly_fields = fields

    @admin.display(description="thread")
    def thread_link(self, run: Run) -> str:
        url = reverse("admin:threads_thread_change", args=[run.thread_id])
        return format_html('<a href="{}">{}</a>', url, run.thread_id)

    @admin.display(description="error")
    def error_json(self, run: Run) -> str:
        return pretty_json(run.error)

    @admin.display(description="kwargs")
    def kwargs_json(self, run: Run) -> str:
        return pretty_json(run.kwargs)

    @admin.display(description="metadata")
    def metadata_json(self, run: Run) -> str:
        return pretty_json(run.metadata)

    @admin.display(description="output")
    def output_json(self, run: Run) -> str:
        return pretty_json(run.output)

    @admin.display(description="interrupts")
    def interrupts_json(self, run: Run) -> str:
        return pretty_json(run.interrupts)

    @admin.action(description="Cancel selected runs")
    def cancel_runs(self, request, queryset) -> None:
        reason = f"cancelled by {request.user} in the admin"
        self._each(
            request,
            queryset,
            lambda run: services.run_cancel(run_id=run.run_id, reason=reason),
            "cancelled",
        )

    @admin.action(description="Requeue selected failed runs")
    def requeue_runs(self, request, queryset) -> None:
        reason = f"requeued by {request.user} in the admin"
        self._each(
            request,
            queryset,
            lambda run: services.run_requeue(run_id=run.run_id, reason=reason),
            "requeued",
        )

    def _each(self, request, queryset, command, verb: str) -> None:
        done = 0
        for run in queryset:
            try:
                command(run)
                done += 1
            except DuraGraphError as error:
                self.message_user(request, f"{run.run_id}: {error.message}", messages.WARNING)
        if done:
            self.message_user(request, f"{done} run(s) {verb}.", messages.SUCCESS)
