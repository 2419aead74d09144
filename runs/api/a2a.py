"""``/a2a/{assistant_id}``: an assistant as an A2A agent (JSON-RPC 2.0, protocol 0.3, as
LangGraph's server serves it), and its agent card.

Thin: :mod:`runs.a2a` parses the request and shapes the answers. A message starts a run created
exactly as ``POST /threads/{id}/runs`` creates one (on its context's thread, made if missing;
permissions, tenant, rate limits); ``message/send`` answers when the run is over (newlines
meanwhile, as ``/wait``), ``message/stream`` streams the run's frames (the run stream of
``/threads/{id}/runs/stream``) as A2A task updates. A refusal is a JSON-RPC error in a 200 (an
SSE event for the streaming methods), as A2A clients read it; malformed JSON is a 422, as on
every route. docs/a2a.md.
"""

from __future__ import annotations

import itertools
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import principal_of
from assistants import selectors as assistant_selectors
from assistants.api import access as assistant_access
from assistants.models import Assistant
from duragraph_site.api.errors import validation_message
from duragraph_site.api.params import parse_uuid, validated
from duragraph_site.errors import DuraGraphError, InvalidInput, NotFound
from runs import a2a, selectors, services, streams
from runs.api.access import thread_authorized
from runs.api.runs import create_run, scope
from runs.api.serializers import RunCreateSerializer
from runs.api.streaming import SSEView, sse_response
from runs.api.waiting import result_when_over
from runs.domain import ACTIVE_STATUSES
from runs.frames import Frame
from runs.models import Run
from runs.stream_log import db_call

logger = logging.getLogger(__name__)

#: The methods answered with an SSE stream of JSON-RPC responses.
STREAMING = frozenset({"message/stream", "tasks/resubscribe"})

_TASKS_GET_EXAMPLE = OpenApiExample(
    "tasks/get",
    value={"jsonrpc": "2.0", "id": 1, "method": "tasks/get", "params": {"id": "<task id>"}},
    request_only=True,
)
_CARD = OpenApiResponse(OpenApiTypes.OBJECT, description="The assistant's A2A agent card")


class A2aApi(SSEView):
    """POST one JSON-RPC request to the agent; GET its card (A2A: the agent's URL answers it)."""

    @extend_schema(
        operation_id="post_a2a",
        summary="A2A JSON-RPC",
        description=(
            "The Agent2Agent protocol (0.3) over JSON-RPC 2.0, the assistant as an agent: "
            "`message/send` (run it on the message's context, a thread; answer the task once "
            "over), `message/stream` (SSE of JSON-RPC responses: the task, status and artifact "
            "updates), `tasks/get`, `tasks/cancel`, `tasks/resubscribe`. A task is a run "
            '(`"<thread_id>:<run_id>"`), a context a thread. Errors are JSON-RPC errors.'
        ),
        tags=["A2A"],
        request=OpenApiTypes.OBJECT,
        examples=[_TASKS_GET_EXAMPLE],
        responses={
            (200, "application/json"): OpenApiResponse(
                OpenApiTypes.OBJECT, description="The JSON-RPC response"
            ),
            (200, "text/event-stream"): OpenApiResponse(
                {"type": "string"},
                description="`message/stream`, `tasks/resubscribe`: JSON-RPC responses as events",
            ),
        },
    )
    def post(self, request: Request, assistant_id: str) -> Response | StreamingHttpResponse:
        try:
            rpc = a2a.parse_request(request.data)
        except a2a.RpcError as refused:
            return Response(a2a.error(refused.request_id, refused.code, refused.message))
        streaming = rpc.method in STREAMING
        try:
            handler = _handler(rpc.method)
            return handler(request, _agent(request, assistant_id), rpc)
        except a2a.RpcError as refused:
            answer = a2a.error(rpc.id, refused.code, refused.message)
            if streaming:  # a streaming client reads events, also the refusal
                return sse_response(request, _frames([answer]))
            return Response(answer)

    @extend_schema(
        operation_id="get_a2a_agent_card",
        summary="A2A Agent Card",
        tags=["A2A"],
        responses=_CARD,
    )
    def get(self, request: Request, assistant_id: str) -> Response:
        return Response(_card(request, _visible(request, parse_uuid(assistant_id, "assistant"))))


