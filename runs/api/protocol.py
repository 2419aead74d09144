"""LangGraph's streaming protocol v2 over HTTP, the ``langgraph-sdk``'s
``client.threads.stream()``: ``POST /threads/{id}/commands`` (one JSON command, one JSON answer)
and ``POST /threads/{id}/stream/events`` (an SSE stream of the thread's protocol events, filtered
by the body).

Commands: ``run.start`` (a run of the thread, created if need be, with every protocol stream
mode; with ``input`` while the thread waits on an interrupt, a resume of it, as LangGraph does)
and ``input.respond`` (resume one or several pending interrupts by id). Answers are the
protocol's envelopes, ``{"type": "success", "id", "result", "meta"}`` or ``{"type": "error",
"id", "error", "message"}``, with status 200 as LangGraph sends them (the SDK reads the
envelope); a body that is not a command at all is a 400. Subscriptions are per connection here:
the stream's body is the filter (``subscription.*`` commands belong to the WebSocket transport,
not served). Events and their ids: :mod:`runs.protocol`, :func:`runs.streams.protocol_stream`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import principal_of
from accounts.domain import Principal
from duragraph_site import langgraph_config
from duragraph_site.api.errors import exception_handler
from duragraph_site.api.params import validated
from duragraph_site.errors import InvalidInput
from runs import payloads, protocol, selectors, streams
from runs.api import access
from runs.api.runs import create_run_as, parse_thread_id, scope
from runs.api.serializers import RunCreateSerializer
from runs.api.streaming import SSEView, sse_response
from runs.frames import Frame
from runs.payloads import MULTITASK_STRATEGIES
from runs.waiting import waiter
from threads import selectors as thread_selectors

if TYPE_CHECKING:
    from threads.models import Thread

#: How long ``input.respond`` waits for the run that raised an interrupt to record it (the
#: client may answer the streamed interrupt before the run's end is committed).
INTERRUPT_SETTLE_SECONDS = 5.0
#: Command ids and stream cursors are JSON numbers every client reads exactly (JavaScript too).
MAX_ID = 2**53 - 1
#: How many namespace levels below a prefix a filter may ask for.
MAX_DEPTH = 100
#: Commands of a connection's subscriptions: the WebSocket's (runs.consumers), not HTTP's.
SUBSCRIPTION_COMMANDS = frozenset(
    {"subscription.subscribe", "subscription.unsubscribe", "subscription.reconnect"}
)
#: The protocol's error for what the API refuses, by the HTTP status it would have answered.
_ERROR_CODES = {401: "permission_denied", 403: "permission_denied"}


class CommandError(Exception):
    """A command the protocol refuses: its error code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


COMMAND_REQUEST = {
    "type": "object",
    "required": ["id", "method"],
    "properties": {
        "id": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
        "method": {"type": "string", "enum": ["run.start", "input.respond"]},
        "params": {"type": "object"},
    },
}
COMMAND_RESPONSE = {
    "type": "object",
    "required": ["type", "id"],
    "properties": {
        "type": {"type": "string", "enum": ["success", "error"]},
        "id": {"type": "integer", "nullable": True},
        "result": {"type": "object"},
        "meta": {"type": "object"},
        "error": {"type": "string"},
        "message": {"type": "string"},
    },
}
EVENT_STREAM_REQUEST = {
    "type": "object",
    "required": ["channels"],
    "properties": {
        "channels": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "namespaces": {
            "type": "array",
            "items": {"type": "array", "items": {"type": "string"}},
        },
        "depth": {"type": "integer", "minimum": 0, "maximum": MAX_DEPTH},
        "since": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
    },
}


