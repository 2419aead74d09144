"""LangGraph's store API: ``/store/items`` (get, put, delete), search, and namespaces.

Thin views: parse with the nested ``InputSerializer`` (types only; the rules are in
``store.domain``, applied by the service or selector), call one service or selector, render.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import custom_auth
from accounts.authentication import principal_of
from duragraph_site.api import serializers as api
from duragraph_site.api.renderers import JSONRenderer
from duragraph_site.errors import InvalidInput
from store import domain, selectors, services
from store.api.access import search_filter, store_authorized
from store.api.fields import (
    IndexField,
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
    TtlField,
    TtlSecondsField,
    namespace_field,
)


class ItemOrNullRenderer(JSONRenderer):
    """The project's JSON renderer, except that a missing item is the JSON literal ``null``
    with 200 (LangGraph's answer; its SDK returns None), while a 204 stays empty."""

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: dict | None = None,
    ) -> bytes:
        response = (renderer_context or {}).get("response")
        if data is None and response is not None and response.status_code == status.HTTP_200_OK:
            return b"null"
        return super().render(data, accepted_media_type, renderer_context)


class BodyOnDeleteSchema(AutoSchema):
    """Documents a DELETE's JSON body (LangGraph's ``DELETE /store/items`` has one;
    drf-spectacular only documents bodies of POST, PUT and PATCH)."""

    def _get_request_body(self, direction: str = "request") -> Any:
        if self.method != "DELETE":
            return super()._get_request_body(direction)
        self.method = "PUT"
        try:
            return super()._get_request_body(direction)
        finally:
            self.method = "DELETE"


def _with_schema(schema_class: type[AutoSchema]):
    """Base the method's ``@extend_schema`` on *schema_class* (apply it below that decorator)."""

    def decorate(method):
        method.schema = schema_class
        return method

    return decorate


class ItemSerializer(api.Serializer):
    """LangGraph's Item (timestamps stay datetimes; the renderer writes ISO 8601 with offset)."""

    namespace = serializers.ListField(child=serializers.CharField())
    key = serializers.CharField()
    value = serializers.DictField()
    created_at = serializers.DateTimeField(format=None)
    updated_at = serializers.DateTimeField(format=None)

    class Meta:
        ref_name = "StoreItem"


class SearchItemSerializer(ItemSerializer):
    #: Cosine similarity to a semantic ``query`` (with ``store.index``); null otherwise.
    score = serializers.FloatField(allow_null=True, default=None)

    class Meta:
        ref_name = "StoreSearchItem"


class ErrorSerializer(api.Serializer):
    detail = serializers.CharField()

    class Meta:
        ref_name = "StoreError"


#: ``GET /store/items`` answers an Item or ``null``; drf-spectacular cannot make a serializer
#: response nullable, so this one is spelled out (it mirrors ItemSerializer).
_NULLABLE_ITEM_SCHEMA = {
    "type": ["object", "null"],
    "properties": {
        "namespace": {"type": "array", "items": {"type": "string"}},
        "key": {"type": "string"},
        "value": {"type": "object", "additionalProperties": {}},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
    },
    "required": ["namespace", "key", "value", "created_at", "updated_at"],
}


