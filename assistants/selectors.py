"""Assistant queries: read models only."""

from __future__ import annotations

import difflib
import json
import uuid
from typing import TYPE_CHECKING, Any

import orjson
from django.db import connection
from django.db.models import Count, Q, Window

from assistants import domain, graphs
from assistants.models import Assistant, AssistantVersion
from duragraph_site.errors import DuraGraphError, InvalidInput, NotFound

if TYPE_CHECKING:
    from django.db.models import QuerySet

SORT_FIELDS = ("assistant_id", "graph_id", "name", "created_at", "updated_at")


def assistant_get(assistant_id: uuid.UUID, *, tenant: str | None = None) -> Assistant:
    """The assistant, if visible to a caller scoped to *tenant* (None: every tenant): its own
    or a system assistant. Another tenant's answers NotFound, exactly as an unknown id."""
    assistant = Assistant.objects.filter(assistant_id=assistant_id).first()
    if assistant is None or not domain.visible_to(assistant.tenant, tenant):
        raise NotFound(f"Assistant {assistant_id} not found")
    return assistant


def resolve_assistant_id(value: str | uuid.UUID) -> uuid.UUID:
    """An assistant id from a UUID or a registered graph's name (its default assistant).

    Raises:
        InvalidInput: neither a UUID nor a registered graph (LangGraph's 422).
    """
    if isinstance(value, uuid.UUID):
        return value
    registry = graphs.registry()
    if value in registry:
        return domain.system_assistant_id(value)
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        raise InvalidInput(
            f"Invalid assistant: '{value}'. Must be either a valid assistant UUID, "
            f"or one of the registered graphs: {', '.join(registry.ids())}"
        ) from None


def _filtered(
    *,
    tenant: str | None = None,
    metadata: dict | Q | None = None,
    graph_id: str | None = None,
    name: str | None = None,
) -> QuerySet[Assistant]:
    queryset = Assistant.objects.all()
    if tenant is not None:
        queryset = queryset.filter(tenant__in=[tenant, domain.SYSTEM_TENANT])
    if isinstance(metadata, Q):  # LangGraph custom auth's filters (accounts.custom_auth)
        queryset = queryset.filter(metadata)
    elif metadata:
        queryset = queryset.filter(metadata__contains=metadata)
    if graph_id:
        queryset = queryset.filter(graph_id=graph_id)
    if name:
        queryset = queryset.filter(name__icontains=name)
    return queryset


#: :func:`assistant_search`'s statement; ``{order}`` and ``{direction}`` come from SORT_FIELDS.
#: A filter whose parameter is NULL is off; the values are bound client-side (psycopg's default
#: under Django), so the planner sees ``NULL IS NULL OR ...`` and folds it away.
_SEARCH_SQL = """
SELECT {columns}, COUNT(*) OVER () AS "total"
FROM {table}
WHERE (%(tenant)s::text IS NULL OR "tenant" IN (%(tenant)s, %(system_tenant)s))
  AND (%(metadata)s::jsonb IS NULL OR "metadata" @> %(metadata)s::jsonb)
  AND (%(graph_id)s::text IS NULL OR "graph_id" = %(graph_id)s)
  AND (%(name)s::text IS NULL OR UPPER("name"::text) LIKE UPPER(%(name)s))
ORDER BY {order} {direction}, {id} ASC
LIMIT %(limit)s OFFSET %(offset)s
"""


def assistant_search(
    *,
    tenant: str | None = None,
    metadata: dict | Q | None = None,
    graph_id: str | None = None,
    name: str | None = None,
    limit: int = 10,
    offset: int = 0,
    sort_by: str | None = None,
    sort_order: str | None = None,
) -> tuple[list[Assistant], int]:
    """A page of assistants and the total number matching, in one query.

    The statement is the one the ORM writes for ``_filtered(...)`` annotated with
    ``Window(Count("*"))``, ordered and sliced (same filters, same ``LIKE`` escaping, same
    order), with the optional filters switched by their parameters (:data:`_SEARCH_SQL`): the
    ORM spent 0.3 ms of CPU building and compiling it for every search.
    """
    order = sort_by or "created_at"
    if order not in SORT_FIELDS:
        raise InvalidInput(f"sort_by must be one of {list(SORT_FIELDS)}")
    if isinstance(metadata, Q):  # custom auth's $or/$eq filters: the ORM writes the statement
        filters = {"tenant": tenant, "metadata": metadata, "graph_id": graph_id, "name": name}
        direction = "" if sort_order == "asc" else "-"
        queryset = _filtered(**filters).annotate(total=Window(Count("*")))
        rows = list(
            queryset.order_by(f"{direction}{order}", "assistant_id")[offset : offset + limit]
        )
        total = rows[0].total if rows else (_filtered(**filters).count() if offset else 0)
        return rows, total
    meta = Assistant._meta
    quote = connection.ops.quote_name
    sql = _SEARCH_SQL.format(
        columns=", ".join(quote(field.column) for field in meta.concrete_fields),
        table=quote(meta.db_table),
        order=quote(meta.get_field(order).column),
        direction="ASC" if sort_order == "asc" else "DESC",
        id=quote(meta.pk.column),
    )
    params = {
        "tenant": tenant,
        "system_tenant": domain.SYSTEM_TENANT,
        "metadata": json.dumps(metadata) if metadata else None,
        "graph_id": graph_id or None,
        # What the ORM's ``icontains`` sends: LIKE's wildcards in *name* are escaped.
        "name": f"%{connection.ops.prep_for_like_query(name)}%" if name else None,
        "limit": limit,
        "offset": offset,
    }
    rows = list(Assistant.objects.raw(sql, params))
    total = (
        rows[0].total
        if rows
        else (
            _filtered(tenant=tenant, metadata=metadata, graph_id=graph_id, name=name).count()
            if offset
            else 0
        )
    )
    return rows, total