class ThreadCommandsApi(APIView):
    @extend_schema(
        operation_id="protocol_thread_command_post",
        request={"application/json": COMMAND_REQUEST},
        responses={200: COMMAND_RESPONSE, 400: COMMAND_RESPONSE},
    )
    def post(self, request: Request, thread_id: str) -> Response:
        """One protocol command for the thread (``run.start``, ``input.respond``)."""
        thread_uuid = parse_thread_id(thread_id)
        command = request.data
        if isinstance(command, dict) and _is_int(command.get("id")):
            if not 0 <= command["id"] <= MAX_ID:
                raise InvalidInput(f"id must be an integer from 0 to {MAX_ID}")
        status, body = answer(
            caller_of(principal_of(request), request.headers), thread_uuid, command
        )
        return Response(body, status=status)


class ThreadEventStreamApi(SSEView):
    @extend_schema(
        operation_id="protocol_thread_events_post",
        request={"application/json": EVENT_STREAM_REQUEST},
        responses={
            (200, "text/event-stream"): OpenApiResponse(
                response={"type": "string"},
                description="Protocol events: `event: <method>`, `data:` the event "
                "(`type`, `event_id`, `seq`, `method`, `params`), `id:` its `seq`.",
            )
        },
    )
    def post(self, request: Request, thread_id: str) -> Any:
        """The thread's protocol events matching the body's filter, replayed from its first run
        (those after ``since``), then live, until the client goes."""
        thread_uuid = parse_thread_id(thread_id)
        wanted = event_filter(request.data)
        thread_selectors.thread_get(thread_uuid, tenant=scope(request))
        access.thread_authorized(principal_of(request), thread_uuid, "read")
        return sse_response(request, numbered(streams.protocol_stream(thread_uuid), wanted))


async def numbered(
    frames: AsyncIterator[Frame | None], wanted: protocol.Filter
) -> AsyncIterator[Frame | None]:
    """Number every event of the thread (``seq``, the same for every connection: the thread
    replays the same sequence), pass on those *wanted*, as SSE frames with the ``seq`` as id."""
    seq = 0
    async for frame in frames:
        if frame is None:
            yield None
            continue
        seq += 1
        event: protocol.ProtocolEvent = frame.data
        if wanted.wants(event, seq):
            yield Frame(
                event.method, protocol.envelope(event, event_id=frame.id, seq=seq), str(seq)
            )


def event_filter(body: Any) -> protocol.Filter:
    """The ``EventStreamRequest`` body as a filter (422 naming what is wrong)."""
    if not isinstance(body, dict):
        raise InvalidInput("the body must be an object with channels")
    channels = body.get("channels")
    if not isinstance(channels, list) or not channels:
        raise InvalidInput("channels is required and must be a non-empty array")
    if bad := [repr(c) for c in channels if not protocol.is_channel(c)]:
        raise InvalidInput(
            f"channels contains unsupported entries: {', '.join(bad[:5])}; allowed: "
            f"{', '.join(protocol.CHANNELS)} or custom:<name>"
        )
    namespaces = body.get("namespaces")
    if namespaces is not None and not (
        isinstance(namespaces, list)
        and all(isinstance(ns, list) and all(isinstance(s, str) for s in ns) for ns in namespaces)
    ):
        raise InvalidInput("namespaces must be an array of arrays of strings")
    for name, most in (("depth", MAX_DEPTH), ("since", MAX_ID)):
        value = body.get(name)
        if value is not None and not (_is_int(value) and 0 <= value <= most):
            raise InvalidInput(f"{name} must be an integer from 0 to {most}")
    return protocol.Filter(
        channels=frozenset(channels),
        namespaces=tuple(tuple(ns) for ns in namespaces) if namespaces else None,
        depth=body.get("depth"),
        since=body.get("since"),
    )


# -- commands ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Caller:
    """Who sends a command: the principal, and the request headers ``langgraph.json``'s
    ``http.configurable_headers`` copies into the runs it creates."""

    principal: Principal
    headers: Mapping[str, Any]


def caller_of(principal: Principal, headers: Mapping[str, str]) -> Caller:
    """The caller of a request or a socket: *headers* are all it sent; the run takes those
    ``http.configurable_headers`` names."""
    return Caller(
        principal, payloads.request_headers(headers, *langgraph_config.configurable_headers())
    )


