"""``langgraph.json``'s ``http.disable_<group>`` flags remove LangGraph's route groups, as
LangGraph documents them (read once when the URL table is built); a flag that is not a boolean
fails ``manage.py check``, and the ``http`` keys DuraGraph does not act on are warned about."""

from __future__ import annotations

import importlib
import json
import uuid

import pytest
from django.core import checks
from django.urls import clear_url_caches
from rest_framework.test import APIClient

import duragraph_site.api.urls
import duragraph_site.urls

pytestmark = pytest.mark.django_db


def rebuild_routes() -> None:
    importlib.reload(duragraph_site.api.urls)
    importlib.reload(duragraph_site.urls)
    clear_url_caches()


@pytest.fixture
def configure(tmp_path, monkeypatch):
    """``configure(**http)``: a langgraph.json with that ``http`` section, and the URL table
    built from it; the usual one is rebuilt afterwards."""

    def write(**http) -> None:
        path = tmp_path / "langgraph.json"
        path.write_text(json.dumps({"graphs": {}, "http": http}))
        monkeypatch.setenv("DURAGRAPH_CONFIG", str(path))
        rebuild_routes()

    yield write
    monkeypatch.delenv("DURAGRAPH_CONFIG", raising=False)
    rebuild_routes()


def status(method: str, path: str, body: dict | None = None) -> int:
    return APIClient().generic(method, path, json.dumps(body or {}), "application/json").status_code


def test_disabled_groups_are_gone_at_the_root_and_under_api_v1(configure):
    configure(disable_assistants=True, disable_store=True)
    for prefix in ("", "/api/v1"):
        assert status("POST", f"{prefix}/assistants/search") == 404
        assert status("GET", f"{prefix}/store/items?namespace=a&key=k") == 404
        assert status("POST", f"{prefix}/threads") == 200, "the others stay"
    assert status("GET", "/api/v1/assistants") == 404, "our extras of the group too"
    assert status("GET", "/info") == 200
    refused = APIClient().post("/assistants/search", {}, format="json")
    assert "detail" in refused.json(), "a JSON 404, as for any unknown path"


def test_disable_meta_removes_openapi_docs_info_and_metrics_but_not_ok(configure):
    configure(disable_meta=True)
    for path in ("/openapi.json", "/docs", "/info", "/metrics"):
        assert status("GET", path) == 404, path
    assert status("GET", "/ok") == 200
    assert status("POST", "/threads") == 200


def test_disable_mcp_removes_the_mcp_endpoint(configure):
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    assert status("POST", "/mcp/", ping) == 200
    configure(disable_mcp=True)
    assert status("POST", "/mcp/", ping) == 404
    assert status("POST", "/mcp", ping) == 404
    assert status("POST", "/threads") == 200


def test_disable_a2a_removes_the_agent_and_its_cards(configure):
    body = {"jsonrpc": "2.0", "id": 1, "method": "tasks/get", "params": {"id": "x"}}
    assert status("POST", f"/a2a/{uuid.uuid4()}", body) == 200
    configure(disable_a2a=True)
    assert status("POST", f"/a2a/{uuid.uuid4()}", body) == 404
    assert status("GET", "/.well-known/agent-card.json?assistant_id=x") == 404
    assert status("GET", f"/a2a/{uuid.uuid4()}/.well-known/agent-card.json") == 404
    assert status("POST", "/threads") == 200


def test_threads_and_runs_can_go_too(configure):
    configure(disable_threads=True, disable_runs=True)
    assert status("POST", "/threads") == 404
    assert status("POST", "/runs/crons/search") == 404
    assert status("GET", "/api/v1/runs/00000000-0000-4000-8000-000000000000") == 404
    assert status("POST", "/assistants/search") == 200


@pytest.mark.parametrize("flag", ["disable_event_streaming", "disable_runs"])
def test_protocol_v2_goes_with_its_flag_and_with_the_runs(configure, flag):
    thread_id = uuid.uuid4()
    stream = f"/threads/{thread_id}/stream/events"
    command = {"id": 1, "method": "agent.getTree"}
    assert status("POST", f"/threads/{thread_id}/commands", command) == 200
    configure(**{flag: True})
    for prefix in ("", "/api/v1"):
        assert status("POST", f"{prefix}/threads/{thread_id}/commands", command) == 404
        assert status("POST", prefix + stream, {"channels": ["values"]}) == 404
    assert status("POST", "/threads") == 200


def test_without_flags_every_group_is_served(configure):
    configure()
    assert status("POST", "/assistants/search") == 200
    assert status("GET", "/store/items?namespace=a&key=k") == 200
    assert status("GET", "/info") == 200


def test_a_flag_that_is_not_a_boolean_fails_the_check_and_unsupported_keys_warn(
    tmp_path, monkeypatch
):
    path = tmp_path / "langgraph.json"
    http = {"disable_store": "yes", "middleware_order": "auth_first"}
    path.write_text(json.dumps({"http": http}))
    monkeypatch.setenv("DURAGRAPH_CONFIG", str(path))
    found = {(m.id, m.msg) for m in checks.run_checks() if m.id.startswith("duragraph.")}
    assert found == {
        ("duragraph.E001", "langgraph.json http.disable_store: true or false"),
        (
            "duragraph.W001",
            "langgraph.json http.middleware_order: not supported by DuraGraph, ignored",
        ),
    }


