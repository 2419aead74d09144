"""MCP's messages and shapes (runs.mcp): what /mcp/ parses and answers, without I/O."""

from __future__ import annotations

import pytest

from runs import mcp


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ([{"jsonrpc": "2.0", "id": 1, "method": "ping"}], "batches are not supported"),
        ("ping", "JSON object"),
        ({"id": 1, "method": "ping"}, '"jsonrpc": "2.0"'),
        ({"jsonrpc": "1.0", "id": 1, "method": "ping"}, '"jsonrpc": "2.0"'),
        ({"jsonrpc": "2.0"}, "a request, a notification or a response"),
        ({"jsonrpc": "2.0", "id": True, "method": "ping"}, "string or an integer"),
        ({"jsonrpc": "2.0", "id": 1.5, "method": "ping"}, "string or an integer"),
        ({"jsonrpc": "2.0", "id": 1, "method": 7}, "method must be a string"),
        ({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": [1]}, "params must be"),
    ],
)
def test_what_is_not_one_json_rpc_message_is_refused_saying_why(body, why):
    with pytest.raises(mcp.BadMessage, match=why):
        mcp.parse_message(body)


def test_requests_notifications_and_responses_are_told_apart():
    request = mcp.parse_message({"jsonrpc": "2.0", "id": 0, "method": "tools/list"})
    assert request.is_request and request.id == 0 and request.params == {}
    notification = mcp.parse_message({"jsonrpc": "2.0", "method": "notifications/initialized"})
    assert not notification.is_request
    response = mcp.parse_message({"jsonrpc": "2.0", "id": "a", "result": {}})
    assert not response.is_request and response.method is None
    nulls = mcp.parse_message({"jsonrpc": "2.0", "id": "x", "method": "ping", "params": None})
    assert nulls.params == {}


def test_the_handshake_echoes_a_known_version_and_offers_the_latest_otherwise():
    known = mcp.initialize_result({"protocolVersion": "2025-03-26"}, "1.0")
    assert known["protocolVersion"] == "2025-03-26"
    assert known["capabilities"] == {"tools": {"listChanged": False}}
    assert known["serverInfo"] == {"name": "DuraGraph", "version": "1.0"}
    for asked in ({"protocolVersion": "2031-01-01"}, {}):
        assert mcp.initialize_result(asked, "1.0")["protocolVersion"] == "2025-11-25"


@pytest.mark.parametrize(
    ("name", "tool"),
    [
        ("agent", "agent"),
        ("  my  research\tagent ", "my_research_agent"),
        ("Résumé writer (v2)!", "Rsum_writer_v2"),
        ("a.b-c_d", "a.b-c_d"),
        ("x" * 200, "x" * 128),
        ("!!!", ""),
    ],
)
def test_assistant_names_become_valid_tool_names(name, tool):
    assert mcp.tool_name(name) == tool


@pytest.mark.parametrize(
    ("params", "offset"),
    [
        ({}, 0),
        ({"cursor": "100"}, 100),
        ({"cursor": 200}, 200),
        ({"cursor": "x"}, 0),
        ({"cursor": "-5"}, 0),
        ({"cursor": None}, 0),
        ({"cursor": [1]}, 0),
    ],
)
def test_a_cursor_is_an_offset_and_a_foreign_one_starts_over(params, offset):
    assert mcp.cursor_offset(params) == offset


def test_a_chat_graphs_messages_become_one_string_and_the_schema_stays_an_object():
    schema = {
        "title": "ChatState",
        "properties": {
            "messages": {
                "type": "array",
                "items": {
                    "oneOf": [{"$ref": "#/$defs/AIMessage"}, {"$ref": "#/$defs/HumanMessage"}]
                },
            },
            "topic": {"type": "string"},
        },
        "$defs": {"AIMessage": {}, "HumanMessage": {}, "ToolCall": {}, "Topic": {"type": "string"}},
    }
    simplified = mcp.input_schema(schema)
    assert simplified["properties"]["messages"]["type"] == "string"
    assert simplified["properties"]["topic"] == {"type": "string"}
    assert simplified["$defs"] == {"Topic": {"type": "string"}}
    assert simplified["type"] == "object"
    assert "AIMessage" in schema["$defs"], "the graph's own schema is not changed"
    assert mcp.input_schema(None) is None
    assert mcp.input_schema({"properties": {}}) == {"properties": {}, "type": "object"}


def test_a_runs_output_is_json_text_and_structured_content_and_a_failure_is_an_error():
    ok = mcp.tool_result({"items": ["x", "a"]})
    assert ok == {
        "content": [{"type": "text", "text": '{"items": ["x", "a"]}'}],
        "isError": False,
        "structuredContent": {"items": ["x", "a"]},
    }
    assert "structuredContent" not in mcp.tool_result([1, 2])
    failed = mcp.tool_result({"__error__": {"error": "ValueError", "message": "boom"}})
    assert failed == {"isError": True, "content": [{"type": "text", "text": "ValueError: boom"}]}
