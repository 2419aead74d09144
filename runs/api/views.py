"""LangGraph Platform's run endpoints. Thin: parse, call a service or selector, render.

``/wait``, ``/join`` and ``cancel?wait=1`` answer with a streamed JSON body: a newline every few
seconds while the run is going (leading whitespace is valid JSON and keeps clients' read
timeouts and proxies happy), then the result, the moment the run ends.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import orjson
from django.db import transaction
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from assistants.selectors import resolve_assistant_id
from duragraph_site.api import serializers as api
from duragraph_site.api.fields import (
    JSONField,
    JSONObjectField,
    NodeListField,
    SelectField,
    SortOrderField,
    UUIDField,
)
from duragraph_site.api.params import parse_bool, parse_uuid, validated
from duragraph_site.api.responses import paginated, select_fields
from duragraph_site.errors import BadRequest, DuraGraphError, InvalidInput
from runs import crons, payloads, selectors, services
from runs.domain import CancelAction, RunStatus
from runs.models import Run
from runs.streams import db_call
from runs.waiting import waiter

KEEPALIVE_SECONDS = 5.0
#: (value, name) pairs, as drf-spectacular reads ``ENUM_NAME_OVERRIDES["RunStatusEnum"]``, so
#: every run status field shares that one component.
RUN_STATUSES = [(status.value, status.name) for status in RunStatus]


class RunSerializer(api.Serializer):
    run_id = serializers.UUIDField()
    thread_id = serializers.UUIDField()
    assistant_id = serializers.UUIDField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    status = serializers.ChoiceField(choices=RUN_STATUSES)
    metadata = serializers.JSONField()
    multitask_strategy = serializers.CharField()
    kwargs = serializers.JSONField()
    attempt = serializers.IntegerField()
    cancel_reason = serializers.CharField(allow_null=True)


class CommandSerializer(api.Serializer):
    resume = JSONField(required=False, allow_null=True)
    update = JSONField(required=False, allow_null=True)
    goto = JSONField(required=False, allow_null=True)


@extend_schema_field(
    {
        "anyOf": [
            {"type": "string", "enum": list(payloads.STREAM_MODES)},
            {"type": "array", "items": {"type": "string", "enum": list(payloads.STREAM_MODES)}},
        ]
    }
)
class StreamModeField(serializers.Field):
    """One stream mode or a list of them."""

    valid = (*payloads.STREAM_MODES, *payloads.V2_ONLY_STREAM_MODES)

    def to_internal_value(self, data):
        modes = [data] if isinstance(data, str) else data
        if not isinstance(modes, list) or not all(isinstance(m, str) for m in modes):
            raise serializers.ValidationError("must be a stream mode or a list of stream modes")
        if unknown := [m for m in modes if m not in self.valid]:
            raise serializers.ValidationError(
                f"unknown stream mode(s) {unknown}; expected {list(payloads.STREAM_MODES)}"
            )
        return modes

    def to_representation(self, value):
        return value


class RunCreateSerializer(api.Serializer):
    """LangGraph's run-creation body (RunCreateStateful / RunCreateStateless)."""

    assistant_id = serializers.CharField()
    input = JSONField(required=False, allow_null=True)
    command = CommandSerializer(required=False, allow_null=True)
    metadata = JSONObjectField(required=False, allow_null=True)
    config = JSONObjectField(required=False, allow_null=True)
    context = JSONObjectField(required=False, allow_null=True)
    checkpoint = JSONObjectField(required=False, allow_null=True)
    checkpoint_id = UUIDField(required=False, allow_null=True)
    checkpoint_during = serializers.BooleanField(required=False, allow_null=True)
    interrupt_before = NodeListField(required=False, allow_null=True)
    interrupt_after = NodeListField(required=False, allow_null=True)
    webhook = serializers.URLField(required=False, allow_null=True)
    feedback_keys = serializers.ListField(
        child=serializers.CharField(), required=False, allow_null=True
    )
    multitask_strategy = serializers.ChoiceField(
        choices=payloads.MULTITASK_STRATEGIES, required=False, allow_null=True
    )
    if_not_exists = serializers.ChoiceField(
        choices=["create", "reject"], required=False, allow_null=True
    )
    on_completion = serializers.ChoiceField(
        choices=["delete", "keep"], required=False, allow_null=True
    )
    on_disconnect = serializers.ChoiceField(
        choices=["cancel", "continue"], required=False, allow_null=True
    )
    after_seconds = serializers.FloatField(
        min_value=0, max_value=365 * 24 * 3600, required=False, allow_null=True
    )
    stream_mode = StreamModeField(required=False, allow_null=True)
    stream_subgraphs = serializers.BooleanField(required=False, allow_null=True)
    stream_resumable = serializers.BooleanField(required=False, allow_null=True)
    durability = serializers.ChoiceField(
        choices=payloads.DURABILITIES, required=False, allow_null=True
    )

    def validate_config(self, config):
        if config is None:
            return config
        if "configurable" in config and not isinstance(config["configurable"], dict | type(None)):
            raise serializers.ValidationError("configurable must be a JSON object")
        if "tags" in config and not (
            isinstance(config["tags"], list) and all(isinstance(t, str) for t in config["tags"])
        ):
            raise serializers.ValidationError("tags must be a list of strings")
        limit = config.get("recursion_limit")
        if limit is not None and (
            not isinstance(limit, int) or isinstance(limit, bool) or limit < 1
        ):
            raise serializers.ValidationError("recursion_limit must be a positive integer")
        return config

    def validate_command(self, command):
        return (
            {key: value for key, value in command.items() if value is not None} if command else None
        )


