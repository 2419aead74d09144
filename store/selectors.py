"""Store reads: one item, a search, the namespaces.

Expired items are invisible here even before the prune deletes them. Reads may refresh TTLs
(LangGraph's refresh-on-read, on by default, off with ``refresh_ttl=False``): that is the one
write a selector makes, done inside the reading statement itself.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connection, connections, router
from django.utils import timezone

from accounts.domain import DEFAULT_TENANT
from duragraph_site import langgraph_config
from store import domain, embeddings
from store.models import Item
from store.sql import queries

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from django.db.models.expressions import Col


def fetch_items(
    sql: str, params: Mapping[str, Any], *, annotations: Sequence[str] = ()
) -> list[Item]:
    """Run one of the store's statements that return whole rows (every column of the table, in
    the model's field order, as in ``store/sql/queries.sql``, then one column per name of
    *annotations*, set as attributes) and build each row as ``Item.objects.raw`` would: the
    columns' database converters (the value's JSON decoding), then ``Model.from_db``. ``raw()``
    maps the cursor's columns to fields again on every call, which costs about as much CPU as
    the rest of a one-item read."""
    alias = router.db_for_read(Item)
    connection = connections[alias]
    converters = _converters(alias)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    width = len(Item._meta.concrete_fields)
    items = []
    for row in rows:
        values = list(row[:width])
        for index, functions, column in converters:
            for convert in functions:
                values[index] = convert(values[index], column, connection)
        item = Item.from_db(alias, None, values)
        for name, value in zip(annotations, row[width:], strict=True):
            setattr(item, name, value)
        items.append(item)
    return items


@functools.cache
def _converters(alias: str) -> list[tuple[int, list[Callable[..., Any]], Col]]:
    """``(column index, converters, column)`` for the columns of Item that have converters,
    found as the ORM finds them (backend's, then field's); the same for every call."""
    connection = connections[alias]
    found = []
    for index, field in enumerate(Item._meta.concrete_fields):
        column = field.get_col(Item._meta.db_table)
        functions = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        if functions:
            found.append((index, functions, column))
    return found


def _refresh(refresh_ttl: bool | None) -> bool:
    """A read without ``refresh_ttl`` refreshes unless ``langgraph.json``'s
    ``store.ttl.refresh_on_read`` is false (LangGraph's TTLConfig)."""
    if refresh_ttl is None:
        configured = langgraph_config.ttl_config("store").get("refresh_on_read")
        if configured is not None:
            return configured
        return bool(getattr(settings, "DURAGRAPH_STORE_REFRESH_ON_READ", True))
    return refresh_ttl


def store_get_item(
    *,
    namespace: Sequence[str],
    key: str,
    refresh_ttl: bool | None = None,
    now: datetime | None = None,
    tenant: str = DEFAULT_TENANT,
) -> Item | None:
    """The live item at (*namespace*, *key*) of *tenant*'s store, or None.

    Raises:
        InvalidInput: bad namespace or key.
    """
    labels = domain.validate_namespace(namespace)
    key = domain.validate_key(key)
    params = {
        "tenant": tenant,
        "namespace": list(labels),
        "key": key,
        "refresh": _refresh(refresh_ttl),
        "now": now or timezone.now(),
    }
    return next(iter(fetch_items(queries["get_item"], params)), None)


def store_search_items(
    *,
    namespace_prefix: Sequence[str] = (),
    filter: Mapping[str, Any] | None = None,  # LangGraph's name, shadowing the builtin
    limit: int = 10,
    offset: int = 0,
    query: str | None = None,
    refresh_ttl: bool | None = None,
    now: datetime | None = None,
    tenant: str = DEFAULT_TENANT,
) -> list[Item]:
    """A page of live items of *tenant*'s store whose namespace starts with *namespace_prefix*
    (label-wise; ``*`` matches any label) and whose value passes *filter* (see
    ``domain.parse_filter``), each with a ``score``.

    With a *query* and ``langgraph.json``'s ``store.index``, the items with embeddings ranked by
    cosine similarity to the query's (best first, ``score`` from -1 to 1); otherwise most
    recently updated first, ``score`` None (a *query* without an index is ignored, as LangGraph
    does).

    Raises:
        InvalidInput: bad prefix, filter, limit or offset.
        EmbeddingError: the configured embedding function failed.
    """
    prefix = domain.validate_namespace(namespace_prefix, name="namespace_prefix", allow_empty=True)
    conditions = domain.parse_filter(filter)
    limit, offset = domain.validate_page(limit=limit, offset=offset)
    params = {
        "tenant": tenant,
        "prefix": list(prefix),
        "required_labels": domain.required_labels(prefix),
        "contains": json.dumps(conditions.equals),
        "comparisons": json.dumps(conditions.comparisons),
        "limit": limit,
        "offset": offset,
        "refresh": _refresh(refresh_ttl),
        "now": now or timezone.now(),
    }
    prefix_kind = _prefix_kind(prefix)
    filtered = bool(conditions.equals or conditions.comparisons)
    index = embeddings.configured_index() if query else None
    if index is None:
        ranking = "recency"
    else:
        params["query_vector"] = index.embed_query(query)
        ranking = "pgvector" if has_pgvector() else "plain"
    return fetch_items(_SEARCH_SQL[ranking, prefix_kind, filtered], params, annotations=["score"])


def _prefix_kind(prefix: Sequence[str]) -> str:
    """The piece of ``store/sql/queries.sql`` that matches *prefix* ("" for none)."""
    if not prefix:
        return ""
    return "prefix_with_wildcards" if domain.WILDCARD in prefix else "prefix_exact"


#: Every value of :func:`_prefix_kind`.
_PREFIX_KINDS = ("", "prefix_exact", "prefix_with_wildcards")


def _search_sql(ranking: str, prefix_kind: str, filtered: bool) -> str:
    """``search_items`` with the pieces a search needs in its marked places."""
    similar = ranking != "recency"
    pieces = {
        "/*found*/": queries["found_by_similarity" if similar else "found_by_recency"],
        "/*similarity*/": queries[f"similarity_{ranking}"] if similar else "",
        "/*prefix*/": queries[prefix_kind] if prefix_kind else "",
        "/*filter*/": queries["filter_conditions"] if filtered else "",
    }
    sql = queries["search_items"]
    for marker, piece in pieces.items():
        sql = sql.replace(marker, piece)
    return sql


#: The search statements by (ranking, prefix kind, filtered), built once: ranking by recency,
#: or by similarity with pgvector or in plain SQL.
_SEARCH_SQL = {
    (ranking, prefix_kind, filtered): _search_sql(ranking, prefix_kind, filtered)
    for ranking in ("recency", "pgvector", "plain")
    for prefix_kind in _PREFIX_KINDS
    for filtered in (False, True)
}


def has_pgvector(alias: str = "default") -> bool:
    """Whether the database has the pgvector extension (searches then rank with its
    operators). Asked once per process and database: installing it takes a restart."""
    settings_dict = connections[alias].settings_dict
    return _has_pgvector(alias, settings_dict["NAME"], settings_dict["HOST"])


@functools.cache
def _has_pgvector(alias: str, _name: str, _host: str) -> bool:
    return pgvector_status(alias) == "installed"


def pgvector_status(alias: str = "default") -> str:
    """``installed`` in the database, ``available`` on the server (the store's migration
    creates it where the role may), or ``missing``."""
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT installed_version IS NOT NULL FROM pg_available_extensions "
            "WHERE name = 'vector'"
        )
        row = cursor.fetchone()
    if row is None:
        return "missing"
    return "installed" if row[0] else "available"


