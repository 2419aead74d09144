"""The Agent2Agent protocol over one assistant, without I/O: what ``/a2a/{assistant_id}`` parses
and answers (A2A 0.3, its JSON-RPC 2.0 binding, as LangGraph's server speaks it).

An assistant is an agent; a **context** is a thread (``contextId`` = ``thread_id``); a **task**
is the run a message started (its id ``"<thread_id>:<run_id>"``, LangGraph's form) and the runs
that answer it later when it asks for input (an ``interrupt()``: ``input-required``), each
tagged ``{"a2a": {"task_id"}}`` in its metadata. A message's text becomes a LangChain message
of the run's ``messages`` input (with the A2A ``messageId`` as its id), its data parts merge
into the input, the graph's last AI message of the turn is the task's artifact. docs/a2a.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: The protocol revision served (its method names: ``message/send``, ``tasks/get``...).
PROTOCOL_VERSION = "0.3.0"
#: What an agent takes and gives by default (LangGraph's card).
MODES = ("application/json", "text/plain")

# JSON-RPC 2.0's error codes, then A2A's.
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
TASK_NOT_FOUND = -32001
TASK_NOT_CANCELABLE = -32002
PUSH_NOTIFICATION_NOT_SUPPORTED = -32003
UNSUPPORTED_OPERATION = -32004
CONTENT_TYPE_NOT_SUPPORTED = -32005

#: A2A 0.3's push-notification methods: not supported (A2A's own error says so).
PUSH_NOTIFICATION_METHODS = frozenset(
    f"tasks/pushNotificationConfig/{verb}" for verb in ("set", "get", "list", "delete")
)

# A2A's task states (those a run can be in).
SUBMITTED = "submitted"
WORKING = "working"
INPUT_REQUIRED = "input-required"
COMPLETED = "completed"
CANCELED = "canceled"
FAILED = "failed"
#: States after which a task takes no more messages and cannot be cancelled.
TERMINAL_STATES = frozenset({COMPLETED, CANCELED, FAILED})

#: LangChain message types (serialized ``type``, lower case) by A2A role.
_USER_TYPES = frozenset({"human", "humanmessage", "humanmessagechunk"})
_AGENT_TYPES = frozenset({"ai", "aimessage", "aimessagechunk"})
_USER_ROLES = frozenset({"human", "user"})
_AGENT_ROLES = frozenset({"ai", "assistant", "agent"})
_MEDIA_BLOCKS = frozenset({"image", "audio", "video", "file"})


class RpcError(Exception):
    """A request refused with a JSON-RPC error (*code*, *message*): its answer is an HTTP 200
    whose body is the error, as JSON-RPC has it."""

    def __init__(self, code: int, message: str, *, request_id: str | int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        #: The id of the refused request, when one could be read (else null).
        self.request_id = request_id


@dataclass(frozen=True)
class Request:
    """One JSON-RPC request: A2A has no notifications, so every message has an ``id``."""

    id: str | int
    method: str
    params: dict[str, Any]


def parse_request(body: Any) -> Request:
    """The JSON-RPC request in a POST's parsed JSON body.

    Raises:
        RpcError: ``-32600`` when it is not a request (not an object, no ``"jsonrpc": "2.0"``,
            an ``id`` neither a string nor an integer, no ``method``), ``-32601`` for a method
            that is not a string, ``-32602`` for ``params`` that are not an object.
    """
    if not isinstance(body, dict):
        raise RpcError(INVALID_REQUEST, "A JSON-RPC request must be a JSON object")
    request_id = body.get("id")
    if isinstance(request_id, bool) or not isinstance(request_id, str | int):
        raise RpcError(INVALID_REQUEST, "A JSON-RPC request must have a string or integer id")
    if body.get("jsonrpc") != "2.0":
        raise RpcError(
            INVALID_REQUEST, 'A JSON-RPC request must have "jsonrpc": "2.0"', request_id=request_id
        )
    method = body.get("method")
    if method is None:
        raise RpcError(
            INVALID_REQUEST, "A JSON-RPC request must have a method", request_id=request_id
        )
    if not isinstance(method, str):
        raise RpcError(
            METHOD_NOT_FOUND, "Method not found: method must be a string", request_id=request_id
        )
    params = body.get("params")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise RpcError(INVALID_PARAMS, "params must be an object", request_id=request_id)
    return Request(id=request_id, method=method, params=params)


def result(request_id: str | int, value: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "result": value}


def error(request_id: str | int | None, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


# -- what comes in ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Incoming:
    """An A2A message sent to the agent (``params.message``), checked."""

    message_id: str
    role: str
    parts: list[dict[str, Any]]
    context_id: uuid.UUID | None
    task_id: str | None

    @property
    def speaks(self) -> bool:
        """Whether it has text or file parts (which only a graph with ``messages`` takes)."""
        return any(_kind(part) in ("text", "file") for part in self.parts)

    def run_input(self) -> dict[str, Any]:
        """The run's input: text and file parts as one LangChain message under ``messages``
        (its id the ``messageId``, so the thread's history tells which task it started), data
        parts merged in as top-level keys."""
        blocks: list[dict[str, Any]] = []
        data: dict[str, Any] = {}
        for part in self.parts:
            kind = _kind(part)
            if kind == "text":
                blocks.append({"type": "text", "text": part["text"]})
            elif kind == "file":
                blocks.append(_file_block(part["file"]))
            else:
                data.update(part["data"])
        if not blocks:
            return data
        # One text part stays a string, as a chat model's input usually is.
        content: Any = blocks[0]["text"] if len(blocks) == 1 and "text" in blocks[0] else blocks
        langchain_role = "human" if self.role == "user" else "ai"
        return {
            **data,
            "messages": [{"role": langchain_role, "content": content, "id": self.message_id}],
        }

    def resume_value(self) -> Any:
        """What answers a task's ``interrupt()``: a data part's ``resume``, else the text,
        else the data parts (LangGraph's ``Command(resume=...)``)."""
        for part in self.parts:
            if _kind(part) == "data" and "resume" in part["data"]:
                return part["data"]["resume"]
        texts = [part["text"] for part in self.parts if _kind(part) == "text"]
        if texts:
            return "\n".join(texts)
        return self.run_input()


def echo(message: Incoming, run: TaskRun) -> dict[str, Any]:
    """The message received, as the first entry of its task's history."""
    return {
        "kind": "message",
        "role": message.role,
        "parts": message.parts,
        "messageId": message.message_id,
        "taskId": run.task_id,
        "contextId": run.context_id,
    }


@dataclass(frozen=True)
class SendParams:
    """``message/send`` and ``message/stream``'s params, checked."""

    message: Incoming
    #: ``configuration.blocking`` (default true): answer once the task is over or needs input.
    blocking: bool
    history_length: int | None
    #: LangGraph's extension: the run's ``context``.
    context: dict[str, Any] | None


def parse_send_params(params: dict[str, Any]) -> SendParams:
    """Raises:
    RpcError: ``-32602`` naming what is missing or malformed; ``-32005`` for a part of a
        kind other than ``text``, ``file`` or ``data``.
    """
    message = params.get("message")
    if not isinstance(message, dict):
        raise RpcError(INVALID_PARAMS, "params.message must be an object")
    message_id = message.get("messageId")
    if not isinstance(message_id, str) or not message_id:
        raise RpcError(INVALID_PARAMS, "message.messageId must be a non-empty string")
    role = message.get("role")
    if role not in ("user", "agent"):
        raise RpcError(INVALID_PARAMS, 'message.role must be "user" or "agent"')
    parts = message.get("parts")
    if not isinstance(parts, list) or not parts:
        raise RpcError(INVALID_PARAMS, "message.parts must be a non-empty array")
    for index, part in enumerate(parts):
        _check_part(part, f"message.parts[{index}]")
    context_id = message.get("contextId")
    if context_id is not None:
        context_id = _uuid(context_id, "message.contextId")
    task_id = message.get("taskId")
    if task_id is not None and not isinstance(task_id, str):
        raise RpcError(INVALID_PARAMS, "message.taskId must be a string")
    configuration = params.get("configuration") or {}
    if not isinstance(configuration, dict):
        raise RpcError(INVALID_PARAMS, "params.configuration must be an object")
    blocking = configuration.get("blocking", True)
    if not isinstance(blocking, bool):
        raise RpcError(INVALID_PARAMS, "configuration.blocking must be true or false")
    context = params.get("context")
    if context is not None and not isinstance(context, dict):
        raise RpcError(INVALID_PARAMS, "params.context must be an object")
    return SendParams(
        message=Incoming(
            message_id=message_id,
            role=role,
            parts=parts,
            context_id=context_id,
            task_id=task_id,
        ),
        blocking=blocking,
        history_length=_history_length(configuration.get("historyLength"), "configuration"),
        context=context,
    )


@dataclass(frozen=True)
class TaskQuery:
    """``tasks/get``, ``tasks/cancel`` and ``tasks/resubscribe``'s params, checked."""

    thread_id: uuid.UUID | None
    run_id: uuid.UUID
    id: str
    history_length: int | None


def parse_task_query(params: dict[str, Any]) -> TaskQuery:
    """The task named by ``params.id`` (and ``params.contextId``, optional).

    Raises:
        RpcError: ``-32602`` when ``id`` is missing or not a string; ``-32001`` when it is not
            one of our task ids (``<thread_id>:<run_id>``, or a bare run id) or its context
            is not ``contextId``.
    """
    value = params.get("id")
    if not isinstance(value, str) or not value:
        raise RpcError(INVALID_PARAMS, "params.id (the task id) must be a non-empty string")
    context_id = params.get("contextId")
    if context_id is not None and not isinstance(context_id, str):
        raise RpcError(INVALID_PARAMS, "params.contextId must be a string")
    thread_id, run_id = parse_task_id(value)
    if context_id is not None:
        asked, _ = parse_task_id(f"{context_id}:{run_id}")
        if asked is None or thread_id not in (None, asked):
            run_id = None  # another context's task, as an unknown one
        thread_id = asked
    if run_id is None:
        raise RpcError(TASK_NOT_FOUND, f"Task not found: {value}")
    return TaskQuery(
        thread_id=thread_id,
        run_id=run_id,
        id=value,
        history_length=_history_length(params.get("historyLength"), "params"),
    )


def task_id(context_id: uuid.UUID | str, run_id: uuid.UUID | str) -> str:
    """A task's id: its context and the run it started (``tasks/get`` needs nothing else)."""
    return f"{context_id}:{run_id}"


def parse_task_id(value: str) -> tuple[uuid.UUID | None, uuid.UUID | None]:
    """``(thread_id, run_id)`` of a task id; a bare run id has no thread; (None, None) when
    it is not one of ours."""
    context, _, run = value.rpartition(":")
    try:
        return (uuid.UUID(context) if context else None), uuid.UUID(run)
    except ValueError:
        return None, None


def run_task_id(context_id: uuid.UUID | str, run_id: uuid.UUID | str, metadata: Any) -> str:
    """The task a run belongs to: the one it was tagged with (it answered that task), else the
    one it started."""
    tagged = (metadata or {}).get("a2a") if isinstance(metadata, dict) else None
    if isinstance(tagged, dict) and isinstance(tagged.get("task_id"), str):
        return tagged["task_id"]
    return task_id(context_id, run_id)


def started_by(run_input: Any) -> list[str]:
    """The ids of the messages a run's input sent (the A2A ``messageId`` of its message)."""
    messages = run_input.get("messages") if isinstance(run_input, dict) else None
    return [
        str(message["id"])
        for message in (messages if isinstance(messages, list) else [])
        if isinstance(message, dict) and message.get("id")
    ]


def _kind(part: dict[str, Any]) -> str:
    """A part's kind: ``kind`` when given (A2A 0.3), else the key it carries."""
    return part.get("kind") or next((k for k in ("text", "file", "data") if k in part), "")


def _check_part(part: Any, where: str) -> None:
    if not isinstance(part, dict):
        raise RpcError(INVALID_PARAMS, f"{where} must be an object")
    kind = _kind(part)
    if kind == "text":
        if not isinstance(part.get("text"), str):
            raise RpcError(INVALID_PARAMS, f"{where}.text must be a string")
    elif kind == "data":
        if not isinstance(part.get("data"), dict):
            raise RpcError(INVALID_PARAMS, f"{where}.data must be an object")
    elif kind == "file":
        file = part.get("file")
        if not isinstance(file, dict) or ("bytes" in file) == ("uri" in file):
            raise RpcError(INVALID_PARAMS, f"{where}.file must have one of bytes or uri")
    else:
        raise RpcError(
            CONTENT_TYPE_NOT_SUPPORTED,
            f"{where}: a part is text, file or data (not {kind or 'nothing'})",
        )


def _file_block(file: dict[str, Any]) -> dict[str, Any]:
    """A file part as a LangChain content block; a URI is passed on, never fetched here."""
    mime_type = file.get("mimeType")
    top = mime_type.split("/", 1)[0] if isinstance(mime_type, str) else ""
    block: dict[str, Any] = {"type": top if top in ("image", "audio", "video") else "file"}
    if "bytes" in file:
        block["base64"] = file["bytes"]
    else:
        block["url"] = file["uri"]
    if mime_type:
        block["mime_type"] = mime_type
    if file.get("name"):
        block["extras"] = {"filename": file["name"]}
    return block


def _uuid(value: Any, where: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except (TypeError, ValueError, AttributeError):
        raise RpcError(INVALID_PARAMS, f"{where} must be a UUID (a thread id)") from None


def _history_length(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RpcError(INVALID_PARAMS, f"{where}.historyLength must be a non-negative integer")
    return value


# -- what goes out ---------------------------------------------------------------------------
@dataclass(frozen=True)
class TaskRun:
    """The run a task is at (its latest), as the answers need it."""

    task_id: str
    context_id: str
    run_id: str
    #: The run's status (LangGraph's: ``pending``, ``running``, ``success``...).
    status: str
    #: Whether it is parked at an ``interrupt()`` (else an ``interrupted`` run was cancelled).
    awaiting_input: bool
    #: What ``runs.wait`` answers for it once over (None while it is active).
    result: Any
    #: Its last change, ISO 8601.
    timestamp: str

    @property
    def state(self) -> str:
        return task_state(self.status, awaiting_input=self.awaiting_input)


def task_state(status: str, *, awaiting_input: bool) -> str:
    """A run's status as an A2A task state."""
    if status == "interrupted":
        return INPUT_REQUIRED if awaiting_input else CANCELED
    return {
        "pending": SUBMITTED,
        "running": WORKING,
        "success": COMPLETED,
        "error": FAILED,
        "timeout": FAILED,
    }.get(status, SUBMITTED)


def role_of(message: Any) -> str | None:
    """A LangChain message's A2A role (``user``, ``agent``), None for the others (system, tool):
    they are the graph's own business, not the conversation."""
    if not isinstance(message, dict):
        return None
    kind = str(message.get("type") or "").lower().replace("_", "")
    role = str(message.get("role") or "").lower()
    if kind in _USER_TYPES or (not kind and role in _USER_ROLES):
        return "user"
    if kind in _AGENT_TYPES or (not kind and role in _AGENT_ROLES):
        return "agent"
    return None


def content_parts(content: Any) -> list[dict[str, Any]]:
    """A LangChain message's content as A2A parts: text, and media blocks as file parts."""
    if isinstance(content, str):
        return [{"kind": "text", "text": content}] if content else []
    parts: list[dict[str, Any]] = []
    for block in content if isinstance(content, list) else []:
        if isinstance(block, str) and block:
            parts.append({"kind": "text", "text": block})
        elif isinstance(block, dict) and block.get("type") == "text" and block.get("text"):
            parts.append({"kind": "text", "text": str(block["text"])})
        elif isinstance(block, dict) and block.get("type") in _MEDIA_BLOCKS:
            file: dict[str, Any] = {}
            if block.get("url"):
                file["uri"] = block["url"]
            elif block.get("base64"):
                file["bytes"] = block["base64"]
            else:
                continue
            if block.get("mime_type"):
                file["mimeType"] = block["mime_type"]
            parts.append({"kind": "file", "file": file})
    return parts


def agent_message(
    parts: list[dict[str, Any]], *, message_id: str, task_id: str, context_id: str
) -> dict[str, Any]:
    return {
        "kind": "message",
        "role": "agent",
        "parts": parts,
        "messageId": message_id,
        "taskId": task_id,
        "contextId": context_id,
    }


def history(
    messages: Any,
    *,
    context_id: str,
    task_of: Mapping[str, str],
    length: int | None = None,
) -> list[dict[str, Any]]:
    """A context's conversation (a thread's ``messages``) as A2A messages, the last *length*.

    *task_of* maps the id of a message that started or answered a task to that task's id; the
    messages after it, up to the next such one, are that task's (the others carry no
    ``taskId``: they came from elsewhere, a run made without A2A).
    """
    current: str | None = None
    converted: list[dict[str, Any]] = []
    for index, message in enumerate(messages if isinstance(messages, list) else []):
        role = role_of(message)
        if role is None:
            continue
        message_id = str(message.get("id") or f"{context_id}-{index}")
        if role == "user":
            current = task_of.get(message_id)
        parts = content_parts(message.get("content"))
        if not parts:
            continue  # an AI message that only calls tools says nothing to the other agent
        entry = {"kind": "message", "role": role, "parts": parts, "messageId": message_id}
        if current is not None:
            entry["taskId"] = current
        entry["contextId"] = context_id
        converted.append(entry)
    if length is None:
        return converted
    return converted[-length:] if length else []


def reply_parts(values: Any) -> list[dict[str, Any]]:
    """What a run answered: the content of the last AI message of its turn (after the last
    user message) for a chat graph, else its values as one data part."""
    messages = values.get("messages") if isinstance(values, dict) else None
    if not isinstance(messages, list):
        return [
            {"kind": "data", "data": values if isinstance(values, dict) else {"output": values}}
        ]
    for message in reversed(messages):
        role = role_of(message)
        if role == "user":
            break
        if role == "agent" and (parts := content_parts(message.get("content"))):
            return parts
    return [{"kind": "text", "text": ""}]


def _result(run: TaskRun) -> dict[str, Any]:
    return run.result if isinstance(run.result, dict) else {}


def response_artifact(run: TaskRun) -> dict[str, Any]:
    """The answer of a completed run, as the task's artifact (A2A wants outputs there)."""
    values = run.result
    if isinstance(values, dict):
        values = {key: value for key, value in values.items() if key != "__interrupt__"}
    return {
        "artifactId": f"response-{run.run_id}",
        "name": "Assistant Response",
        "description": "The assistant's answer",
        "parts": reply_parts(values),
    }


def interrupt_artifact(run: TaskRun) -> dict[str, Any]:
    """What the graph's ``interrupt()`` asks, one data part per interrupt."""
    interrupts = _result(run).get("__interrupt__") or []
    return {
        "artifactId": f"interrupt-{run.run_id}",
        "name": "Interrupt",
        "description": "The agent needs input to continue",
        "parts": [
            {"kind": "data", "data": {"id": item.get("id"), "value": item.get("value")}}
            for item in interrupts
            if isinstance(item, dict)
        ],
    }


def status(run: TaskRun) -> dict[str, Any]:
    """The task's status; a failed, cancelled or waiting task says why in its message."""
    state = run.state
    answer: dict[str, Any] = {"state": state, "timestamp": run.timestamp}
    parts = None
    if state == FAILED:
        failure = _result(run).get("__error__") or {}
        why = ": ".join(str(p) for p in (failure.get("error"), failure.get("message")) if p)
        parts = [{"kind": "text", "text": f"The run failed: {why or run.status}"}]
    elif state == CANCELED:
        parts = [{"kind": "text", "text": "The task was canceled"}]
    elif state == INPUT_REQUIRED:
        # What the graph asks (the interrupts' values): the other agent answers it.
        parts = interrupt_artifact(run)["parts"] or [{"kind": "text", "text": "Input needed"}]
    if parts is not None:
        answer["message"] = agent_message(
            parts,
            message_id=f"status-{run.run_id}-{state}",
            task_id=run.task_id,
            context_id=run.context_id,
        )
    return answer


def task(run: TaskRun, *, history_messages: list[dict[str, Any]] | None) -> dict[str, Any]:
    """The task at *run*: its status, its artifact once it has one, its history when given."""
    answer: dict[str, Any] = {
        "kind": "task",
        "id": run.task_id,
        "contextId": run.context_id,
        "status": status(run),
    }
    if run.state == COMPLETED:
        answer["artifacts"] = [response_artifact(run)]
    elif run.state == INPUT_REQUIRED:
        answer["artifacts"] = [interrupt_artifact(run)]
    if history_messages is not None:
        answer["history"] = history_messages
    return answer


def status_update(run: TaskRun, state: str, *, final: bool = False, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "status-update",
        "taskId": run.task_id,
        "contextId": run.context_id,
        "status": {"state": state, **extra},
        "final": final,
    }


class StreamUpdates:
    """``message/stream``'s events: a run's LangGraph stream (``values`` and ``messages``
    frames) folded into A2A status updates, then the task's end.

    ``working`` once the run starts, then one ``working`` update per partial AI message (its
    text so far, under the LangChain message's id); at the end, the answer as an
    ``artifact-update`` and a final ``status-update`` (:meth:`end`).
    """

    def __init__(self, run: TaskRun) -> None:
        self.run = run
        self.working = False

    def feed(self, event: str, data: Any) -> list[dict[str, Any]]:
        """The updates for one LangGraph stream frame (*event*, *data*)."""
        updates = []
        if not self.working and (event == "metadata" or event.startswith("messages")):
            self.working = True
            updates.append(status_update(self.run, WORKING))
        if event == "messages/partial" and isinstance(data, list):
            for message in data:
                if role_of(message) != "agent":
                    continue
                parts = content_parts(message.get("content"))
                if parts:
                    said = agent_message(
                        parts,
                        message_id=str(message.get("id") or self.run.run_id),
                        task_id=self.run.task_id,
                        context_id=self.run.context_id,
                    )
                    updates.append(status_update(self.run, WORKING, message=said))
        return updates

    @staticmethod
    def end(run: TaskRun) -> list[dict[str, Any]]:
        """The last events, for *run* once over: its artifact, then its final status."""
        artifacts = task(run, history_messages=None).get("artifacts", [])
        updates = [
            {
                "kind": "artifact-update",
                "taskId": run.task_id,
                "contextId": run.context_id,
                "artifact": artifact,
                "append": False,
                "lastChunk": True,
            }
            for artifact in artifacts
        ]
        final = status(run)
        return [*updates, status_update(run, final.pop("state"), final=True, **final)]


def agent_card(
    *,
    assistant_id: str,
    name: str,
    description: str | None,
    url: str,
    version: str,
    input_properties: list[str],
) -> dict[str, Any]:
    """An assistant's A2A agent card (0.3's shape: ``url``, ``preferredTransport``,
    ``protocolVersion``, which a 1.x client reads as a 0.3 agent)."""
    description = description or f"{name} assistant"
    return {
        "protocolVersion": PROTOCOL_VERSION,
        "name": name,
        "description": description,
        "url": url,
        "preferredTransport": "JSONRPC",
        "version": version,
        "capabilities": {
            "streaming": True,
            "pushNotifications": False,
            "stateTransitionHistory": False,
        },
        "defaultInputModes": list(MODES),
        "defaultOutputModes": list(MODES),
        "skills": [
            {
                "id": f"{assistant_id}-main",
                "name": f"{name} Capabilities",
                "description": description,
                "tags": ["assistant", "langgraph"],
                "examples": [],
                "inputModes": list(MODES),
                "outputModes": list(MODES),
                "metadata": {
                    "inputSchema": {
                        "properties": sorted(input_properties),
                        "supportsA2A": "messages" in input_properties,
                    }
                },
            }
        ],
        "supportsAuthenticatedExtendedCard": False,
    }
