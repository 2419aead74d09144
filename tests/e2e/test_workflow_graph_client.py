"""workflow-graph's own TypeScript client (``WorkflowClient``, run by Node.js as its users run
it: ``tests/e2e/fixtures/workflow_graph_client``) against a real server and jobs worker: it
creates a workflow in its runtime shape, lists it, runs it, streams a job's log to its end over
SSE, polls the status until every job is over, reads a log, lists the workers, and gets its
``WorkflowApiError`` with the status for an unknown workflow."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.e2e.processes import start, start_api_server

pytestmark = pytest.mark.e2e

CLIENT = Path(__file__).parent / "fixtures" / "workflow_graph_client"


@pytest.fixture
def server(server_env, tmp_path):
    (logs := tmp_path / "logs").mkdir()
    api, url = start_api_server("api", server_env, logs)
    argv = [sys.executable, "-m", "workflows.worker", "--server", url, "--labels", "linux"]
    argv += ["--worker-id", "ts-client-worker", "--poll-interval", "0.1"]
    argv += ["--log-batch-interval", "0.1"]
    worker = start("worker", argv, server_env, logs)
    yield url
    worker.stop()
    api.stop()


def test_workflow_graphs_typescript_client_works_unchanged(server):
    node = shutil.which("node")
    assert node, "Node.js runs workflow-graph's client (it is on the machines CI uses)"
    finished = subprocess.run(
        [node, "drive.js", server], cwd=CLIENT, capture_output=True, text=True, timeout=180
    )
    assert finished.returncode == 0, finished.stderr
    out = json.loads(finished.stdout)

    created = out["created"]
    workflow_id = created["id"]
    uuid.UUID(workflow_id)  # workflow-graph's runtime create names it with a new uuid
    assert created["name"] == "From the TypeScript client"
    assert [(job["id"], job["depends_on"]) for job in created["jobs"]] == [
        ("build", []),
        ("test", ["build"]),
    ]
    assert workflow_id in out["listed"]

    # The build job's log, streamed to its end: every line, in order, of that job.
    streamed = out["streamed"]
    assert [chunk["data"].strip() for chunk in streamed][:1] == ["building"]
    assert {(c["workflow_id"], c["job_id"], c["stream"]) for c in streamed} == {
        (workflow_id, "build", "stdout")
    }
    sequences = [chunk["sequence"] for chunk in streamed]
    assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)

    status = out["status"]
    assert status["id"] == workflow_id
    assert {job["id"]: job["status"] for job in status["jobs"]} == {
        "build": "success",
        "test": "success",
    }
    assert [chunk["data"].strip() for chunk in out["logs"]] == ["tested"]
    (worker,) = [w for w in out["workers"] if w["worker_id"] == "ts-client-worker"]
    assert worker["labels"] == ["linux"]
    assert worker["status"] in ("idle", "busy")

    unknown = out["cancelUnknown"]
    assert unknown["isApiError"] and unknown["status"] == 404, unknown
    assert "cancelWorkflow(no-such-workflow): 404" in unknown["message"]
