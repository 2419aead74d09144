"""LangGraph Platform's run endpoints: create, list, get, delete, batch, cancel many. Thin:
parse, call a service or selector, render.

Also what every run endpoint shares (the ids in the path, the run created from a body, where a
run lives), which :mod:`runs.api.waiting` and :mod:`runs.api.streaming` build on.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import principal_of
from accounts.domain import Principal
from assistants.selectors import resolve_assistant_id
from duragraph_site import langgraph_config
from duragraph_site.api import serializers as api
from duragraph_site.api.fields import SelectField, UUIDField, limit_field, offset_field
from duragraph_site.api.params import parse_uuid, validated
from duragraph_site.api.responses import select_fields
from duragraph_site.errors import InvalidInput
from runs import payloads, selectors, services
from runs.api import access
from runs.api.serializers import RUN_STATUSES, RunCreateSerializer, RunSerializer
from runs.domain import CancelAction
from runs.models import Run


def api_prefix(request: Request) -> str:
    """``/api/v1`` when the request came in under it, else "" (LangGraph's paths at the root).
    Never the site's mount prefix: as LangGraph's, the locations a run's answers carry are
    relative to the URL the client was given (its SDK appends them to it)."""
    return "/api/v1" if request.path_info.startswith("/api/v1/") else ""


def run_location(request: Request, run: Run, suffix: str = "") -> str:
    """The run's path (plus *suffix*) under the prefix the request used."""
    return f"{api_prefix(request)}/threads/{run.thread_id}/runs/{run.run_id}{suffix}"


def scope(request: Request) -> str | None:
    """The tenant the caller sees (None: every tenant)."""
    return principal_of(request).tenant_scope


def create_run(
    request: Request, thread_id: uuid.UUID | None, data: dict, *, protocol_v2: bool = False
) -> tuple[Run, payloads.RunRequest]:
    """Create the run a validated :class:`RunCreateSerializer` body describes (stateless when
    *thread_id* is None) for the caller; the run and the request as :mod:`runs.payloads` read
    it. The headers ``http.configurable_headers`` names go into its ``configurable``."""
    headers = payloads.request_headers(request.headers, *langgraph_config.configurable_headers())
    return create_run_as(principal_of(request), thread_id, data, headers, protocol_v2=protocol_v2)


def create_run_as(
    principal: Principal,
    thread_id: uuid.UUID | None,
    data: dict,
    headers: Mapping[str, Any] | None = None,
    *,
    protocol_v2: bool = False,
) -> tuple[Run, payloads.RunRequest]:
    """:func:`create_run` for a caller known by its principal (the dashboard's pages)."""
    run_request = payloads.build(
        data, stateless=thread_id is None, headers=headers, protocol_v2=protocol_v2
    )
    assistant_id = resolve_assistant_id(data["assistant_id"])
    metadata = access.run_authorized(
        principal, thread_id, assistant_id, run_request, stateless=thread_id is None
    )
    run = services.run_create(
        tenant=principal.tenant,
        scope=principal.tenant_scope,
        thread_id=thread_id,
        assistant_id=assistant_id,
        kwargs=run_request.kwargs,
        metadata=metadata,
        multitask_strategy=run_request.multitask_strategy,
        after_seconds=run_request.after_seconds,
        if_not_exists=run_request.if_not_exists if thread_id is not None else "reject",
    )
    return run, run_request


def parse_thread_id(value: str) -> uuid.UUID:
    """A thread id from the path (422 when malformed)."""
    return parse_uuid(value, "thread")


def parse_run_id(value: str) -> uuid.UUID:
    """A run id from the path (422 when malformed)."""
    return parse_uuid(value, "run")


def cancel_action(request: Request) -> str:
    """The ``?action=`` of a cancel, checked before any run is looked up (422 when unknown)."""
    action = request.query_params.get("action") or CancelAction.INTERRUPT.value
    if action not in {a.value for a in CancelAction}:
        raise InvalidInput(f"action must be one of {[a.value for a in CancelAction]}")
    return action


# -- thread runs -----------------------------------------------------------------------------
class ThreadRunsApi(APIView):
    class ListQuerySerializer(api.Serializer):
        """The query string of ``runs_list`` (parsed with it, and documented from it)."""

        limit = limit_field()
        offset = offset_field()
        status = serializers.ChoiceField(choices=RUN_STATUSES, required=False)
        select = SelectField(choices=list(RunSerializer().fields), required=False)

    @extend_schema(operation_id="runs_create", request=RunCreateSerializer, responses=RunSerializer)
    def post(self, request: Request, thread_id: str) -> Response:
        data = validated(RunCreateSerializer, request.data)
        run, _ = create_run(request, parse_thread_id(thread_id), data)
        return Response(
            RunSerializer(run).data, headers={"Content-Location": run_location(request, run)}
        )

    @extend_schema(
        operation_id="runs_list",
        parameters=[ListQuerySerializer],
        responses=api.selection(RunSerializer)(many=True),
    )
    def get(self, request: Request, thread_id: str) -> Response:
        query = validated(
            self.ListQuerySerializer,
            {**request.query_params.dict(), "select": request.query_params.getlist("select")},
        )
        access.thread_authorized(principal_of(request), parse_thread_id(thread_id), "search")
        runs = selectors.run_list(
            parse_thread_id(thread_id),
            tenant=scope(request),
            limit=query["limit"],
            offset=query["offset"],
            status=query.get("status"),
        )
        return Response(select_fields(RunSerializer(runs, many=True).data, query.get("select")))


class RunDetailApi(APIView):
    @extend_schema(operation_id="runs_get", responses=RunSerializer)
    def get(self, request: Request, thread_id: str, run_id: str) -> Response:
        access.run_thread_authorized(request, thread_id, run_id, "read")
        return Response(
            RunSerializer(
                selectors.run_get(
                    parse_run_id(run_id),
                    thread_id=parse_thread_id(thread_id),
                    tenant=scope(request),
                )
            ).data
        )

    @extend_schema(operation_id="runs_delete", responses={204: None})
    def delete(self, request: Request, thread_id: str, run_id: str) -> Response:
        access.run_thread_authorized(request, thread_id, run_id, "delete")
        services.run_delete(
            run_id=parse_run_id(run_id),
            thread_id=parse_thread_id(thread_id),
            tenant=scope(request),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class RunByIdApi(APIView):
    """``GET /api/v1/runs/{run_id}``: a run known by its id alone (the original DuraGraph
    server's route, which the DuraGraph SDK's ``get_run`` calls without a thread)."""

    @extend_schema(operation_id="runs_get_by_id", responses=RunSerializer)
    def get(self, request: Request, run_id: uuid.UUID) -> Response:  # the path's <uuid:run_id>
        access.run_known_by_id(principal_of(request), scope(request), run_id)
        return Response(RunSerializer(selectors.run_get(run_id, tenant=scope(request))).data)


# -- stateless runs --------------------------------------------------------------------------
class StatelessRunsApi(APIView):
    @extend_schema(
        operation_id="runs_create_stateless", request=RunCreateSerializer, responses=RunSerializer
    )
    def post(self, request: Request) -> Response:
        data = validated(RunCreateSerializer, request.data)
        run, _ = create_run(request, None, data)
        return Response(
            RunSerializer(run).data,
            headers={"Content-Location": f"{api_prefix(request)}/runs/{run.run_id}"},
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
            runs = [create_run(request, None, item)[0] for item in items]
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
        action = cancel_action(request)
        selector = {
            "thread_id": data.get("thread_id"),
            "run_ids": data.get("run_ids"),
            "status": data.get("status"),
        }
        allowed = access.cancel_many_authorized(principal_of(request), action=action, **selector)
        if allowed is not None:  # the handler's filters: only the runs of threads they let in
            selector = {"thread_id": None, "run_ids": allowed, "status": None}
        services.runs_cancel_many(**selector, action=action, tenant=scope(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