def _api_prefix(request: Request) -> str:
    return "/api/v1" if request.path.startswith("/api/v1/") else ""


def _run_location(request: Request, run: Run, suffix: str = "") -> str:
    return f"{_api_prefix(request)}/threads/{run.thread_id}/runs/{run.run_id}{suffix}"


def _create(
    request: Request, thread_id: uuid.UUID | None, data: dict
) -> tuple[Run, payloads.RunRequest]:
    run_request = payloads.build(data, stateless=thread_id is None)
    run = services.run_create(
        thread_id=thread_id,
        assistant_id=resolve_assistant_id(data["assistant_id"]),
        kwargs=run_request.kwargs,
        metadata=run_request.metadata,
        multitask_strategy=run_request.multitask_strategy,
        after_seconds=run_request.after_seconds,
        if_not_exists=run_request.if_not_exists if thread_id is not None else "reject",
    )
    return run, run_request


def _thread_id(value: str) -> uuid.UUID:
    return parse_uuid(value, "thread")


def _run_id(value: str) -> uuid.UUID:
    return parse_uuid(value, "run")


def _cancel_action(request: Request) -> str:
    """The ``?action=`` of a cancel, checked before any run is looked up (422 when unknown)."""
    action = request.query_params.get("action") or CancelAction.INTERRUPT.value
    if action not in {a.value for a in CancelAction}:
        raise InvalidInput(f"action must be one of {[a.value for a in CancelAction]}")
    return action


