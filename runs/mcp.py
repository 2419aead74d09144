"""The Model Context Protocol over the assistants, without I/O: what ``/mcp/`` answers.

MCP's Streamable HTTP transport, stateless as LangGraph's server has it: every assistant the
caller sees is a tool (its graph's input schema is the tool's ``inputSchema``), and calling
one runs it statelessly and answers with the run's output. Each POST carries one JSON-RPC
message; a request gets its response as the POST's JSON body, a notification or a response
gets ``202``. No session is kept, so ``GET`` (a server-to-client stream) is 405 and ``DELETE``
(end a session) is 404. docs/mcp.md.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

#: The revisions of the initialize handshake answered (a client asking for another gets the
#: latest, and may hang up). The 2026 revisions' ``server/discover`` is "method not found",
#: which makes a 2026 client fall back to the handshake.
PROTOCOL_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
LATEST_PROTOCOL_VERSION = PROTOCOL_VERSIONS[-1]
#: Tools per ``tools/list`` page (``nextCursor`` is the offset of the next page).
PAGE_SIZE = 100
#: The assistants a ``tools/call`` looks among for its tool name.
MAX_TOOLS = 1000

# JSON-RPC 2.0's error codes.
INVALID_PARAMS = -32602
METHOD_NOT_FOUND = -32601

#: MCP tool names: letters, digits, ``_``, ``-`` and ``.``, 1 to 128 of them.
_NOT_IN_TOOL_NAME = re.compile(r"[^a-zA-Z0-9_\-.]")
TOOL_NAME_MAX = 128


class BadMessage(ValueError):
    """The body is not one JSON-RPC 2.0 message (a 400, not a JSON-RPC error)."""


@dataclass(frozen=True)
class Message:
    """One JSON-RPC message: a request has an ``id`` and a ``method``; a notification a
    ``method`` only; a response (to a request of ours, which we never send) an ``id`` only."""

    id: str | int | None
    method: str | None
    params: dict[str, Any]

    @property
    def is_request(self) -> bool:
        return self.id is not None and self.method is not None


def parse_message(body: Any) -> Message:
    """The JSON-RPC message in a POST's parsed JSON body.

    Raises:
        BadMessage: not an object, no ``"jsonrpc": "2.0"``, neither ``id`` nor ``method``, an
            ``id`` that is not a string or an integer, ``params`` that is not an object.
    """
    if not isinstance(body, dict):
        raise BadMessage("a JSON-RPC message must be a JSON object (batches are not supported)")
    if body.get("jsonrpc") != "2.0":
        raise BadMessage('a JSON-RPC message must have "jsonrpc": "2.0"')
    message_id, method = body.get("id"), body.get("method")
    if message_id is not None and (
        isinstance(message_id, bool) or not isinstance(message_id, str | int)
    ):
        raise BadMessage("a JSON-RPC id must be a string or an integer")
    if method is not None and not isinstance(method, str):
        raise BadMessage("a JSON-RPC method must be a string")
    if message_id is None and method is None:
        raise BadMessage("a JSON-RPC message is a request, a notification or a response")
    params = body.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise BadMessage("JSON-RPC params must be an object")
    return Message(id=message_id, method=method, params=params)


def result(message_id: str | int, value: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": message_id, "result": value}


def error(message_id: str | int, code: int, text: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": message_id, "error": {"code": code, "message": text}}


def initialize_result(params: dict[str, Any], server_version: str) -> dict[str, Any]:
    """The handshake: the client's protocol version when it is one of ours, else our latest."""
    asked = params.get("protocolVersion")
    return {
        "protocolVersion": asked if asked in PROTOCOL_VERSIONS else LATEST_PROTOCOL_VERSION,
        "capabilities": {"tools": {"listChanged": False}},
        "serverInfo": {"name": "DuraGraph", "version": server_version},
    }


def tool_name(assistant_name: str) -> str:
    """An assistant's name as an MCP tool name: whitespace runs become ``_``, other characters
    MCP does not allow are dropped, at most 128 remain ("" when none does)."""
    name = re.sub(r"\s+", "_", assistant_name.strip())
    return _NOT_IN_TOOL_NAME.sub("", name)[:TOOL_NAME_MAX]


def cursor_offset(params: dict[str, Any]) -> int:
    """The offset a ``tools/list`` cursor stands for (0 for none or one we did not hand out)."""
    cursor = params.get("cursor")
    try:
        offset = int(cursor) if cursor is not None else 0
    except (TypeError, ValueError):
        return 0
    return max(offset, 0)


#: LangChain's message classes, as a graph's input schema names them in ``$defs``.
_MESSAGE_TYPES = frozenset(
    f"{kind}Message{chunk}"
    for kind in ("AI", "Human", "Chat", "System", "Function", "Tool")
    for chunk in ("", "Chunk")
)
_MESSAGE_SUPPORT_TYPES = frozenset(
    {
        "ToolCall",
        "ToolCallChunk",
        "InvalidToolCall",
        "UsageMetadata",
        "InputTokenDetails",
        "OutputTokenDetails",
    }
)


def _lists_messages(prop: dict[str, Any]) -> bool:
    if prop.get("type") != "array":
        return False
    items = prop.get("items") or {}
    return any(
        candidate.get("$ref", "").removeprefix("#/$defs/") in _MESSAGE_TYPES
        for candidate in items.get("oneOf") or items.get("anyOf") or []
    )


def input_schema(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """A graph's input schema as a tool's ``inputSchema`` (None: the graph has none to give).

    A chat graph's list of LangChain messages becomes one string (the user's message; LangGraph
    accepts a string where it takes messages), so a model calling the tool is not handed
    LangChain's class definitions; MCP wants an object schema, so one without ``type`` gets it.
    """
    if schema is None:
        return None
    schema = json.loads(json.dumps(schema))  # a copy the caller's cache never sees changed
    defs = schema.get("$defs") or {}
    if _MESSAGE_TYPES & set(defs):
        for name in _MESSAGE_TYPES | _MESSAGE_SUPPORT_TYPES:
            defs.pop(name, None)
        if not defs:
            schema.pop("$defs", None)
        for key, prop in (schema.get("properties") or {}).items():
            if _lists_messages(prop):
                schema["properties"][key] = {
                    "type": "string",
                    "title": prop.get("title", key),
                    "description": "The user message to send to the agent.",
                }
    schema.setdefault("type", "object")
    return schema


def tool(
    name: str, assistant_name: str, description: str | None, schema: dict[str, Any]
) -> dict[str, Any]:
    return {
        "name": name,
        "title": assistant_name,
        "description": description or f"Runs the {assistant_name} assistant",
        "inputSchema": schema,
        "annotations": {
            "readOnlyHint": False,
            "destructiveHint": False,
            "idempotentHint": False,
            "openWorldHint": True,
        },
    }


def tool_result(output: Any) -> dict[str, Any]:
    """A run's result (``runs.wait``'s) as a ``tools/call`` result: its output as JSON text, and
    as ``structuredContent`` when it is an object; a run that failed is ``isError`` with the
    error's type and message."""
    if isinstance(output, dict) and isinstance(output.get("__error__"), dict):
        failure = output["__error__"]
        text = ": ".join(
            str(part) for part in (failure.get("error"), failure.get("message")) if part
        )
        return {"isError": True, "content": [{"type": "text", "text": text or "the run failed"}]}
    answer: dict[str, Any] = {
        "content": [{"type": "text", "text": json.dumps(output, ensure_ascii=False)}],
        "isError": False,
    }
    if isinstance(output, dict):
        answer["structuredContent"] = output
    return answer
