"""Durable execution through the official client: real daphne, Celery executor and scheduler.

Runs execute in a Celery worker process (the built-in executor), the scheduler is ``manage.py scheduler``;
everything talks to the same PostgreSQL. The client is langgraph-sdk, unchanged.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from langgraph_sdk import get_sync_client
from langgraph_sdk.errors import ConflictError, NotFoundError

from tests.e2e.processes import FAST_RECOVERY, start_executor, start_scheduler, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(api_server, tmp_path_factory):
    """One executor (4 concurrent runs) and the scheduler, for the whole module."""
    env = {**api_server.env, **FAST_RECOVERY}
    logs = tmp_path_factory.mktemp("execution-logs")
    scheduler = start_scheduler(env, logs)
    executor = start_executor(env, logs, name="exec-sdk", concurrency=4)
    yield api_server
    executor.stop()
    scheduler.stop()


@pytest.fixture
def client(stack):
    client = get_sync_client(url=stack.url, api_key=None)
    yield client
    client.http.client.close()


def test_wait_on_a_two_node_graph_returns_the_final_values(client):
    thread = client.threads.create()
    result = client.runs.wait(thread["thread_id"], "simple", input={"items": ["x"]})
    assert result == {"items": ["x", "a", "b"]}
    [run] = client.runs.list(thread["thread_id"])
    assert run["status"] == "success"
    refreshed = client.threads.get(thread["thread_id"])
    assert (refreshed["status"], refreshed["values"]) == ("idle", {"items": ["x", "a", "b"]})
    assert refreshed["metadata"]["graph_id"] == "simple"


def test_stateless_wait(client):
    assert client.runs.wait(None, "simple", input={"items": []}) == {"items": ["a", "b"]}


def test_state_and_history_match_the_run(client):
    thread = client.threads.create()
    client.runs.wait(thread["thread_id"], "simple", input={"items": ["x"]})
    state = client.threads.get_state(thread["thread_id"])
    assert state["values"] == {"items": ["x", "a", "b"]}
    assert state["next"] == [] and state["tasks"] == []
    assert state["checkpoint"]["thread_id"] == thread["thread_id"]
    history = client.threads.get_history(thread["thread_id"])
    # input checkpoint, then one per superstep: START, a, b (LangGraph: N + 2 for N nodes)
    assert len(history) == 4
    assert [h["metadata"]["source"] for h in history] == ["loop", "loop", "loop", "input"]
    assert [h["values"].get("items") for h in history] == [["x", "a", "b"], ["x", "a"], ["x"], []]
    assert history[0]["checkpoint"] == state["checkpoint"]
    assert history[0]["parent_checkpoint"] == history[1]["checkpoint"]
    at_checkpoint = client.threads.get_state(
        thread["thread_id"], checkpoint_id=history[1]["checkpoint"]["checkpoint_id"]
    )
    assert at_checkpoint["values"] == {"items": ["x", "a"]} and at_checkpoint["next"] == ["b"]
    limited = client.threads.get_history(
        thread["thread_id"], limit=2, before=history[0]["checkpoint"]
    )
    assert [h["checkpoint"] for h in limited] == [
        history[1]["checkpoint"],
        history[2]["checkpoint"],
    ]


def test_a_threads_storage_counts_its_checkpoints_and_channels(client):
    thread = client.threads.create()
    client.runs.wait(thread["thread_id"], "simple", input={"items": ["x"]})
    storage = client.http.get(f"/threads/{thread['thread_id']}/storage")
    assert storage["thread_id"] == thread["thread_id"]
    assert storage["checkpoints"]["count"] == 4  # input, START, a, b
    assert storage["checkpoints"]["bytes"] > 0
    # The JSON state of each checkpoint by channel: "items" in three (the input one has none).
    items = storage["channel_values"]["by_channel"]["items"]
    assert items == {"versions": 3, "bytes": len('["x"]["x", "a"]["x", "a", "b"]')}
    assert storage["pending_writes"]["count"] > 0 and storage["pending_writes"]["bytes"] > 0
    assert storage["total_bytes"] == (
        storage["checkpoints"]["bytes"]
        + storage["channel_values"]["bytes"]
        + storage["pending_writes"]["bytes"]
    )
    with pytest.raises(NotFoundError):
        client.http.get(f"/threads/{uuid.uuid4()}/storage")


def test_interrupt_then_resume_with_command(client):
    thread = client.threads.create()
    result = client.runs.wait(thread["thread_id"], "approval", input={"request": "deploy"})
    assert result["request"] == "deploy"
    [interrupt] = result["__interrupt__"]
    assert interrupt["value"] == {"question": "Approve deploy?"}
    parked = client.threads.get(thread["thread_id"])
    assert parked["status"] == "interrupted"
    assert [i["value"] for items in parked["interrupts"].values() for i in items] == [
        {"question": "Approve deploy?"}
    ]
    assert client.threads.get_state(thread["thread_id"])["next"] == ["ask"]

    resumed = client.runs.wait(thread["thread_id"], "approval", command={"resume": "approved"})
    assert resumed == {"request": "deploy", "decision": "approved"}
    assert client.threads.get(thread["thread_id"])["status"] == "idle"


def test_breakpoint_then_continue_with_no_input(client):
    thread = client.threads.create()
    result = client.runs.wait(
        thread["thread_id"], "simple", input={"items": []}, interrupt_before=["b"]
    )
    assert result == {"items": ["a"]}
    assert client.threads.get(thread["thread_id"])["status"] == "interrupted"
    assert client.threads.get_state(thread["thread_id"])["next"] == ["b"]
    assert client.runs.wait(thread["thread_id"], "simple", input=None) == {"items": ["a", "b"]}


def test_update_state_then_a_new_run_continues_from_it(client):
    thread = client.threads.create()
    client.runs.wait(thread["thread_id"], "simple", input={"items": ["x"]})
    updated = client.threads.update_state(thread["thread_id"], {"items": ["edited"]}, as_node="b")
    assert updated["checkpoint"]["thread_id"] == thread["thread_id"]
    assert client.threads.get_state(thread["thread_id"])["values"] == {
        "items": ["x", "a", "b", "edited"]
    }
    result = client.runs.wait(thread["thread_id"], "simple", input={"items": ["y"]})
    assert result == {"items": ["x", "a", "b", "edited", "y", "a", "b"]}


def test_a_run_from_an_older_checkpoint_forks(client):
    thread = client.threads.create()
    client.runs.wait(thread["thread_id"], "simple", input={"items": ["x"]})
    history = client.threads.get_history(thread["thread_id"])
    after_a = next(h for h in history if h["values"].get("items") == ["x", "a"])
    forked = client.runs.wait(
        thread["thread_id"],
        "simple",
        input=None,
        checkpoint_id=after_a["checkpoint"]["checkpoint_id"],
    )
    assert forked == {"items": ["x", "a", "b"]}
    new_history = client.threads.get_history(thread["thread_id"], limit=100)
    by_id = {h["checkpoint"]["checkpoint_id"]: h for h in new_history}
    lineage, current = [], new_history[0]
    while current["parent_checkpoint"]:
        lineage.append(current["checkpoint"]["checkpoint_id"])
        current = by_id[current["parent_checkpoint"]["checkpoint_id"]]
    # The new branch grows from the fork point; the old head is not an ancestor of the new one.
    assert after_a["checkpoint"]["checkpoint_id"] in lineage
    assert history[0]["checkpoint"]["checkpoint_id"] not in lineage
    assert len(new_history) > len(history)


def _slow_input(tmp_path, seconds: float) -> dict:
    return {"path": str(tmp_path / f"{uuid.uuid4()}.log"), "sleep": seconds}


def _wait_status(
    client, thread_id: str, run_id: str, statuses: set[str], timeout: float = 30
) -> dict:
    return wait_for(
        lambda: (run := client.runs.get(thread_id, run_id))["status"] in statuses and run,
        timeout=timeout,
        what=f"run {run_id} to reach {statuses}",
    )


def test_multitask_reject(client, tmp_path):
    thread = client.threads.create()
    first = client.runs.create(thread["thread_id"], "effects", input=_slow_input(tmp_path, 1))
    with pytest.raises(ConflictError, match="already running a task"):
        client.runs.create(
            thread["thread_id"],
            "effects",
            input=_slow_input(tmp_path, 0),
            multitask_strategy="reject",
        )
    assert client.runs.join(thread["thread_id"], first["run_id"])["log"] == ["first", "slow"]


def test_multitask_enqueue_runs_one_after_the_other(client, tmp_path):
    thread = client.threads.create()
    first = client.runs.create(thread["thread_id"], "effects", input=_slow_input(tmp_path, 1))
    second = client.runs.create(
        thread["thread_id"], "effects", input=_slow_input(tmp_path, 0), multitask_strategy="enqueue"
    )
    assert client.runs.get(thread["thread_id"], second["run_id"])["status"] == "pending"
    result = client.runs.join(thread["thread_id"], second["run_id"])
    assert result["log"] == [
        "first",
        "slow",
        "first",
        "slow",
    ]  # ran on top of the first run's state
    first_done = client.runs.get(thread["thread_id"], first["run_id"])
    second_done = client.runs.get(thread["thread_id"], second["run_id"])
    assert (first_done["status"], second_done["status"]) == ("success", "success")
    assert first_done["updated_at"] <= second_done["updated_at"]


def test_multitask_interrupt_keeps_the_old_run_interrupted(client, tmp_path):
    thread = client.threads.create()
    first = client.runs.create(thread["thread_id"], "effects", input=_slow_input(tmp_path, 2))
    _wait_status(client, thread["thread_id"], first["run_id"], {"running"})
    second = client.runs.create(
        thread["thread_id"],
        "effects",
        input=_slow_input(tmp_path, 0),
        multitask_strategy="interrupt",
    )
    client.runs.join(thread["thread_id"], second["run_id"])
    interrupted = client.runs.get(thread["thread_id"], first["run_id"])
    assert interrupted["status"] == "interrupted"
    assert client.runs.get(thread["thread_id"], second["run_id"])["status"] == "success"


def test_multitask_rollback_deletes_the_old_run_and_its_checkpoints(client, tmp_path):
    thread = client.threads.create()
    first = client.runs.create(thread["thread_id"], "effects", input=_slow_input(tmp_path, 2))
    _wait_status(client, thread["thread_id"], first["run_id"], {"running"})
    wait_for(
        lambda: client.threads.get_history(thread["thread_id"]),
        timeout=10,
        what="the first run's checkpoints",
    )
    second = client.runs.create(
        thread["thread_id"],
        "effects",
        input=_slow_input(tmp_path, 0),
        multitask_strategy="rollback",
    )
    result = client.runs.join(thread["thread_id"], second["run_id"])
    assert result["log"] == ["first", "slow"]  # nothing left of the first run's state
    with pytest.raises(NotFoundError):
        client.runs.get(thread["thread_id"], first["run_id"])
    history = client.threads.get_history(thread["thread_id"], limit=100)
    assert {h["metadata"]["run_id"] for h in history} == {second["run_id"]}


def test_cancel_stops_a_running_run_at_its_next_step(client, tmp_path):
    thread = client.threads.create()
    run = client.runs.create(thread["thread_id"], "effects", input=_slow_input(tmp_path, 1.5))
    _wait_status(client, thread["thread_id"], run["run_id"], {"running"})
    client.runs.cancel(thread["thread_id"], run["run_id"])
    assert client.runs.get(thread["thread_id"], run["run_id"])["status"] == "interrupted"
    time.sleep(2)  # the executor finishes its node, then its writes are refused
    state = client.threads.get_state(thread["thread_id"])
    assert "slow" not in state["values"].get("log", [])
    assert client.threads.get(thread["thread_id"])["status"] == "idle"


def test_a_failing_graph_ends_in_error_with_the_reason(client):
    thread = client.threads.create()
    result = client.runs.wait(
        thread["thread_id"], "effects", input={"path": "/nonexistent-dir/x.log"}, raise_error=False
    )
    assert result["__error__"]["error"] == "FileNotFoundError"
    [run] = client.runs.list(thread["thread_id"])
    assert run["status"] == "error"
    failed = client.threads.get(thread["thread_id"])
    assert failed["status"] == "error" and failed["error"]["error"] == "FileNotFoundError"


def test_after_seconds_delays_the_start(client):
    thread = client.threads.create()
    created = time.monotonic()
    run = client.runs.create(thread["thread_id"], "simple", input={"items": []}, after_seconds=1.5)
    assert client.runs.get(thread["thread_id"], run["run_id"])["status"] == "pending"
    client.runs.join(thread["thread_id"], run["run_id"])
    assert time.monotonic() - created >= 1.5


class _Hooks(http.server.BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hooks.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_webhook_is_posted_when_the_run_ends(client):
    server = http.server.HTTPServer(("127.0.0.1", 0), _Hooks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        thread = client.threads.create()
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        run = client.runs.create(thread["thread_id"], "simple", input={"items": []}, webhook=url)
        client.runs.join(thread["thread_id"], run["run_id"])
        [hook] = wait_for(
            lambda: [h for h in _Hooks.received if h["run_id"] == run["run_id"]],
            timeout=15,
            what="the webhook",
        )
        assert hook["status"] == "success" and hook["values"] == {"items": ["a", "b"]}
        assert hook["kwargs"]["webhook"] == url
    finally:
        server.shutdown()
        server.server_close()


def test_a_cron_creates_its_runs_on_schedule(client, django_db_blocker):
    from runs.models import Cron

    thread = client.threads.create()
    # Yearly: made due below, it fires once, and its next time is far away (every minute
    # would fire again if the test ran across a minute's boundary).
    cron = client.crons.create_for_thread(
        thread["thread_id"], "simple", schedule="0 0 1 1 *", input={"items": ["tick"]}
    )
    assert datetime.fromisoformat(cron["next_run_date"]) > datetime.now(UTC)
    # Make it due now instead of waiting for the next minute.
    with django_db_blocker.unblock():
        Cron.objects.filter(cron_id=cron["cron_id"]).update(
            next_run_date=datetime.now(UTC) - timedelta(seconds=1)
        )
    [run] = wait_for(
        lambda: client.runs.list(thread["thread_id"]), timeout=15, what="the cron's run"
    )
    assert run["metadata"]["cron_id"] == cron["cron_id"]
    client.runs.join(thread["thread_id"], run["run_id"])
    time.sleep(1.5)  # a few more scheduler ticks: still exactly one run
    assert len(client.runs.list(thread["thread_id"])) == 1
    [after] = client.crons.search(thread_id=thread["thread_id"])
    assert datetime.fromisoformat(after["next_run_date"]) > datetime.now(UTC)
    client.crons.delete(cron["cron_id"])
