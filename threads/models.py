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
    #: Its tenant (docs/tenants.md).
    tenant = models.CharField(max_length=255, default="default")

    class Meta:
        indexes = [
            models.Index(fields=["created_at"], name="threads_created_idx"),
            models.Index(fields=["tenant", "created_at"], name="threads_tenant_created_idx"),
        ]

    def __str__(self) -> str:
        return f"thread {self.thread_id} ({self.status})"


class Checkpoint(models.Model):
    """A LangGraph checkpoint of a thread: projection of ``CheckpointSaved`` events.

    ``checkpoint`` holds LangGraph's own serialization (``serde.dumps_typed``) so the graph gets
    back exactly what it saved; ``values`` is the root namespace's state as JSON, for the API.
    """

    id = models.BigAutoField(primary_key=True)
    thread = models.ForeignKey(
        Thread, on_delete=models.DO_NOTHING, db_constraint=False, related_name="checkpoints"
    )
    checkpoint_ns = models.CharField(max_length=512, blank=True, default="")
    checkpoint_id = models.CharField(max_length=64)
    parent_checkpoint_id = models.CharField(max_length=64, null=True, blank=True)
    #: The run that wrote it; None for ``update_state`` and copies made outside a run.
    run_id = models.UUIDField(null=True, blank=True)
    type = models.CharField(max_length=32)
    checkpoint = models.BinaryField()
    metadata = models.JSONField(default=dict)
    values = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["thread", "checkpoint_ns", "checkpoint_id"], name="threads_checkpoint_uniq"
            ),
        ]
        indexes = [models.Index(fields=["run_id"], name="threads_checkpoint_run_idx")]

    def __str__(self) -> str:
        return f"checkpoint {self.checkpoint_id} of {self.thread_id}"


class CheckpointWrite(models.Model):
    """A pending write of a task (``put_writes``): projection of ``CheckpointWritesSaved``."""

    id = models.BigAutoField(primary_key=True)
    thread = models.ForeignKey(
        Thread, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    checkpoint_ns = models.CharField(max_length=512, blank=True, default="")
    checkpoint_id = models.CharField(max_length=64)
    task_id = models.CharField(max_length=64)
    task_path = models.CharField(max_length=512, blank=True, default="")
    idx = models.IntegerField()
    channel = models.CharField(max_length=255)
    type = models.CharField(max_length=32)
    value = models.BinaryField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["thread", "checkpoint_ns", "checkpoint_id", "task_id", "idx"],
                name="threads_checkpoint_write_uniq",
            ),
        ]
