"""LangGraph Platform's assistant endpoints. Thin: parse, call a service or selector, render."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import custom_auth
from accounts.authentication import principal_of
from assistants import graphs, selectors, services
from assistants.api import access
from duragraph_site.api import serializers as api
from duragraph_site.api.fields import (
    IntegerField,
    JSONObjectField,
    SelectField,
    SortOrderField,
    StrictCharField,
    UUIDField,
    limit_field,
    offset_field,
)
from duragraph_site.api.params import parse_bool, parse_uuid, validated
from duragraph_site.api.responses import paginated, select_fields
from duragraph_site.errors import InvalidInput


class AssistantSerializer(api.Serializer):
    assistant_id = serializers.UUIDField()
    graph_id = serializers.CharField()
    config = serializers.JSONField()
    context = serializers.JSONField()
    metadata = serializers.JSONField()
    name = serializers.CharField()
    description = serializers.CharField(allow_null=True)
    version = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class AssistantVersionSerializer(api.Serializer):
    assistant_id = serializers.UUIDField()
    graph_id = serializers.CharField()
    config = serializers.JSONField()
    context = serializers.JSONField()
    metadata = serializers.JSONField()
    name = serializers.CharField()
    description = serializers.CharField(allow_null=True)
    version = serializers.IntegerField()
    created_at = serializers.DateTimeField()


GraphSchemaSerializer = inline_serializer(
    "GraphSchema",
    {
        "graph_id": serializers.CharField(),
        "input_schema": serializers.JSONField(allow_null=True),
        "output_schema": serializers.JSONField(allow_null=True),
        "state_schema": serializers.JSONField(allow_null=True),
        "config_schema": serializers.JSONField(allow_null=True),
        "context_schema": serializers.JSONField(allow_null=True),
    },
)


def _assistant_id(value: str):
    return parse_uuid(value, "assistant")


def _scope(request: Request) -> str | None:
    """The tenant the caller sees (None: every tenant)."""
    return principal_of(request).tenant_scope


def _visible(request: Request, assistant_id: str):
    """The assistant in the path, if the caller sees it (else 404, as for an unknown id)."""
    assistant = selectors.assistant_get(_assistant_id(assistant_id), tenant=_scope(request))
    value = {"assistant_id": assistant.assistant_id}
    access.require_match(
        assistant, custom_auth.authorize(principal_of(request), "assistants", "read", value)
    )
    return assistant


def _searched_metadata(request: Request, data: dict) -> dict | None:
    value = {
        "graph_id": data.get("graph_id"),
        "metadata": dict(data.get("metadata") or {}),
        "limit": data.get("limit"),
        "offset": data.get("offset"),
    }
    return access.searched_metadata(principal_of(request), value)


#: The DuraGraph SDK's assistant fields (the original server's ``model`` and ``instructions``):
#: kept in the assistant's context, where its graph reads them (``runtime.context``).
DURAGRAPH_CONTEXT_FIELDS = ("model", "instructions")


def _with_duragraph_fields(data: dict, current_context: dict | None = None) -> dict:
    """*data* with the DuraGraph fields it has moved into its context: over the context given,
    else over *current_context* (an update keeps the rest); the context's own keys win."""
    given = {name: data.pop(name) for name in DURAGRAPH_CONTEXT_FIELDS if name in data}
    given = {name: value for name, value in given.items() if value is not None}
    if given:
        if data.get("context") is not None:
            data["context"] = {**given, **data["context"]}
        else:
            data["context"] = {**(current_context or {}), **given}
    return data