def store_list_namespaces(
    *,
    prefix: Sequence[str] | None = None,
    suffix: Sequence[str] | None = None,
    max_depth: int | None = None,
    limit: int = 100,
    offset: int = 0,
    now: datetime | None = None,
    tenant: str = DEFAULT_TENANT,
) -> list[list[str]]:
    """A page of the distinct namespaces of live items of *tenant*'s store matching *prefix* and *suffix* (label
    by label, ``*`` matches any label), cut to *max_depth* labels, in sorted order.

    Raises:
        InvalidInput: bad prefix, suffix, max_depth, limit or offset.
    """
    prefix_labels = domain.validate_namespace(prefix or (), name="prefix", allow_empty=True)
    suffix_labels = domain.validate_namespace(suffix or (), name="suffix", allow_empty=True)
    max_depth = domain.validate_max_depth(max_depth)
    limit, offset = domain.validate_page(limit=limit, offset=offset)
    params = {
        "tenant": tenant,
        "prefix": list(prefix_labels),
        "suffix": list(suffix_labels),
        "required_labels": domain.required_labels(prefix_labels, suffix_labels),
        "max_depth": max_depth,
        "limit": limit,
        "offset": offset,
        "now": now or timezone.now(),
    }
    kind = _prefix_kind(prefix_labels)
    sql = _NAMESPACES_SQL[kind, bool(suffix_labels), max_depth is not None]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [list(row[0]) for row in cursor.fetchall()]


def _namespaces_sql(prefix_kind: str, suffixed: bool, cut: bool) -> str:
    """``list_namespaces`` with the pieces a listing needs in its marked places."""
    return (
        queries["list_namespaces"]
        .replace("/*cut*/", "item.namespace[1:%(max_depth)s]" if cut else "item.namespace")
        .replace("/*prefix*/", queries[prefix_kind] if prefix_kind else "")
        .replace("/*suffix*/", queries["suffix_condition"] if suffixed else "")
    )


#: The namespace listings by (prefix kind, has a suffix, cut to a depth): built once.
_NAMESPACES_SQL = {
    (prefix_kind, suffixed, cut): _namespaces_sql(prefix_kind, suffixed, cut)
    for prefix_kind in _PREFIX_KINDS
    for suffixed in (False, True)
    for cut in (False, True)
}
