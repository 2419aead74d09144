"""The event log and the transactional outbox.

Only :mod:`events.store` writes these tables. ``Event`` is append-only and PostgreSQL itself
enforces it: row-level triggers refuse UPDATE and DELETE, a statement-level trigger refuses
TRUNCATE, whether the statement comes from the ORM, the admin or raw SQL.
"""

from __future__ import annotations

import pgtrigger
from django.db import models

STREAM_VERSION_CONSTRAINT = "events_event_stream_version_uniq"
OUTBOX_CHANNEL = "duragraph_outbox"


class Event(models.Model):
    """One immutable fact in one stream (a run, a thread, an assistant)."""

    id = models.BigAutoField(primary_key=True)
    stream_type = models.CharField(max_length=32)
    stream_id = models.UUIDField()
    #: Position in the stream, from 1. Unique per stream: optimistic concurrency.
    version = models.PositiveIntegerField()
    type = models.CharField(max_length=64)
    payload = models.JSONField()
    #: Who and what caused it: actor, request id, worker id, lease epoch.
    metadata = models.JSONField(default=dict)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["stream_id", "version"], name=STREAM_VERSION_CONSTRAINT
            ),
        ]
        triggers = [
            pgtrigger.Protect(
                name="append_only",
                operation=pgtrigger.Update | pgtrigger.Delete,
            ),
            pgtrigger.Trigger(
                name="no_truncate",
                operation=pgtrigger.Truncate,
                level=pgtrigger.Statement,
                when=pgtrigger.Before,
                func="RAISE EXCEPTION 'pgtrigger: Cannot truncate the append-only % table', TG_TABLE_NAME;",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.stream_type}:{self.stream_id}@{self.version} {self.type}"


class Outbox(models.Model):
    """An event waiting to be published to NATS, written in the same transaction as the event.

    The row references its event instead of copying the payload (a checkpoint can be large; it
    is written once). A statement-level trigger NOTIFYs the relay; PostgreSQL delivers the
    notification only when the transaction commits.
    """

    id = models.BigAutoField(primary_key=True)
    event = models.ForeignKey(
        Event, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    subject = models.CharField(max_length=255)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField()
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "outbox"
        indexes = [
            models.Index(
                fields=["id"],
                name="events_outbox_pending_idx",
                condition=models.Q(published_at__isnull=True),
            ),
            models.Index(fields=["published_at"], name="events_outbox_published_idx"),
        ]
        triggers = [
            pgtrigger.Trigger(
                name="notify_relay",
                operation=pgtrigger.Insert,
                level=pgtrigger.Statement,
                when=pgtrigger.After,
                func=f"PERFORM pg_notify('{OUTBOX_CHANNEL}', ''); RETURN NULL;",
            ),
        ]

    def __str__(self) -> str:
        state = "published" if self.published_at else "pending"
        return f"outbox #{self.id} {self.subject} ({state})"
