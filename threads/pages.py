"""The dashboard's thread pages: the Threads list, and a thread's page (its values as a tree and
as a conversation, its checkpoint history, its runs, and time travel: fork a run from a
checkpoint, edit the state at a checkpoint, resume an interrupt). docs/dashboard.md.

Thin, like ``api/``: parse, call a selector or a service, render. Runs are started through the
runs app's Playground endpoint (``dashboard:playground-start``, named in the templates only:
threads sits below runs and never imports it); ``static/dashboard/thread.js`` posts to it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.views.decorators.http import require_GET, require_POST

from assistants import selectors as assistant_selectors
from duragraph_site.errors import DuraGraphError, NotFound
from duragraph_site.pages import (
    Keyset,
    is_fragment,
    parse_id,
    pretty_json,
    query_with,
    staff_page,
    tenant_scope,
)
from threads import selectors, services
from threads.domain import ThreadStatus
from threads.models import Thread

KEYSET = Keyset("thread_id")
STATUSES = [status.value for status in ThreadStatus]
#: Checkpoints on one page of a thread's history.
HISTORY_PAGE = 20
#: Metadata entries a list row shows (the thread's page shows them all).
SUMMARY_ITEMS = 4
#: Tree levels open when a thread's page loads (deeper ones open on demand).
OPEN_LEVELS = 2


# -- the list ----------------------------------------------------------------------------------
@require_GET
@staff_page
def thread_list(request: HttpRequest) -> HttpResponse:
    """Threads, newest first, by status or by id; live (statuses change as runs go)."""
    query = request.GET
    problems = []
    status = query.get("status") or None
    if status and status not in STATUSES:
        problems.append(f"status: unknown status {status!r}")
        status = None
    search = query.get("q", "").strip()
    thread_id = parse_id(search)
    if search and thread_id is None:
        problems.append(f"search: {search!r} is not a thread id")
    page = KEYSET.page(
        selectors.threads_listed(tenant=tenant_scope(request), status=status, thread_id=thread_id),
        query.get("after"),
    )
    context = {
        "page": page,
        "rows": [(thread, _metadata_summary(thread.metadata)) for thread in page.rows],
        "problems": problems,
        "statuses": STATUSES,
        "query": query,
        "filtered": bool(status or search),
        "next_query": query_with(request, after=page.after) if page.after else None,
        "refresh_url": request.get_full_path(),
    }
    template = "threads/_thread_rows.html" if is_fragment(request) else "threads/list.html"
    return render(request, template, context)


def _metadata_summary(metadata: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The first few metadata entries as short ``(key, value)`` texts for a list row."""
    summary = []
    for key, value in list((metadata or {}).items())[:SUMMARY_ITEMS]:
        text = value if isinstance(value, str) else orjson.dumps(value).decode()
        summary.append((key, text if len(text) <= 40 else f"{text[:39]}…"))
    return summary


# -- a thread's page -----------------------------------------------------------------------------
@dataclass(frozen=True)
class StateEdit:
    """The "Edit state" form as sent, and what was wrong with it (shown next to the field)."""

    values: str = "{}"
    as_node: str = ""
    error: str = ""


@require_GET
@staff_page
def thread_detail(request: HttpRequest, thread_id: uuid.UUID) -> HttpResponse:
    """A thread: its values, history and runs; a checkpoint chosen (``?checkpoint=``) for
    time travel. The live part (status, values, history) alone when the page's script asks."""
    thread = selectors.thread_get(thread_id, tenant=tenant_scope(request))
    return _thread_page(request, thread, checkpoint_id=request.GET.get("checkpoint") or None)


@require_POST
@staff_page
def thread_update_state(request: HttpRequest, thread_id: uuid.UUID) -> HttpResponse:
    """The "Edit state" form: LangGraph's ``update_state`` at the chosen checkpoint, as the
    chosen node. Bad JSON or an update LangGraph refuses shows the page again with the error next to the
    field, the text kept, and nothing changed."""
    scope = tenant_scope(request)
    thread = selectors.thread_get(thread_id, tenant=scope)
    checkpoint_id = request.POST.get("checkpoint_id") or None
    if checkpoint_id and not selectors.thread_checkpoint_exists(thread.thread_id, checkpoint_id):
        raise NotFound(f"Checkpoint {checkpoint_id} not found on thread {thread.thread_id}")
    text = request.POST.get("values", "")
    as_node = request.POST.get("as_node") or ""
    try:
        values = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        edit = StateEdit(text, as_node, f"Invalid JSON: {error}")
        return _thread_page(request, thread, checkpoint_id=checkpoint_id, edit=edit, status=400)
    try:
        result = services.thread_update_state(
            thread_id=thread.thread_id,
            tenant=scope,
            values=values,
            as_node=as_node or None,
            checkpoint={"checkpoint_id": checkpoint_id} if checkpoint_id else None,
        )
    except DuraGraphError as error:  # refused by LangGraph, a busy thread, no graph
        edit = StateEdit(text, as_node, error.message)
        return _thread_page(
            request, thread, checkpoint_id=checkpoint_id, edit=edit, status=error.status_code
        )
    new_checkpoint = (result.get("checkpoint") or {}).get("checkpoint_id")
    messages.success(request, f"State updated: new checkpoint {new_checkpoint}.")
    return HttpResponseRedirect(f"{_page_url(thread, checkpoint=new_checkpoint)}#time-travel")