def assistant_count(
    *,
    tenant: str | None = None,
    metadata: dict | Q | None = None,
    graph_id: str | None = None,
    name: str | None = None,
) -> int:
    return _filtered(tenant=tenant, metadata=metadata, graph_id=graph_id, name=name).count()


def assistant_versions(
    assistant_id: uuid.UUID,
    *,
    tenant: str | None = None,
    metadata: dict | Q | None = None,
    limit: int = 10,
    offset: int = 0,
) -> list[AssistantVersion]:
    """Versions newest first (NotFound for an unknown assistant, or one *tenant* cannot see)."""
    assistant_get(assistant_id, tenant=tenant)
    queryset = AssistantVersion.objects.filter(assistant_id=assistant_id)
    if metadata:
        queryset = queryset.filter(Q(metadata__contains=metadata))
    return list(queryset.order_by("-version")[offset : offset + limit])


def graph_config(assistant: Assistant) -> dict[str, Any]:
    """The config a graph factory receives for this assistant."""
    config = dict(assistant.config)
    config["configurable"] = {**assistant.context, **config.get("configurable", {})}
    return config


# -- the dashboard ---------------------------------------------------------------------------
def graph_ids(*, tenant: str | None = None) -> list[str]:
    """The graphs of the assistants *tenant* sees (its own and the system ones), sorted."""
    queryset = Assistant.objects.all()
    if tenant is not None:
        queryset = queryset.filter(tenant__in=[tenant, domain.SYSTEM_TENANT])
    return sorted(set(queryset.values_list("graph_id", flat=True)))


def assistants_listed(
    *, tenant: str | None = None, graph_id: str | None = None, name: str | None = None
) -> QuerySet[Assistant]:
    """The assistants *tenant* sees (its own and the system ones), of *graph_id*, whose name
    contains *name*: unordered and unsliced, for the dashboard's keyset pages."""
    return _filtered(tenant=tenant, graph_id=graph_id, name=name)


def assistant_version_numbers(assistant_id: uuid.UUID) -> list[int]:
    """Every version number of the assistant, newest first (for choosing one)."""
    return list(
        AssistantVersion.objects.filter(assistant_id=assistant_id)
        .order_by("-version")
        .values_list("version", flat=True)
    )


#: The fields of a version that a diff compares (what a new version can change).
VERSION_FIELDS = ("graph_id", "name", "description", "config", "context", "metadata")


def assistant_version_diff(
    assistant_id: uuid.UUID, old: int, new: int, *, tenant: str | None = None
) -> list[str]:
    """The unified diff from version *old* to version *new* of the assistant, line by line,
    of their fields as indented JSON with sorted keys (so only real changes show).

    Raises:
        NotFound: the assistant (for *tenant*) or either version does not exist.
    """
    assistant_get(assistant_id, tenant=tenant)
    found = {
        version.version: version
        for version in AssistantVersion.objects.filter(
            assistant_id=assistant_id, version__in=[old, new]
        )
    }
    for number in (old, new):
        if number not in found:
            raise NotFound(f"Assistant {assistant_id} has no version {number}")

    def lines(version: AssistantVersion) -> list[str]:
        document = {field: getattr(version, field) for field in VERSION_FIELDS}
        text = orjson.dumps(
            document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
        ).decode()
        return text.splitlines()

    return list(
        difflib.unified_diff(
            lines(found[old]),
            lines(found[new]),
            fromfile=f"version {old}",
            tofile=f"version {new}",
            lineterm="",
        )
    )


def assistant_drawings(assistant: Assistant) -> dict[str, Any] | None:
    """The assistant's graph as LangGraph serializes it: ``{"expanded": <subgraphs expanded>,
    "collapsed": <each subgraph one node, or None when it has none>}``; None when it cannot be
    drawn (its graph failed to load, or is a remote one without a drawing)."""
    try:
        graph = graphs.registry().get(assistant.graph_id)
        config = graph_config(assistant)
        expanded = graph.drawable(config, xray=True)
        collapsed = graph.drawable(config, xray=False)
    except DuraGraphError:
        return None

    def ids(drawing: dict[str, Any]) -> set[str]:
        return {node["id"] for node in drawing.get("nodes", [])}

    return {
        "expanded": expanded,
        "collapsed": None if ids(collapsed) == ids(expanded) else collapsed,
    }


def assistant_schemas(assistant: Assistant) -> dict[str, Any]:
    """The graph's input/output/state/config JSON schemas ({} when it cannot be loaded)."""
    try:
        return graphs.registry().get(assistant.graph_id).schemas(graph_config(assistant))
    except DuraGraphError:
        return {}
