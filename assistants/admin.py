"""Assistants in the admin, with every version they ever had."""

from __future__ import annotations

from django.contrib import admin

from assistants.models import Assistant, AssistantVersion
from duragraph_site.admin_base import ReadOnlyInline, pretty_json
from events.admin import EventSourcedAdmin


class VersionInline(ReadOnlyInline):
    model = AssistantVersion
    fields = (
        "version",
        "name",
        "graph_id",
        "description",
        "config",
        "context",
        "metadata",
        "created_at",
    )
    readonly_fields = fields


@admin.register(Assistant)
class AssistantAdmin(EventSourcedAdmin):
    stream_type = "assistant"
    list_display = ("assistant_id", "name", "graph_id", "version", "created_at", "updated_at")
    list_filter = ("graph_id",)
    search_fields = ("=assistant_id", "name", "graph_id")
    ordering = ("-created_at",)
    actions = ("replay_selected",)
    inlines = (VersionInline,)
    fields = (
        "assistant_id", "name", "graph_id", "version", "description", "created_at", "updated_at",
        "config_json", "context_json", "metadata_json",
    )  # fmt: skip
    readonly_fields = fields

    @admin.display(description="config")
    def config_json(self, assistant: Assistant) -> str:
        return pretty_json(assistant.config)

    @admin.display(description="context")
    def context_json(self, assistant: Assistant) -> str:
        return pretty_json(assistant.context)

    @admin.display(description="metadata")
    def metadata_json(self, assistant: Assistant) -> str:
        return pretty_json(assistant.metadata)
