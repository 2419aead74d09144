"""The dashboard's Memory pages: LangGraph's store (cross-thread key-value memory). Its
namespaces, the items under a namespace prefix (searched with the API's filter), and one item
to edit or delete.

Thin, like ``api/``: parse, call the selector or service the API calls, render. Reading here
never refreshes an item's TTL (``refresh_ttl=False``): looking at memory must not keep it alive.
Each tenant has a store of its own; staff see every tenant, so the page names the one shown.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.views.decorators.http import require_GET, require_POST

from duragraph_site.errors import InvalidInput
from duragraph_site.pages import PAGE_SIZE, pretty_json, query_with, staff_page
from store import domain, selectors, services
from store.models import Item

#: Namespaces listed at most (the store's namespace list is paged by offset; a page this long
#: is more than a person reads).
NAMESPACES_SHOWN = 200
#: Characters of a value shown in the list.
PREVIEW_CHARS = 120


def _tenant(request: HttpRequest) -> str:
    """Whose store: the caller's tenant, or (for a caller who sees every tenant) the one the
    page asks for."""
    principal = request.principal  # type: ignore[attr-defined]
    asked = (request.POST.get("tenant") or request.GET.get("tenant") or "").strip()
    return asked if asked and principal.all_tenants else principal.tenant


def _labels(text: str, *, name: str) -> tuple[str, ...]:
    """A dot-joined namespace (``users.ada``) as labels; blank: none. InvalidInput if bad."""
    text = text.strip()
    if not text:
        return ()
    return domain.validate_namespace(text.split("."), name=name, allow_empty=True)


def _offset(request: HttpRequest) -> int:
    try:
        return min(max(int(request.GET.get("offset", "0")), 0), domain.MAX_OFFSET)
    except ValueError:
        return 0


@require_GET
@staff_page
def memory(request: HttpRequest) -> HttpResponse:
    """The namespaces, and the items under the chosen prefix that pass the filter."""
    tenant = _tenant(request)
    query = request.GET
    errors: dict[str, str] = {}
    try:
        prefix = _labels(query.get("prefix", ""), name="prefix")
    except InvalidInput as error:
        errors["prefix"], prefix = error.message, ()
    search_filter = None
    if query.get("filter", "").strip():
        try:
            search_filter = orjson.loads(query["filter"])
        except orjson.JSONDecodeError as error:
            errors["filter"] = f"filter: not valid JSON ({error})"
    offset = _offset(request)
    namespaces = selectors.store_list_namespaces(limit=NAMESPACES_SHOWN + 1, tenant=tenant)
    items: list[Item] = []
    if not errors:
        try:
            items = selectors.store_search_items(
                namespace_prefix=prefix,
                filter=search_filter,
                query=query.get("query") or None,
                limit=PAGE_SIZE + 1,
                offset=offset,
                refresh_ttl=False,
                tenant=tenant,
            )
        except InvalidInput as error:
            errors["filter" if error.message.startswith("filter") else "prefix"] = error.message
    more = len(items) > PAGE_SIZE
    rows = [_row(item) for item in items[:PAGE_SIZE]]
    context = {
        "tenant": tenant,
        "all_tenants": request.principal.all_tenants,  # type: ignore[attr-defined]
        "namespaces": [".".join(labels) for labels in namespaces[:NAMESPACES_SHOWN]],
        "more_namespaces": len(namespaces) > NAMESPACES_SHOWN,
        "prefix": ".".join(prefix),
        "query": query,
        "errors": errors,
        "rows": rows,
        "searched": bool(prefix or search_filter or query.get("query")),
        "older": query_with(request, offset=offset + PAGE_SIZE) if more else None,
        "newer": query_with(request, offset=max(offset - PAGE_SIZE, 0)) if offset else None,
    }
    return render(request, "store/memory.html", context, status=422 if errors else 200)


def _row(item: Item) -> dict[str, Any]:
    compact = orjson.dumps(item.value).decode()
    return {
        "item": item,
        "path": ".".join(item.namespace),
        "preview": compact[:PREVIEW_CHARS] + ("…" if len(compact) > PREVIEW_CHARS else ""),
        "ttl_minutes": _minutes(item),
    }


def _minutes(item: Item) -> float | None:
    """The item's TTL in minutes (None: it never expires)."""
    return round(item.ttl.total_seconds() / 60, 2) if item.ttl is not None else None


def _item_url(tenant: str, namespace: str, key: str) -> str:
    query = urlencode({"tenant": tenant, "namespace": namespace, "key": key})
    return f"{reverse('dashboard:memory-item')}?{query}"


