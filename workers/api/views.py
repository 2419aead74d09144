"""The DuraGraph worker protocol (``/api/v1/workers``), as ``duragraph==0.3.3`` speaks it.

Thin views over ``workers.remote`` (the protocol's commands), ``workers.services`` (the
registry) and ``workers.selectors``. The SDK sends no header of its own: with authentication
on, give it a key with the ``worker`` scope as the password of its control-plane URL
(``accounts.authentication``); with it off, these routes are open unless
``DURAGRAPH_WORKER_API_KEYS`` is set.
Unknown workers get 404, on which the SDK registers again.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import HasWorkerScope
from duragraph_site.api import serializers as api
from duragraph_site.api.fields import IntegerField, JSONObjectField
from duragraph_site.api.params import validated
from duragraph_site.errors import InvalidInput, NotFound
from workers import protocol, remote, selectors, services

#: The largest count a worker may report (the registry's integer columns).
MAX_COUNT = 2**31 - 1


class WorkerApiView(APIView):
    permission_classes = [HasWorkerScope]


class WorkerSerializer(api.Serializer):
    worker_id = serializers.CharField()
    id = serializers.CharField(source="worker_id")
    name = serializers.CharField()
    kind = serializers.CharField()
    status = serializers.CharField()
    reported_status = serializers.CharField()
    graph_ids = serializers.JSONField()
    max_concurrent_runs = serializers.IntegerField()
    active_runs = serializers.IntegerField()
    total_runs = serializers.IntegerField()
    failed_runs = serializers.IntegerField()
    heartbeat_interval = serializers.FloatField()
    last_heartbeat_at = serializers.DateTimeField()
    registered_at = serializers.DateTimeField()

    class Meta:
        ref_name = "Worker"


class WorkerRegisterApi(WorkerApiView):
    class InputSerializer(api.Serializer):
        worker_id = serializers.CharField(max_length=255)
        name = serializers.CharField(required=False, allow_null=True, allow_blank=True)
        capabilities = JSONObjectField(required=False, allow_null=True)
        graph_definitions = serializers.ListField(
            child=serializers.JSONField(), required=False, allow_null=True
        )

    @extend_schema(
        operation_id="workers_register",
        request=InputSerializer,
        responses=inline_serializer(
            "WorkerRegistered",
            {"worker_id": serializers.CharField(), "registered": serializers.BooleanField()},
        ),
    )
    def post(self, request: Request) -> Response:
        data = validated(self.InputSerializer, request.data)
        capabilities = data.get("capabilities") or {}
        graph_ids = capabilities.get("graphs") or []
        if not isinstance(graph_ids, list) or not all(isinstance(g, str) for g in graph_ids):
            raise InvalidInput("capabilities.graphs must be a list of graph ids")
        max_runs = capabilities.get("max_concurrent_runs", 10)
        if (
            not isinstance(max_runs, int)
            or isinstance(max_runs, bool)
            or not 0 < max_runs <= MAX_COUNT
        ):
            raise InvalidInput(
                f"capabilities.max_concurrent_runs must be an integer from 1 to {MAX_COUNT}"
            )
        definitions = [
            protocol.parse_graph_definition(item) for item in data.get("graph_definitions") or []
        ]
        worker = remote.worker_register_remote(
            worker_id=data["worker_id"],
            name=data.get("name") or None,
            graph_ids=graph_ids,
            max_concurrent_runs=max_runs,
            graph_definitions=definitions,
            metadata={
                "capabilities": capabilities,
                "user_agent": request.headers.get("User-Agent", "")[:200],
            },
        )
        base = f"/api/v1/workers/{worker.worker_id}"
        return Response(
            {
                "worker_id": worker.worker_id,
                "registered": True,
                "heartbeat_url": f"{base}/heartbeat",
                "poll_url": f"{base}/poll",
                "deregister_url": f"{base}/deregister",
                "event_stream_url": f"{base}/events",
            }
        )


class WorkerHeartbeatApi(WorkerApiView):
    class InputSerializer(api.Serializer):
        status = serializers.CharField(required=False, allow_blank=True, default="")
        active_runs = IntegerField(
            required=False, min_value=0, max_value=MAX_COUNT, allow_null=True
        )
        total_runs = IntegerField(required=False, min_value=0, max_value=MAX_COUNT, allow_null=True)
        failed_runs = IntegerField(
            required=False, min_value=0, max_value=MAX_COUNT, allow_null=True
        )

    @extend_schema(
        operation_id="workers_heartbeat",
        request=InputSerializer,
        responses=inline_serializer(
            "WorkerHeartbeatAck",
            {"acknowledged": serializers.BooleanField(), "status": serializers.CharField()},
        ),
    )
    def post(self, request: Request, worker_id: str) -> Response:
        data = validated(self.InputSerializer, request.data)
        worker = remote.remote_worker_heartbeat(
            worker_id=worker_id,
            reported_status=data["status"],
            active_runs=data.get("active_runs"),
            total_runs=data.get("total_runs"),
            failed_runs=data.get("failed_runs"),
        )
        return Response({"acknowledged": True, "status": worker.status})


class WorkerPollApi(WorkerApiView):
    class InputSerializer(api.Serializer):
        max_tasks = IntegerField(required=False, min_value=1, max_value=100, default=1)

    @extend_schema(
        operation_id="workers_poll",
        request=InputSerializer,
        responses={
            200: inline_serializer(
                "WorkerTasks", {"tasks": serializers.ListField(child=serializers.DictField())}
            ),
            204: None,
        },
    )
    def post(self, request: Request, worker_id: str) -> Response:
        data = validated(self.InputSerializer, request.data)
        tasks = remote.worker_poll(worker_id=worker_id, max_tasks=data["max_tasks"])
        if not tasks:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response({"tasks": tasks})


class WorkerEventsApi(WorkerApiView):
    class InputSerializer(api.Serializer):
        run_id = serializers.UUIDField()
        event_type = serializers.CharField()
        data = JSONObjectField(required=False, allow_null=True)

    @extend_schema(
        operation_id="workers_events",
        request=InputSerializer,
        responses=inline_serializer("WorkerEventAck", {"received": serializers.BooleanField()}),
    )
    def post(self, request: Request, worker_id: str) -> Response:
        data = validated(self.InputSerializer, request.data)
        remote.worker_report_event(
            worker_id=worker_id,
            run_id=data["run_id"],
            event_type=data["event_type"],
            data=data.get("data") or {},
        )
        return Response({"received": True})


class WorkerDeregisterApi(WorkerApiView):
    @extend_schema(operation_id="workers_deregister", request=None, responses={204: None})
    def post(self, request: Request, worker_id: str) -> Response:
        services.worker_deregister(worker_id=worker_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WorkerListApi(WorkerApiView):
    @extend_schema(operation_id="workers_list", responses=WorkerSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(WorkerSerializer(selectors.worker_list(), many=True).data)


class WorkerListBareApi(WorkerListApi):
    """``GET /api/v1/workers``, without the slash: the path ``duragraph status`` and the Go
    server use. The same list; documented once, under ``/api/v1/workers/``."""

    @extend_schema(exclude=True)
    def get(self, request: Request) -> Response:
        return super().get(request)


class WorkerLogEntrySerializer(api.Serializer):
    """One line of ``duragraph logs``."""

    timestamp = serializers.CharField()
    level = serializers.ChoiceField(choices=["INFO", "WARNING", "ERROR"])
    message = serializers.CharField()
    worker = serializers.CharField(allow_null=True)
    run_id = serializers.UUIDField()


class WorkerLogsApi(WorkerApiView):
    """``GET /api/v1/workers/logs``: what ``duragraph logs`` prints, from the event log."""

    class QuerySerializer(api.Serializer):
        worker = serializers.CharField(required=False, max_length=255)
        limit = IntegerField(min_value=1, max_value=1000, default=100)

    @extend_schema(
        operation_id="workers_logs",
        parameters=[QuerySerializer],
        responses=WorkerLogEntrySerializer(many=True),
        description="The runs the worker (every worker, without `worker`) started, latest "
        "`limit`, and how each lease ended: `[{timestamp, level, message, worker, run_id}]`, "
        "oldest first.",
    )
    def get(self, request: Request) -> Response:
        query = validated(self.QuerySerializer, request.query_params.dict())
        return Response(selectors.worker_log(query.get("worker"), limit=query["limit"]))


class WorkerDetailApi(WorkerApiView):
    @extend_schema(operation_id="workers_get", responses=WorkerSerializer)
    def get(self, request: Request, worker_id: str) -> Response:
        return Response(WorkerSerializer(selectors.worker_get(worker_id)).data)


class WorkerGraphApi(WorkerApiView):
    @extend_schema(operation_id="workers_graph", responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, graph_id: str) -> Response:
        graph = selectors.worker_graph_get(graph_id)
        if graph is None:
            raise NotFound(f"Graph '{graph_id}' was not registered by any worker")
        return Response(
            {**graph.definition, "worker_ids": graph.worker_ids, "updated_at": graph.updated_at}
        )
