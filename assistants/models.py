"""Read models of assistants: projections of the assistant event streams.

Only ``assistants.services`` (and the projection rebuild) write these rows.
"""

from __future__ import annotations

from django.db import models


class Assistant(models.Model):
    assistant_id = models.UUIDField(primary_key=True)
    graph_id = models.CharField(max_length=255, db_index=True)
    config = models.JSONField(default=dict)
    context = models.JSONField(default=dict)
    metadata = models.JSONField(default=dict)
    name = models.CharField(max_length=255)
    description = models.TextField(null=True, blank=True)
    #: LangGraph's version: the number of the active version.
    version = models.PositiveIntegerField()
    #: The event-stream version this row reflects (optimistic concurrency).
    stream_version = models.PositiveIntegerField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    #: Its tenant (docs/tenants.md); "" for a system assistant, which every tenant sees.
    tenant = models.CharField(max_length=255, default="default")

    class Meta:
        indexes = [
            models.Index(fields=["created_at"], name="assistants_created_idx"),
            # A tenant's searches: its own and the system assistants, newest first.
            models.Index(fields=["tenant", "created_at"], name="assistants_tenant_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.graph_id} v{self.version})"


class AssistantVersion(models.Model):
    id = models.BigAutoField(primary_key=True)
    assistant = models.ForeignKey(Assistant, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    graph_id = models.CharField(max_length=255)
    config = models.JSONField(default=dict)
    context = models.JSONField(default=dict)
    metadata = models.JSONField(default=dict)
    name = models.CharField(max_length=255)
    description = models.TextField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["assistant", "version"], name="assistants_version_uniq"
            ),
        ]
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"{self.assistant_id} v{self.version}"
