"""workflow-graph's REST API and worker protocol (``/api/...``), with the shapes and status codes
its Rust worker and TypeScript client expect (``../shared/reference/workflow-graph.md`` §5, §6),
and ours beside them (a workflow's runs, a run's jobs with their attempts). Thin: parse, call a
service or a selector, render (``workflows.api.wire``).

Differences from the original, each a fix of a recorded gap: an unknown workflow's cancel is a
404, not 202; lists are ordered by id; log pushes, heartbeats, completes and fails under a lease
that is not the job's current one (expired, superseded, cancelled) answer 409 and change
nothing; the heartbeat extends by the TTL the worker asked for.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.plumbing import build_array_type, build_basic_type, build_object_type
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.fields import ProhibitNullCharactersValidator
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import principal_of
from accounts.permissions import HasWorkerScope
from duragraph_site.api import serializers as api
from duragraph_site.api.fields import IntegerField, limit_field, offset_field
from duragraph_site.api.params import parse_uuid, validated
from duragraph_site.errors import InvalidInput
from runs.api.streaming import LAST_EVENT_ID, SSEView, sse_response
from workers import selectors as worker_selectors
from workers import services as worker_services
from workers.models import WorkerKind
from workflows import definitions, selectors, services, streams
from workflows.api import wire

JSON_NULL = b"null"

#: Response shapes (workflow-graph's JSON, documented loosely: its clients read it as is).
OBJECT = OpenApiResponse(response=build_object_type())
OBJECTS = OpenApiResponse(response=build_array_type(build_object_type()))
CLAIM = OpenApiResponse(
    response={**build_object_type(), "nullable": True},
    description="`null` (nothing to do) or `{job, lease}`; with `max_jobs`, `{jobs: [{job, "
    "lease}, ...]}` (up to that many, oldest first, possibly none).",
)
BOOLEAN = OpenApiResponse(response=build_basic_type(OpenApiTypes.BOOL))
LOG_STREAM = OpenApiResponse(
    response={"type": "string"},
    description="`text/event-stream`: `log` LogChunk events, then `end` {job_id, status}.",
)
STATUSES = ["queued", "running", "success", "failure", "skipped", "cancelled"]


class ListQuery(api.Serializer):
    limit = limit_field(default=100)
    offset = offset_field()
    status = serializers.ChoiceField(choices=STATUSES, required=False)


#: A label or a worker's id: printable text (what a person types in a YAML file or a flag).
PRINTABLE = r"^[^\x00-\x1f\x7f\ud800-\udfff]+$"
NOT_PRINTABLE = {"invalid": "printable text only (no control characters)"}


class RegisterBody(api.Serializer):
    worker_id = serializers.RegexField(PRINTABLE, max_length=255, error_messages=NOT_PRINTABLE)
    labels = serializers.ListField(
        child=serializers.RegexField(PRINTABLE, max_length=200, error_messages=NOT_PRINTABLE),
        max_length=100,
        default=list,
    )


class ClaimBody(RegisterBody):
    lease_ttl_secs = serializers.FloatField(min_value=0.001, max_value=3600, required=False)
    # Ours: up to this many jobs at once, answered as {"jobs": [...]} (workflow-graph's
    # protocol claims one, answered as null or {job, lease}).
    max_jobs = serializers.IntegerField(min_value=1, max_value=services.MAX_BATCH, required=False)


class PrintedText(serializers.CharField):
    """What a program printed, kept as it is: NUL characters included (the service makes
    them storable), never a 422 for a byte the job wrote."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("allow_blank", True)
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)
        self.validators = [
            v for v in self.validators if not isinstance(v, ProhibitNullCharactersValidator)
        ]


class CompleteBody(api.Serializer):
    outputs = serializers.DictField(child=PrintedText(), default=dict)


class Completion(CompleteBody):
    lease_id = serializers.UUIDField()


class CompleteManyBody(api.Serializer):
    completions = serializers.ListField(
        child=Completion(), min_length=1, max_length=services.MAX_BATCH
    )