def _thread_page(
    request: HttpRequest,
    thread: Thread,
    *,
    checkpoint_id: str | None,
    edit: StateEdit | None = None,
    status: int = 200,
) -> HttpResponse:
    scope = tenant_scope(request)
    before = request.GET.get("before") or None
    unavailable = None
    try:
        current = selectors.thread_state(thread.thread_id, tenant=scope)
        states = selectors.thread_history(
            thread.thread_id,
            tenant=scope,
            limit=HISTORY_PAGE + 1,  # one more: the oldest row's parent names its node
            before={"checkpoint_id": before} if before else None,
        )
    except DuraGraphError as error:  # its graph is no longer registered, or fails to load
        current, states, unavailable = None, [], error.message
    values = current["values"] if current else None
    context: dict[str, Any] = {
        "thread": thread,
        "unavailable": unavailable,
        "values_tree": json_tree(values) if current else None,
        "conversation": conversation(values),
        "history": _history_rows(states[:HISTORY_PAGE], states),
        "older": states[HISTORY_PAGE - 1]["checkpoint_id"] if len(states) > HISTORY_PAGE else None,
        "before": before,
        "chosen_id": checkpoint_id,
        "refresh_url": _page_url(thread, before=before, checkpoint=checkpoint_id),
    }
    if is_fragment(request):
        return render(request, "threads/_thread_now.html", context)
    metadata = thread.metadata or {}
    graph_id = metadata.get("graph_id")
    assistants, _ = assistant_selectors.assistant_search(tenant=scope, graph_id=graph_id, limit=100)
    # The assistant its runs used, else one of its graph's: runs started here default to it.
    ran_with = next(
        (a for a in assistants if str(a.assistant_id) == metadata.get("assistant_id")),
        assistants[0] if assistants else None,
    )
    context.update(
        {
            "metadata": pretty_json(metadata),
            "graph_id": graph_id,
            "assistants": assistants,
            "ran_with": ran_with,
            "run_assistant": str(ran_with.assistant_id) if ran_with else graph_id or "",
            "interrupts": _pending_interrupts(thread, current),
            "chosen": None,
        }
    )
    if checkpoint_id and unavailable is None:
        chosen = selectors.thread_state(  # NotFound (a 404) for another thread's checkpoint
            thread.thread_id, tenant=scope, checkpoint={"checkpoint_id": checkpoint_id}
        )
        context.update(
            {
                "chosen": chosen,
                "chosen_tree": json_tree(chosen["values"], open_levels=1),
                # From a finished checkpoint, null would run nothing: start a new pass instead.
                "fork_input": "null" if chosen["next"] else "{}",
                "nodes": selectors.thread_graph_nodes(thread),
                "edit": edit or StateEdit(),
            }
        )
    return render(request, "threads/detail.html", context, status=status)


def _page_url(thread: Thread, **query: str | None) -> str:
    url = reverse("dashboard:thread", args=[thread.thread_id])
    present = {key: value for key, value in query.items() if value}
    return f"{url}?{urlencode(present)}" if present else url


