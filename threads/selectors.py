"""Thread queries: read models only."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from django.db import connections, router
from django.db.models import Count, Model, Q, Window
from django.utils.functional import cached_property

from duragraph_site.errors import DuraGraphError, InvalidInput, NotFound
from threads import domain, state
from threads.models import Checkpoint, Thread

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models import QuerySet
    from django.db.models.expressions import Col

M = TypeVar("M", bound=Model)
#: ``(column index, the column's database converters, the column)`` of the columns that have any.
_Converters = list[tuple[int, list[Callable[..., Any]], "Col"]]

SORT_FIELDS = ("thread_id", "status", "created_at", "updated_at", "state_updated_at")
_PATH_PART = re.compile(r"^(?P<key>[^\[\]]+)?(?P<indexes>(\[-?\d+\])*)$")


def thread_get(thread_id: uuid.UUID, *, tenant: str | None = None) -> Thread:
    """The thread's row; NotFound if there is none, or if a caller scoped to *tenant* (None:
    every tenant) cannot see it (the same answer: another tenant's id is an unknown id).

    The API's hottest read (``GET /threads/{id}``, and the state and history endpoints start
    with it). ``Thread.objects.filter(...).first()`` spends most of its 0.4 ms of CPU building
    and compiling the same statement every time; :class:`_RowByPk` compiles it once and builds
    the model exactly as the ORM does, for about 0.14 ms.
    """
    thread = _THREAD_BY_ID.get(thread_id)
    if thread is None or not domain.visible_to(thread.tenant, tenant):
        raise NotFound(f"Thread with ID {thread_id} not found")
    return thread


def thread_exists(thread_id: uuid.UUID) -> bool:
    """Whether the id names a thread of any tenant (ids are global: creating it again is 409)."""
    return Thread.objects.filter(thread_id=thread_id).exists()


class _RowByPk(Generic[M]):
    """``Model.objects.filter(pk=pk).first()`` for a hot path, without the query builder.

    The statement selects every concrete field by primary key (what the ORM sends, minus the
    ``ORDER BY``/``LIMIT`` that ``first()`` adds to a primary-key lookup); its SQL is written
    once per process. A row becomes a model as in the ORM: each field's database converters
    (``from_db_value``: the JSON fields' decoding), then ``Model.from_db``.
    """

    def __init__(self, model: type[M]) -> None:
        self.model = model
        self._compiled: tuple[str, _Converters] | None = None

    def _compile(self, connection: BaseDatabaseWrapper) -> tuple[str, _Converters]:
        meta = self.model._meta
        quote = connection.ops.quote_name
        fields = meta.concrete_fields
        sql = (
            f"SELECT {', '.join(quote(field.column) for field in fields)} "
            f"FROM {quote(meta.db_table)} WHERE {quote(meta.pk.column)} = %s"
        )
        converters: _Converters = []
        for index, field in enumerate(fields):
            column = field.get_col(meta.db_table)
            functions = connection.ops.get_db_converters(column) + column.get_db_converters(
                connection
            )
            if functions:
                converters.append((index, functions, column))
        return sql, converters

    def get(self, pk: Any) -> M | None:
        """The row whose primary key is *pk* as a model instance, or None."""
        alias = router.db_for_read(self.model)
        connection = connections[alias]
        if self._compiled is None:
            self._compiled = self._compile(connection)
        sql, converters = self._compiled
        value = self.model._meta.pk.get_db_prep_value(pk, connection)
        with connection.cursor() as cursor:
            cursor.execute(sql, [value])
            row = cursor.fetchone()
        if row is None:
            return None
        values = list(row)
        for index, functions, column in converters:
            for convert in functions:
                values[index] = convert(values[index], column, connection)
        return self.model.from_db(alias, self._attnames, values)

    @cached_property
    def _attnames(self) -> list[str]:
        return [field.attname for field in self.model._meta.concrete_fields]


_THREAD_BY_ID = _RowByPk(Thread)


def _filtered(
    *,
    tenant: str | None = None,
    metadata: dict | Q | None = None,
    values: dict | None = None,
    ids: list[uuid.UUID] | None = None,
    status: str | None = None,
) -> QuerySet[Thread]:
    queryset = Thread.objects.all()
    if tenant is not None:
        queryset = queryset.filter(tenant=tenant)
    if isinstance(metadata, Q):  # LangGraph custom auth's filters (accounts.custom_auth)
        queryset = queryset.filter(metadata)
    elif metadata:
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
    tenant: str | None = None,
    metadata: dict | Q | None = None,
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
    filters = {
        "tenant": tenant,
        "metadata": metadata,
        "values": values,
        "ids": ids,
        "status": status,
    }
    queryset = _filtered(**filters).annotate(total=Window(Count("*")))
    rows = list(queryset.order_by(f"{direction}{order}", "thread_id")[offset : offset + limit])
    total = rows[0].total if rows else (_filtered(**filters).count() if offset else 0)
    return rows, total


def threads_listed(
    *,
    tenant: str | None = None,
    status: str | None = None,
    thread_id: uuid.UUID | None = None,
) -> QuerySet[Thread]:
    """The dashboard's thread list, before paging: *tenant*'s threads (None: every tenant),
    optionally of one status or one id. Only the columns a list row shows are read: a thread's
    values (a whole conversation) would make a page of 50 rows heavy for nothing."""
    return _filtered(tenant=tenant, status=status, ids=[thread_id] if thread_id else None).only(
        "thread_id", "status", "metadata", "created_at", "updated_at", "tenant"
    )


def thread_checkpoint_exists(thread_id: uuid.UUID, checkpoint_id: str) -> bool:
    """Whether *checkpoint_id* is one of the thread's root checkpoints (an update at an unknown
    checkpoint would start a history of its own instead of being refused)."""
    return Checkpoint.objects.filter(
        thread_id=thread_id, checkpoint_ns="", checkpoint_id=checkpoint_id
    ).exists()


def thread_graph_nodes(thread: Thread) -> list[str]:
    """The nodes of the thread's graph that an ``update_state`` may write as (``as_node``), in
    the graph's order; [] when this process cannot load its graph (none yet, a remote one, or
    one no longer registered)."""
    try:
        graph = state.graph_for(thread)
    except DuraGraphError:
        return []
    if graph is None:
        return []
    return [name for name in graph.nodes if name != "__start__"]


def thread_count(
    *,
    tenant: str | None = None,
    metadata: dict | Q | None = None,
    values: dict | None = None,
    status: str | None = None,
) -> int:
    return _filtered(tenant=tenant, metadata=metadata, values=values, status=status).count()


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


#: What a thread's checkpoints occupy, as stored (``thread_storage``): the checkpoint rows
#: (LangGraph's serialized checkpoint, channel values inline, plus the metadata), the JSON copy
#: of each root checkpoint's state by channel (what ``state`` and ``history`` read), and the
#: pending writes.
_STORAGE_SQL = """
SELECT 'checkpoints', NULL, count(*),
       coalesce(sum(octet_length(checkpoint) + octet_length(metadata::text)), 0)