def answer(caller: Caller, thread_id: uuid.UUID, command: Any) -> tuple[int, dict[str, Any]]:
    """The answer to one command, ``(HTTP status, body)``: 200 with the protocol's success or
    error envelope, 400 (the envelope, and ``detail``) for a body that is not a command."""
    command_id = command.get("id") if isinstance(command, dict) else None
    if (
        not isinstance(command, dict)
        or not (_is_int(command_id) and 0 <= command_id <= MAX_ID)
        or not isinstance(command.get("method"), str)
    ):
        message = "Protocol commands must include an integer id and string method."
        known_id = command_id if _is_int(command_id) else None
        return 400, {**error_envelope(known_id, "invalid_argument", message), "detail": message}
    params = command.get("params") if isinstance(command.get("params"), dict) else {}
    try:
        result = _handle(caller, thread_id, command["method"], params)
    except CommandError as error:
        return 200, error_envelope(command_id, error.code, error.message)
    except Exception as error:  # noqa: BLE001 - what the API refuses, the protocol's way
        refused = exception_handler(error, {})
        if refused is None:
            raise
        status = refused.status_code
        code = _ERROR_CODES.get(status, "invalid_argument" if status < 500 else "unknown_error")
        return 200, error_envelope(command_id, code, str(refused.data.get("detail")))
    success = {"type": "success", "id": command_id, "result": result}
    return 200, {**success, "meta": {"applied_through_seq": 0}}


def _handle(caller: Caller, thread_id: uuid.UUID, method: str, params: dict) -> dict:
    if method == "run.start":
        return _run_start(caller, thread_id, params)
    if method == "input.respond":
        _input_respond(caller, thread_id, params)
        return {}
    if method in SUBSCRIPTION_COMMANDS:
        raise CommandError(
            "not_supported",
            f"{method}: subscriptions belong to a connection; over HTTP, the body of "
            "POST /threads/{thread_id}/stream/events is the subscription",
        )
    if method == "agent.getTree":
        raise CommandError("no_such_run", "No active run is bound to this thread.")
    raise CommandError("unknown_command", f"Unknown protocol command: {method}")


def _run_start(caller: Caller, thread_id: uuid.UUID, params: dict) -> dict:
    assistant_id = params.get("assistant_id")
    if not isinstance(assistant_id, str) or not assistant_id:
        raise CommandError("invalid_argument", "run.start requires an assistant_id.")
    for name in ("config", "metadata", "langsmith_tracer"):
        if params.get(name) is not None and not isinstance(params[name], dict):
            raise CommandError("invalid_argument", f"{name} must be an object.")
    configurable = (params.get("config") or {}).get("configurable") or {}
    checkpoint_id = configurable.get("checkpoint_id") if isinstance(configurable, dict) else None
    if checkpoint_id is not None and not _is_uuid(checkpoint_id):
        raise CommandError(
            "invalid_argument", f"Invalid config.configurable.checkpoint_id: {checkpoint_id!r}."
        )
    strategy = params.get("multitaskStrategy")
    body: dict[str, Any] = {
        "assistant_id": assistant_id,
        "config": params.get("config"),
        "metadata": params.get("metadata"),
        "multitask_strategy": strategy if strategy in MULTITASK_STRATEGIES else "enqueue",
    }
    # Input while the thread waits on an interrupt answers it (LangGraph's run.start rule).
    thread = _visible_thread(caller, thread_id) if params.get("input") is not None else None
    if thread is not None and _interrupt_ids(thread):
        body["command"] = {"resume": params["input"]}
    else:
        body["input"] = params.get("input")
    run = _create_protocol_run(caller, thread_id, body)
    return {"run_id": str(run.run_id)}


