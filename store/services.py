"""Store writes: put (upsert), delete, and the periodic prune of expired items.

Each is one transaction and validates its input first (``store.domain``), so bad input raises
InvalidInput (422) before anything is written. The store is not event-sourced: see
docs/store.md.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from django.db import connection, transaction
from django.utils import timezone

from accounts.domain import DEFAULT_TENANT
from duragraph_site import langgraph_config
from store import domain, embeddings
from store.models import Item
from store.selectors import fetch_items
from store.sql import queries

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence


#: ``store_put_item``'s *ttl* when the caller gives none: ``langgraph.json``'s
#: ``store.ttl.default_ttl`` (never expires when that is not set), as LangGraph's stores.
CONFIGURED_TTL: Any = object()


def store_put_item(
    *,
    namespace: Sequence[str],
    key: str,
    value: Mapping[str, Any],
    ttl: float | None = CONFIGURED_TTL,
    index: Literal[False] | Sequence[str] | None = None,
    now: datetime | None = None,
    tenant: str = DEFAULT_TENANT,
) -> Item:
    """Create or replace the item at (*namespace*, *key*) of *tenant*'s store and return it.

    With ``langgraph.json``'s ``store.index``, the texts of the value at the configured fields
    (or at *index*'s, or none for ``False``) are embedded first, and the item's embeddings
    replaced in the same statement as the item. Without an index, *index* is ignored (as
    LangGraph does).

    *ttl* is in minutes; None means the item never expires; not given, the configured default
    (:data:`CONFIGURED_TTL`). A replace keeps ``created_at``
    (unless the old item had expired) and bumps ``updated_at``. Concurrent puts of one key are
    safe: the upsert is a single ``INSERT ... ON CONFLICT`` statement, the last one wins.

    Raises:
        InvalidInput: bad namespace, key, value, ttl or index.
        EmbeddingError: the configured embedding function failed (nothing is written).
    """
    labels = domain.validate_namespace(namespace, writing=True)
    key = domain.validate_key(key)
    document = domain.validate_value(value)
    fields = domain.validate_index(index)
    if ttl is CONFIGURED_TTL:
        ttl = langgraph_config.ttl_config("store").get("default_ttl")
    delta = domain.ttl_delta(ttl)
    now = now or timezone.now()
    params = {
        "tenant": tenant,
        "namespace": list(labels),
        "key": key,
        "value": json.dumps(document),
        "ttl": delta,
        "expires_at": now + delta if delta is not None else None,
        "now": now,
    }
    # One statement, so atomic on its own: in autocommit it is its own transaction, without
    # the BEGIN and COMMIT round trips of an atomic block (inside a caller's block, it is part
    # of that transaction).
    configured = embeddings.configured_index()
    if configured is None:
        return fetch_items(queries["put_item"], params)[0]
    # Embedded before the statement: a provider is a network call, never inside a transaction.
    texts = embeddings.texts_to_embed(document, embeddings.fields_of_put(fields, configured))
    vectors = configured.embed_texts([text for _, text in texts]) if texts else []
    params["fields"] = [field for field, _ in texts]
    params["embeddings"] = [_array_literal(vector) for vector in vectors]
    return fetch_items(_PUT_ITEM_INDEXED, params)[0]


#: ``put_item_indexed`` with ``put_item`` in its marked place.
_PUT_ITEM_INDEXED = queries["put_item_indexed"].replace("/*put_item*/", queries["put_item"])


def _array_literal(vector: Sequence[float]) -> str:
    """PostgreSQL's text form of a ``double precision[]`` (``repr`` round-trips a float)."""
    return "{" + ",".join(repr(number) for number in vector) + "}"


def store_delete_item(*, namespace: Sequence[str], key: str, tenant: str = DEFAULT_TENANT) -> bool:
    """Delete the item at (*namespace*, *key*) of *tenant*'s store; False if there was none
    (not an error).

    Raises:
        InvalidInput: bad namespace or key.
    """
    labels = domain.validate_namespace(namespace)
    key = domain.validate_key(key)
    # One statement (no signals or cascades to run for an Item), so atomic on its own.
    with connection.cursor() as cursor:
        cursor.execute(
            queries["delete_item"], {"tenant": tenant, "namespace": list(labels), "key": key}
        )
        return cursor.rowcount > 0


def store_prune_expired(*, now: datetime | None = None) -> int:
    """Delete every item whose expiry has passed; return how many. Readers already ignore
    them, so this only reclaims space: it is safe to run at any time, from any process."""
    now = now or timezone.now()
    with transaction.atomic():
        deleted, _ = Item.objects.filter(expires_at__lte=now).delete()
    return deleted
