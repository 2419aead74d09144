"""The worker registry: every process that executes runs, with its liveness.

Operational state, not an event stream: a heartbeat every second is not a business fact. What
matters about a worker's death is recorded on the runs it held (``RunLeaseExpired``).
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models


class WorkerKind(models.TextChoices):
    #: A Celery worker of this project running Python graphs of the registry.
    BUILTIN = "builtin"
    #: An external process speaking the DuraGraph worker protocol over HTTP.
    REMOTE = "remote"
    #: A process claiming DAG jobs over workflow-graph's worker protocol (``workflows``).
    JOBS = "jobs"


class WorkerStatus(models.TextChoices):
    ONLINE = "online"
    #: Finishing its runs; gets no new ones.
    DRAINING = "draining"
    #: Silent for too long; its runs were handed to others.
    LOST = "lost"
    #: Said goodbye.
    OFFLINE = "offline"


class Worker(models.Model):
    #: Free-form: the DuraGraph SDK uses the worker's name.
    worker_id = models.CharField(max_length=255, primary_key=True)
    kind = models.CharField(max_length=16, choices=WorkerKind.choices)
    name = models.CharField(max_length=255)
    status = models.CharField(
        max_length=16, choices=WorkerStatus.choices, default=WorkerStatus.ONLINE
    )
    #: What the worker last said about itself (the SDK's ready/busy/draining/...).
    reported_status = models.CharField(max_length=32, blank=True, default="")
    graph_ids = models.JSONField(default=list)
    max_concurrent_runs = models.PositiveIntegerField(default=10)
    active_runs = models.PositiveIntegerField(default=0)
    total_runs = models.PositiveIntegerField(default=0)
    failed_runs = models.PositiveIntegerField(default=0)
    #: Seconds between heartbeats (remote workers: estimated from the heartbeats themselves);
    #: silent for ``DURAGRAPH_WORKER_LOST_AFTER_HEARTBEATS`` of them means lost.
    heartbeat_interval = models.FloatField(default=30.0)
    last_heartbeat_at = models.DateTimeField()
    registered_at = models.DateTimeField()
    metadata = models.JSONField(default=dict)

    class Meta:
        indexes = [
            models.Index(fields=["status", "last_heartbeat_at"], name="workers_liveness_idx")
        ]

    def __str__(self) -> str:
        return f"{self.kind} worker {self.worker_id} ({self.status})"


class WorkerGraph(models.Model):
    """A graph definition a remote worker registered: its nodes and edges, for introspection.

    The latest registration of a graph id wins. Its runs go to the live workers serving it.
    """

    graph_id = models.CharField(max_length=255, primary_key=True)
    definition = models.JSONField()
    #: Workers that registered it (ids); a run of the graph goes to any live one of them.
    worker_ids = models.JSONField(default=list)
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"remote graph {self.graph_id}"


class NodeCacheEntry(models.Model):
    """A node's cached result (LangGraph's ``CachePolicy``), shared by every executor process:
    ``workers.node_cache``. A cache, not a fact: no event, pruned once expired."""

    id = models.BigAutoField(primary_key=True)
    #: The run's tenant: one tenant never reads another's results.
    tenant = models.CharField(max_length=255)
    #: LangGraph's namespace of the entry (the node's, in its graph).
    namespace = ArrayField(models.TextField())
    #: The hash of the node's input (the policy's key function).
    key = models.TextField()
    #: The serializer's type tag and bytes (``serde.dumps_typed``).
    encoding = models.CharField(max_length=32)
    value = models.BinaryField()
    #: None: kept until cleared.
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "namespace", "key"], name="node_cache_entry_uniq"
            )
        ]
        indexes = [
            models.Index(
                fields=["expires_at"],
                name="node_cache_expiry_idx",
                condition=models.Q(expires_at__isnull=False),
            )
        ]

    def __str__(self) -> str:
        return f"cached {'/'.join(self.namespace)}:{self.key[:12]}"