def _input_respond(caller: Caller, thread_id: uuid.UUID, params: dict) -> None:
    answers = _answers(params)
    thread = _settled_thread(caller, thread_id)
    if thread is None:
        raise CommandError("no_such_run", "No interrupted run is bound to this thread.")
    pending = _interrupt_ids(thread)
    if unknown := [interrupt_id for interrupt_id in answers if interrupt_id not in pending]:
        raise CommandError(
            "no_such_interrupt", f"Unknown or already-consumed interrupt: {unknown[0]}"
        )
    assistant_id = (thread.metadata or {}).get("assistant_id")
    if not isinstance(assistant_id, str):
        raise CommandError("no_such_run", "No interrupted run is bound to this thread.")
    command: dict[str, Any] = {"resume": answers}
    for name in ("update", "goto"):
        if params.get(name) is not None:
            command[name] = params[name]
    _create_protocol_run(
        caller,
        thread_id,
        {
            "assistant_id": assistant_id,
            "command": command,
            "config": params.get("config"),
            "metadata": params.get("metadata"),
        },
    )


def _answers(params: dict) -> dict[str, Any]:
    """``{interrupt_id: response}`` from ``input.respond``'s one answer or ``responses`` list."""
    entries = params.get("responses")
    if entries is None:
        entries = [params]
    elif not isinstance(entries, list) or not entries:
        raise CommandError("invalid_argument", "input.respond requires at least one response.")
    answers: dict[str, Any] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("interrupt_id"), str):
            raise CommandError("invalid_argument", "input.respond requires an interrupt_id.")
        namespace = entry.get("namespace", [])
        if not isinstance(namespace, list) or not all(isinstance(s, str) for s in namespace):
            raise CommandError(
                "invalid_argument", "input.respond requires namespace to be a list of strings."
            )
        answers[entry["interrupt_id"]] = entry.get("response")
    return answers


def _visible_thread(caller: Caller, thread_id: uuid.UUID) -> Thread | None:
    """The thread, for a caller who may read it (None when there is no such thread yet;
    NotFound for another tenant's, the custom auth handler's refusals)."""
    if not thread_selectors.thread_exists(thread_id):
        return None
    thread = thread_selectors.thread_get(thread_id, tenant=caller.principal.tenant_scope)
    access.thread_authorized(caller.principal, thread_id, "read")
    return thread


def _settled_thread(caller: Caller, thread_id: uuid.UUID) -> Thread | None:
    """:func:`_visible_thread`, once a busy thread's running run ended (at most
    :data:`INTERRUPT_SETTLE_SECONDS`): a client answers the interrupt it was streamed, which
    the run records when it stops, a moment later."""
    thread = _visible_thread(caller, thread_id)
    if thread is None or thread.status != "busy" or _interrupt_ids(thread):
        return thread
    for run in selectors.run_list(thread_id, limit=1, status="running"):
        with waiter.watching(run.run_id) as ended:
            if not selectors.run_is_over(run.run_id):
                ended.wait(INTERRUPT_SETTLE_SECONDS)
    return thread_selectors.thread_get(thread_id, tenant=caller.principal.tenant_scope)


def _interrupt_ids(thread: Thread) -> set[str]:
    return {
        item["id"]
        for items in (thread.interrupts or {}).values()
        if isinstance(items, list)
        for item in items
        if isinstance(item, dict) and isinstance(item.get("id"), str)
    }


def _create_protocol_run(caller: Caller, thread_id: uuid.UUID, body: dict[str, Any]) -> Any:
    """A run of the thread (created if need be) streaming every protocol mode."""
    body = {
        **{key: value for key, value in body.items() if value is not None},
        "stream_mode": list(protocol.RUN_STREAM_MODES),
        "stream_subgraphs": True,
        "stream_resumable": True,
        "if_not_exists": "create",
        "on_completion": "keep",
    }
    run, _ = create_run_as(
        caller.principal,
        thread_id,
        validated(RunCreateSerializer, body),
        caller.headers,
        protocol_v2=True,
    )
    return run


def error_envelope(command_id: Any, code: str, message: str) -> dict[str, Any]:
    """The protocol's error: ``{"type": "error", "id", "error", "message"}``."""
    return {"type": "error", "id": command_id, "error": code, "message": message}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return isinstance(value, str)
