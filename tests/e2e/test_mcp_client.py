"""``/mcp/`` with the official MCP Python client (``mcp``), unchanged, against a real daphne with
an executor: the assistants are listed as tools with their graphs' input schemas, a call runs
the assistant and answers its output, a failing run is a tool error, and what is not a tool is
refused, as LangGraph's server does it (docs/mcp.md)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from langgraph_sdk import get_sync_client
from mcp import Client
from mcp.shared.exceptions import MCPError

from tests.e2e.processes import start_executor

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(api_server, tmp_path_factory):
    env = {**api_server.env, "DURAGRAPH_EXECUTOR_GRAPHS": "simple,failing"}
    executor = start_executor(env, tmp_path_factory.mktemp("mcp"), name="mcp")
    yield api_server
    executor.stop()


def with_client(url: str, use: Callable[[Client], Awaitable[Any]], path: str = "/mcp/") -> Any:
    async def session() -> Any:
        async with Client(f"{url}{path}") as client:
            return await use(client)

    return asyncio.run(session())


def test_the_assistants_are_listed_as_tools_with_their_input_schemas(server):
    tools = with_client(server.url, lambda client: client.list_tools())
    by_name = {tool.name: tool for tool in tools.tools}
    assert {"simple", "failing", "agent", "chat"} <= set(by_name)
    simple = by_name["simple"]
    assert simple.title == "simple"
    assert simple.input_schema["type"] == "object"
    assert simple.input_schema["properties"]["items"]["type"] == "array"
    assert tools.next_cursor is None
    # The chat graph's LangChain messages are one string for a model calling the tool.
    chat = by_name["chat"].input_schema
    assert chat["properties"]["messages"]["type"] == "string"
    assert "HumanMessage" not in chat.get("$defs", {})


def test_calling_a_tool_runs_its_assistant_and_answers_the_output(server):
    with get_sync_client(url=server.url, api_key=None) as sdk:
        expected = sdk.runs.wait(None, "simple", input={"items": ["x"]})
    called = with_client(
        server.url, lambda client: client.call_tool("simple", {"items": ["x"]}), path="/mcp"
    )
    assert called.is_error is False
    assert called.structured_content == expected == {"items": ["x", "a", "b"]}
    assert called.content[0].text == '{"items": ["x", "a", "b"]}'


def test_a_failing_run_is_a_tool_error_with_its_message(server):
    called = with_client(server.url, lambda client: client.call_tool("failing", {"items": []}))
    assert called.is_error is True
    assert "boom" in called.content[0].text


def test_an_unknown_tool_and_an_unknown_method_are_json_rpc_errors(server):
    async def refusals(client: Client) -> list[MCPError]:
        refused = []
        for call in (lambda: client.call_tool("nope", {}), client.list_prompts):
            try:
                await call()
            except MCPError as error:
                refused.append(error)
        return refused

    unknown_tool, unknown_method = with_client(server.url, refusals)
    assert (unknown_tool.error.code, unknown_tool.error.message) == (-32602, "Unknown tool: nope")
    assert unknown_method.error.code == -32601
    assert unknown_method.error.message == "Method not found: prompts/list"