class FailBody(api.Serializer):
    error = PrintedText(default="")
    retryable = serializers.BooleanField(default=False)


class LogChunkBody(api.Serializer):
    data = PrintedText()
    stream = serializers.ChoiceField(choices=["stdout", "stderr"], default="stdout")
    sequence = IntegerField(min_value=0, max_value=2**53, required=False)
    timestamp_ms = serializers.FloatField(min_value=0, max_value=2**53, required=False)
    workflow_id = serializers.CharField(required=False)
    job_id = serializers.CharField(required=False)
    attempt = IntegerField(min_value=0, max_value=2**31, required=False)


class LogsBody(api.Serializer):
    chunks = LogChunkBody(many=True)


def _scope(request: Request) -> str | None:
    return principal_of(request).tenant_scope


def _body(request: Request) -> dict[str, Any]:
    data = request.data
    if data is None or data == {}:
        return {}
    if not isinstance(data, dict):
        raise InvalidInput("The body must be a JSON object")
    return data


def _definition_error(error: definitions.DefinitionError) -> InvalidInput:
    return InvalidInput(str(error))


# -- workflows ---------------------------------------------------------------------------------
class WorkflowListApi(APIView):
    @extend_schema(operation_id="workflows_list", parameters=[ListQuery], responses=OBJECTS)
    def get(self, request: Request) -> Response:
        query = validated(ListQuery, request.query_params.dict())
        found = selectors.definitions_list(
            tenant=_scope(request),
            limit=query["limit"],
            offset=query["offset"],
            status=query.get("status"),
        )
        latest = selectors.latest_runs([d.workflow_id for d in found])
        jobs = selectors.run_jobs([run.run_id for run in latest.values()])
        return Response(
            [
                wire.workflow(
                    d,
                    latest.get(d.workflow_id),
                    jobs.get(latest[d.workflow_id].run_id, []) if d.workflow_id in latest else [],
                )
                for d in found
            ]
        )

    @extend_schema(
        operation_id="workflows_create",
        request=OpenApiTypes.OBJECT,
        responses={201: OBJECT},
    )
    def post(self, request: Request) -> Response:
        """workflow-graph's runtime body (``{name, trigger, jobs: [Job]}``, a new uuid id), or
        ours: a definition document (``name``, ``on``, ``jobs`` as a map) with an optional
        ``id`` (a new version when it exists)."""
        body = _body(request)
        workflow_id = body.pop("id", None)
        try:
            if isinstance(body.get("jobs"), list):
                workflow = definitions.from_runtime_json(body)
            else:
                workflow = definitions.parse_document(body)
        except definitions.DefinitionError as error:
            raise _definition_error(error) from None
        if workflow_id is not None and not isinstance(workflow_id, str):
            raise InvalidInput("id: a string")
        principal = principal_of(request)
        state = services.workflow_define(
            workflow_id=workflow_id or str(uuid.uuid4()),
            workflow=workflow,
            source="api",
            tenant=principal.tenant,
        )
        definition = selectors.definition_get(state.workflow_id)
        run, jobs = selectors.latest_run_and_jobs(definition.workflow_id)
        return Response(wire.workflow(definition, run, jobs), status=status.HTTP_201_CREATED)


class WorkflowStatusApi(APIView):
    @extend_schema(operation_id="workflows_status", responses=OBJECT)
    def get(self, request: Request, workflow_id: str) -> Response:
        definition = selectors.definition_get(workflow_id, tenant=_scope(request))
        run, jobs = selectors.latest_run_and_jobs(workflow_id)
        return Response(wire.workflow(definition, run, jobs))


class WorkflowRunApi(APIView):
    @extend_schema(operation_id="workflows_run", request=None, responses={202: OBJECT})
    def post(self, request: Request, workflow_id: str) -> Response:
        """202 with the run (an active run of the workflow: that one, ``started`` false)."""
        started = services.workflow_run_start(workflow_id=workflow_id, tenant=_scope(request))
        body = {**wire.run_summary(started.run), "started": started.started}
        return Response(body, status=status.HTTP_202_ACCEPTED)