class AssistantCreateApi(APIView):
    class InputSerializer(api.Serializer):
        graph_id = serializers.CharField()
        assistant_id = UUIDField(required=False, allow_null=True)
        if_exists = serializers.ChoiceField(choices=["raise", "do_nothing"], default="raise")
        config = JSONObjectField(required=False, allow_null=True)
        context = JSONObjectField(required=False, allow_null=True)
        metadata = JSONObjectField(required=False, allow_null=True)
        name = serializers.CharField(required=False, allow_null=True, allow_blank=True)
        description = serializers.CharField(required=False, allow_null=True, allow_blank=True)
        model = StrictCharField(required=False, allow_null=True)  # DuraGraph's
        instructions = StrictCharField(required=False, allow_null=True)  # DuraGraph's

    @extend_schema(
        operation_id="assistants_create", request=InputSerializer, responses=AssistantSerializer
    )
    def post(self, request: Request) -> Response:
        data = _with_duragraph_fields(validated(self.InputSerializer, request.data))
        principal = principal_of(request)
        value = {
            "assistant_id": data.get("assistant_id"),
            "graph_id": data["graph_id"],
            "config": data.get("config"),
            "context": data.get("context"),
            "metadata": dict(data.get("metadata") or {}),
            "if_exists": data["if_exists"],
            "name": data.get("name") or None,
        }
        filters = custom_auth.authorize(principal, "assistants", "create", value)
        if filters and data.get("assistant_id") and data["if_exists"] == "do_nothing":
            access.not_handed_out(principal, data["assistant_id"], filters)
        assistant = services.assistant_create(
            tenant=principal.tenant,
            scope=principal.tenant_scope,
            graph_id=data["graph_id"],
            assistant_id=data.get("assistant_id"),
            if_exists=data["if_exists"],
            config=data.get("config"),
            context=data.get("context"),
            metadata=value["metadata"],
            name=data.get("name") or None,
            description=data.get("description"),
        )
        return Response(AssistantSerializer.represent(assistant))


class AssistantListApi(AssistantCreateApi):
    """``POST`` creates (LangGraph's route); ``GET``, under ``/api/v1`` only, is the original
    DuraGraph server's list, which the DuraGraph SDK's ``list_assistants`` reads:
    ``{assistants, total}``, newest first."""

    @extend_schema(
        operation_id="assistants_list",
        parameters=[api.V1ListQuery],
        responses=inline_serializer(
            "AssistantList",
            {"assistants": AssistantSerializer(many=True), "total": serializers.IntegerField()},
        ),
    )
    def get(self, request: Request) -> Response:
        query = validated(api.V1ListQuery, request.query_params.dict())
        try:
            metadata = _searched_metadata(request, query)
        except custom_auth.NothingMatches:
            return Response({"assistants": [], "total": 0})
        rows, total = selectors.assistant_search(
            tenant=_scope(request),
            metadata=metadata,
            limit=query["limit"],
            offset=query["offset"],
        )
        return Response({"assistants": AssistantSerializer.represent_many(rows), "total": total})


class AssistantSearchApi(APIView):
    class InputSerializer(api.Serializer):
        metadata = JSONObjectField(required=False, allow_null=True)
        graph_id = serializers.CharField(required=False, allow_null=True)
        name = serializers.CharField(required=False, allow_null=True, allow_blank=True)
        limit = limit_field()
        offset = offset_field()
        sort_by = serializers.ChoiceField(
            choices=selectors.SORT_FIELDS, required=False, allow_null=True
        )
        sort_order = SortOrderField()
        select = SelectField(choices=list(AssistantSerializer().fields), required=False)

    @extend_schema(
        operation_id="assistants_search",
        request=InputSerializer,
        responses=api.selection(AssistantSerializer)(many=True),
    )
    def post(self, request: Request) -> Response:
        data = validated(self.InputSerializer, request.data)
        try:
            metadata = _searched_metadata(request, data)
        except custom_auth.NothingMatches:
            return paginated([], total=0, offset=data["offset"], limit=data["limit"])
        rows, total = selectors.assistant_search(
            tenant=_scope(request),
            metadata=metadata,
            graph_id=data.get("graph_id"),
            name=data.get("name"),
            limit=data["limit"],
            offset=data["offset"],
            sort_by=data.get("sort_by"),
            sort_order=data.get("sort_order"),
        )
        body = select_fields(AssistantSerializer.represent_many(rows), data.get("select"))
        return paginated(body, total=total, offset=data["offset"], limit=data["limit"])


