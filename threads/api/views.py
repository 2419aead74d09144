"""LangGraph Platform's thread endpoints. Thin: parse, call a service or selector, render."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import custom_auth
from accounts.authentication import principal_of
from duragraph_site.api import serializers as api
from duragraph_site.api.fields import (
    MAX_TTL_MINUTES,
    JSONObjectField,
    SelectField,
    SortOrderField,
    UUIDField,
    limit_field,
    offset_field,
)
from duragraph_site.api.params import parse_bool, parse_uuid, validated
from duragraph_site.api.responses import paginated, select_fields
from duragraph_site.errors import Conflict, InvalidInput
from threads import selectors, services
from threads.api.access import thread_authorized, thread_visible
from threads.domain import ThreadStatus

STATUSES = [s.value for s in ThreadStatus]


class ThreadSerializer(api.Serializer):
    thread_id = serializers.UUIDField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    state_updated_at = serializers.DateTimeField()
    metadata = serializers.JSONField()
    status = serializers.ChoiceField(choices=STATUSES)
    config = serializers.JSONField()
    values = serializers.JSONField(allow_null=True)
    interrupts = serializers.JSONField()
    error = serializers.JSONField(allow_null=True)


class ThreadWithTtlSerializer(ThreadSerializer):
    ttl = serializers.JSONField(allow_null=True)


def _thread_id(value: str):
    return parse_uuid(value, "thread")


def _scope(request: Request) -> str | None:
    """The tenant the caller sees (None: every tenant)."""
    return principal_of(request).tenant_scope


def _searched_metadata(request: Request, data: dict) -> dict | None:
    """The metadata a search or count filters on: the caller's, as the custom-auth handler
    left it, with its filters (raises ``custom_auth.NothingMatches``)."""
    value = {
        "metadata": dict(data.get("metadata") or {}),
        "values": data.get("values"),
        "status": data.get("status"),
        "limit": data.get("limit"),
        "offset": data.get("offset"),
        "thread_id": None,
    }
    filters = custom_auth.authorize(principal_of(request), "threads", "search", value)
    return custom_auth.search_metadata(value["metadata"], filters) or None


@extend_schema_field(
    {
        "anyOf": [
            {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_TTL_MINUTES},
            {
                "type": "object",
                "properties": {
                    "ttl": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_TTL_MINUTES},
                    "strategy": {"type": "string", "enum": ["delete"]},
                },
                "required": ["ttl"],
            },
        ]
    }
)
class TtlField(serializers.Field):
    """The SDK sends ``{"ttl": minutes, "strategy": "delete"}``; a bare number is accepted too."""

    def to_internal_value(self, data):
        if isinstance(data, int | float) and not isinstance(data, bool):
            data = {"ttl": data, "strategy": "delete"}
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("ttl"), int | float)
            or isinstance(data.get("ttl"), bool)
        ):
            raise serializers.ValidationError('must be {"ttl": <minutes>, "strategy": "delete"}')
        # Bounded: the expiry adds it to a timestamp, which a huge number would overflow.
        if not 0 < data["ttl"] <= MAX_TTL_MINUTES:
            raise serializers.ValidationError(
                f"must be a positive number of minutes, at most {MAX_TTL_MINUTES}"
            )
        strategy = data.get("strategy", "delete")
        if strategy != "delete":
            raise serializers.ValidationError('the only ttl strategy is "delete"')
        return {"ttl": data["ttl"], "strategy": strategy}

    def to_representation(self, value):
        return value


class ThreadCreateApi(APIView):
    class InputSerializer(api.Serializer):
        thread_id = UUIDField(required=False, allow_null=True)
        metadata = JSONObjectField(required=False, allow_null=True)
        if_exists = serializers.ChoiceField(choices=["raise", "do_nothing"], default="raise")
        ttl = TtlField(required=False, allow_null=True)
        supersteps = serializers.ListField(
            child=serializers.DictField(), required=False, allow_null=True
        )

    @extend_schema(
        operation_id="threads_create", request=InputSerializer, responses=ThreadSerializer
    )
    def post(self, request: Request) -> Response:
        data = validated(self.InputSerializer, request.data)
        principal = principal_of(request)
        value = {
            "thread_id": data.get("thread_id"),
            "metadata": dict(data.get("metadata") or {}),
            "if_exists": data["if_exists"],
            "ttl": data.get("ttl"),
        }
        filters = custom_auth.authorize(principal, "threads", "create", value)
        if (
            filters
            and data.get("thread_id")
            and not thread_visible(principal, data["thread_id"], filters)
            and selectors.thread_exists(data["thread_id"])
        ):
            # do_nothing never hands out a thread the handler's filters exclude.
            raise Conflict(f"Thread {data['thread_id']} already exists")
        thread = services.thread_create(
            tenant=principal.tenant,
            scope=principal.tenant_scope,
            thread_id=data.get("thread_id"),
            metadata=value["metadata"],
            if_exists=data["if_exists"],
            ttl=data.get("ttl"),
            supersteps=data.get("supersteps"),
        )

        return Response(ThreadSerializer.represent(thread))


class ThreadListApi(ThreadCreateApi):
    """``POST`` creates (LangGraph's route); ``GET``, under ``/api/v1`` only, is the original
    DuraGraph server's list, which the DuraGraph SDK's ``list_threads`` reads:
    ``{threads, total}``, newest first."""

    @extend_schema(
        operation_id="threads_list",
        parameters=[api.V1ListQuery],
        responses=inline_serializer(
            "ThreadList",
            {"threads": ThreadSerializer(many=True), "total": serializers.IntegerField()},
        ),
    )
    def get(self, request: Request) -> Response:
        query = validated(api.V1ListQuery, request.query_params.dict())
        try:
            metadata = _searched_metadata(request, query)
        except custom_auth.NothingMatches:
            return Response({"threads": [], "total": 0})
        rows, total = selectors.thread_search(
            tenant=_scope(request),
            metadata=metadata,
            limit=query["limit"],
            offset=query["offset"],
        )
        return Response({"threads": ThreadSerializer.represent_many(rows), "total": total})


class ThreadSearchApi(APIView):
    class InputSerializer(api.Serializer):
        metadata = JSONObjectField(required=False, allow_null=True)
        values = JSONObjectField(required=False, allow_null=True)
        ids = serializers.ListField(child=UUIDField(), required=False, allow_null=True)
        status = serializers.ChoiceField(choices=STATUSES, required=False, allow_null=True)
        limit = limit_field()
        offset = offset_field()
        sort_by = serializers.ChoiceField(
            choices=selectors.SORT_FIELDS, required=False, allow_null=True
        )
        sort_order = SortOrderField()
        select = SelectField(choices=list(ThreadSerializer().fields), required=False)
        extract = serializers.DictField(
            child=serializers.CharField(), required=False, allow_null=True
        )

        def validate_extract(self, value):
            if value is not None and len(value) > 10:
                raise serializers.ValidationError("at most 10 extract paths")
            return value

    @extend_schema(
        operation_id="threads_search",
        request=InputSerializer,
        responses=api.selection(ThreadSerializer)(many=True),
    )
    def post(self, request: Request) -> Response:
        data = validated(self.InputSerializer, request.data)
        try:
            metadata = _searched_metadata(request, data)
        except custom_auth.NothingMatches:
            return paginated([], total=0, offset=data["offset"], limit=data["limit"])
        rows, total = selectors.thread_search(
            tenant=_scope(request),
            metadata=metadata,
            values=data.get("values"),
            ids=data.get("ids"),
            status=data.get("status"),
            limit=data["limit"],
            offset=data["offset"],
            sort_by=data.get("sort_by"),
            sort_order=data.get("sort_order"),
        )
        body = ThreadSerializer.represent_many(rows)
        if extract := data.get("extract"):
            for row, thread in zip(body, rows, strict=True):
                document = {"values": thread.values, "metadata": thread.metadata}
                row["extracted"] = {
                    alias: selectors.extract(document, path) for alias, path in extract.items()
                }
        return paginated(
            select_fields(body, data.get("select")),
            total=total,
            offset=data["offset"],
            limit=data["limit"],
        )


class ThreadCountApi(APIView):
    class InputSerializer(api.Serializer):
        metadata = JSONObjectField(required=False, allow_null=True)
        values = JSONObjectField(required=False, allow_null=True)
        status = serializers.ChoiceField(choices=STATUSES, required=False, allow_null=True)

    @extend_schema(
        operation_id="threads_count", request=InputSerializer, responses=OpenApiTypes.INT
    )
    def post(self, request: Request) -> Response:
        data = validated(self.InputSerializer, request.data)
        try:
            metadata = _searched_metadata(request, data)
        except custom_auth.NothingMatches:
            return Response(0)
        return Response(
            selectors.thread_count(
                tenant=_scope(request),
                metadata=metadata,
                values=data.get("values"),
                status=data.get("status"),
            )
        )


class ThreadDetailApi(APIView):
    class UpdateInputSerializer(api.Serializer):
        metadata = JSONObjectField(required=False, allow_null=True)
        ttl = TtlField(required=False, allow_null=True)

    @extend_schema(
        operation_id="threads_get",
        parameters=[
            OpenApiParameter("include", str, description="comma-separated extra fields: ttl")
        ],
        responses=ThreadWithTtlSerializer,
    )
    def get(self, request: Request, thread_id: str) -> Response:
        include = {
            part.strip()
            for part in request.query_params.get("include", "").split(",")
            if part.strip()
        }
        if include - {"ttl"}:
            raise InvalidInput(f"include must name only: ttl (got {sorted(include)})")
        thread_id = _thread_id(thread_id)
        thread_authorized(principal_of(request), thread_id, "read")
        thread = selectors.thread_get(thread_id, tenant=_scope(request))
        serializer = ThreadWithTtlSerializer if "ttl" in include else ThreadSerializer
        return Response(serializer.represent(thread))

    @extend_schema(
        operation_id="threads_update",
        request=UpdateInputSerializer,
        responses={200: ThreadSerializer, 204: None},
    )
    def patch(self, request: Request, thread_id: str) -> Response:
        data = validated(self.UpdateInputSerializer, request.data)
        thread_id = _thread_id(thread_id)
        value = thread_authorized(
            principal_of(request), thread_id, "update", metadata=dict(data.get("metadata") or {})
        )
        thread = services.thread_update(
            thread_id=thread_id,
            tenant=_scope(request),
            metadata=value["metadata"],
            ttl=data.get("ttl"),
        )
        if request.headers.get("Prefer") == "return=minimal":
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(ThreadSerializer.represent(thread))

    @extend_schema(operation_id="threads_delete", responses={204: None})
    def delete(self, request: Request, thread_id: str) -> Response:
        thread_id = _thread_id(thread_id)
        thread_authorized(principal_of(request), thread_id, "delete")
        services.thread_delete(thread_id=thread_id, tenant=_scope(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ThreadCopyApi(APIView):
    @extend_schema(operation_id="threads_copy", request=None, responses=ThreadSerializer)
    def post(self, request: Request, thread_id: str) -> Response:
        # LangGraph: read the source, and may create a thread. Where its filters exclude the
        # source, LangGraph answers 409; here the source is unknown, as everywhere (404).
        thread_id = _thread_id(thread_id)
        principal = principal_of(request)
        thread_authorized(principal, thread_id, "read")
        custom_auth.authorize(principal, "threads", "create", {"thread_id": None})
        return Response(
            ThreadSerializer.represent(
                services.thread_copy(thread_id=thread_id, tenant=_scope(request))
            )
        )


class ThreadPruneApi(APIView):
    class InputSerializer(api.Serializer):
        thread_ids = serializers.ListField(child=UUIDField(), allow_empty=False)
        strategy = serializers.ChoiceField(choices=["delete", "keep_latest"], default="delete")

    @extend_schema(
        operation_id="threads_prune",
        request=InputSerializer,
        responses=inline_serializer(
            "ThreadPruneResponse", {"pruned_count": serializers.IntegerField()}
        ),
    )
    def post(self, request: Request) -> Response:
        data = validated(self.InputSerializer, request.data)
        principal = principal_of(request)
        value = {"thread_ids": data["thread_ids"], "strategy": data["strategy"]}
        filters = custom_auth.authorize(principal, "threads", "delete", value)
        thread_ids = [t for t in data["thread_ids"] if thread_visible(principal, t, filters)]
        pruned = services.threads_prune(
            thread_ids=thread_ids, strategy=data["strategy"], tenant=_scope(request)
        )
        return Response({"pruned_count": pruned})


# -- state ---------------------------------------------------------------------------------------
class CheckpointSerializer(api.Serializer):
    thread_id = serializers.CharField(required=False)
    checkpoint_ns = serializers.CharField(required=False, allow_blank=True, default="")
    checkpoint_id = serializers.CharField(required=False, allow_null=True)
    checkpoint_map = serializers.JSONField(required=False, allow_null=True)


class ThreadStateSerializer(api.Serializer):
    values = serializers.JSONField()
    next = serializers.ListField(child=serializers.CharField())
    tasks = serializers.ListField(child=serializers.DictField())
    metadata = serializers.JSONField(allow_null=True)
    created_at = serializers.CharField(allow_null=True)
    checkpoint = serializers.JSONField(allow_null=True)
    parent_checkpoint = serializers.JSONField(allow_null=True)
    interrupts = serializers.ListField(child=serializers.JSONField())
    checkpoint_id = serializers.CharField(allow_null=True)
    parent_checkpoint_id = serializers.CharField(allow_null=True)

    class Meta:
        ref_name = "ThreadState"


def _select_state(body: dict, select: list[str] | None) -> dict:
    return {key: value for key, value in body.items() if key in select} if select else body


class ThreadStateApi(APIView):
    class UpdateInputSerializer(api.Serializer):
        values = serializers.JSONField(allow_null=True)
        as_node = serializers.CharField(required=False, allow_null=True)
        checkpoint = CheckpointSerializer(required=False, allow_null=True)
        checkpoint_id = serializers.CharField(required=False, allow_null=True)

    @extend_schema(
        operation_id="threads_get_state",
        parameters=[
            OpenApiParameter("subgraphs", bool),
            OpenApiParameter("select", str, many=True),
        ],
        responses=ThreadStateSerializer,
    )
    def get(self, request: Request, thread_id: str) -> Response:
        thread_authorized(principal_of(request), _thread_id(thread_id), "read")
        body = selectors.thread_state(
            _thread_id(thread_id),
            tenant=_scope(request),
            subgraphs=parse_bool(request.query_params.get("subgraphs"), "subgraphs"),
        )
        return Response(_select_state(body, request.query_params.getlist("select")))

    @extend_schema(
        operation_id="threads_update_state",
        request=UpdateInputSerializer,
        responses=inline_serializer(
            "ThreadUpdateStateResponse", {"checkpoint": serializers.JSONField()}
        ),
    )
    def post(self, request: Request, thread_id: str) -> Response:
        data = validated(self.UpdateInputSerializer, request.data)
        thread_authorized(principal_of(request), _thread_id(thread_id), "update")
        checkpoint = dict(data.get("checkpoint") or {})
        if data.get("checkpoint_id"):
            checkpoint["checkpoint_id"] = data["checkpoint_id"]
        result = services.thread_update_state(
            thread_id=_thread_id(thread_id),
            tenant=_scope(request),
            values=data["values"],
            as_node=data.get("as_node"),
            checkpoint=checkpoint or None,
        )
        return Response(result)


class ThreadStateAtCheckpointApi(APIView):
    @extend_schema(
        operation_id="threads_get_state_at_checkpoint",
        parameters=[OpenApiParameter("subgraphs", bool)],
        responses=ThreadStateSerializer,
    )
    def get(self, request: Request, thread_id: str, checkpoint_id: str) -> Response:
        thread_authorized(principal_of(request), _thread_id(thread_id), "read")
        body = selectors.thread_state(
            _thread_id(thread_id),
            tenant=_scope(request),
            checkpoint={"checkpoint_id": checkpoint_id},
            subgraphs=parse_bool(request.query_params.get("subgraphs"), "subgraphs"),
        )
        return Response(_select_state(body, request.query_params.getlist("select")))


class ThreadStateCheckpointPostApi(APIView):
    class InputSerializer(api.Serializer):
        checkpoint = CheckpointSerializer()
        subgraphs = serializers.BooleanField(default=False)

    @extend_schema(
        operation_id="threads_post_state_checkpoint",
        request=InputSerializer,
        responses=ThreadStateSerializer,
    )
    def post(self, request: Request, thread_id: str) -> Response:
        data = validated(self.InputSerializer, request.data)
        thread_authorized(principal_of(request), _thread_id(thread_id), "read")
        body = selectors.thread_state(
            _thread_id(thread_id),
            tenant=_scope(request),
            checkpoint=dict(data["checkpoint"]),
            subgraphs=data["subgraphs"],
        )
        return Response(body)


class ThreadHistoryApi(APIView):
    class InputSerializer(api.Serializer):
        limit = limit_field()
        before = CheckpointSerializer(required=False, allow_null=True)
        metadata = JSONObjectField(required=False, allow_null=True)
        checkpoint = CheckpointSerializer(required=False, allow_null=True)
        select = serializers.ListField(
            child=serializers.CharField(), required=False, allow_null=True
        )

    @extend_schema(
        operation_id="threads_history",
        request=InputSerializer,
        responses=ThreadStateSerializer(many=True),
    )
    def post(self, request: Request, thread_id: str) -> Response:
        return self._history(request, thread_id, validated(self.InputSerializer, request.data))

    class QuerySerializer(api.Serializer):
        """The query string of ``threads_history_get`` (parsed with it, and documented from it)."""

        limit = limit_field()
        before = serializers.CharField(
            required=False, allow_blank=True, help_text="a checkpoint id"
        )

    @extend_schema(
        operation_id="threads_history_get",
        parameters=[QuerySerializer],
        responses=ThreadStateSerializer(many=True),
    )
    def get(self, request: Request, thread_id: str) -> Response:
        query = validated(self.QuerySerializer, request.query_params.dict())
        if before := query.pop("before", None):
            query["before"] = {"checkpoint_id": before}
        return self._history(request, thread_id, query)

    def _history(self, request: Request, thread_id: str, data: dict) -> Response:
        thread_authorized(principal_of(request), _thread_id(thread_id), "read")
        states = selectors.thread_history(
            _thread_id(thread_id),
            tenant=_scope(request),
            limit=data["limit"],
            before=dict(data["before"]) if data.get("before") else None,
            metadata=data.get("metadata"),
            checkpoint=dict(data["checkpoint"]) if data.get("checkpoint") else None,
        )
        return Response([_select_state(item, data.get("select")) for item in states])


_COUNT_AND_BYTES = {"count": serializers.IntegerField(), "bytes": serializers.IntegerField()}
ThreadStorageSerializer = inline_serializer(
    "ThreadStorage",
    {
        "thread_id": serializers.UUIDField(),
        "total_bytes": serializers.IntegerField(),
        "checkpoints": inline_serializer("ThreadStorageCheckpoints", _COUNT_AND_BYTES),
        "channel_values": inline_serializer(
            "ThreadStorageChannelValues",
            {
                **_COUNT_AND_BYTES,
                "by_channel": serializers.DictField(
                    child=inline_serializer(
                        "ThreadStorageChannel",
                        {
                            "versions": serializers.IntegerField(),
                            "bytes": serializers.IntegerField(),
                        },
                    )
                ),
            },
        ),
        "pending_writes": inline_serializer("ThreadStoragePendingWrites", _COUNT_AND_BYTES),
    },
)


class ThreadStorageApi(APIView):
    @extend_schema(
        operation_id="threads_storage",
        summary="Get Thread Storage",
        description=(
            "Bytes the thread's checkpoints occupy, as stored: the checkpoint rows (the "
            "serialized checkpoints, channel values inline, and their metadata), the JSON copy "
            "of each checkpoint's state by channel (versions: the checkpoints holding it), and "
            "the pending writes."
        ),
        responses=ThreadStorageSerializer,
    )
    def get(self, request: Request, thread_id: str) -> Response:
        thread_id = _thread_id(thread_id)
        thread_authorized(principal_of(request), thread_id, "read")
        return Response(selectors.thread_storage(thread_id, tenant=_scope(request)))
