"""The dashboard's run pages: the live Runs list, a run's page (graph, timeline, events,
actions), and the Playground (docs/dashboard.md). Thin, like ``api/``: parse, call a selector
or a service, render. Every page renders whole on the server; ``static/dashboard/*.js`` only
makes it live.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import jsonschema
import orjson
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_POST
from rest_framework.exceptions import ValidationError

from assistants import selectors as assistant_selectors
from duragraph_site.api.errors import validation_message
from duragraph_site.api.params import validated
from duragraph_site.errors import DuraGraphError, NotFound
from duragraph_site.ids import new_id
from duragraph_site.pages import (
    Keyset,
    is_fragment,
    parse_id,
    pretty_json,
    query_with,
    staff_page,
    tenant_scope,
)
from events import projections, store
from runs import selectors, services, traces
from runs.api.runs import create_run_as
from runs.api.serializers import RunCreateSerializer
from runs.domain import ACTIVE_STATUSES, RunStatus
from runs.models import Run
from threads import selectors as thread_selectors

KEYSET = Keyset("run_id")
#: Threads the Playground offers to go on with.
RECENT_THREADS = 20
#: Checkpoints of a run shown on its page (a run writes one per step).
CHECKPOINTS_SHOWN = 200


def _when(value: str | None) -> datetime | None:
    """A ``datetime-local`` form value (or ISO 8601) in the server's time zone; None if bad."""
    if not value:
        return None
    try:
        parsed = parse_datetime(value)
    except ValueError:
        return None
    if parsed is not None and parsed.tzinfo is None:
        parsed = timezone.make_aware(parsed)
    return parsed


def _run_filter(request: HttpRequest) -> tuple[selectors.RunFilter, list[str]]:
    """The list's filters from the query string, and what was wrong with it (shown, ignored)."""
    query = request.GET
    problems = []
    status = query.get("status") or None
    if status and status not in {s.value for s in RunStatus}:
        problems.append(f"status: unknown status {status!r}")
        status = None
    search = query.get("q", "").strip()
    search_id = parse_id(search)
    if search and search_id is None:
        problems.append(f"search: {search!r} is not a run or thread id")
    thread = query.get("thread", "").strip()
    thread_id = parse_id(thread)
    if thread and thread_id is None:
        problems.append(f"thread: {thread!r} is not a thread id")
    after, before = _when(query.get("from")), _when(query.get("to"))
    if query.get("from") and after is None:
        problems.append("from: not a date and time")
    if query.get("to") and before is None:
        problems.append("to: not a date and time")
    where = selectors.RunFilter(
        status=status,
        graph_id=query.get("graph") or None,
        thread_id=thread_id,
        search=search_id,
        created_after=after,
        created_before=before,
    )
    return where, problems


@require_GET
@staff_page
def run_list(request: HttpRequest) -> HttpResponse:
    """Runs, newest first, filtered; live (new runs appear, statuses change in place)."""
    where, problems = _run_filter(request)
    page = KEYSET.page(
        selectors.runs_filtered(where, tenant=tenant_scope(request)), request.GET.get("after")
    )
    context = {
        "page": page,
        "problems": problems,
        "statuses": [status.value for status in RunStatus],
        "graphs": assistant_selectors.graph_ids(tenant=tenant_scope(request)),
        "query": request.GET,
        "active": ACTIVE_STATUSES,
        "next_query": query_with(request, after=page.after) if page.after else None,
        "refresh_url": request.get_full_path(),
    }
    template = "runs/_run_rows.html" if is_fragment(request) else "runs/list.html"
    return render(request, template, context)


@require_POST
@staff_page
def runs_cancel(request: HttpRequest) -> HttpResponse:
    """Bulk cancel: the runs ticked in the list (those still active)."""
    run_ids = [run_id for value in request.POST.getlist("run_id") if (run_id := parse_id(value))]
    back = request.POST.get("back") or reverse("dashboard:runs")
    if not run_ids:
        messages.error(request, "No run was selected.")
        return HttpResponseRedirect(back)
    try:
        count = services.runs_cancel_many(run_ids=run_ids, tenant=tenant_scope(request))
    except NotFound:
        count = 0
    messages.success(request, f"Cancelled {count} of {len(run_ids)} selected run(s).")
    return HttpResponseRedirect(back)