class AssistantCountApi(APIView):
    class InputSerializer(api.Serializer):
        metadata = JSONObjectField(required=False, allow_null=True)
        graph_id = serializers.CharField(required=False, allow_null=True)
        name = serializers.CharField(required=False, allow_null=True, allow_blank=True)

    @extend_schema(
        operation_id="assistants_count", request=InputSerializer, responses=OpenApiTypes.INT
    )
    def post(self, request: Request) -> Response:
        data = validated(self.InputSerializer, request.data)
        try:
            metadata = _searched_metadata(request, data)
        except custom_auth.NothingMatches:
            return Response(0)
        return Response(
            selectors.assistant_count(
                tenant=_scope(request),
                metadata=metadata,
                graph_id=data.get("graph_id"),
                name=data.get("name"),
            )
        )


class AssistantDetailApi(APIView):
    class UpdateInputSerializer(api.Serializer):
        graph_id = serializers.CharField(required=False, allow_null=True)
        config = JSONObjectField(required=False, allow_null=True)
        context = JSONObjectField(required=False, allow_null=True)
        metadata = JSONObjectField(required=False, allow_null=True)
        name = serializers.CharField(required=False, allow_null=True)
        description = serializers.CharField(required=False, allow_null=True, allow_blank=True)
        model = StrictCharField(required=False, allow_null=True)  # DuraGraph's
        instructions = StrictCharField(required=False, allow_null=True)  # DuraGraph's

    @extend_schema(operation_id="assistants_get", responses=AssistantSerializer)
    def get(self, request: Request, assistant_id: str) -> Response:
        return Response(AssistantSerializer.represent(_visible(request, assistant_id)))

    @extend_schema(
        operation_id="assistants_update",
        request=UpdateInputSerializer,
        responses=AssistantSerializer,
    )
    def patch(self, request: Request, assistant_id: str) -> Response:
        data = validated(self.UpdateInputSerializer, request.data)
        if any(data.get(name) is not None for name in DURAGRAPH_CONTEXT_FIELDS):
            data = _with_duragraph_fields(data, _visible(request, assistant_id).context)
        else:
            data = _with_duragraph_fields(data)  # drops them when null
        value = access.assistant_authorized(
            principal_of(request),
            _assistant_id(assistant_id),
            "update",
            **{"metadata": {}, **{k: v for k, v in data.items() if v is not None}},
        )
        if value["metadata"]:
            data["metadata"] = value["metadata"]
        assistant = services.assistant_update(
            assistant_id=_assistant_id(assistant_id),
            tenant=_scope(request),
            **{k: v for k, v in data.items() if v is not None},
        )
        return Response(AssistantSerializer.represent(assistant))

    @extend_schema(
        operation_id="assistants_delete",
        parameters=[
            OpenApiParameter(
                "delete_threads", bool, description="also delete the threads the assistant ran on"
            )
        ],
        responses={204: None},
    )
    def delete(self, request: Request, assistant_id: str) -> Response:
        access.assistant_authorized(principal_of(request), _assistant_id(assistant_id), "delete")
        services.assistant_delete(
            assistant_id=_assistant_id(assistant_id),
            tenant=_scope(request),
            delete_threads=parse_bool(request.query_params.get("delete_threads"), "delete_threads"),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class AssistantVersionsApi(APIView):
    class InputSerializer(api.Serializer):
        metadata = JSONObjectField(required=False, allow_null=True)
        limit = limit_field()
        offset = offset_field()

    @extend_schema(
        operation_id="assistants_versions",
        request=InputSerializer,
        responses=AssistantVersionSerializer(many=True),
    )
    def post(self, request: Request, assistant_id: str) -> Response:
        data = validated(self.InputSerializer, request.data)
        access.assistant_authorized(principal_of(request), _assistant_id(assistant_id), "read")
        rows = selectors.assistant_versions(
            _assistant_id(assistant_id),
            tenant=_scope(request),
            metadata=data.get("metadata"),
            limit=data["limit"],
            offset=data["offset"],
        )
        return Response(AssistantVersionSerializer.represent_many(rows))


class AssistantSetLatestApi(APIView):
    class InputSerializer(api.Serializer):
        version = IntegerField(min_value=1)

    @extend_schema(
        operation_id="assistants_set_latest", request=InputSerializer, responses=AssistantSerializer
    )
    def post(self, request: Request, assistant_id: str) -> Response:
        # The SDK sends {"version": n}; DuraGraph's Go server read ?version=n. Accept both.
        payload = request.data if request.data else {"version": request.query_params.get("version")}
        data = validated(self.InputSerializer, payload)
        access.assistant_authorized(
            principal_of(request), _assistant_id(assistant_id), "update", version=data["version"]
        )
        assistant = services.assistant_set_latest(
            assistant_id=_assistant_id(assistant_id),
            version=data["version"],
            tenant=_scope(request),
        )
        return Response(AssistantSerializer.represent(assistant))


class AssistantGraphApi(APIView):
    @extend_schema(
        operation_id="assistants_graph",
        parameters=[OpenApiParameter("xray", str, description="true, false, or a positive depth")],
        responses=inline_serializer(
            "GraphDrawable",
            {
                "nodes": serializers.ListField(child=serializers.DictField()),
                "edges": serializers.ListField(child=serializers.DictField()),
            },
        ),
    )
    def get(self, request: Request, assistant_id: str) -> Response:
        assistant = _visible(request, assistant_id)
        xray = _xray(request.query_params.get("xray"))
        drawable = (
            graphs.registry()
            .get(assistant.graph_id)
            .drawable(selectors.graph_config(assistant), xray=xray)
        )
        return Response(drawable)


class AssistantSchemasApi(APIView):
    @extend_schema(operation_id="assistants_schemas", responses=GraphSchemaSerializer)
    def get(self, request: Request, assistant_id: str) -> Response:
        assistant = _visible(request, assistant_id)
        schemas = (
            graphs.registry().get(assistant.graph_id).schemas(selectors.graph_config(assistant))
        )
        return Response({"graph_id": assistant.graph_id, **schemas})


class AssistantSubgraphsApi(APIView):
    @extend_schema(
        operation_id="assistants_subgraphs",
        parameters=[OpenApiParameter("recurse", bool)],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request, assistant_id: str) -> Response:
        return self._subgraphs(request, assistant_id, None)

    def _subgraphs(self, request: Request, assistant_id: str, namespace: str | None) -> Response:
        assistant = _visible(request, assistant_id)
        subgraphs = (
            graphs.registry()
            .get(assistant.graph_id)
            .subgraphs(
                selectors.graph_config(assistant),
                namespace=namespace,
                recurse=parse_bool(request.query_params.get("recurse"), "recurse"),
            )
        )
        return Response(subgraphs)


class AssistantSubgraphsInNamespaceApi(AssistantSubgraphsApi):
    @extend_schema(
        operation_id="assistants_subgraphs_in_namespace",
        parameters=[OpenApiParameter("recurse", bool)],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request, assistant_id: str, namespace: str) -> Response:
        return self._subgraphs(request, assistant_id, namespace)


def _xray(value: str | None) -> bool | int:
    if value in (None, "", "false", "False"):
        return False
    if value in ("true", "True"):
        return True
    try:
        depth = int(value)
    except ValueError:
        raise InvalidInput("Invalid xray value") from None
    if depth <= 0:
        raise InvalidInput("Invalid xray value")
    return depth
