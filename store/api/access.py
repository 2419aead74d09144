"""LangGraph custom auth on the store: the ``store`` handlers run on every operation (``put``,
``get``, ``search``, ``delete``, ``list_namespaces``) and may change the namespace; the filters
of a ``search`` handler are added to the search's filter on item values, as LangGraph does.
Nothing happens for principals custom auth did not authenticate."""

from __future__ import annotations

from typing import Any

from accounts import custom_auth
from accounts.domain import Principal


def store_authorized(principal: Principal, action: str, value: dict[str, Any]) -> dict | None:
    """Run the ``store``/*action* handler on *value* (it may change ``namespace``); its filters."""
    if principal.kind != "custom":
        return None
    filters = custom_auth.authorize(principal, "store", action, value)
    if value.get("namespace") is not None:
        value["namespace"] = list(value["namespace"])
    return filters


def search_filter(searched: dict | None, filters: dict | None) -> dict | None:
    """The value filter of a store search with the handler's *filters* added (both must hold);
    raises ``custom_auth.NothingMatches`` when they contradict each other."""
    if not filters:
        return searched
    merged = dict(searched or {})
    for field, condition in filters.items():
        if field not in merged or merged[field] == condition:
            merged[field] = condition
            continue
        mine, theirs = _as_ops(merged[field]), _as_ops(condition)
        if set(mine) & set(theirs):
            raise custom_auth.NothingMatches
        merged[field] = {**mine, **theirs}
    return merged


def _as_ops(condition: Any) -> dict[str, Any]:
    if isinstance(condition, dict) and any(str(k).startswith("$") for k in condition):
        return dict(condition)
    return {"$eq": condition}
