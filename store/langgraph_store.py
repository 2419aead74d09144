"""The store as the graphs the executor runs see it: LangGraph's ``BaseStore`` over this app's
services, so ``runtime.store``, ``get_store()`` and a node's ``store`` argument read and write
the very items of ``/store/items`` (same rows, namespace rules, filters and TTLs), in the run's
tenant's store.

Each operation is one statement of the services; :meth:`TenantStore.batch` runs a batch in
order on the calling thread's connection and gives it back to the pool afterwards: LangGraph
runs parallel sync nodes on its own short-lived threads, whose connections would otherwise stay
checked out. Async nodes' batches run on a worker thread. Semantic search (``query``) ranks by
``langgraph.json``'s ``store.index``, as the API's search does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from langgraph.store.base import (
    BaseStore,
    GetOp,
    Item,
    ListNamespacesOp,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
)

from duragraph_site import langgraph_config
from duragraph_site.db.connections import released
from duragraph_site.errors import InvalidInput
from store import selectors, services
from store.models import Item as ItemRow


class TenantStore(BaseStore):
    """One tenant's store, for the graphs of that tenant's runs."""

    supports_ttl = True

    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        # LangGraph's BaseStore applies it: the default TTL of puts, refresh on read.
        self.ttl_config = langgraph_config.ttl_config("store") or None

    @released()
    def batch(self, ops: Iterable[Op]) -> list[Result]:
        try:
            return [self._run(op) for op in ops]
        except InvalidInput as error:
            raise ValueError(error.message) from None  # what LangGraph's stores raise

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        return await asyncio.to_thread(self.batch, list(ops))

    def _run(self, op: Op) -> Result:
        tenant = self.tenant
        match op:
            case GetOp():
                row = selectors.store_get_item(
                    namespace=op.namespace, key=op.key, refresh_ttl=op.refresh_ttl, tenant=tenant
                )
                return _item(row) if row is not None else None
            case PutOp() if op.value is None:
                services.store_delete_item(namespace=op.namespace, key=op.key, tenant=tenant)
                return None
            case PutOp():
                services.store_put_item(
                    namespace=op.namespace,
                    key=op.key,
                    value=op.value,
                    ttl=op.ttl,
                    index=op.index,
                    tenant=tenant,
                )
                return None
            case SearchOp():
                rows = selectors.store_search_items(
                    namespace_prefix=op.namespace_prefix,
                    filter=op.filter,
                    limit=op.limit,
                    offset=op.offset,
                    query=op.query,
                    refresh_ttl=op.refresh_ttl,
                    tenant=tenant,
                )
                return [_item(row, SearchItem, score=row.score) for row in rows]
            case ListNamespacesOp():
                matches: dict[str, Any] = {"prefix": None, "suffix": None}
                for condition in op.match_conditions or ():
                    matches[condition.match_type] = condition.path
                found = selectors.store_list_namespaces(
                    **matches,
                    max_depth=op.max_depth,
                    limit=op.limit,
                    offset=op.offset,
                    tenant=tenant,
                )
                return [tuple(namespace) for namespace in found]
        raise TypeError(f"unknown store operation {type(op).__name__}")


def _item(row: ItemRow, kind: type[Item] = Item, **extra: Any) -> Item:
    return kind(
        namespace=tuple(row.namespace),
        key=row.key,
        value=row.value,
        created_at=row.created_at,
        updated_at=row.updated_at,
        **extra,
    )
