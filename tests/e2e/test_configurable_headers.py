"""``langgraph.json``'s ``http.configurable_headers``, as a user sets it up: ``make dev``'s stack,
the official SDK sending headers with every request, and a graph that reads them from its
``config.configurable``: those the patterns include and do not exclude reach it, credentials
never do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from langgraph_sdk import get_sync_client

from duragraph_site.embedded import free_port
from tests.e2e.processes import start_dev, stop, wait_ok

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e

SENT = {
    "X-User-Id": "ada",
    "X-Org-Name": "analytical",
    "X-Org-Secret": "hidden",
    "X-Api-Key": "lsv2-not-for-graphs",
    "X-Other": "unlisted",
    "Langsmith-Trace": "20261207T000000000000Zabc.def",
}
NAMES = [
    "x-user-id",
    "x-org-name",
    "x-org-secret",
    "x-api-key",
    "x-other",
    "user-agent",
    "langsmith-trace",
]


def test_the_headers_the_patterns_name_reach_the_graph_s_configurable(tmp_path):
    config = tmp_path / "langgraph.json"
    patterns = {"includes": ["x-user-*", "x-org-*", "x-api-key"], "excludes": ["x-org-secret"]}
    config.write_text(
        json.dumps(
            {
                "graphs": {"headers": f"{ROOT / 'tests' / 'e2e' / 'graphs.py'}:headers"},
                "http": {"configurable_headers": patterns},
            }
        )
    )
    home, port = tmp_path / "home", free_port()
    base = f"http://127.0.0.1:{port}"
    dev = start_dev(home, port, env={"DURAGRAPH_CONFIG": str(config)})
    try:
        wait_ok(base, dev, timeout=120)
        with get_sync_client(url=base, api_key=None, headers=SENT) as client:
            thread = client.threads.create()
            state = client.runs.wait(thread["thread_id"], "headers", input={"names": NAMES})
            stateless = client.runs.wait(None, "headers", input={"names": NAMES})
            run = client.runs.list(thread["thread_id"])[0]
    finally:
        output = stop(dev)
    expected = {
        "x-user-id": "ada",
        "x-org-name": "analytical",
        "x-org-secret": None,  # excluded
        "x-api-key": None,  # a credential, included or not
        "x-other": None,  # not included
        "user-agent": None,  # not included (LangGraph's default copies nothing)
        "langsmith-trace": SENT["Langsmith-Trace"],  # tracing, always
    }
    assert state["seen"] == expected
    assert stateless["seen"] == expected
    # Stored with the run, so a replay runs with the same configuration; context stays the body's.
    assert run["kwargs"]["config"]["configurable"]["x-user-id"] == "ada"
    assert "x-user-id" not in run["kwargs"]["context"]
    assert "duragraph.W001" not in output, "configurable_headers is acted on"
