"""The store's one table: LangGraph's cross-thread key-value items.

Not a projection: the store is plain mutable state (see docs/store.md), written only by
``store.services`` and read by ``store.selectors``.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models


class Item(models.Model):
    id = models.BigAutoField(primary_key=True)
    #: Its tenant: each tenant has a store of its own (docs/tenants.md).
    tenant = models.CharField(max_length=255, default="default")
    #: The path of labels the item lives under, e.g. ``["users", "ada", "memories"]``.
    namespace = ArrayField(models.TextField())
    key = models.TextField()
    #: A JSON object (LangGraph's "document").
    value = models.JSONField()
    #: How long the item lives after its last write (or refreshing read); null: forever.
    ttl = models.DurationField(null=True, blank=True)
    #: When the item stops being visible; the periodic prune deletes it after that.
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            # The upsert's ON CONFLICT target; also the index for get/put/delete by
            # (tenant, ns, key), and for a tenant's searches and namespaces.
            models.UniqueConstraint(
                fields=["tenant", "namespace", "key"], name="store_item_tenant_ns_key_uniq"
            ),
        ]
        indexes = [
            # Prefix/suffix matching pre-filters with `namespace @> labels` (array containment).
            GinIndex(fields=["namespace"], name="store_item_namespace_gin"),
            # Search filters pre-filter with `value @> {...}` (jsonb containment).
            GinIndex(fields=["value"], opclasses=["jsonb_path_ops"], name="store_item_value_gin"),
            # A search reads a tenant's items most recent first: under a broad prefix, its
            # LIMIT stops after a page's worth instead of sorting every item.
            models.Index(fields=["tenant", "-updated_at"], name="store_item_recent_idx"),
            # The prune scans only items that can expire.
            models.Index(
                fields=["expires_at"],
                condition=models.Q(expires_at__isnull=False),
                name="store_item_expires_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{'.'.join(self.namespace)} / {self.key}"


class EmbeddingField(ArrayField):
    """A ``double precision[]`` on any PostgreSQL; pgvector's ``vector`` where the store's
    migration could create the extension (searches then compare stored vectors without a cast
    per row; it keeps 32-bit floats). Either reads as a list of floats (a ``vector`` arrives as
    its text, ``[1,0.5]``)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("base_field", models.FloatField())
        super().__init__(**kwargs)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return [float(number) for number in json.loads(value)] if isinstance(value, str) else value


class ItemVector(models.Model):
    """One embedding of an item, for semantic search (``langgraph.json`` ``store.index``): one
    per embedded text of its value, replaced with the item by every put (docs/store.md).
    """

    id = models.BigAutoField(primary_key=True)
    # The database deletes an item's vectors with it (ON DELETE CASCADE, added by the
    # migration): the store deletes items in raw SQL, where Django's cascade does not run.
    item = models.ForeignKey(
        Item, on_delete=models.DO_NOTHING, db_constraint=False, related_name="vectors"
    )
    #: The JSON path of the embedded text in the value (``text``, ``notes.0``, ``$``).
    field = models.TextField()
    embedding = EmbeddingField()

    class Meta:
        db_table = "store_vector"

    def __str__(self) -> str:
        return f"{self.item_id} {self.field}"
