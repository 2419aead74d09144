"""Worker registry queries."""

from __future__ import annotations

from duragraph_site.errors import NotFound
from workers.models import Worker, WorkerGraph


def worker_list() -> list[Worker]:
    return list(Worker.objects.order_by("-last_heartbeat_at"))


def worker_get(worker_id: str) -> Worker:
    worker = Worker.objects.filter(worker_id=worker_id).first()
    if worker is None:
        raise NotFound(f"Worker {worker_id} is not registered")
    return worker


def worker_graph_get(graph_id: str) -> WorkerGraph | None:
    return WorkerGraph.objects.filter(graph_id=graph_id).first()
