"""LangGraph Platform's cron endpoints: create (for a thread or stateless), search, count, get,
update, delete. Thin: parse, call :mod:`runs.crons`, render."""

from __future__ import annotations

import uuid

import orjson
from django.db.models import Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import custom_auth
from accounts.authentication import principal_of
from assistants.selectors import resolve_assistant_id
from duragraph_site.api import serializers as api
from duragraph_site.api.fields import (
    JSONField,
    JSONObjectField,
    NodeListField,
    SelectField,
    SortOrderField,
    UUIDField,
    limit_field,
    offset_field,
)
from duragraph_site.api.params import parse_uuid, validated
from duragraph_site.api.responses import paginated, select_fields
from duragraph_site.errors import BadRequest, InvalidInput
from runs import crons, payloads
from runs.api import access
from runs.api.runs import parse_thread_id, scope
from runs.api.serializers import (
    CronCreateSerializer,
    CronSerializer,
    StreamModeField,
    WebhookField,
)

#: Body keys that describe the cron itself; everything else is the run it creates.
CRON_KEYS = ("schedule", "end_time", "enabled", "timezone", "on_run_completed")


def _create_cron(request: Request, thread_id: uuid.UUID | None) -> Response:
    data = validated(CronCreateSerializer, request.data)
    if (given := data.pop("payload", None)) is not None:  # the DuraGraph SDK's input
        if data.get("input") is not None:
            raise InvalidInput("payload: give input or payload (the DuraGraph SDK's), not both")
        data["input"] = given
    payloads.build(data, stateless=thread_id is None)  # the run it will create must be valid now
    # The validated fields only: unknown keys are ignored, as on run creation, never stored.
    run_body = _jsonable(
        {key: value for key, value in data.items() if key not in CRON_KEYS and value is not None}
    )
    principal = principal_of(request)
    assistant_id = resolve_assistant_id(data["assistant_id"])
    value = {
        "payload": run_body,
        "schedule": data["schedule"],
        "cron_id": None,
        "thread_id": thread_id,
        "user_id": None,
        "end_time": data.get("end_time"),
        "metadata": data.get("metadata"),
    }
    metadata = access.cron_create_authorized(principal, thread_id, assistant_id, value)
    cron = crons.cron_create(
        tenant=principal.tenant,
        scope=principal.tenant_scope,
        assistant_id=assistant_id,
        thread_id=thread_id,
        schedule=data["schedule"],
        payload=run_body,
        metadata=metadata,
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
        return _create_cron(request, parse_thread_id(thread_id))


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
        limit = limit_field()
        offset = offset_field()
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
        try:
            metadata = _searched_metadata(request, data)
        except custom_auth.NothingMatches:
            return paginated([], total=0, offset=data["offset"], limit=data["limit"])
        rows, total = crons.cron_search(
            tenant=scope(request),
            assistant_id=resolve_assistant_id(data["assistant_id"])
            if data.get("assistant_id")
            else None,
            thread_id=data.get("thread_id"),
            enabled=data.get("enabled"),
            metadata=metadata,
            where=access.cron_thread_condition(principal_of(request), data.get("thread_id")),
            limit=data["limit"],
            offset=data["offset"],
            sort_by=data.get("sort_by"),
            sort_order=data.get("sort_order"),
        )
        body = select_fields(CronSerializer(rows, many=True).data, data.get("select"))
        return paginated(body, total=total, offset=data["offset"], limit=data["limit"])


def _searched_metadata(request: Request, data: dict) -> dict | Q | None:
    value = {
        "assistant_id": data.get("assistant_id"),
        "thread_id": data.get("thread_id"),
        "metadata": dict(data.get("metadata") or {}),
        "limit": data.get("limit"),
        "offset": data.get("offset"),
    }
    return access.cron_searched_metadata(principal_of(request), value)


class CronCountApi(APIView):
    class InputSerializer(api.Serializer):
        assistant_id = serializers.CharField(required=False, allow_null=True)
        thread_id = UUIDField(required=False, allow_null=True)
        metadata = JSONObjectField(required=False, allow_null=True)

    @extend_schema(operation_id="crons_count", request=InputSerializer, responses=OpenApiTypes.INT)
    def post(self, request: Request) -> Response:
        data = validated(self.InputSerializer, request.data)
        try:
            metadata = _searched_metadata(request, data)
        except custom_auth.NothingMatches:
            return Response(0)
        assistant_id = (
            resolve_assistant_id(data["assistant_id"]) if data.get("assistant_id") else None
        )
        return Response(
            crons.cron_count(
                tenant=scope(request),
                assistant_id=assistant_id,
                thread_id=data.get("thread_id"),
                metadata=metadata,
                where=access.cron_thread_condition(principal_of(request), data.get("thread_id")),
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
        webhook = WebhookField(required=False, allow_null=True)
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
        access.cron_authorized(principal_of(request), parse_uuid(cron_id, "cron"), "read")
        cron = crons.cron_get(parse_uuid(cron_id, "cron"), tenant=scope(request))
        return Response(CronSerializer(cron).data)

    @extend_schema(
        operation_id="crons_update", request=UpdateInputSerializer, responses=CronSerializer
    )
    def patch(self, request: Request, cron_id: str) -> Response:
        cron_uuid = parse_uuid(cron_id, "cron")
        data = validated(self.UpdateInputSerializer, request.data)
        if not data:
            raise BadRequest("Request body must name at least one field to update.")
        value = access.cron_authorized(
            principal_of(request),
            cron_uuid,
            "update",
            payload=dict(data),
            schedule=data.get("schedule"),
            **({"metadata": dict(data["metadata"])} if "metadata" in data else {}),
        )
        if value.get("metadata"):
            data["metadata"] = value["metadata"]
        run_changes = {
            key: value for key, value in data.items() if key not in (*CRON_KEYS, "metadata")
        }
        cron = crons.cron_update(
            cron_id=cron_uuid,
            tenant=scope(request),
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
        access.cron_authorized(principal_of(request), parse_uuid(cron_id, "cron"), "delete")
        crons.cron_delete(cron_id=parse_uuid(cron_id, "cron"), tenant=scope(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _jsonable(values: dict) -> dict:
    return orjson.loads(orjson.dumps(values))
