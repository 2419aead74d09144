"""The dashboard's DAG jobs pages (docs/dashboard.md): workflows with their latest run, and a
workflow's page: its DAG with each job's live status and running timer, its runs, and a log
panel that tails a job's log live. Thin: selectors, then a template; the live parts poll
``status.json`` (as workflow-graph's own UI polls ``/status``) and follow the log's SSE."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.views.decorators.http import require_GET, require_POST

from duragraph_site.pages import staff_page, tenant_scope
from runs.api.streaming import sse_response
from workflows import definitions, selectors, services, streams
from workflows.api import wire
from workflows.models import WorkflowDefinition


@require_GET
@staff_page
def workflow_list(request: HttpRequest) -> HttpResponse:
    found = selectors.definitions_list(tenant=tenant_scope(request), limit=1000)
    latest = selectors.latest_runs([d.workflow_id for d in found])
    rows = [(definition, latest.get(definition.workflow_id)) for definition in found]
    return render(request, "workflows/list.html", {"rows": rows})


def _status(definition: WorkflowDefinition) -> dict:
    return wire.workflow(definition, *selectors.latest_run_and_jobs(definition.workflow_id))


@require_GET
@staff_page
def workflow_detail(request: HttpRequest, workflow_id: str) -> HttpResponse:
    """The DAG of the latest run, its jobs, and the workflow's runs."""
    definition = selectors.definition_get(workflow_id, tenant=tenant_scope(request))
    status = _status(definition)
    spec = definitions.parse_document(definition.ordered_document)
    drawing = {
        "nodes": [{"id": job.id, "data": {"name": job.name}} for job in spec.jobs],
        "edges": [{"source": need, "target": job.id} for job in spec.jobs for need in job.needs],
    }
    context = {
        "workflow": status,
        "drawing": {"expanded": drawing, "collapsed": None},
        "runs": selectors.runs_of(workflow_id),
    }
    return render(request, "workflows/detail.html", context)


@require_GET
@staff_page
def workflow_status(request: HttpRequest, workflow_id: str) -> JsonResponse:
    """workflow-graph's ``/status`` for the page's poll (a browser path: the session's)."""
    return JsonResponse(
        _status(selectors.definition_get(workflow_id, tenant=tenant_scope(request)))
    )


@require_POST
@staff_page
def workflow_run(request: HttpRequest, workflow_id: str) -> HttpResponse:
    services.workflow_run_start(workflow_id=workflow_id, tenant=tenant_scope(request))
    return HttpResponseRedirect(reverse("dashboard:workflow", args=[workflow_id]))


@require_POST
@staff_page
def workflow_cancel(request: HttpRequest, workflow_id: str) -> HttpResponse:
    services.workflow_cancel_latest(
        workflow_id=workflow_id, reason="cancelled from the dashboard", tenant=tenant_scope(request)
    )
    return HttpResponseRedirect(reverse("dashboard:workflow", args=[workflow_id]))


@require_GET
@staff_page
def job_log_stream(request: HttpRequest, workflow_id: str, job_id: str) -> HttpResponse:
    """The log panel's live tail: the job's SSE log (lines, then ``end``)."""
    selectors.definition_get(workflow_id, tenant=tenant_scope(request))
    frames = streams.latest_job_log(
        workflow_id=workflow_id, job_id=job_id, last_event_id=request.headers.get("Last-Event-ID")
    )
    return sse_response(request, frames)


urlpatterns = [
    path("workflows/", workflow_list, name="workflows"),
    path("workflows/<str:workflow_id>/", workflow_detail, name="workflow"),
    path("workflows/<str:workflow_id>/status.json", workflow_status, name="workflow-status"),
    path("workflows/<str:workflow_id>/run", workflow_run, name="workflow-run"),
    path("workflows/<str:workflow_id>/cancel", workflow_cancel, name="workflow-cancel"),
    path(
        "workflows/<str:workflow_id>/jobs/<str:job_id>/log",
        job_log_stream,
        name="workflow-job-log",
    ),
]
