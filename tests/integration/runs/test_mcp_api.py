"""``/mcp/`` against PostgreSQL: the handshake, what is not a message (400 JSON, nothing run),
stateless GET and DELETE, the tools a tenant sees (its own and every graph's default assistant,
never another tenant's), and calls refused before any run is made. A call's run end to end, with
the official MCP client: tests/e2e/test_mcp_client.py."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from accounts import selectors as account_selectors
from accounts import services as account_services
from assistants import services as assistant_services
from runs.models import Run

pytestmark = pytest.mark.django_db


def post(api: APIClient, body, path: str = "/mcp/"):
    return api.post(path, json.dumps(body), content_type="application/json")


def rpc(method: str, params: dict | None = None, message_id: int | str = 1) -> dict:
    return {"jsonrpc": "2.0", "id": message_id, "method": method, "params": params or {}}


def test_the_handshake_ping_and_notifications():
    api = APIClient()
    answer = post(api, rpc("initialize", {"protocolVersion": "2025-06-18"}, "init"))
    assert answer.status_code == 200
    assert answer.json()["id"] == "init"
    assert answer.json()["result"]["protocolVersion"] == "2025-06-18"
    assert post(api, rpc("ping", message_id=0)).json() == {"jsonrpc": "2.0", "id": 0, "result": {}}
    acknowledged = post(api, {"jsonrpc": "2.0", "method": "notifications/initialized"})
    assert (acknowledged.status_code, acknowledged.content) == (202, b"")
    assert post(api, {"jsonrpc": "2.0", "id": 5, "result": {}}).status_code == 202
    assert post(api, rpc("server/discover")).json()["error"]["code"] == -32601


@pytest.mark.parametrize(
    "body",
    [[rpc("ping")], {"id": 1, "method": "ping"}, {"jsonrpc": "2.0"}, "ping", None],
)
def test_what_is_not_one_message_is_a_400_json_refusal(body):
    answer = post(APIClient(), body)
    assert answer.status_code == 400
    assert set(answer.json()) == {"detail"}


def test_not_json_is_refused_as_everywhere():
    answer = APIClient().post("/mcp/", "{not json", content_type="application/json")
    assert answer.status_code == 422 and "JSON parse error" in answer.json()["detail"]


def test_get_and_delete_answer_as_a_stateless_server():
    api = APIClient()
    refused = api.get("/mcp/")
    assert refused.status_code == 405 and "stateless" in refused.json()["detail"]
    assert api.delete("/mcp/").status_code == 404
    assert api.get("/mcp").status_code == 405


def test_a_tenant_sees_its_assistants_and_the_graphs_defaults_not_anothers(
    settings, system_assistant
):
    settings.AUTH_ENABLED = True
    account_selectors.forget_cached_keys()
    assistant_services.assistant_create(graph_id="agent", name="Ours to use", tenant="tenant-a")
    assistant_services.assistant_create(graph_id="agent", name="Theirs", tenant="tenant-b")
    _, key_a = account_services.create_api_key(name="a", tenant="tenant-a")
    try:
        answer = post(APIClient(HTTP_X_API_KEY=key_a), rpc("tools/list"))
        assert APIClient().post("/mcp/", rpc("tools/list"), format="json").status_code == 401
    finally:
        account_selectors.forget_cached_keys()
    tools = {tool["name"]: tool for tool in answer.json()["result"]["tools"]}
    assert set(tools) == {"agent", "Ours_to_use"}
    assert tools["Ours_to_use"]["title"] == "Ours to use"
    assert tools["agent"]["inputSchema"]["type"] == "object"
    assert "nextCursor" not in answer.json()["result"]


def test_tools_list_pages_with_a_cursor(system_assistant, monkeypatch):
    from runs import mcp

    monkeypatch.setattr(mcp, "PAGE_SIZE", 2)
    for n in range(3):
        assistant_services.assistant_create(graph_id="agent", name=f"helper {n}")
    pages, cursor = [], None
    while True:
        page = post(APIClient(), rpc("tools/list", {"cursor": cursor})).json()["result"]
        pages.append([tool["name"] for tool in page["tools"]])
        if "nextCursor" not in page:
            break
        cursor = page["nextCursor"]
    assert pages == [["agent", "helper_0"], ["helper_1", "helper_2"], []]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"name": "nope", "arguments": {}}, "Unknown tool: nope"),
        ({"arguments": {}}, "Unknown tool: None"),
        ({"name": "agent", "arguments": ["x"]}, "arguments must be an object"),
        ({"name": "agent", "arguments": {}, "context": "x"}, "context"),
    ],
)
def test_a_call_refused_is_a_json_rpc_error_and_runs_nothing(system_assistant, params, message):
    answer = post(APIClient(), rpc("tools/call", params, 9))
    assert answer.status_code == 200
    error = answer.json()["error"]
    assert error["code"] == -32602 and message in error["message"]
    assert answer.json()["id"] == 9
    assert not Run.objects.exists()


def test_a_call_creates_one_stateless_run_of_the_assistant(system_assistant):
    answer = APIClient().post(
        "/mcp/", rpc("tools/call", {"name": "agent", "arguments": {"messages": []}}), format="json"
    )
    assert answer.status_code == 200 and answer.streaming
    run = Run.objects.get()
    assert run.assistant_id == system_assistant
    assert run.kwargs["input"] == {"messages": []}
