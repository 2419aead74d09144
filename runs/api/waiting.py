"""The endpoints that answer with a run's result once it is over: ``/wait`` (create, then wait),
``/join`` and ``cancel?wait=1``.

They answer with a streamed JSON body: a newline every few seconds while the run is going
(leading whitespace is valid JSON and keeps clients' read timeouts and proxies happy), then the
result, the moment the run ends (woken by :data:`runs.waiting.waiter`, not by polling).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from duragraph_site.api.params import parse_bool, validated
from duragraph_site.errors import DuraGraphError
from runs import selectors, services
from runs.api import access
from runs.api.runs import (
    cancel_action,
    create_run,
    parse_run_id,
    parse_thread_id,
    run_location,
    scope,
)
from runs.api.serializers import RunCreateSerializer
from runs.domain import CancelAction
from runs.models import Run
from runs.stream_log import db_call
from runs.waiting import waiter

KEEPALIVE_SECONDS = 5.0


async def result_when_over(
    run_id: uuid.UUID,
    thread_id: uuid.UUID,
    *,
    cancel_on_disconnect: bool = False,
    render: Callable[[Any], bytes] = orjson.dumps,
) -> AsyncIterator[bytes]:
    """Newlines while the run is active, then its result as JSON (*render* writes it)."""
    try:
        async with waiter.awatching(run_id) as ended:
            while not await db_call(selectors.run_is_over, run_id):
                try:
                    async with asyncio.timeout(KEEPALIVE_SECONDS):  # not wait_for: see live.Tap
                        await ended.wait()
                except TimeoutError:
                    yield b"\n"
                ended.clear()
    except asyncio.CancelledError:
        if cancel_on_disconnect:  # the client went away (LangGraph's on_disconnect="cancel")
            await db_call(cancel_quietly, run_id)
        raise
    result = await db_call(selectors.run_result, run_id, thread_id)
    yield render(result)


def cancel_quietly(run_id: uuid.UUID) -> None:
    """Cancel the run for a client that went away (``on_disconnect="cancel"``), unless it is
    over already. Synchronous (database)."""
    try:
        services.run_cancel(run_id=run_id, reason="client disconnected (on_disconnect=cancel)")
    except DuraGraphError:
        pass  # it ended or vanished meanwhile


def _wait_response(
    request: Request, run: Run, *, cancel_on_disconnect: bool = False
) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        result_when_over(run.run_id, run.thread_id, cancel_on_disconnect=cancel_on_disconnect),
        content_type="application/json",
    )
    response["Location"] = run_location(request, run, "/join")
    response["Content-Location"] = run_location(request, run)
    return response


WAIT_RESPONSE = OpenApiResponse(
    OpenApiTypes.ANY, description="The run's final values (or __error__ / __interrupt__)"
)


class ThreadRunWaitApi(APIView):
    @extend_schema(operation_id="runs_wait", request=RunCreateSerializer, responses=WAIT_RESPONSE)
    def post(self, request: Request, thread_id: str) -> StreamingHttpResponse:
        data = validated(RunCreateSerializer, request.data)
        run, run_request = create_run(request, parse_thread_id(thread_id), data)
        return _wait_response(
            request, run, cancel_on_disconnect=run_request.on_disconnect == "cancel"
        )


class StatelessRunWaitApi(APIView):
    @extend_schema(
        operation_id="runs_wait_stateless", request=RunCreateSerializer, responses=WAIT_RESPONSE
    )
    def post(self, request: Request) -> StreamingHttpResponse:
        data = validated(RunCreateSerializer, request.data)
        run, run_request = create_run(request, None, data)
        return _wait_response(
            request, run, cancel_on_disconnect=run_request.on_disconnect == "cancel"
        )


class RunJoinApi(APIView):
    @extend_schema(operation_id="runs_join", responses=WAIT_RESPONSE)
    def get(self, request: Request, thread_id: str, run_id: str) -> StreamingHttpResponse:
        access.run_thread_authorized(request, thread_id, run_id, "read")
        run = selectors.run_get(
            parse_run_id(run_id), thread_id=parse_thread_id(thread_id), tenant=scope(request)
        )
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
        action = cancel_action(request)
        access.run_thread_authorized(request, thread_id, run_id, "update", action=action)
        run = selectors.run_get(
            parse_run_id(run_id), thread_id=parse_thread_id(thread_id), tenant=scope(request)
        )
        services.run_cancel(
            run_id=run.run_id, thread_id=run.thread_id, action=action, tenant=scope(request)
        )
        if wait:
            return _wait_response(request, run)
        return Response(status=status.HTTP_202_ACCEPTED)
