"""Node caching across executor processes: a node with a ``CachePolicy`` (the ``cached`` graph)
computed by one executor process is served from the cache to a run on another process (the
first one stopped), through the real server and the official ``langgraph-sdk``."""

from __future__ import annotations

import pytest
from langgraph_sdk import get_sync_client

from tests.e2e.processes import start_executor

pytestmark = pytest.mark.e2e


def test_a_cached_node_runs_once_across_two_executor_processes(api_server, tmp_path):
    ledger = tmp_path / "ledger"  # a line per real execution of the node
    (logs := tmp_path / "logs").mkdir()
    with get_sync_client(url=api_server.url, api_key=None) as client:
        for name in ("cache-exec-a", "cache-exec-b"):
            executor = start_executor(api_server.env, logs, name=name)
            try:
                thread = client.threads.create()
                values = client.runs.wait(
                    thread["thread_id"], "cached", input={"ledger": str(ledger), "n": 7}
                )
            finally:
                executor.stop()
            assert values["result"] == 49
    assert ledger.read_text().split() == ["7"], "computed by the first process only"