def _history_rows(page: list[dict[str, Any]], states: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per checkpoint (newest first): its id, step, source, time, run, the node(s) that
    wrote it (the tasks its parent had next: LangGraph 1.x keeps no ``writes`` in metadata),
    and the checkpoint it branched from when that is not the one below it."""
    by_id = {item["checkpoint_id"]: item for item in states}
    rows = []
    for index, item in enumerate(page):
        metadata = item.get("metadata") or {}
        parent_id = item.get("parent_checkpoint_id")
        parent = by_id.get(parent_id)
        below = states[index + 1]["checkpoint_id"] if index + 1 < len(states) else None
        source = metadata.get("source")
        if source == "input":
            wrote = "input"
        elif source == "update":
            wrote = "update_state"
        else:
            wrote = ", ".join(parent["next"]) if parent else ""
        rows.append(
            {
                "checkpoint_id": item["checkpoint_id"],
                "step": metadata.get("step"),
                "source": source,
                "node": wrote,
                "next": item.get("next") or [],
                "created_at": item.get("created_at"),
                "run_id": metadata.get("run_id"),
                # A fork (a run or an update from an older checkpoint) starts a new branch:
                # its parent is not the row below.
                "forked_from": parent_id if parent_id and below and parent_id != below else None,
            }
        )
    return rows


def _pending_interrupts(thread: Thread, current: dict[str, Any] | None) -> list[str]:
    """The payloads of the interrupts the thread waits on, as JSON (none unless interrupted)."""
    if thread.status != ThreadStatus.INTERRUPTED:
        return []
    pending = (current or {}).get("interrupts") or [
        item for items in (thread.interrupts or {}).values() for item in items
    ]
    return [pretty_json(item.get("value") if isinstance(item, dict) else item) for item in pending]


# -- presentation ------------------------------------------------------------------------------
def json_tree(value: Any, *, open_levels: int = OPEN_LEVELS) -> SafeString:
    """*value* as a collapsible tree: nested ``<details>`` for objects and lists (the first
    *open_levels* levels open), scalars as JSON. Every text is escaped."""
    return format_html('<div class="json-tree">{}</div>', _node(value, None, 0, open_levels))


def _node(value: Any, key: str | None, depth: int, open_levels: int) -> SafeString:
    label = format_html('<span class="json-key">{}</span>: ', key) if key is not None else ""
    if isinstance(value, dict | list) and value:
        pairs = value.items() if isinstance(value, dict) else enumerate(value)
        children = format_html_join(
            "",
            "<li>{}</li>",
            ((_node(item, str(name), depth + 1, open_levels),) for name, item in pairs),
        )
        shape = (
            f"{{…}} {len(value)} key{'s' if len(value) != 1 else ''}"
            if isinstance(value, dict)
            else f"[…] {len(value)} item{'s' if len(value) != 1 else ''}"
        )
        return format_html(
            '<details{}><summary>{}<span class="muted">{}</span></summary><ul>{}</ul></details>',
            " open" if depth < open_levels else "",
            label,
            shape,
            children,
        )
    kind = _scalar_kind(value)
    text = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str).decode()
    return format_html('{}<span class="json-{}">{}</span>', label, kind, text)


def _scalar_kind(value: Any) -> str:
    """The CSS class suffix a scalar is coloured by (``json-str``, ``json-num``...)."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return "str"
    if isinstance(value, bool):  # before int: a bool is an int
        return "bool"
    if isinstance(value, int | float):
        return "num"
    return "other"  # an empty object or list, or what JSON has no name for


#: LangChain's message types (and OpenAI-style roles) -> the bubble they are drawn as.
_BUBBLES = {
    "human": "human",
    "user": "human",
    "HumanMessageChunk": "human",
    "ai": "ai",
    "assistant": "ai",
    "AIMessageChunk": "ai",
    "tool": "tool",
    "ToolMessageChunk": "tool",
    "system": "system",
    "SystemMessageChunk": "system",
}


def conversation(values: Any) -> list[dict[str, str]]:
    """The ``messages`` of *values* as chat bubbles ``{kind, who, text}``; [] when none."""
    messages_ = values.get("messages") if isinstance(values, dict) else None
    if not isinstance(messages_, list):
        return []
    bubbles = []
    for message in messages_:
        if isinstance(message, str):
            bubbles.append({"kind": "human", "who": "human", "text": message})
            continue
        if not isinstance(message, dict):
            continue
        kind = message.get("type") or message.get("role") or "ai"
        text = _text_of(message.get("content"))
        calls = [call.get("name", "?") for call in message.get("tool_calls") or []]
        if calls:
            text = f"{text}\n→ calls {', '.join(calls)}".strip()
        who = message.get("name") or _BUBBLES.get(kind, kind)
        bubbles.append({"kind": _BUBBLES.get(kind, "system"), "who": who, "text": text})
    return bubbles


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content blocks: text parts, images...
        return "".join(
            part if isinstance(part, str) else str(part.get("text", ""))
            for part in content
            if isinstance(part, str | dict)
        )
    return "" if content is None else pretty_json(content)


urlpatterns = [
    path("threads/", thread_list, name="threads"),
    path("threads/<uuid:thread_id>/", thread_detail, name="thread"),
    path("threads/<uuid:thread_id>/state", thread_update_state, name="thread-update-state"),
]