def _address(data: Any) -> tuple[tuple[str, ...], str]:
    """The item's (namespace labels, key) from a query or form. InvalidInput if bad."""
    return domain.parse_namespace_path(data.get("namespace", "")), domain.validate_key(
        data.get("key", "")
    )


def _item_page(
    request: HttpRequest,
    tenant: str,
    item: Item,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    minutes = _minutes(item)
    context = {
        "tenant": tenant,
        "item": item,
        "path": ".".join(item.namespace),
        "value": pretty_json(item.value),
        "ttl_minutes": minutes,
        "form": form
        or {"value": pretty_json(item.value), "ttl": "" if minutes is None else f"{minutes:g}"},
        "errors": errors or {},
    }
    return render(request, "store/item.html", context, status=status)


def _missing(request: HttpRequest, tenant: str, message: str, status: int) -> HttpResponse:
    return render(
        request,
        "store/missing.html",
        {"tenant": tenant, "message": message},
        status=status,
    )


@require_GET
@staff_page
def memory_item(request: HttpRequest) -> HttpResponse:
    """One item: its value, TTL and expiry, a form to replace it, and deleting it."""
    tenant = _tenant(request)
    try:
        namespace, key = _address(request.GET)
    except InvalidInput as error:
        return _missing(request, tenant, error.message, 422)
    item = selectors.store_get_item(namespace=namespace, key=key, refresh_ttl=False, tenant=tenant)
    if item is None:
        return _missing(request, tenant, f"No item {key!r} in {'.'.join(namespace)}.", 404)
    return _item_page(request, tenant, item)


def _ttl(text: str) -> tuple[float | None, str | None]:
    """``(minutes, problem)`` of the TTL field: blank means the item never expires."""
    if not text.strip():
        return None, None
    try:
        return float(text), None
    except ValueError:
        return None, f"ttl: {text!r} is not a number of minutes"


@require_POST
@staff_page
def memory_item_put(request: HttpRequest) -> HttpResponse:
    """Replace the item's value (a JSON object) and TTL, as ``PUT /store/items`` does."""
    tenant = _tenant(request)
    try:
        namespace, key = _address(request.POST)
    except InvalidInput as error:
        return _missing(request, tenant, error.message, 422)
    form = {"value": request.POST.get("value", ""), "ttl": request.POST.get("ttl", "")}
    errors: dict[str, str] = {}
    value: Any = None
    try:
        value = orjson.loads(form["value"])
    except orjson.JSONDecodeError as error:
        errors["value"] = f"value: not valid JSON ({error})"
    else:
        if not isinstance(value, dict):
            errors["value"] = "value: must be a JSON object"
    ttl, problem = _ttl(form["ttl"])
    if problem:
        errors["ttl"] = problem
    if not errors:
        try:
            services.store_put_item(
                namespace=namespace, key=key, value=value, ttl=ttl, tenant=tenant
            )
        except InvalidInput as error:
            errors["ttl" if error.message.startswith("ttl") else "value"] = error.message
        else:
            messages.success(request, "Saved.")
            return HttpResponseRedirect(_item_url(tenant, ".".join(namespace), key))
    item = selectors.store_get_item(namespace=namespace, key=key, refresh_ttl=False, tenant=tenant)
    if item is None:  # deleted meanwhile: nothing to show the form against
        return _missing(request, tenant, f"No item {key!r} in {'.'.join(namespace)}.", 404)
    return _item_page(request, tenant, item, form=form, errors=errors, status=422)


@require_POST
@staff_page
def memory_item_delete(request: HttpRequest) -> HttpResponse:
    """Delete the item (an item already gone is not an error, as in the API)."""
    tenant = _tenant(request)
    try:
        namespace, key = _address(request.POST)
    except InvalidInput as error:
        return _missing(request, tenant, error.message, 422)
    path_text = ".".join(namespace)
    if services.store_delete_item(namespace=namespace, key=key, tenant=tenant):
        messages.success(request, f"Deleted {key!r} from {path_text}.")
    else:
        messages.info(request, f"{key!r} in {path_text} was already gone.")
    query = urlencode({"tenant": tenant, "prefix": path_text})
    return HttpResponseRedirect(f"{reverse('dashboard:memory')}?{query}")


urlpatterns = [
    path("memory/", memory, name="memory"),
    path("memory/item", memory_item, name="memory-item"),
    path("memory/item/put", memory_item_put, name="memory-item-put"),
    path("memory/item/delete", memory_item_delete, name="memory-item-delete"),
]
