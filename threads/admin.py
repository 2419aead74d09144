"""Threads in the admin: status, values and their event timeline (``runs.admin`` adds their runs)."""

from __future__ import annotations

from django.contrib import admin

from duragraph_site.admin_base import pretty_json
from events.admin import EventSourcedAdmin
from threads.models import Thread


@admin.register(Thread)
class ThreadAdmin(EventSourcedAdmin):
    stream_type = "thread"
    list_display = ("thread_id", "status", "created_at", "updated_at")
    list_filter = ("status",)
    search_fields = ("=thread_id",)
    ordering = ("-created_at",)
    date_hierarchy = "created_at"
    show_full_result_count = False
    actions = ("replay_selected",)
    fields = (
        "thread_id", "status", "version", "created_at", "updated_at", "state_updated_at", "copied_from",
        "metadata_json", "values_json", "interrupts_json", "error_json", "ttl",
    )  # fmt: skip
    readonly_fields = fields

    @admin.display(description="metadata")
    def metadata_json(self, thread: Thread) -> str:
        return pretty_json(thread.metadata)

    @admin.display(description="values")
    def values_json(self, thread: Thread) -> str:
        return pretty_json(thread.values)

    @admin.display(description="interrupts")
    def interrupts_json(self, thread: Thread) -> str:
        return pretty_json(thread.interrupts)

    @admin.display(description="error")
    def error_json(self, thread: Thread) -> str:
        return pretty_json(thread.error)
