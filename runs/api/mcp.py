"""``/mcp/``: the assistants as MCP tools over Streamable HTTP (stateless, as LangGraph's).

Thin: :mod:`runs.mcp` parses the message and shapes the answers; the tools are the assistants
the caller may read (custom auth's filters included), and a call is a stateless run created
exactly as ``POST /runs/wait`` creates one, answered when it ends (newlines meanwhile, which a
JSON parser skips, so proxies and clients do not time out a long run).
"""

from __future__ import annotations

from typing import Any

import orjson
from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import custom_auth
from accounts.authentication import principal_of
from assistants import selectors as assistant_selectors
from assistants.api import access as assistant_access
from assistants.models import Assistant
from duragraph_site.api.errors import validation_message
from duragraph_site.api.params import validated
from duragraph_site.errors import BadRequest, DuraGraphError, InvalidInput
from runs import mcp
from runs.api.runs import create_run
from runs.api.serializers import RunCreateSerializer
from runs.api.waiting import result_when_over

#: JSON-RPC's "server error" range: the run could not be created (an unknown or conflicting
#: assistant...), with our refusal's message.
RUN_REFUSED = -32000

_MESSAGE_EXAMPLE = OpenApiExample(
    "initialize",
    value={
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}},
    },
    request_only=True,
)


class McpApi(APIView):
    """POST one JSON-RPC message; GET and DELETE refused as a stateless server refuses them."""

    @extend_schema(
        operation_id="post_mcp",
        summary="MCP Post",
        description=(
            "A JSON-RPC 2.0 message of MCP's Streamable HTTP transport: `initialize`, `ping`, "
            "`tools/list` (the assistants as tools), `tools/call` (a stateless run of one); "
            "notifications and responses are acknowledged with 202. Stateless: no session."
        ),
        tags=["MCP"],
        request=OpenApiTypes.OBJECT,
        examples=[_MESSAGE_EXAMPLE],
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="The JSON-RPC response"),
            202: OpenApiResponse(description="A notification or a response, acknowledged"),
        },
    )
    def post(self, request: Request) -> Response | StreamingHttpResponse:
        try:
            message = mcp.parse_message(request.data)
        except mcp.BadMessage as bad:
            raise BadRequest(str(bad)) from None
        if not message.is_request:
            return Response(status=status.HTTP_202_ACCEPTED)
        if message.method == "tools/call":
            return _call_tool(request, message)
        if message.method == "initialize":
            answer = mcp.result(
                message.id,
                mcp.initialize_result(message.params, settings.SPECTACULAR_SETTINGS["VERSION"]),
            )
        elif message.method == "ping":
            answer = mcp.result(message.id, {})
        elif message.method == "tools/list":
            answer = mcp.result(message.id, _list_tools(request, message.params))
        else:
            answer = mcp.error(
                message.id, mcp.METHOD_NOT_FOUND, f"Method not found: {message.method}"
            )
        return Response(answer)

    @extend_schema(
        operation_id="get_mcp",
        summary="MCP Get",
        tags=["MCP"],
        responses={405: OpenApiResponse(description="No server-to-client stream: stateless")},
    )
    def get(self, request: Request) -> Response:
        raise exceptions.MethodNotAllowed(
            "GET", detail="This MCP server is stateless: it has no stream to GET; POST messages."
        )

    @extend_schema(
        operation_id="delete_mcp",
        summary="Terminate Session",
        tags=["MCP"],
        responses={404: OpenApiResponse(description="No such session: the server keeps none")},
    )
    def delete(self, request: Request) -> Response:
        return Response(
            {"detail": "No MCP session to end: this server keeps none."},
            status=status.HTTP_404_NOT_FOUND,
        )


@extend_schema(exclude=True)
class McpNoSlashApi(McpApi):
    """``/mcp``, as LangGraph's server answers it too (the document lists ``/mcp/`` once)."""


def _tool_assistants(request: Request, *, offset: int, limit: int) -> list[Assistant]:
    """The assistants the caller may read, oldest first (a page stays put as more are made)."""
    principal = principal_of(request)
    try:
        metadata = assistant_access.searched_metadata(
            principal, {"graph_id": None, "metadata": {}, "limit": limit, "offset": offset}
        )
    except custom_auth.NothingMatches:
        return []
    rows, _ = assistant_selectors.assistant_search(
        tenant=principal.tenant_scope,
        metadata=metadata,
        limit=limit,
        offset=offset,
        sort_order="asc",
    )
    return rows


def _list_tools(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    """One page of tools: an assistant whose graph gives no input schema (it cannot be loaded)
    is left out, and of two assistants with one tool name, the older is the tool."""
    offset = mcp.cursor_offset(params)
    page = _tool_assistants(request, offset=offset, limit=mcp.PAGE_SIZE)
    tools, names = [], set()
    for assistant in page:
        name = mcp.tool_name(assistant.name)
        schema = mcp.input_schema(
            assistant_selectors.assistant_schemas(assistant).get("input_schema")
        )
        if not name or name in names or schema is None:
            continue
        names.add(name)
        tools.append(mcp.tool(name, assistant.name, assistant.description, schema))
    answer: dict[str, Any] = {"tools": tools}
    if len(page) == mcp.PAGE_SIZE:
        answer["nextCursor"] = str(offset + mcp.PAGE_SIZE)
    return answer


def _call_tool(request: Request, message: mcp.Message) -> Response | StreamingHttpResponse:
    name, arguments = message.params.get("name"), message.params.get("arguments")
    if arguments is not None and not isinstance(arguments, dict):
        return Response(mcp.error(message.id, mcp.INVALID_PARAMS, "arguments must be an object"))
    matches = [
        assistant
        for assistant in _tool_assistants(request, offset=0, limit=mcp.MAX_TOOLS)
        if isinstance(name, str) and name and mcp.tool_name(assistant.name) == name
    ]
    if not matches:
        return Response(mcp.error(message.id, mcp.INVALID_PARAMS, f"Unknown tool: {name}"))
    body = {"assistant_id": str(matches[0].assistant_id), "input": arguments or {}}
    if message.params.get("context") is not None:
        body["context"] = message.params["context"]
    try:
        run, _ = create_run(request, None, validated(RunCreateSerializer, body))
    except exceptions.ValidationError as invalid:
        text = validation_message(invalid.detail)
        return Response(mcp.error(message.id, mcp.INVALID_PARAMS, text))
    except (BadRequest, InvalidInput) as refused:
        return Response(mcp.error(message.id, mcp.INVALID_PARAMS, refused.message))
    except DuraGraphError as refused:
        return Response(mcp.error(message.id, RUN_REFUSED, refused.message))
    return StreamingHttpResponse(
        result_when_over(
            run.run_id,
            run.thread_id,
            cancel_on_disconnect=True,
            render=lambda output: orjson.dumps(mcp.result(message.id, mcp.tool_result(output))),
        ),
        content_type="application/json",
    )
