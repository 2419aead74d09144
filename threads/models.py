"""The thread read model: a projection of the thread event streams.

Only ``threads.services`` (and the projection rebuild) write these rows.
"""

from __future__ import annotations

from django.db import models

from threads.domain import ThreadStatus


class Thread(models.Model):
    thread_id = models.UUIDField(primary_key=True)
    status = models.CharField(
        max_length=16, choices=[(s.value, s.value) for s in ThreadStatus], db_index=True
    )
    metadata = models.JSONField(default=dict)
    config = models.JSONField(default=dict)
    values = models.JSONField(null=True, blank=True)
    interrupts = models.JSONField(default=dict)
    error = models.JSONField(null=True, blank=True)
    ttl = models.JSONField(null=True, blank=True)
    copied_from = models.UUIDField(null=True, blank=True)
    #: The event-stream version this row reflects.
    version = models.PositiveIntegerField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    state_updated_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["created_at"], name="threads_created_idx")]

    def __str__(self) -> str:
        return f"thread {self.thread_id} ({self.status})"
