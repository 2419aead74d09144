"""Node caching: LangGraph's ``BaseCache`` in PostgreSQL, handed to every graph the executor
runs, so a node with a ``CachePolicy`` runs once per input (its key) and TTL across runs,
threads and executor processes, not once per process as LangGraph's ``InMemoryCache``.

Entries are per tenant (``NodeCacheEntry``): a tenant never gets another's results. Values are
stored as LangGraph's serializer writes them (type tag and bytes). Each call is one statement
whose connection goes back to the pool afterwards: LangGraph calls ``set`` from its own
short-lived threads, whose connections would otherwise stay checked out; async calls run on a
worker thread. Expired entries are invisible at once and deleted by
the scheduler's ``expire`` job (``workers.services.node_cache_prune_expired``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone
from langgraph.cache.base import BaseCache, FullKey, Namespace

from duragraph_site.db.connections import released
from workers.models import NodeCacheEntry


class TenantNodeCache(BaseCache[Any]):
    """One tenant's node cache."""

    def __init__(self, tenant: str) -> None:
        super().__init__()
        self.tenant = tenant

    @released()
    def get(self, keys: Sequence[FullKey]) -> dict[FullKey, Any]:
        if not keys:
            return {}
        wanted = Q()
        for namespace, key in keys:
            wanted |= Q(namespace=list(namespace), key=key)
        live = Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
        rows = NodeCacheEntry.objects.filter(wanted, live, tenant=self.tenant).values_list(
            "namespace", "key", "encoding", "value"
        )
        return {
            (tuple(namespace), key): self.serde.loads_typed((encoding, bytes(value)))
            for namespace, key, encoding, value in rows
        }

    @released()
    def set(self, pairs: Mapping[FullKey, tuple[Any, int | None]]) -> None:
        if not pairs:
            return
        now = timezone.now()
        entries = []
        for (namespace, key), (value, ttl) in pairs.items():
            encoding, data = self.serde.dumps_typed(value)
            entries.append(
                NodeCacheEntry(
                    tenant=self.tenant,
                    namespace=list(namespace),
                    key=key,
                    encoding=encoding,
                    value=data,
                    expires_at=now + timedelta(seconds=ttl) if ttl is not None else None,
                    created_at=now,
                )
            )
        # One upsert: concurrent runs computing the same node agree, the last one wins.
        NodeCacheEntry.objects.bulk_create(
            entries,
            update_conflicts=True,
            unique_fields=["tenant", "namespace", "key"],
            update_fields=["encoding", "value", "expires_at", "created_at"],
        )

    @released()
    def clear(self, namespaces: Sequence[Namespace] | None = None) -> None:
        entries = NodeCacheEntry.objects.filter(tenant=self.tenant)
        if namespaces is not None:
            entries = entries.filter(namespace__in=[list(ns) for ns in namespaces])
        entries.delete()

    async def aget(self, keys: Sequence[FullKey]) -> dict[FullKey, Any]:
        return await asyncio.to_thread(self.get, list(keys))

    async def aset(self, pairs: Mapping[FullKey, tuple[Any, int | None]]) -> None:
        await asyncio.to_thread(self.set, dict(pairs))

    async def aclear(self, namespaces: Sequence[Namespace] | None = None) -> None:
        await asyncio.to_thread(self.clear, namespaces)