# -- waiting ---------------------------------------------------------------------------------
async def _result_when_over(
    run_id: uuid.UUID, thread_id: uuid.UUID, *, cancel_on_disconnect: bool = False
) -> AsyncIterator[bytes]:
    """Newlines while the run is active, then its result as JSON."""
    try:
        async with waiter.awatching(run_id) as ended:
            while not await db_call(selectors.run_is_over, run_id):
                try:
                    await asyncio.wait_for(ended.wait(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield b"\n"
                ended.clear()
    except asyncio.CancelledError:
        if cancel_on_disconnect:  # the client went away (LangGraph's on_disconnect="cancel")
            await db_call(_cancel_quietly, run_id)
        raise
    result = await db_call(selectors.run_result, run_id, thread_id)
    yield orjson.dumps(result)


def _cancel_quietly(run_id: uuid.UUID) -> None:
    try:
        services.run_cancel(run_id=run_id, reason="client disconnected (on_disconnect=cancel)")
    except DuraGraphError:
        pass  # it ended or vanished meanwhile


def _wait_response(
    request: Request, run: Run, *, cancel_on_disconnect: bool = False
) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        _result_when_over(run.run_id, run.thread_id, cancel_on_disconnect=cancel_on_disconnect),
        content_type="application/json",
    )
    response["Location"] = _run_location(request, run, "/join")
    response["Content-Location"] = _run_location(request, run)
    return response


WAIT_RESPONSE = OpenApiResponse(
    OpenApiTypes.ANY, description="The run's final values (or __error__ / __interrupt__)"
)


# -- thread runs -----------------------------------------------------------------------------
class ThreadRunsApi(APIView):
    @extend_schema(operation_id="runs_create", request=RunCreateSerializer, responses=RunSerializer)
    def post(self, request: Request, thread_id: str) -> Response:
        data = validated(RunCreateSerializer, request.data)
        run, _ = _create(request, _thread_id(thread_id), data)
        return Response(
            RunSerializer(run).data, headers={"Content-Location": _run_location(request, run)}
        )

    @extend_schema(
        operation_id="runs_list",
        parameters=[
            OpenApiParameter("limit", int),
            OpenApiParameter("offset", int),
            OpenApiParameter("status", str, enum=[s.value for s in RunStatus]),
            OpenApiParameter("select", str, many=True),
        ],
        responses=api.selection(RunSerializer)(many=True),
    )
    def get(self, request: Request, thread_id: str) -> Response:
        class QuerySerializer(api.Serializer):
            limit = serializers.IntegerField(min_value=1, max_value=1000, default=10)
            offset = serializers.IntegerField(min_value=0, default=0)
            status = serializers.ChoiceField(choices=RUN_STATUSES, required=False)
            select = SelectField(choices=list(RunSerializer().fields), required=False)

        query = validated(
            QuerySerializer,
            {**request.query_params.dict(), "select": request.query_params.getlist("select")},
        )
        runs = selectors.run_list(
            _thread_id(thread_id),
            limit=query["limit"],
            offset=query["offset"],
            status=query.get("status"),
        )
        return Response(select_fields(RunSerializer(runs, many=True).data, query.get("select")))


class ThreadRunWaitApi(APIView):
    @extend_schema(operation_id="runs_wait", request=RunCreateSerializer, responses=WAIT_RESPONSE)
    def post(self, request: Request, thread_id: str) -> StreamingHttpResponse:
        data = validated(RunCreateSerializer, request.data)
        run, run_request = _create(request, _thread_id(thread_id), data)
        return _wait_response(
            request, run, cancel_on_disconnect=run_request.on_disconnect == "cancel"
        )


class RunDetailApi(APIView):
    @extend_schema(operation_id="runs_get", responses=RunSerializer)
    def get(self, request: Request, thread_id: str, run_id: str) -> Response:
        return Response(
            RunSerializer(selectors.run_get(_run_id(run_id), thread_id=_thread_id(thread_id))).data
        )

    @extend_schema(operation_id="runs_delete", responses={204: None})
    def delete(self, request: Request, thread_id: str, run_id: str) -> Response:
        services.run_delete(run_id=_run_id(run_id), thread_id=_thread_id(thread_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class RunJoinApi(APIView):
    @extend_schema(operation_id="runs_join", responses=WAIT_RESPONSE)
    def get(self, request: Request, thread_id: str, run_id: str) -> StreamingHttpResponse:
        run = selectors.run_get(_run_id(run_id), thread_id=_thread_id(thread_id))
        return _wait_response(request, run)


class RunCancelApi(APIView):
    @extend_schema(
        operation_id="runs_cancel",
        request=None,
        parameters=[
            OpenApiParameter(
                "wait", bool, description="wait for the run to stop and return its values"
            ),
            OpenApiParameter("action", str, enum=[a.value for a in CancelAction]),
        ],
        responses={202: None, 200: WAIT_RESPONSE},
    )
    def post(
        self, request: Request, thread_id: str, run_id: str
    ) -> Response | StreamingHttpResponse:
        wait = parse_bool(request.query_params.get("wait"), "wait")
        action = _cancel_action(request)
        run = selectors.run_get(_run_id(run_id), thread_id=_thread_id(thread_id))
        services.run_cancel(run_id=run.run_id, thread_id=run.thread_id, action=action)
        if wait:
            return _wait_response(request, run)
        return Response(status=status.HTTP_202_ACCEPTED)


# -- stateless runs --------------------------------------------------------------------------
class StatelessRunsApi(APIView):
    @extend_schema(
        operation_id="runs_create_stateless", request=RunCreateSerializer, responses=RunSerializer
    )
    def post(self, request: Request) -> Response:
        data = validated(RunCreateSerializer, request.data)
        run, _ = _create(request, None, data)
        return Response(
            RunSerializer(run).data,
            headers={"Content-Location": f"{_api_prefix(request)}/runs/{run.run_id}"},
        )


class StatelessRunWaitApi(APIView):
    @extend_schema(
        operation_id="runs_wait_stateless", request=RunCreateSerializer, responses=WAIT_RESPONSE
    )
    def post(self, request: Request) -> StreamingHttpResponse:
        data = validated(RunCreateSerializer, request.data)
        run, run_request = _create(request, None, data)
        return _wait_response(
            request, run, cancel_on_disconnect=run_request.on_disconnect == "cancel"
        )


class RunBatchApi(APIView):
    @extend_schema(
        operation_id="runs_batch",
        request=RunCreateSerializer(many=True),
        responses=RunSerializer(many=True),
    )
    def post(self, request: Request) -> Response:
        if not isinstance(request.data, list):
            raise serializers.ValidationError(
                {"non_field_errors": ["expected a JSON array of runs"]}
            )
        items = [validated(RunCreateSerializer, item) for item in request.data]
        with transaction.atomic():  # all of the batch, or none of it
            runs = [_create(request, None, item)[0] for item in items]
        return Response(RunSerializer(runs, many=True).data)


class RunsCancelApi(APIView):
    class InputSerializer(api.Serializer):
        thread_id = UUIDField(required=False, allow_null=True)
        run_ids = serializers.ListField(child=UUIDField(), required=False, allow_null=True)
        status = serializers.ChoiceField(
            choices=["pending", "running", "all"], required=False, allow_null=True
        )

        def validate(self, attrs):
            if attrs.get("status") and (attrs.get("thread_id") or attrs.get("run_ids")):
                raise serializers.ValidationError(
                    "status cannot be combined with thread_id or run_ids"
                )
            if not (attrs.get("status") or attrs.get("thread_id") or attrs.get("run_ids")):
                raise serializers.ValidationError("give status, or thread_id and/or run_ids")
            return attrs

    @extend_schema(
        operation_id="runs_cancel_many",
        request=InputSerializer,
        parameters=[OpenApiParameter("action", str, enum=[a.value for a in CancelAction])],
        responses={204: None},
    )
    def post(self, request: Request) -> Response:
        data = validated(self.InputSerializer, request.data)
        services.runs_cancel_many(
            thread_id=data.get("thread_id"),
            run_ids=data.get("run_ids"),
            status=data.get("status"),
            action=_cancel_action(request),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


# -- crons -----------------------------------------------------------------------------------
class CronSerializer(serializers.Serializer):
    cron_id = serializers.UUIDField()
    assistant_id = serializers.UUIDField()
    thread_id = serializers.UUIDField(allow_null=True)
    user_id = serializers.CharField(allow_null=True)
    end_time = serializers.DateTimeField(allow_null=True)
    schedule = serializers.CharField()
    timezone = serializers.CharField(allow_null=True)
    payload = serializers.JSONField()
    next_run_date = serializers.DateTimeField(allow_null=True)
    metadata = serializers.JSONField()
    on_run_completed = serializers.CharField(allow_null=True)
    enabled = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


#: Body keys that describe the cron itself; everything else is the run it creates.
CRON_KEYS = ("schedule", "end_time", "enabled", "timezone", "on_run_completed")


class CronCreateSerializer(RunCreateSerializer):
    schedule = serializers.CharField()
    end_time = serializers.DateTimeField(required=False, allow_null=True)
    enabled = serializers.BooleanField(default=True)
    timezone = serializers.CharField(required=False, allow_null=True)
    on_run_completed = serializers.ChoiceField(
        choices=["delete", "keep"], required=False, allow_null=True
    )


def _create_cron(request: Request, thread_id: uuid.UUID | None) -> Response:
    data = validated(CronCreateSerializer, request.data)
    payloads.build(data, stateless=thread_id is None)  # the run it will create must be valid now
    # The validated fields only: unknown keys are ignored, as on run creation, never stored.
    run_body = _jsonable(
        {key: value for key, value in data.items() if key not in CRON_KEYS and value is not None}
    )
    cron = crons.cron_create(
        assistant_id=resolve_assistant_id(data["assistant_id"]),
        thread_id=thread_id,
        schedule=data["schedule"],
        payload=run_body,
        metadata=data.get("metadata"),
        end_time=data.get("end_time"),
        enabled=data["enabled"],
        tz_name=data.get("timezone"),
        on_run_completed=data.get("on_run_completed"),
    )
    return Response(CronSerializer(cron).data)


class ThreadCronCreateApi(APIView):
    @extend_schema(
        operation_id="crons_create_for_thread",
        request=CronCreateSerializer,
        responses=CronSerializer,
    )
    def post(self, request: Request, thread_id: str) -> Response:
        return _create_cron(request, _thread_id(thread_id))


class CronCreateApi(APIView):
    @extend_schema(
        operation_id="crons_create", request=CronCreateSerializer, responses=CronSerializer
    )
    def post(self, request: Request) -> Response:
        return _create_cron(request, None)


class CronSearchApi(APIView):
    class InputSerializer(api.Serializer):
        assistant_id = serializers.CharField(required=False, allow_null=True)
        thread_id = UUIDField(required=False, allow_null=True)
        enabled = serializers.BooleanField(required=False, allow_null=True)
        metadata = JSONObjectField(required=False, allow_null=True)
        limit = serializers.IntegerField(min_value=1, max_value=1000, default=10)
        offset = serializers.IntegerField(min_value=0, default=0)
        sort_by = serializers.ChoiceField(
            choices=crons.SORT_FIELDS, required=False, allow_null=True
        )
        sort_order = SortOrderField()
        select = SelectField(choices=list(CronSerializer().fields), required=False)

    @extend_schema(
        operation_id="crons_search",
        request=InputSerializer,
        responses=api.selection(CronSerializer)(many=True),
    )
    def post(self, request: Request) -> Response:
        data = validated(self.InputSerializer, request.data)
        rows, total = crons.cron_search(
            assistant_id=resolve_assistant_id(data["assistant_id"])
            if data.get("assistant_id")
            else None,
            thread_id=data.get("thread_id"),
            enabled=data.get("enabled"),
            metadata=data.get("metadata"),
            limit=data["limit"],
            offset=data["offset"],
            sort_by=data.get("sort_by"),
            sort_order=data.get("sort_order"),
        )
        body = select_fields(CronSerializer(rows, many=True).data, data.get("select"))
        return paginated(body, total=total, offset=data["offset"], limit=data["limit"])


class CronCountApi(APIView):
    class InputSerializer(api.Serializer):
        assistant_id = serializers.CharField(required=False, allow_null=True)
        thread_id = UUIDField(required=False, allow_null=True)
        metadata = JSONObjectField(required=False, allow_null=True)

    @extend_schema(operation_id="crons_count", request=InputSerializer, responses=OpenApiTypes.INT)
    def post(self, request: Request) -> Response:
        data = validated(self.InputSerializer, request.data)
        assistant_id = (
            resolve_assistant_id(data["assistant_id"]) if data.get("assistant_id") else None
        )
        return Response(
            crons.cron_count(
                assistant_id=assistant_id,
                thread_id=data.get("thread_id"),
                metadata=data.get("metadata"),
            )
        )


class CronDetailApi(APIView):
    class UpdateInputSerializer(api.Serializer):
        schedule = serializers.CharField(required=False)
        end_time = serializers.DateTimeField(required=False, allow_null=True)
        enabled = serializers.BooleanField(required=False)
        timezone = serializers.CharField(required=False)
        on_run_completed = serializers.ChoiceField(choices=["delete", "keep"], required=False)
        metadata = JSONObjectField(required=False)
        input = JSONField(required=False, allow_null=True)
        config = JSONObjectField(required=False, allow_null=True)
        context = JSONObjectField(required=False, allow_null=True)
        webhook = serializers.URLField(required=False, allow_null=True)
        interrupt_before = NodeListField(required=False, allow_null=True)
        interrupt_after = NodeListField(required=False, allow_null=True)
        stream_mode = StreamModeField(required=False, allow_null=True)
        stream_subgraphs = serializers.BooleanField(required=False, allow_null=True)
        stream_resumable = serializers.BooleanField(required=False, allow_null=True)
        durability = serializers.ChoiceField(
            choices=payloads.DURABILITIES, required=False, allow_null=True
        )

    @extend_schema(operation_id="crons_get", responses=CronSerializer)
    def get(self, request: Request, cron_id: str) -> Response:
        return Response(CronSerializer(crons.cron_get(parse_uuid(cron_id, "cron"))).data)

    @extend_schema(
        operation_id="crons_update", request=UpdateInputSerializer, responses=CronSerializer
    )
    def patch(self, request: Request, cron_id: str) -> Response:
        cron_uuid = parse_uuid(cron_id, "cron")
        data = validated(self.UpdateInputSerializer, request.data)
        if not data:
            raise BadRequest("Request body must name at least one field to update.")
        run_changes = {
            key: value for key, value in data.items() if key not in (*CRON_KEYS, "metadata")
        }
        cron = crons.cron_update(
            cron_id=cron_uuid,
            schedule=data.get("schedule"),
            tz_name=data.get("timezone"),
            enabled=data.get("enabled"),
            metadata=data.get("metadata"),
            on_run_completed=data.get("on_run_completed"),
            payload_changes=_jsonable(run_changes),
            **({"end_time": data["end_time"]} if "end_time" in data else {}),
        )
        return Response(CronSerializer(cron).data)

    @extend_schema(operation_id="crons_delete", responses={204: None})
    def delete(self, request: Request, cron_id: str) -> Response:
        crons.cron_delete(cron_id=parse_uuid(cron_id, "cron"))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _jsonable(values: dict) -> dict:
    return orjson.loads(orjson.dumps(values))