@pytest.mark.parametrize(
    ("app", "source", "message"),
    [
        ("./app.py:app", None, "could not be loaded"),
        ("./app.py:app", "raise RuntimeError('broken at import')", "broken at import"),
        ("./app.py:missing", "app = 1", "could not be loaded"),
        ("./app.py:app", "app = object()", "a Starlette or FastAPI app, got object"),
        ("no-colon", None, "http.app: './path/app.py:app'"),
    ],
)
def test_a_custom_app_that_does_not_load_fails_the_check(
    tmp_path, monkeypatch, app, source, message
):
    if source is not None:
        (tmp_path / "app.py").write_text(source)
    path = tmp_path / "langgraph.json"
    path.write_text(json.dumps({"http": {"app": app}}))
    monkeypatch.setenv("DURAGRAPH_CONFIG", str(path))
    errors = [m.msg for m in checks.run_checks() if m.id == "duragraph.E001"]
    assert len(errors) == 1 and message in errors[0]


# -- http.configurable_headers ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        (["x-*"], "http.configurable_headers: an object"),
        ({"include": ["x-*"], "other": []}, "unknown keys ['other']"),
        ({"includes": "x-*"}, "http.configurable_headers.includes: a list of header names"),
        ({"excludes": ["x-a", ""]}, "http.configurable_headers.excludes: a list of header names"),
    ],
)
def test_malformed_configurable_headers_fail_the_check(tmp_path, monkeypatch, headers, message):
    path = tmp_path / "langgraph.json"
    path.write_text(json.dumps({"http": {"configurable_headers": headers}}))
    monkeypatch.setenv("DURAGRAPH_CONFIG", str(path))
    errors = [m.msg for m in checks.run_checks() if m.id.startswith("duragraph.")]
    assert len(errors) == 1 and message in errors[0], errors


@pytest.mark.parametrize(
    "path",
    ["/threads/{thread_id}/runs", "/runs", "/api/v1/threads/{thread_id}/runs"],
)
def test_a_run_s_configurable_takes_the_headers_the_patterns_name(
    configure, assistant, thread, path
):
    configure(configurable_headers={"include": ["x-user-*", "x-api-key"], "exclude": ["*-raw"]})
    response = APIClient().post(
        path.format(thread_id=thread.thread_id),
        {"assistant_id": str(assistant.assistant_id), "config": {"configurable": {"a": 1}}},
        format="json",
        headers={"X-User-Id": "ada", "X-User-Raw": "no", "X-Api-Key": "secret", "X-Other": "no"},
    )
    assert response.status_code == 200, response.content
    kwargs = response.json()["kwargs"]
    assert kwargs["config"]["configurable"] == {"a": 1, "x-user-id": "ada"}
    assert kwargs["context"] == {"a": 1}


def test_without_patterns_a_run_takes_no_header(configure, assistant, thread):
    configure()
    response = APIClient().post(
        f"/threads/{thread.thread_id}/runs",
        {"assistant_id": str(assistant.assistant_id)},
        format="json",
        headers={"X-User-Id": "ada", "User-Agent": "sdk"},
    )
    assert response.json()["kwargs"]["config"]["configurable"] == {}


# -- http.mount_prefix ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "error"),
    [
        ("/lg", None),
        ("/my-api/v1/", None),
        ("", None),
        ("lg", "http.mount_prefix: a path such as '/my-api'"),
        ("/", "http.mount_prefix: a path such as '/my-api'"),
        ("/a//b", "http.mount_prefix: a path such as '/my-api'"),
        ("/a/../b", "http.mount_prefix: a path such as '/my-api'"),
        ("/a b", "http.mount_prefix: a path such as '/my-api'"),
        (5, "http.mount_prefix: a path such as '/my-api'"),
        ("/noauth", "'/noauth' is reserved"),
    ],
)
def test_the_mount_prefix_is_checked(tmp_path, monkeypatch, prefix, error):
    path = tmp_path / "langgraph.json"
    path.write_text(json.dumps({"http": {"mount_prefix": prefix}}))
    monkeypatch.setenv("DURAGRAPH_CONFIG", str(path))
    messages = [m.msg for m in checks.run_checks() if m.id.startswith("duragraph.")]
    if error is None:
        assert messages == []
    else:
        assert len(messages) == 1 and error in messages[0], messages


@pytest.mark.parametrize(
    ("http", "found"),
    [
        ({"disable_webhooks": "yes"}, ("duragraph.E001", "http.disable_webhooks: true or false")),
        ({"disable_webhooks": True}, None),
        ({"disable_ui": True}, None),  # the UI is not served: nothing to warn about
        ({"disable_ui": False}, ("duragraph.W001", "http.disable_ui: not supported")),
    ],
)
def test_disable_webhooks_is_checked_and_disable_ui_warns_only_when_it_asks_for_the_ui(
    tmp_path, monkeypatch, http, found
):
    path = tmp_path / "langgraph.json"
    path.write_text(json.dumps({"http": http}))
    monkeypatch.setenv("DURAGRAPH_CONFIG", str(path))
    messages = [(m.id, m.msg) for m in checks.run_checks() if m.id.startswith("duragraph.")]
    if found is None:
        assert messages == []
    else:
        assert len(messages) == 1 and messages[0][0] == found[0] and found[1] in messages[0][1]
