"""LangGraph's ``RemoteGraph`` as a subgraph of a local graph: the ``delegating`` graph of one
deployment (the test server and an executor) calls ``simple`` on another (``make dev``'s stack
in a home of its own), through the official SDK both ways.

RemoteGraph runs the remote graph on a thread of the caller's id (``if_not_exists: create``):
against the same deployment that thread is the caller's, busy with the very run that waits for
it, which is why a RemoteGraph subgraph names another deployment, on LangGraph Platform as here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from langgraph_sdk import get_sync_client

from duragraph_site.embedded import free_port
from tests.e2e.processes import start_dev, start_executor, stop, wait_ok

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def test_a_remote_graph_of_another_deployment_runs_as_a_subgraph(api_server, tmp_path):
    config = tmp_path / "langgraph.json"
    config.write_text(json.dumps({"graphs": {"simple": f"{ROOT}/tests/e2e/graphs.py:simple"}}))
    port = free_port()
    remote_url = f"http://127.0.0.1:{port}"
    remote = start_dev(tmp_path / "remote-home", port, env={"DURAGRAPH_CONFIG": str(config)})
    (logs := tmp_path / "logs").mkdir()
    executor = None
    try:
        wait_ok(remote_url, remote, timeout=120)
        env = {**api_server.env, "DURAGRAPH_REMOTE_URL": remote_url}
        executor = start_executor(env, logs, name="remote-graph-exec")
        with (
            get_sync_client(url=api_server.url, api_key=None) as here,
            get_sync_client(url=remote_url, api_key=None) as there,
        ):
            thread = here.threads.create()
            values = here.runs.wait(thread["thread_id"], "delegating", input={"items": ["x"]})
            assert values == {"items": ["x", "a", "b", "local"]}
            # The other deployment ran its graph on a thread of the caller's id.
            assert there.threads.get_state(thread["thread_id"])["values"] == {
                "items": ["x", "a", "b"]
            }

            # Streamed with subgraphs, the remote graph's own steps arrive under the node's
            # namespace, as a local subgraph's would.
            streamed = here.threads.create()
            events = [
                (chunk.event, chunk.data)
                for chunk in here.runs.stream(
                    streamed["thread_id"],
                    "delegating",
                    input={"items": ["y"]},
                    stream_mode="updates",
                    stream_subgraphs=True,
                )
            ]
            nested = [data for event, data in events if event.startswith("updates|remote")]
            assert nested == [{"a": {"items": ["a"]}}, {"b": {"items": ["b"]}}], events
            assert ("updates", {"local": {"items": ["y", "a", "b", "local"]}}) in events
    finally:
        if executor is not None:
            executor.stop()
        stop(remote)
