"""Workers in the admin: who executes runs, whether they live, and draining one."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils.html import format_html

from duragraph_site.admin_base import ReadOnlyModelAdmin, pretty_json
from duragraph_site.errors import DuraGraphError
from runs.models import Run
from workers import services
from workers.models import NodeCacheEntry, Worker, WorkerGraph


@admin.register(Worker)
class WorkerAdmin(ReadOnlyModelAdmin):
    list_display = (
        "worker_id", "kind", "status", "reported_status", "graphs", "running_runs",
        "max_concurrent_runs", "last_heartbeat_at", "heartbeat_interval",
    )  # fmt: skip
    list_filter = ("status", "kind")
    search_fields = ("worker_id", "name")
    ordering = ("-last_heartbeat_at",)
    actions = ("drain_workers",)
    fields = (
        "worker_id", "name", "kind", "status", "reported_status", "graph_ids", "running_runs",
        "max_concurrent_runs", "active_runs", "total_runs", "failed_runs", "heartbeat_interval",
        "last_heartbeat_at", "registered_at", "metadata_json",
    )  # fmt: skip
    readonly_fields = fields

    def get_queryset(self, request):
        # The runs it holds now, from the runs read model (what the worker reports may lag).
        held = (
            Run.objects.filter(worker_id=OuterRef("worker_id"), status="running")
            .values("worker_id")
            .annotate(count=Count("*"))
            .values("count")
        )
        return super().get_queryset(request).annotate(running=Coalesce(Subquery(held), 0))

    @admin.display(description="graphs")
    def graphs(self, worker: Worker) -> str:
        return ", ".join(worker.graph_ids) or "(all of the registry)"

    @admin.display(description="running runs", ordering="running")
    def running_runs(self, worker: Worker) -> str:
        url = reverse("admin:runs_run_changelist")
        return format_html(
            '<a href="{}?worker_id={}&status__exact=running">{}</a>',
            url,
            worker.worker_id,
            worker.running,
        )

    @admin.display(description="metadata")
    def metadata_json(self, worker: Worker) -> str:
        return pretty_json(worker.metadata)

    @admin.action(description="Drain selected workers (finish their runs, take no new ones)")
    def drain_workers(self, request, queryset) -> None:
        drained = 0
        for worker in queryset:
            try:
                services.worker_drain(worker_id=worker.worker_id)
                drained += 1
            except DuraGraphError as error:
                self.message_user(request, f"{worker.worker_id}: {error.message}", messages.WARNING)
        if drained:
            self.message_user(request, f"{drained} worker(s) draining.", messages.SUCCESS)


@admin.register(WorkerGraph)
class WorkerGraphAdmin(ReadOnlyModelAdmin):
    list_display = ("graph_id", "workers", "updated_at")
    search_fields = ("graph_id",)
    fields = ("graph_id", "worker_ids", "updated_at", "definition_json")
    readonly_fields = fields

    @admin.display(description="registered by")
    def workers(self, graph: WorkerGraph) -> str:
        return ", ".join(graph.worker_ids)

    @admin.display(description="definition")
    def definition_json(self, graph: WorkerGraph) -> str:
        return pretty_json(graph.definition)


@admin.register(NodeCacheEntry)
class NodeCacheEntryAdmin(ReadOnlyModelAdmin):
    """The node cache (``workers.node_cache``): look, and delete entries to have their nodes
    computed again (Django's delete action; a cache holds no facts)."""

    list_display = ("tenant", "node", "key", "encoding", "created_at", "expires_at")
    list_filter = ("tenant",)
    search_fields = ("key",)
    ordering = ("-created_at",)
    fields = ("tenant", "namespace", "key", "encoding", "created_at", "expires_at")
    readonly_fields = fields

    @admin.display(description="namespace")
    def node(self, entry: NodeCacheEntry) -> str:
        return "/".join(entry.namespace)

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("workers.delete_nodecacheentry")