class WorkflowCancelApi(APIView):
    @extend_schema(operation_id="workflows_cancel", request=None, responses={202: OBJECT})
    def post(self, request: Request, workflow_id: str) -> Response:
        run = services.workflow_cancel_latest(
            workflow_id=workflow_id, reason="cancelled through the API", tenant=_scope(request)
        )
        return Response(
            {} if run is None else wire.run_summary(run), status=status.HTTP_202_ACCEPTED
        )


class WorkflowRunsApi(APIView):
    """Ours: a workflow's runs, newest first."""

    @extend_schema(operation_id="workflows_runs", responses=OBJECTS)
    def get(self, request: Request, workflow_id: str) -> Response:
        selectors.definition_get(workflow_id, tenant=_scope(request))
        return Response([wire.run_summary(run) for run in selectors.runs_of(workflow_id)])


class WorkflowRunDetailApi(APIView):
    """Ours: one run with every job's attempt, lease and outputs."""

    @extend_schema(operation_id="workflows_run_detail", responses=OBJECT)
    def get(self, request: Request, workflow_id: str, run_id: str) -> Response:
        run = selectors.run_get(
            parse_uuid(run_id, "run"), workflow_id=workflow_id, tenant=_scope(request)
        )
        jobs = {job.job_id: job for job in selectors.run_jobs([run.run_id])[run.run_id]}
        return Response(
            {
                **wire.run_summary(run),
                "jobs": [wire.job_run(jobs[j]) for j in run.jobs if j in jobs],
            }
        )


class JobLogsApi(APIView):
    @extend_schema(operation_id="workflows_job_logs", responses=OBJECTS)
    def get(self, request: Request, workflow_id: str, job_id: str) -> Response:
        selectors.definition_get(workflow_id, tenant=_scope(request))
        job = selectors.job_of_latest_run(workflow_id, job_id)
        return Response([] if job is None else selectors.job_log(job.id, workflow_id, job_id))


class JobLogStreamApi(SSEView):
    """SSE: every stored line (``event: log``, ``data: LogChunk``), then live ones, then
    ``event: end`` with the job's final status; ``Last-Event-ID`` resumes after a line."""

    @extend_schema(
        operation_id="workflows_job_log_stream",
        parameters=[LAST_EVENT_ID],
        responses={(200, "text/event-stream"): LOG_STREAM},
    )
    def get(self, request: Request, workflow_id: str, job_id: str) -> StreamingHttpResponse:
        selectors.definition_get(workflow_id, tenant=_scope(request))
        frames = streams.latest_job_log(
            workflow_id=workflow_id,
            job_id=job_id,
            last_event_id=request.headers.get("Last-Event-ID"),
        )
        return sse_response(request, frames)


# -- workers -----------------------------------------------------------------------------------
class WorkerListApi(APIView):
    @extend_schema(operation_id="workflows_workers", responses=OBJECTS)
    def get(self, request: Request) -> Response:
        return Response(
            [
                wire.worker_info(worker)
                for worker in worker_selectors.worker_list()
                if worker.kind == WorkerKind.JOBS
            ]
        )


class WorkerRegisterApi(APIView):
    permission_classes = [HasWorkerScope]

    @extend_schema(operation_id="workflows_worker_register", request=RegisterBody, responses=OBJECT)
    def post(self, request: Request) -> Response:
        body = validated(RegisterBody, request.data)
        worker_services.worker_register(
            worker_id=body["worker_id"], kind=WorkerKind.JOBS, metadata={"labels": body["labels"]}
        )
        return Response({"worker_id": body["worker_id"], "labels": body["labels"]})


class WorkerHeartbeatApi(APIView):
    permission_classes = [HasWorkerScope]

    @extend_schema(operation_id="workflows_worker_heartbeat", request=None, responses=OBJECT)
    def post(self, request: Request, worker_id: str) -> Response:
        worker_services.worker_heartbeat(worker_id=worker_id)
        return Response({"worker_id": worker_id})