FROM threads_checkpoint WHERE thread_id = %(thread_id)s
UNION ALL
SELECT 'channel', channel.key, count(*), sum(octet_length(channel.value::text))
FROM threads_checkpoint, jsonb_each(CASE jsonb_typeof("values") WHEN 'object' THEN "values"
                                         ELSE '{}'::jsonb END) AS channel
WHERE thread_id = %(thread_id)s
GROUP BY channel.key
UNION ALL
SELECT 'pending_writes', NULL, count(*), coalesce(sum(octet_length(value)), 0)
FROM threads_checkpointwrite WHERE thread_id = %(thread_id)s
"""


def thread_storage(thread_id: uuid.UUID, *, tenant: str | None = None) -> dict[str, Any]:
    """The bytes the thread's checkpoints occupy, as LangGraph's ``/threads/{id}/storage``
    reports them: ``checkpoints``, ``channel_values`` (by channel: how many checkpoints hold
    it, and its bytes), ``pending_writes`` and their ``total_bytes``. 404 for an unknown
    thread (or another tenant's)."""
    thread_get(thread_id, tenant=tenant)
    with connections[router.db_for_read(Checkpoint)].cursor() as cursor:
        cursor.execute(_STORAGE_SQL, {"thread_id": thread_id})
        rows = cursor.fetchall()
    sections = {
        kind: {"count": count, "bytes": size}
        for kind, _channel, count, size in rows
        if kind != "channel"
    }
    by_channel = {
        channel: {"versions": count, "bytes": size}
        for kind, channel, count, size in sorted(rows, key=lambda row: row[1] or "")
        if kind == "channel"
    }
    channel_values = {
        "count": sum(entry["versions"] for entry in by_channel.values()),
        "bytes": sum(entry["bytes"] for entry in by_channel.values()),
        "by_channel": by_channel,
    }
    return {
        "thread_id": thread_id,
        "total_bytes": sections["checkpoints"]["bytes"]
        + channel_values["bytes"]
        + sections["pending_writes"]["bytes"],
        "checkpoints": sections["checkpoints"],
        "channel_values": channel_values,
        "pending_writes": sections["pending_writes"],
    }


def thread_latest_checkpoint(thread_id: uuid.UUID) -> tuple[str, dict[str, Any]] | None:
    """``(checkpoint_id, metadata)`` of the thread's latest root checkpoint, or None."""
    return (
        Checkpoint.objects.filter(thread_id=thread_id, checkpoint_ns="")
        .order_by("-checkpoint_id")
        .values_list("checkpoint_id", "metadata")
        .first()
    )


def thread_state(
    thread_id: uuid.UUID,
    *,
    tenant: str | None = None,
    checkpoint: dict[str, Any] | None = None,
    subgraphs: bool = False,
) -> dict[str, Any]:
    """The thread's state (at *checkpoint*, else the latest) as LangGraph's ThreadState."""
    thread = thread_get(thread_id, tenant=tenant)
    graph = state.graph_for(thread)
    if graph is None:
        return _state_from_rows(thread, checkpoint)
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
    tenant: str | None = None,
    limit: int = 10,
    before: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    checkpoint: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The thread's states, newest first (LangGraph's ``get_state_history``)."""
    thread = thread_get(thread_id, tenant=tenant)
    graph = state.graph_for(thread)
    if graph is None:
        rows = Checkpoint.objects.filter(thread_id=thread_id, checkpoint_ns="").order_by(
            "-checkpoint_id"
        )
        if before and before.get("checkpoint_id"):
            rows = rows.filter(checkpoint_id__lt=before["checkpoint_id"])
        if metadata:
            rows = rows.filter(metadata__contains=metadata)
        return [state.encode_checkpoint_row(row) for row in rows[:limit]]
    config = state.thread_config(thread_id, checkpoint)
    before_config = (
        state.thread_config(thread_id, before) if before and before.get("checkpoint_id") else None
    )
    snapshots = graph.get_state_history(
        config, filter=metadata or None, before=before_config, limit=limit
    )
    return [state.encode_snapshot(snapshot) for snapshot in snapshots]


def _state_from_rows(thread: Thread, checkpoint: dict[str, Any] | None) -> dict[str, Any]:
    """The state of a thread whose graph this process cannot load: its latest checkpoint row."""
    rows = Checkpoint.objects.filter(thread_id=thread.thread_id, checkpoint_ns="")
    if checkpoint and checkpoint.get("checkpoint_id"):
        rows = rows.filter(checkpoint_id=checkpoint["checkpoint_id"])
    row = rows.order_by("-checkpoint_id").first()
    if row is None:
        if checkpoint and checkpoint.get("checkpoint_id"):
            raise NotFound(
                f"Checkpoint {checkpoint['checkpoint_id']} not found on thread {thread.thread_id}"
            )
        return dict(state.EMPTY_STATE)
    interrupts = [item for items in (thread.interrupts or {}).values() for item in items]
    return state.encode_checkpoint_row(row, interrupts if thread.status == "interrupted" else None)
