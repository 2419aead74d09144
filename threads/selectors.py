"""Thread queries: read models only."""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any

from django.db.models import Count, Window

from duragraph_site.errors import InvalidInput, NotFound
from threads import state
from threads.models import Checkpoint, Thread

if TYPE_CHECKING:
    from django.db.models import QuerySet

SORT_FIELDS = ("thread_id", "status", "created_at", "updated_at", "state_updated_at")
_PATH_PART = re.compile(r"^(?P<key>[^\[\]]+)?(?P<indexes>(\[-?\d+\])*)$")


def thread_get(thread_id: uuid.UUID) -> Thread:
    thread = Thread.objects.filter(thread_id=thread_id).first()
    if thread is None:
        raise NotFound(f"Thread with ID {thread_id} not found")
    return thread


def _filtered(
    *,
    metadata: dict | None = None,
    values: dict | None = None,
    ids: list[uuid.UUID] | None = None,
    status: str | None = None,
) -> QuerySet[Thread]:
    queryset = Thread.objects.all()
    if metadata:
        queryset = queryset.filter(metadata__contains=metadata)
    if values:
        queryset = queryset.filter(values__contains=values)
    if ids:
        queryset = queryset.filter(thread_id__in=ids)
    if status:
        queryset = queryset.filter(status=status)
    return queryset


def thread_search(
    *,
    metadata: dict | None = None,
    values: dict | None = None,
    ids: list[uuid.UUID] | None = None,
    status: str | None = None,
    limit: int = 10,
    offset: int = 0,
    sort_by: str | None = None,
    sort_order: str | None = None,
) -> tuple[list[Thread], int]:
    """A page of threads and the total number matching, in one query."""
    order = sort_by or "created_at"
    if order not in SORT_FIELDS:
        raise InvalidInput(f"sort_by must be one of {list(SORT_FIELDS)}")
    direction = "" if sort_order == "asc" else "-"
    filters = {"metadata": metadata, "values": values, "ids": ids, "status": status}
    queryset = _filtered(**filters).annotate(total=Window(Count("*")))
    rows = list(queryset.order_by(f"{direction}{order}", "thread_id")[offset : offset + limit])
    total = rows[0].total if rows else (_filtered(**filters).count() if offset else 0)
    return rows, total


def thread_count(
    *, metadata: dict | None = None, values: dict | None = None, status: str | None = None
) -> int:
    return _filtered(metadata=metadata, values=values, status=status).count()


def extract(document: dict[str, Any], path: str) -> Any:
    """LangGraph's ``extract`` paths: ``values.messages[-1].content`` (None when absent)."""
    current: Any = document
    for part in path.split("."):
        match = _PATH_PART.match(part)
        if match is None:
            raise InvalidInput(f"invalid extract path {path!r}")
        if match.group("key") is not None:
            current = current.get(match.group("key")) if isinstance(current, dict) else None
        for index in re.findall(r"\[(-?\d+)\]", match.group("indexes") or ""):
            position = int(index)
            current = (
                current[position]
                if isinstance(current, list) and -len(current) <= position < len(current)
                else None
            )
    return current


def thread_state(
    thread_id: uuid.UUID, *, checkpoint: dict[str, Any] | None = None, subgraphs: bool = False
) -> dict[str, Any]:
    """The thread's state (at *checkpoint*, else the latest) as LangGraph's ThreadState."""
    thread = thread_get(thread_id)
    graph = state.graph_for(thread)
    if graph is None:
        return dict(state.EMPTY_STATE)
    if (
        checkpoint
        and checkpoint.get("checkpoint_id")
        and not Checkpoint.objects.filter(
            thread_id=thread_id, checkpoint_id=checkpoint["checkpoint_id"]
        ).exists()
    ):
        raise NotFound(f"Checkpoint {checkpoint['checkpoint_id']} not found on thread {thread_id}")
    snapshot = graph.get_state(state.thread_config(thread_id, checkpoint), subgraphs=subgraphs)
    return state.encode_snapshot(snapshot)


def thread_history(
    thread_id: uuid.UUID,
    *,
    limit: int = 10,
    before: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    checkpoint: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The thread's states, newest first (LangGraph's ``get_state_history``)."""
    thread = thread_get(thread_id)
    graph = state.graph_for(thread)
    if graph is None:
        return []
    config = state.thread_config(thread_id, checkpoint)
    before_config = (
        state.thread_config(thread_id, before) if before and before.get("checkpoint_id") else None
    )
    snapshots = graph.get_state_history(
        config, filter=metadata or None, before=before_config, limit=limit
    )
    return [state.encode_snapshot(snapshot) for snapshot in snapshots]
