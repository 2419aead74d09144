"""The run read model: a projection of the run event streams, and the work queue.

Pending rows are the queue (claimed with ``FOR UPDATE SKIP LOCKED``). Only ``runs.services``
(and the projection rebuild) write these rows.
"""

from __future__ import annotations

import pgtrigger
from django.db import models

from runs.domain import TERMINAL_STATUSES, MultitaskStrategy, RunStatus

#: NOTIFY channels (payload: the run id), delivered when the transaction commits.
QUEUED_CHANNEL = "duragraph_run_queued"  # also workers.queue_listener.QUEUED_CHANNEL

ENDED_CHANNEL = "duragraph_run_ended"
_TERMINAL = ", ".join(f"'{status.value}'" for status in sorted(TERMINAL_STATUSES))


class Run(models.Model):
    run_id = models.UUIDField(primary_key=True)
    thread = models.ForeignKey(
        "threads.Thread", on_delete=models.DO_NOTHING, db_constraint=False, related_name="runs"
    )
    assistant = models.ForeignKey(
        "assistants.Assistant",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="runs",
    )
    status = models.CharField(max_length=16, choices=[(s.value, s.value) for s in RunStatus])
    #: The event-stream version this row reflects (optimistic concurrency).
    version = models.PositiveIntegerField()
    #: The fencing token of the current lease.
    lease_epoch = models.PositiveIntegerField(default=0)
    worker_id = models.CharField(max_length=255, null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempt = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField()
    available_at = models.DateTimeField()
    multitask_strategy = models.CharField(
        max_length=16, choices=[(s.value, s.value) for s in MultitaskStrategy]
    )
    kwargs = models.JSONField(default=dict)
    metadata = models.JSONField(default=dict)
    error = models.JSONField(null=True, blank=True)
    output = models.JSONField(null=True, blank=True)
    interrupts = models.JSONField(default=dict)
    cancel_reason = models.TextField(null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    #: Its thread's tenant (docs/tenants.md).
    tenant = models.CharField(max_length=255, default="default")

    class Meta:
        indexes = [
            # Cancelling a tenant's runs by status (POST /runs/cancel {"status": ...}).
            models.Index(fields=["tenant", "status"], name="runs_tenant_status_idx"),
            models.Index(fields=["thread", "created_at"], name="runs_thread_created_idx"),
            # The queue, in claim order (runs/sql/queries.sql: claim_runs).
            models.Index(
                fields=["created_at", "run_id"],
                name="runs_pending_fifo_idx",
                condition=models.Q(status="pending"),
            ),
            models.Index(
                fields=["lease_expires_at"],
                name="runs_running_lease_idx",
                condition=models.Q(status="running"),
            ),
            models.Index(fields=["status", "created_at"], name="runs_status_created_idx"),
            # The dashboard's Runs list, newest first by (created_at, run_id) positions
            # (duragraph_site.pages.Keyset). Neither column changes, so updates stay HOT.
            models.Index(fields=["created_at", "run_id"], name="runs_created_idx"),
        ]
        # Wake-ups for executors (a run became claimable) and for waiters (a run ended),
        # from the database itself so that no write path can forget them.
        triggers = [
            pgtrigger.Trigger(
                name="notify_queued_insert",
                operation=pgtrigger.Insert,
                when=pgtrigger.After,
                condition=pgtrigger.Q(new__status="pending"),
                func=f"PERFORM pg_notify('{QUEUED_CHANNEL}', NEW.run_id::text); RETURN NULL;",
            ),
            pgtrigger.Trigger(
                name="notify_queued_update",
                operation=pgtrigger.Update,
                when=pgtrigger.After,
                condition=pgtrigger.Condition(
                    "NEW.status = 'pending' AND OLD.status IS DISTINCT FROM NEW.status"
                ),
                func=f"PERFORM pg_notify('{QUEUED_CHANNEL}', NEW.run_id::text); RETURN NULL;",
            ),
            pgtrigger.Trigger(
                name="notify_ended",
                operation=pgtrigger.Update,
                when=pgtrigger.After,
                condition=pgtrigger.Condition(
                    f"NEW.status IN ({_TERMINAL}) AND OLD.status IS DISTINCT FROM NEW.status"
                ),
                func=f"PERFORM pg_notify('{ENDED_CHANNEL}', NEW.run_id::text); RETURN NULL;",
            ),
            pgtrigger.Trigger(
                name="notify_deleted",
                operation=pgtrigger.Delete,
                when=pgtrigger.After,
                func=f"PERFORM pg_notify('{ENDED_CHANNEL}', OLD.run_id::text); RETURN NULL;",
            ),
        ]

    def __str__(self) -> str:
        return f"run {self.run_id} ({self.status})"


class Cron(models.Model):
    """A schedule that creates runs (LangGraph's crons). Configuration, not an event stream:
    what a cron *does* is recorded by the runs it creates (``RunCreated`` with its ``cron_id``)."""

    cron_id = models.UUIDField(primary_key=True)
    assistant = models.ForeignKey(
        "assistants.Assistant",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="crons",
    )
    #: None: a stateless cron (every firing gets a new thread).
    thread = models.ForeignKey(
        "threads.Thread",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="crons",
    )
    schedule = models.CharField(max_length=255)
    timezone = models.CharField(max_length=64, default="UTC")
    #: The run-creation body each firing uses.
    payload = models.JSONField(default=dict)
    metadata = models.JSONField(default=dict)
    enabled = models.BooleanField(default=True)
    on_run_completed = models.CharField(max_length=16, null=True, blank=True)
    end_time = models.DateTimeField(null=True, blank=True)
    next_run_date = models.DateTimeField(null=True, blank=True)
    user_id = models.CharField(max_length=255, null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    #: Its tenant (its thread's, for a thread's cron); its runs are created in it.
    tenant = models.CharField(max_length=255, default="default")

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "created_at"], name="runs_cron_tenant_created_idx"),
            models.Index(
                fields=["next_run_date"], name="runs_cron_due_idx", condition=models.Q(enabled=True)
            ),
        ]

    def __str__(self) -> str:
        return f"cron {self.cron_id} ({self.schedule})"
