"""LangGraph custom auth on assistants: the handler runs, and an assistant whose metadata its
filters exclude answers exactly like an unknown id (404). Nothing happens for other principals."""

from __future__ import annotations

import uuid
from typing import Any

from accounts import custom_auth
from accounts.domain import Principal
from assistants import selectors
from assistants.domain import SYSTEM_TENANT
from assistants.models import Assistant
from duragraph_site.errors import Conflict, NotFound


def assistant_authorized(
    principal: Principal, assistant_id: uuid.UUID, action: str, /, **value: Any
) -> dict[str, Any]:
    """Authorize *action* (``read``, ``update``, ``delete``) on the assistant; the value the
    handler saw (it may have changed its ``metadata``)."""
    value = {"assistant_id": assistant_id, **value}
    filters = custom_auth.authorize(principal, "assistants", action, value)
    if filters:
        assistant = selectors.assistant_get(assistant_id, tenant=principal.tenant_scope)
        require_match(assistant, filters)
    return value


def assistant_runnable(principal: Principal, assistant: Assistant) -> None:
    """Running an assistant reads it: a system assistant (every graph's default) always may be
    run; another must match the ``assistants``/``read`` handler's filters (LangGraph's rule)."""
    if is_system(assistant):
        return
    filters = custom_auth.authorize(
        principal, "assistants", "read", {"assistant_id": assistant.assistant_id}
    )
    require_match(assistant, filters)


def is_system(assistant: Assistant) -> bool:
    return (
        assistant.tenant == SYSTEM_TENANT
        or (assistant.metadata or {}).get("created_by") == "system"
    )


def require_match(assistant: Assistant, filters: dict | None) -> None:
    custom_auth.require_match(
        assistant.metadata,
        filters,
        NotFound(f"Assistant {assistant.assistant_id} not found"),
    )


def searched_metadata(principal: Principal, value: dict[str, Any]) -> dict | None:
    """The metadata an assistant search or count filters on: the caller's, as the handler left
    it, with its filters (raises ``custom_auth.NothingMatches``)."""
    filters = custom_auth.authorize(principal, "assistants", "search", value)
    return custom_auth.search_metadata(value.get("metadata"), filters) or None


def not_handed_out(principal: Principal, assistant_id: uuid.UUID, filters: dict) -> None:
    """``if_exists="do_nothing"`` never hands out an assistant the handler's filters exclude:
    its id is taken (409), as LangGraph answers."""
    existing = Assistant.objects.filter(assistant_id=assistant_id).first()
    if existing is not None and not custom_auth.matches(existing.metadata, filters):
        raise Conflict(f"Assistant {assistant_id} already exists")