class StoreItemsApi(APIView):
    """``/store/items``: one item, addressed by namespace and key."""

    renderer_classes = [ItemOrNullRenderer]

    class GetInputSerializer(api.Serializer):
        # Query strings are text already; only the boolean is coerced ("true"/"false").
        namespace = StrictCharField(help_text="The namespace labels joined with '.'.")
        key = StrictCharField()
        refresh_ttl = serializers.BooleanField(required=False, allow_null=True, default=None)

    class PutInputSerializer(api.Serializer):
        namespace = namespace_field(allow_empty=False)
        key = StrictCharField()
        value = serializers.DictField()
        index = IndexField(required=False, allow_null=True)
        ttl = TtlField(required=False, allow_null=True, help_text="Minutes to live; null: forever.")
        ttl_seconds = TtlSecondsField(
            required=False,
            allow_null=True,
            help_text="Seconds to live (the DuraGraph SDK's field); give it or ttl, not both.",
        )

        class Meta:
            ref_name = "StorePutItem"

    class DeleteInputSerializer(api.Serializer):
        namespace = namespace_field(allow_empty=False)
        key = StrictCharField()

        class Meta:
            ref_name = "StoreDeleteItem"

    @extend_schema(
        operation_id="store_get_item",
        parameters=[
            OpenApiParameter("namespace", str, required=True, description="Labels joined by '.'."),
            OpenApiParameter("key", str, required=True),
            OpenApiParameter("refresh_ttl", bool, required=False),
        ],
        responses={200: _NULLABLE_ITEM_SCHEMA, 422: ErrorSerializer},
        description="The item, or `null` (with 200) when there is none.",
    )
    def get(self, request: Request) -> Response:
        params = self.GetInputSerializer.parse(request.query_params)
        value = {
            "namespace": domain.parse_namespace_path(params["namespace"]),
            "key": params["key"],
            "refresh_ttl": params["refresh_ttl"],
        }
        store_authorized(principal_of(request), "get", value)
        item = selectors.store_get_item(
            namespace=value["namespace"],
            key=params["key"],
            refresh_ttl=params["refresh_ttl"],
            tenant=principal_of(request).tenant,
        )
        return Response(ItemSerializer.represent(item) if item is not None else None)

    @extend_schema(
        operation_id="store_put_item",
        request=PutInputSerializer,
        responses={204: None, 422: ErrorSerializer},
        description="Create or replace an item. `ttl` is in minutes (`ttl_seconds`: seconds).",
    )
    def put(self, request: Request) -> Response:
        body = self.PutInputSerializer.parse(request.data)
        if body.get("ttl_seconds") is not None:
            if body.get("ttl") is not None:
                raise InvalidInput("ttl_seconds: give ttl (minutes) or ttl_seconds, not both")
            body["ttl"] = body["ttl_seconds"] / 60
        # Not given at all: the configured default (given as null: never expires).
        ttl = body["ttl"] if "ttl" in body else services.CONFIGURED_TTL
        value = {
            "namespace": body["namespace"],
            "key": body["key"],
            "value": body["value"],
            "index": request.data.get("index"),
            "ttl": body.get("ttl"),
        }
        store_authorized(principal_of(request), "put", value)
        services.store_put_item(
            namespace=value["namespace"],
            key=body["key"],
            value=body["value"],
            ttl=ttl,
            index=body.get("index"),
            tenant=principal_of(request).tenant,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        operation_id="store_delete_item",
        request=DeleteInputSerializer,
        responses={204: None, 422: ErrorSerializer},
        description="Delete an item (a missing item is not an error).",
    )
    @_with_schema(BodyOnDeleteSchema)
    def delete(self, request: Request) -> Response:
        body = self.DeleteInputSerializer.parse(request.data)
        value = {"namespace": body["namespace"], "key": body["key"]}
        store_authorized(principal_of(request), "delete", value)
        services.store_delete_item(
            namespace=value["namespace"], key=body["key"], tenant=principal_of(request).tenant
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class StoreItemSearchApi(APIView):
    """``POST /store/items/search``."""

    class InputSerializer(api.Serializer):
        namespace_prefix = namespace_field(required=False, default=list)
        filter = serializers.DictField(required=False, allow_null=True)
        limit = StrictIntegerField(default=10, min_value=1, max_value=domain.MAX_LIMIT)
        offset = StrictIntegerField(default=0, min_value=0, max_value=domain.MAX_OFFSET)
        query = StrictCharField(required=False, allow_null=True, allow_blank=True)
        refresh_ttl = StrictBooleanField(required=False, allow_null=True, default=None)

        class Meta:
            ref_name = "StoreSearchItems"

    class OutputSerializer(api.Serializer):
        items = SearchItemSerializer(many=True)

        class Meta:
            ref_name = "StoreSearchItemsResponse"

    @extend_schema(
        operation_id="store_search_items",
        request=InputSerializer,
        responses={200: OutputSerializer, 422: ErrorSerializer},
        description="Items under a namespace prefix whose value matches `filter`, most recently "
        "updated first; with `query` and langgraph.json's `store.index`, the embedded items "
        "most similar to the query first, with their `score`.",
    )
    def post(self, request: Request) -> Response:
        params = self.InputSerializer.parse(request.data)
        value = {
            "namespace": params["namespace_prefix"],
            "filter": params.get("filter"),
            "limit": params["limit"],
            "offset": params["offset"],
            "query": params.get("query"),
            "refresh_ttl": params.get("refresh_ttl"),
        }
        filters = store_authorized(principal_of(request), "search", value)
        try:
            params["filter"] = search_filter(params.get("filter"), filters)
        except custom_auth.NothingMatches:
            return Response(self.OutputSerializer.represent({"items": []}))
        params["namespace_prefix"] = value["namespace"]
        items = selectors.store_search_items(**params, tenant=principal_of(request).tenant)
        return Response(self.OutputSerializer.represent({"items": items}))


class StoreNamespaceListApi(APIView):
    """``POST /store/namespaces``."""

    class InputSerializer(api.Serializer):
        prefix = namespace_field(required=False, allow_null=True)
        suffix = namespace_field(required=False, allow_null=True)
        max_depth = StrictIntegerField(
            required=False, allow_null=True, min_value=1, max_value=domain.MAX_NAMESPACE_DEPTH
        )
        limit = StrictIntegerField(default=100, min_value=1, max_value=domain.MAX_LIMIT)
        offset = StrictIntegerField(default=0, min_value=0, max_value=domain.MAX_OFFSET)

        class Meta:
            ref_name = "StoreListNamespaces"

    class OutputSerializer(api.Serializer):
        namespaces = serializers.ListField(
            child=serializers.ListField(child=serializers.CharField())
        )

        class Meta:
            ref_name = "StoreListNamespacesResponse"

    @extend_schema(
        operation_id="store_list_namespaces",
        request=InputSerializer,
        responses={200: OutputSerializer, 422: ErrorSerializer},
        description="Distinct namespaces matching `prefix`/`suffix` ('*' matches any label), "
        "cut to `max_depth` labels, sorted.",
    )
    def post(self, request: Request) -> Response:
        params = self.InputSerializer.parse(request.data)
        value = {
            "namespace": params.get("prefix"),
            "suffix": params.get("suffix"),
            "max_depth": params.get("max_depth"),
            "limit": params["limit"],
            "offset": params["offset"],
        }
        store_authorized(principal_of(request), "list_namespaces", value)
        params["prefix"] = value["namespace"]
        params["suffix"] = list(value["suffix"]) if value["suffix"] is not None else None
        namespaces = selectors.store_list_namespaces(**params, tenant=principal_of(request).tenant)
        return Response(self.OutputSerializer.represent({"namespaces": namespaces}))
