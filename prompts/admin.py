"""The prompt registry in the admin, read-only (versions never change; PostgreSQL refuses
it): for operators to see which text a graph reads at each version."""

from __future__ import annotations

from django.contrib import admin

from duragraph_site.admin_base import ReadOnlyInline, ReadOnlyModelAdmin, pretty_json
from prompts.models import Prompt, PromptVersion


class PromptVersionInline(ReadOnlyInline):
    model = PromptVersion
    fields = ("version", "variant", "content", "change_log", "created_at")
    readonly_fields = fields
    ordering = ("-number",)


@admin.register(Prompt)
class PromptAdmin(ReadOnlyModelAdmin):
    list_display = ("prompt_id", "tenant", "description", "updated_at")
    list_filter = ("tenant",)
    search_fields = ("prompt_id", "description")
    ordering = ("prompt_id",)
    fields = (
        "prompt_id",
        "tenant",
        "description",
        "tags",
        "metadata_json",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields
    inlines = [PromptVersionInline]

    @admin.display(description="metadata")
    def metadata_json(self, prompt: Prompt) -> str:
        return pretty_json(prompt.metadata)