def _run_or_404(request: HttpRequest, run_id: uuid.UUID) -> Run:
    return selectors.run_get(run_id, tenant=tenant_scope(request))  # NotFound: the 404 page


@require_GET
@staff_page
def run_detail(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    """A run: its graph lighting up, the timeline of its node spans, every event, actions."""
    run = _run_or_404(request, run_id)
    events = store.load(run.run_id)
    trace = traces.trace(events)
    if is_fragment(request):
        return render(request, "runs/_timeline.html", {"trace": trace, "run": run})
    assistant = run.assistant
    context = {
        "run": run,
        "trace": trace,
        "events": [{**event.as_json(), "pretty": pretty_json(event.payload)} for event in events],
        "last_version": events[-1].version if events else 0,
        "drawing": assistant_selectors.assistant_drawings(assistant),
        "node_states": trace.node_states(),
        "active": run.status in ACTIVE_STATUSES,
        "requeueable": run.status in (RunStatus.ERROR, RunStatus.TIMEOUT),
        "kwargs": pretty_json(run.kwargs),
        "output": pretty_json(run.output) if run.output is not None else None,
        "error": pretty_json(run.error) if run.error is not None else None,
    }
    return render(request, "runs/detail.html", context)


@require_GET
@staff_page
def run_events_download(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    """The run's whole event history as JSON (as Temporal's UI downloads a workflow's)."""
    run = _run_or_404(request, run_id)
    body = orjson.dumps(
        {
            "run_id": str(run.run_id),
            "events": [event.as_json() for event in store.load(run.run_id)],
        },
        option=orjson.OPT_INDENT_2,
    )
    response = HttpResponse(body, content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="run-{run.run_id}-events.json"'
    return response


@require_GET
@staff_page
def run_replay(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    """The run rebuilt from its events alone, and how it differs from its read model."""
    run = _run_or_404(request, run_id)
    result = projections.replay("run", run.run_id)
    context = {
        "run": run,
        "rebuilt": pretty_json(projections.to_plain(result.from_log)),
        "differences": [
            {"field": name, "from_log": pretty_json(pair[0]), "read_model": pretty_json(pair[1])}
            for name, pair in result.differences.items()
        ],
    }
    return render(request, "runs/_replay.html", context)


@require_GET
@staff_page
def run_checkpoints(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    """The state at each checkpoint the run wrote, newest first (its thread's history)."""
    run = _run_or_404(request, run_id)
    try:
        history = thread_selectors.thread_history(
            run.thread_id,
            tenant=tenant_scope(request),
            metadata={"run_id": str(run.run_id)},
            limit=CHECKPOINTS_SHOWN,
        )
    except NotFound:
        history = None  # a stateless run's thread is deleted when it ends
    checkpoints = [
        {
            "id": (snapshot.get("checkpoint") or {}).get("checkpoint_id"),
            "step": (snapshot.get("metadata") or {}).get("step"),
            "source": (snapshot.get("metadata") or {}).get("source"),
            "next": snapshot.get("next") or [],
            "created_at": snapshot.get("created_at"),
            "values": pretty_json(snapshot.get("values")),
        }
        for snapshot in history or []
    ]
    context = {"run": run, "checkpoints": checkpoints, "gone": history is None}
    return render(request, "runs/_checkpoints.html", context)


@require_POST
@staff_page
def run_cancel(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    run = _run_or_404(request, run_id)
    try:
        services.run_cancel(
            run_id=run.run_id, tenant=tenant_scope(request), reason="cancelled from the dashboard"
        )
        messages.success(request, "Run cancelled.")
    except DuraGraphError as error:
        messages.error(request, f"Not cancelled: {error.message}")
    return HttpResponseRedirect(reverse("dashboard:run", args=[run.run_id]))


@require_POST
@staff_page
def run_requeue(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    run = _run_or_404(request, run_id)
    try:
        services.run_requeue(run_id=run.run_id, reason="requeued from the dashboard")
        messages.success(request, "Run requeued with a fresh retry budget.")
    except DuraGraphError as error:
        messages.error(request, f"Not requeued: {error.message}")
    return HttpResponseRedirect(reverse("dashboard:run", args=[run.run_id]))


# -- the Playground --------------------------------------------------------------------------
@require_GET
@staff_page
def playground(request: HttpRequest) -> HttpResponse:
    """Pick an assistant and a thread, send input, watch the graph run."""
    assistants, _ = assistant_selectors.assistant_search(tenant=tenant_scope(request), limit=200)
    chosen = request.GET.get("assistant") or (str(assistants[0].assistant_id) if assistants else "")
    assistant = next((a for a in assistants if str(a.assistant_id) == chosen), None)
    context = {
        "assistants": assistants,
        "assistant": assistant,
        "thread_id": request.GET.get("thread", ""),
    }
    if assistant is not None:
        # Its graph's recent threads, one pick away (a conversation goes on where it was).
        context["recent_threads"] = list(
            thread_selectors.threads_listed(tenant=tenant_scope(request))
            .filter(metadata__graph_id=assistant.graph_id)
            .order_by("-updated_at")[:RECENT_THREADS]
        )
        context["drawing"] = assistant_selectors.assistant_drawings(assistant)
        context["schemas"] = assistant_selectors.assistant_schemas(assistant)
    return render(request, "runs/playground.html", context)


@require_POST
@staff_page
def playground_start(request: HttpRequest) -> JsonResponse:
    """Start a run from the Playground: ``{"thread_id"?, "assistant_id", "input"?, "command"?,
    ...}`` as LangGraph's run-create body; creates the thread when none is given. Answers
    ``{"run_id", "thread_id"}``, or ``{"detail"}`` with a 4xx, having changed nothing."""
    try:
        body = orjson.loads(request.body or b"{}")
    except orjson.JSONDecodeError as error:
        return JsonResponse({"detail": f"Invalid JSON: {error}"}, status=400)
    if not isinstance(body, dict):
        return JsonResponse({"detail": "The body must be a JSON object"}, status=422)
    given = body.pop("thread_id", None) or None
    thread_id = parse_id(given) if isinstance(given, str) else None
    if given is not None and thread_id is None:
        return JsonResponse({"detail": f"thread_id: {given!r} is not a thread id"}, status=422)
    body.setdefault("if_not_exists", "create")
    try:
        data = validated(RunCreateSerializer, body)
        if data.get("input") is not None:
            assistant = assistant_selectors.assistant_get(
                assistant_selectors.resolve_assistant_id(data["assistant_id"]),
                tenant=tenant_scope(request),
            )
            if problem := input_problem(
                assistant_selectors.assistant_schemas(assistant).get("input_schema"),
                data["input"],
            ):
                return JsonResponse({"detail": problem, "field": "input"}, status=422)
        run, _ = create_run_as(request.principal, thread_id or new_id(), data)
    except DuraGraphError as error:
        return JsonResponse({"detail": error.message}, status=error.status_code)
    except ValidationError as error:  # the run-create body's fields, as the API answers them
        return JsonResponse({"detail": validation_message(error.detail)}, status=422)
    return JsonResponse(
        {
            "run_id": str(run.run_id),
            "thread_id": str(run.thread_id),
            "url": reverse("dashboard:run", args=[run.run_id]),
        }
    )


def input_problem(schema: dict[str, Any] | None, value: Any) -> str | None:
    """What is wrong with a Playground input for the graph's input *schema* (None: nothing).

    An input is a partial update of the state, so no key is required; ``messages`` is left to
    the graph (LangChain accepts many message shapes its schema does not list)."""
    if not schema:
        return None
    schema = {**schema, "required": []}
    schema["properties"] = {
        key: sub for key, sub in (schema.get("properties") or {}).items() if key != "messages"
    }
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(value)
    )
    if error is None:
        return None
    where = "/".join(str(part) for part in error.absolute_path) or "input"
    return f"{where}: {error.message}"


urlpatterns = [
    path("runs/", run_list, name="runs"),
    path("runs/cancel", runs_cancel, name="runs-cancel"),
    path("runs/<uuid:run_id>/", run_detail, name="run"),
    path("runs/<uuid:run_id>/events.json", run_events_download, name="run-events"),
    path("runs/<uuid:run_id>/replay", run_replay, name="run-replay"),
    path("runs/<uuid:run_id>/checkpoints", run_checkpoints, name="run-checkpoints"),
    path("runs/<uuid:run_id>/cancel", run_cancel, name="run-cancel"),
    path("runs/<uuid:run_id>/requeue", run_requeue, name="run-requeue"),
    path("playground/", playground, name="playground"),
    path("playground/runs", playground_start, name="playground-start"),
]