@extend_schema(exclude=True)
class A2aSlashApi(A2aApi):
    """``/a2a/{assistant_id}/``, as LangGraph's server answers it too."""


class AssistantAgentCardApi(APIView):
    @extend_schema(
        operation_id="get_a2a_assistant_agent_card",
        summary="A2A Agent Card of an assistant",
        tags=["A2A"],
        responses=_CARD,
    )
    def get(self, request: Request, assistant_id: str) -> Response:
        return Response(_card(request, _visible(request, parse_uuid(assistant_id, "assistant"))))


@extend_schema(exclude=True)
class AssistantAgentCardLegacyApi(AssistantAgentCardApi):
    """``/a2a/{assistant_id}/.well-known/agent.json``: A2A's card path before 0.3."""


class AgentCardApi(APIView):
    @extend_schema(
        operation_id="get_agent_card",
        summary="A2A Agent Card",
        description="The A2A agent card of the assistant named by `assistant_id`.",
        tags=["A2A"],
        parameters=[OpenApiParameter("assistant_id", OpenApiTypes.UUID, required=True)],
        responses=_CARD,
    )
    def get(self, request: Request) -> Response:
        value = request.query_params.get("assistant_id")
        if not value:
            raise InvalidInput("assistant_id: the query parameter naming the assistant is required")
        return Response(_card(request, _visible(request, parse_uuid(value, "assistant"))))


# -- the agent -------------------------------------------------------------------------------
def _visible(request: Request, assistant_id: uuid.UUID) -> Assistant:
    """The assistant, if the caller may run it (else NotFound, as for an unknown one)."""
    assistant = assistant_selectors.assistant_get(assistant_id, tenant=scope(request))
    assistant_access.assistant_runnable(principal_of(request), assistant)
    return assistant


def _agent(request: Request, assistant_id: str) -> Assistant:
    """The agent in the path; an unknown one is a JSON-RPC error (LangGraph's ``-32602``)."""
    try:
        parsed = uuid.UUID(assistant_id)
    except ValueError:
        raise a2a.RpcError(a2a.INVALID_PARAMS, "Invalid assistant ID: must be a UUID") from None
    try:
        return _visible(request, parsed)
    except NotFound:
        raise a2a.RpcError(a2a.INVALID_PARAMS, f"Assistant '{assistant_id}' not found") from None


def _card(request: Request, assistant: Assistant) -> dict[str, Any]:
    schema = _input_schema(assistant)
    return a2a.agent_card(
        assistant_id=str(assistant.assistant_id),
        name=assistant.name,
        description=assistant.description,
        url=request.build_absolute_uri(f"/a2a/{assistant.assistant_id}"),
        version=settings.SPECTACULAR_SETTINGS["VERSION"],
        input_properties=list((schema or {}).get("properties") or {}),
    )


def _input_schema(assistant: Assistant) -> dict[str, Any] | None:
    schemas = assistant_selectors.assistant_schemas(assistant)
    return schemas.get("input_schema") or schemas.get("state_schema")


Handler = Callable[[Request, Assistant, a2a.Request], Response | StreamingHttpResponse]


def _handler(method: str) -> Handler:
    handlers: dict[str, Handler] = {
        "message/send": _send,
        "message/stream": _send,
        "tasks/get": _get,
        "tasks/cancel": _cancel,
        "tasks/resubscribe": _resubscribe,
    }
    if method in handlers:
        return handlers[method]
    if method in a2a.PUSH_NOTIFICATION_METHODS:
        raise a2a.RpcError(
            a2a.PUSH_NOTIFICATION_NOT_SUPPORTED, "Push notifications are not supported"
        )
    raise a2a.RpcError(a2a.METHOD_NOT_FOUND, f"Method not found: {method}")