# -- the job protocol ----------------------------------------------------------------------------
class JobClaimApi(APIView):
    permission_classes = [HasWorkerScope]

    @extend_schema(operation_id="workflows_job_claim", request=ClaimBody, responses=CLAIM)
    def post(self, request: Request) -> HttpResponse | Response:
        """``null``, or ``{"job": QueuedJob, "lease": Lease}``."""
        body = validated(ClaimBody, request.data)
        jobs = services.jobs_claim(
            worker_id=body["worker_id"],
            labels=body["labels"],
            ttl_seconds=body.get("lease_ttl_secs"),
            limit=body.get("max_jobs", 1),
        )
        claims = [{"job": wire.queued_job(job), "lease": wire.lease(job)} for job in jobs]
        if "max_jobs" in body:
            return Response({"jobs": claims})
        if not claims:
            return HttpResponse(JSON_NULL, content_type="application/json")
        return Response(claims[0])


class LeaseApi(APIView):
    permission_classes = [HasWorkerScope]

    def lease_id(self, value: str) -> uuid.UUID:
        return parse_uuid(value, "lease")


class LeaseHeartbeatApi(LeaseApi):
    @extend_schema(operation_id="workflows_lease_heartbeat", request=None, responses=OBJECT)
    def post(self, request: Request, lease_id: str) -> Response:
        job = services.job_heartbeat(lease_id=self.lease_id(lease_id))
        return Response(
            {"lease_id": lease_id, "expires_at_ms": wire.epoch_ms(job.lease_expires_at)}
        )


class LeaseCompleteApi(LeaseApi):
    @extend_schema(operation_id="workflows_lease_complete", request=CompleteBody, responses=OBJECT)
    def post(self, request: Request, lease_id: str) -> Response:
        body = validated(CompleteBody, request.data)
        services.job_complete(lease_id=self.lease_id(lease_id), outputs=body["outputs"])
        return Response({"lease_id": lease_id})


class LeasesCompleteApi(APIView):
    permission_classes = [HasWorkerScope]

    @extend_schema(
        operation_id="workflows_leases_complete",
        request=CompleteManyBody,
        responses=OpenApiResponse(
            response=build_object_type(),
            description="`{results: [...]}`, one per completion in order: `{lease_id, status: "
            "200}`, or `{lease_id, status: 409, detail}` for a lease that is not current "
            "(nothing written for it; the others complete).",
        ),
    )
    def post(self, request: Request) -> Response:
        """Ours: complete many leases in one transaction (a worker running many jobs at once)."""
        body = validated(CompleteManyBody, request.data)
        completions = [(item["lease_id"], item["outputs"]) for item in body["completions"]]
        refusals = services.jobs_complete(completions)
        return Response(
            {
                "results": [
                    {"lease_id": str(lease_id), "status": 200}
                    if refusal is None
                    else {"lease_id": str(lease_id), "status": 409, "detail": refusal.message}
                    for (lease_id, _), refusal in zip(completions, refusals, strict=True)
                ]
            }
        )


class LeaseFailApi(LeaseApi):
    @extend_schema(operation_id="workflows_lease_fail", request=FailBody, responses=OBJECT)
    def post(self, request: Request, lease_id: str) -> Response:
        body = validated(FailBody, request.data)
        services.job_fail(
            lease_id=self.lease_id(lease_id), error=body["error"], retryable=body["retryable"]
        )
        return Response({"lease_id": lease_id})


class LeaseLogsApi(LeaseApi):
    @extend_schema(operation_id="workflows_lease_logs", request=LogsBody, responses=OBJECT)
    def post(self, request: Request, lease_id: str) -> Response:
        body = validated(LogsBody, request.data)
        count = services.job_log(lease_id=self.lease_id(lease_id), chunks=body["chunks"])
        return Response({"received": count})


class JobCancelledApi(APIView):
    permission_classes = [HasWorkerScope]

    @extend_schema(operation_id="workflows_job_cancelled", responses=BOOLEAN)
    def get(self, request: Request, workflow_id: str, job_id: str) -> Response:
        return Response(services.job_is_cancelled(workflow_id=workflow_id, job_id=job_id))
