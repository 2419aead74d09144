"""LangGraph custom auth on threads: the handler runs, and a thread whose metadata its filters
exclude answers exactly like an unknown id (404). Nothing happens for other principals."""

from __future__ import annotations

import uuid
from typing import Any

from accounts import custom_auth
from accounts.domain import Principal
from duragraph_site.errors import NotFound
from threads import selectors


def thread_authorized(
    principal: Principal, thread_id: uuid.UUID, action: str, /, **value: Any
) -> dict[str, Any]:
    """Authorize *action* (``read``, ``update``, ``delete``, ``create_run``...) on the thread;
    the value the handler saw (it may have changed its ``metadata``)."""
    value = {"thread_id": thread_id, **value}
    filters = custom_auth.authorize(principal, "threads", action, value)
    if filters:
        thread = selectors.thread_get(thread_id, tenant=principal.tenant_scope)
        custom_auth.require_match(
            thread.metadata, filters, NotFound(f"Thread with ID {thread_id} not found")
        )
    return value


def thread_visible(principal: Principal, thread_id: uuid.UUID, filters: dict | None) -> bool:
    """Whether the caller's filters let it see the thread (False also when it does not exist)."""
    if not filters:
        return True
    try:
        thread = selectors.thread_get(thread_id, tenant=principal.tenant_scope)
    except NotFound:
        return False
    return custom_auth.matches(thread.metadata, filters)