# -- message/send, message/stream ------------------------------------------------------------
def _send(
    request: Request, assistant: Assistant, rpc: a2a.Request
) -> Response | StreamingHttpResponse:
    params = a2a.parse_send_params(rpc.params)
    message = params.message
    body: dict[str, Any] = {"assistant_id": str(assistant.assistant_id), "if_not_exists": "create"}
    task_id = None  # a new task's id is its run's
    if message.task_id is not None:
        # A message on a task answers what it asks: LangGraph's Command(resume=...) on its
        # thread, a run tagged with the task (its latest from then on).
        context = str(message.context_id) if message.context_id else None
        query = a2a.parse_task_query({"id": message.task_id, "contextId": context})
        current = _task_run(request, assistant, query)
        if current.state != a2a.INPUT_REQUIRED:
            raise a2a.RpcError(
                a2a.UNSUPPORTED_OPERATION,
                f"Task {current.task_id} is {current.state}: it takes a message only when it "
                "needs input",
            )
        task_id = current.task_id
        body["command"] = {"resume": message.resume_value()}
        body["metadata"] = {"a2a": {"task_id": task_id}}
        thread_id = uuid.UUID(current.context_id)
    else:
        properties = (_input_schema(assistant) or {}).get("properties") or {}
        if message.speaks and "messages" not in properties:
            raise a2a.RpcError(
                a2a.INVALID_PARAMS,
                f"Assistant '{assistant.assistant_id}' (graph '{assistant.graph_id}') takes no "
                f"messages: send data parts for its input fields {sorted(properties)}",
            )
        body["input"] = message.run_input()
        thread_id = message.context_id or uuid.uuid4()  # a new context: a new thread
    if params.context is not None:
        body["context"] = params.context
    if rpc.method == "message/stream":
        body["stream_mode"] = ["values", "messages"]
    run = _create(request, thread_id, body)
    task_id = task_id or a2a.task_id(run.thread_id, run.run_id)
    submitted = selectors.a2a_task_run(run, task_id)
    first = a2a.task(submitted, history_messages=[a2a.echo(message, submitted)])
    if rpc.method == "message/stream":
        return sse_response(request, _stream(rpc.id, submitted, first))
    if not params.blocking:
        return Response(a2a.result(rpc.id, first))
    return StreamingHttpResponse(
        _answer_when_over(rpc.id, run, task_id, params.history_length, scope(request)),
        content_type="application/json",
    )


def _create(request: Request, thread_id: uuid.UUID, body: dict[str, Any]) -> Run:
    """The run, or the refusal as a JSON-RPC error (nothing written)."""
    try:
        run, _ = create_run(request, thread_id, validated(RunCreateSerializer, body))
    except exceptions.ValidationError as invalid:
        raise a2a.RpcError(a2a.INVALID_PARAMS, validation_message(invalid.detail)) from None
    except DuraGraphError as refused:
        raise a2a.RpcError(a2a.INVALID_PARAMS, refused.message) from None
    return run


async def _answer_when_over(
    rpc_id: str | int, run: Run, task_id: str, history_length: int | None, tenant: str | None
) -> AsyncIterator[bytes]:
    """Newlines while the run goes on (``/wait``'s keep-alive), then the task."""
    async for chunk in result_when_over(run.run_id, run.thread_id, render=lambda _: b""):
        if chunk:
            yield chunk
    answer = await db_call(selectors.a2a_task, run.run_id, task_id, history_length, tenant)
    yield orjson.dumps(a2a.result(rpc_id, answer))


async def _stream(
    rpc_id: str | int, run: a2a.TaskRun, first: dict[str, Any]
) -> AsyncIterator[Frame | None]:
    """The task, then its run's frames as A2A updates, then its end; ``None`` for heartbeats."""
    ids = itertools.count(1)

    def frame(answer: dict[str, Any]) -> Frame:
        if "jsonrpc" not in answer:
            answer = a2a.result(rpc_id, answer)
        return Frame("message", answer, str(next(ids)))

    yield frame(first)
    updates = a2a.StreamUpdates(run)
    try:
        async for item in streams.run_stream(uuid.UUID(run.run_id)):
            if item is None:
                yield None
                continue
            for update in updates.feed(item.event, item.data):
                yield frame(update)
        ended = await db_call(selectors.a2a_task_run_by_id, uuid.UUID(run.run_id), run.task_id)
        for update in a2a.StreamUpdates.end(ended):
            yield frame(update)
    except Exception:  # noqa: BLE001 - say it as a JSON-RPC error (A2A clients read no other)
        logger.exception("A2A stream failed")
        yield frame(a2a.error(rpc_id, a2a.INTERNAL_ERROR, "An internal error occurred"))


# -- tasks/* ---------------------------------------------------------------------------------
def _get(request: Request, assistant: Assistant, rpc: a2a.Request) -> Response:
    query = a2a.parse_task_query(rpc.params)
    current = _task_run(request, assistant, query)
    answer = selectors.a2a_task(
        uuid.UUID(current.run_id), current.task_id, query.history_length, scope(request)
    )
    return Response(a2a.result(rpc.id, answer))


def _cancel(request: Request, assistant: Assistant, rpc: a2a.Request) -> Response:
    query = a2a.parse_task_query(rpc.params)
    current = _task_run(request, assistant, query)
    if current.status not in ACTIVE_STATUSES:
        # An ended run (a task waiting for input included) has nothing to stop.
        raise a2a.RpcError(
            a2a.TASK_NOT_CANCELABLE, f"Task {current.task_id} is {current.state}: not cancelable"
        )
    run_id, thread_id = uuid.UUID(current.run_id), uuid.UUID(current.context_id)
    try:
        thread_authorized(
            principal_of(request), thread_id, "update", run_id=run_id, action="interrupt"
        )
    except NotFound:  # the caller may read the task, not stop it: as LangGraph, unknown to it
        raise a2a.RpcError(a2a.TASK_NOT_FOUND, f"Task not found: {current.task_id}") from None
    try:
        services.run_cancel(
            run_id=run_id, thread_id=thread_id, reason="cancelled over A2A", tenant=scope(request)
        )
    except DuraGraphError:  # it ended meanwhile
        raise a2a.RpcError(
            a2a.TASK_NOT_CANCELABLE, f"Task {current.task_id} ended: not cancelable"
        ) from None
    answer = selectors.a2a_task(run_id, current.task_id, None, scope(request))
    return Response(a2a.result(rpc.id, answer))


def _resubscribe(request: Request, assistant: Assistant, rpc: a2a.Request) -> StreamingHttpResponse:
    """The task now, then (when it is still going) its run's updates until it ends."""
    query = a2a.parse_task_query(rpc.params)
    current = _task_run(request, assistant, query)
    first = selectors.a2a_task(
        uuid.UUID(current.run_id), current.task_id, query.history_length, scope(request)
    )
    if current.status not in ACTIVE_STATUSES:
        return sse_response(request, _frames([a2a.result(rpc.id, first)]))
    return sse_response(request, _stream(rpc.id, current, first))


# -- tasks as runs ---------------------------------------------------------------------------
def _task_run(request: Request, assistant: Assistant, query: a2a.TaskQuery) -> a2a.TaskRun:
    """The run a task is at (its latest), if the caller sees it and it is this agent's.

    Raises:
        a2a.RpcError: ``-32001`` when there is no such task (for this caller, this agent).
    """
    try:
        anchor = selectors.run_get(query.run_id, thread_id=query.thread_id, tenant=scope(request))
        thread_authorized(principal_of(request), anchor.thread_id, "read", run_id=anchor.run_id)
    except NotFound:
        anchor = None
    if anchor is None or anchor.assistant_id != assistant.assistant_id:
        raise a2a.RpcError(a2a.TASK_NOT_FOUND, f"Task not found: {query.id}")
    # The task's own id, whichever of its forms (or of its runs) was asked for.
    task_id = a2a.run_task_id(anchor.thread_id, anchor.run_id, anchor.metadata)
    latest = selectors.run_latest_tagged(anchor.thread_id, {"a2a": {"task_id": task_id}})
    return selectors.a2a_task_run(latest or anchor, task_id)


async def _frames(answers: list[dict[str, Any]]) -> AsyncIterator[Frame]:
    """JSON-RPC answers as SSE frames (a stream that says one thing and ends)."""
    for number, answer in enumerate(answers, 1):
        yield Frame("message", answer, str(number))
