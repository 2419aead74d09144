"""Remote workers: real ``duragraph==0.3.3`` worker processes (tests/e2e/remote_worker.py, in the
SDK's own virtualenv) against a real daphne, driven through the official ``langgraph-sdk``.

The SDK knobs are turned for speed, never its code: workers poll every 50 ms and heartbeat
every 0.5 s, so a worker that goes silent is declared lost after 1.5 s (3 intervals), and the
reaper runs every 0.5 s (``FAST_RECOVERY``). ``EFFECTS_FILE`` collects one line per node
execution, ``<worker> <node> <tag>``: the ground truth of what ran where, and how often.
"""

from __future__ import annotations

import signal
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest
from langgraph_sdk import get_sync_client

from assistants.domain import system_assistant_id
from tests.e2e.processes import (
    FAST_RECOVERY,
    Process,
    start_api_server,
    start_executor,
    start_remote_worker,
    start_scheduler,
    wait_for,
)

pytestmark = pytest.mark.e2e

HELLO = str(system_assistant_id("remote_hello"))


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("remote-worker-logs")


@pytest.fixture(scope="module")
def stack(api_server, logs):
    """Own daphne (remote heartbeats assumed every 0.5 s until measured), the scheduler, and
    an executor for the periodic jobs (it serves none of the remote graphs)."""
    env = {**api_server.env, **FAST_RECOVERY, "DURAGRAPH_REMOTE_HEARTBEAT_SECONDS": "0.5"}
    server, url = start_api_server("remote-daphne", env, logs)
    scheduler = start_scheduler(env, logs)
    housekeeper = start_executor(
        {**env, "DURAGRAPH_EXECUTOR_GRAPHS": "simple"}, logs, name="housekeeper"
    )
    yield url
    for process in (housekeeper, scheduler, server):
        process.stop()


@pytest.fixture
def effects(tmp_path) -> Path:
    path = tmp_path / "effects.log"
    path.touch()
    return path


@pytest.fixture
def workers(stack, logs, effects):
    """Start SDK workers on demand (``workers(name)``); all are stopped after the test."""
    started: list[Process] = []

    def start_one(name: str, **options) -> Process:
        process = start_remote_worker(name, url=stack, log_dir=logs, effects=effects, **options)
        started.append(process)
        return process

    yield start_one
    for process in started:
        process.stop()


@pytest.fixture
def client(stack):
    client = get_sync_client(url=stack, api_key=None)
    yield client
    client.http.client.close()


def lines(effects: Path) -> list[tuple[str, str, str]]:
    return [tuple(line.split(" ", 2)) for line in effects.read_text().splitlines()]


def wait_for_status(client, thread_id: str, run_id: str, status: str, timeout: float = 60):
    return wait_for(
        lambda: (r := client.runs.get(thread_id, run_id))["status"] == status and r,
        timeout=timeout,
        what=f"run {run_id} to be {status}",
    )


def start_slow_run(client, event_log, *, sleep: float, tag: str) -> tuple[dict, dict]:
    """A ``remote_hello`` run on a new thread, once its slow second node has started."""
    thread = client.threads.create()
    run = client.runs.create(
        thread["thread_id"], "remote_hello", input={"sleep": sleep, "tag": tag}
    )
    wait_for(
        lambda: any(e.payload.get("node") == "farewell" for e in event_log(run["run_id"])),
        timeout=30,
        what="the slow node to start",
    )
    return thread, run


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def test_an_sdk_worker_runs_a_langgraph_sdk_run_to_success(
    workers, client, stack, effects, event_log
):
    name = unique_name("hello")
    workers(name)
    registered = httpx.get(f"{stack}/api/v1/workers/{name}").json()
    assert registered["status"] == "online" and set(registered["graph_ids"]) >= {"remote_hello"}
    graph = client.assistants.get_graph(HELLO)
    assert {(e["source"], e["target"]) for e in graph["edges"]} == {
        ("__start__", "greet"),
        ("greet", "farewell"),
        ("farewell", "__end__"),
    }

    thread = client.threads.create()
    values = client.runs.wait(thread["thread_id"], "remote_hello", input={"name": "Django"})
    assert values == {"name": "Django", "greeting": "Hello, Django!", "farewell": "bye"}
    [run] = client.runs.list(thread["thread_id"])
    assert (run["status"], run["assistant_id"]) == ("success", HELLO)
    state = client.threads.get_state(thread["thread_id"])
    assert state["values"] == values and state["next"] == []
    assert [
        h["values"].get("greeting") for h in client.threads.get_history(thread["thread_id"])
    ] == [
        "Hello, Django!",
        "Hello, Django!",
    ]
    log = event_log(run["run_id"])
    assert [(e.type, e.payload.get("node")) for e in log if e.type.startswith(("Node", "Run"))] == [
        ("RunCreated", None),
        ("RunStarted", None),
        ("RunOutputStreamed", None),
        ("NodeStarted", "greet"),
        ("NodeCompleted", "greet"),
        ("RunOutputStreamed", None),
        ("RunOutputStreamed", None),
        ("NodeStarted", "farewell"),
        ("NodeCompleted", "farewell"),
        ("RunOutputStreamed", None),
        ("RunOutputStreamed", None),
        ("RunCompleted", None),
    ]
    assert {e.metadata.get("worker_id") for e in log if e.type == "RunStarted"} == {name}
    assert Counter(node for _, node, _ in lines(effects)) == {"greet": 1, "farewell": 1}

    # Stateless, and a node that raises.
    assert client.runs.wait(None, "remote_hello", input={"name": "Ada"})["farewell"] == "bye"
    failed_thread = client.threads.create()
    with pytest.raises(Exception, match="WorkerError: boom: test"):
        client.runs.wait(failed_thread["thread_id"], "remote_boom", input={"why": "test"})
    [failed] = client.runs.list(failed_thread["thread_id"])
    assert failed["status"] == "error"


@pytest.mark.parametrize(
    "option, field",
    [
        ({"interrupt_before": ["farewell"]}, "interrupt_before"),
        ({"interrupt_after": ["greet"]}, "interrupt_after"),
        ({"checkpoint_id": "1f0a0000-0000-6000-8000-000000000000"}, "checkpoint_id"),
        ({"command": {"goto": "farewell"}}, "command.goto"),
    ],
    ids=["interrupt_before", "interrupt_after", "checkpoint_id", "command.goto"],
)
def test_what_the_worker_could_not_honour_is_refused_through_the_sdk(
    workers, client, effects, option, field
):
    workers(unique_name("refuser"))
    thread = client.threads.create()
    with pytest.raises(httpx.HTTPStatusError) as refused:
        client.runs.create(thread["thread_id"], "remote_hello", input={"name": "x"}, **option)
    assert refused.value.response.status_code == 422
    detail = refused.value.response.json()["detail"]
    assert detail.startswith(f"{field}: not supported for graph 'remote_hello'"), detail
    assert client.runs.list(thread["thread_id"]) == []
    # The same run without it is served as ever.
    values = client.runs.wait(thread["thread_id"], "remote_hello", input={"name": "x"})
    assert values["farewell"] == "bye"
    assert Counter(node for _, node, _ in lines(effects)) == {"greet": 1, "farewell": 1}


def test_a_human_node_interrupts_and_the_resume_payload_reaches_the_worker(workers, client):
    workers(unique_name("review"))
    thread = client.threads.create()
    client.runs.wait(thread["thread_id"], "remote_review", input={"topic": "leases"})
    assert client.threads.get(thread["thread_id"])["status"] == "interrupted"
    [parked] = client.runs.list(thread["thread_id"])
    assert parked["status"] == "interrupted"
    [interrupt] = client.threads.get_state(thread["thread_id"])["interrupts"]
    assert interrupt["value"] == {"action_type": "human_review", "prompt": "Approve the draft?"}

    # The SDK cannot resume: it starts over from the entry point, with the resume value in its
    # input, and stops at the human node again.
    client.runs.wait(thread["thread_id"], "remote_review", command={"resume": "approved"})
    values = client.threads.get_state(thread["thread_id"])["values"]
    assert (values["seen_resume"], values["draft"]) == ("approved", "about leases")


@pytest.mark.parametrize("restart", ["same-name", "another-worker"])
def test_sigkill_of_a_worker_mid_node_hands_its_run_to_the_next_one(
    workers, client, effects, event_log, restart
):
    name = unique_name("doomed")
    doomed = workers(name)
    thread, run = start_slow_run(client, event_log, sleep=2, tag="t1")
    doomed.signal(signal.SIGKILL)
    doomed.popen.wait()
    # A worker with the same name is the same worker restarted: it hands the run back when it
    # registers. Another worker gets it once the dead one is declared lost (3 heartbeats).
    successor = name if restart == "same-name" else unique_name("successor")
    workers(successor)
    done = wait_for_status(client, thread["thread_id"], run["run_id"], "success")
    assert done["attempt"] == 2
    assert client.threads.get_state(thread["thread_id"])["values"]["farewell"] == "bye"
    log = event_log(run["run_id"])
    [retried] = [e for e in log if e.type == "RunRetried"]
    why = (
        "registered again (a new process)" if restart == "same-name" else "was lost (no heartbeat)"
    )
    assert f"worker '{name}' {why} during attempt 1" in retried.payload["reason"]
    assert [e.type for e in log].count("RunCompleted") == 1
    # The dead worker never finished the slow node; the SDK cannot resume, so greet ran again.
    assert Counter(lines(effects)) == Counter(
        [(name, "greet", "t1"), (successor, "greet", "t1"), (successor, "farewell", "t1")]
    )


def test_a_run_whose_workers_keep_dying_ends_in_error_after_its_attempts(
    workers, client, event_log
):
    thread = client.threads.create()
    run = client.runs.create(thread["thread_id"], "remote_hello", input={"sleep": 30})

    def slow_nodes_started() -> int:
        log = event_log(run["run_id"])
        return sum(e.type == "NodeStarted" and e.payload["node"] == "farewell" for e in log)

    for attempt in range(1, 4):  # the default budget is 3 attempts
        doomed = workers(unique_name(f"doomed{attempt}"))
        wait_for(
            lambda: slow_nodes_started() >= attempt,  # noqa: B023 (called within the iteration)
            timeout=30,
            what=f"attempt {attempt} to reach the slow node",
        )
        doomed.signal(signal.SIGKILL)
        doomed.popen.wait()
    failed = wait_for_status(client, thread["thread_id"], run["run_id"], "error")
    assert failed["attempt"] == 3
    assert client.threads.get(thread["thread_id"])["status"] == "error"
    error = client.runs.join(thread["thread_id"], run["run_id"])["__error__"]
    assert error["error"] == "LeaseExpired"
    assert (
        "was lost (no heartbeat) during attempt 3; no attempts left (3 allowed)" in error["message"]
    )


def test_a_stale_workers_events_are_refused_with_409_and_change_nothing(
    workers, client, stack, effects, event_log
):
    frozen_name = unique_name("frozen")
    frozen = workers(frozen_name)
    thread, run = start_slow_run(client, event_log, sleep=1.5, tag="stale")
    frozen.signal(signal.SIGSTOP)  # silent: declared lost, its run goes to the successor
    successor = unique_name("successor")
    workers(successor)
    wait_for_status(client, thread["thread_id"], run["run_id"], "success")
    settled = event_log(run["run_id"])

    frozen.signal(signal.SIGCONT)  # it finishes its node and reports it: too late
    wait_for(
        lambda: (frozen_name, "farewell", "stale") in lines(effects),
        timeout=30,
        what="the frozen worker to finish its node",
    )
    wait_for(
        lambda: httpx.get(f"{stack}/api/v1/workers/{frozen_name}").json()["status"] == "online",
        timeout=30,
        what="the frozen worker to register again",
    )
    # Its own report, replayed by hand, is refused with 409 and writes nothing.
    late = httpx.post(
        f"{stack}/api/v1/workers/{frozen_name}/events",
        json={"run_id": run["run_id"], "event_type": "run_completed", "data": {"output": {"x": 1}}},
    )
    assert late.status_code == 409 and frozen_name in late.json()["detail"]
    assert event_log(run["run_id"]) == settled
    assert client.threads.get_state(thread["thread_id"])["values"].get("x") is None
    assert client.runs.get(thread["thread_id"], run["run_id"])["status"] == "success"


def test_three_workers_complete_300_runs_each_exactly_once(workers, client, effects, event_log):
    names = [unique_name(f"fleet{i}") for i in range(3)]
    for name in names:
        workers(name)
    tags = [f"r{i}" for i in range(300)]
    runs = client.runs.create_batch(
        [
            {"assistant_id": "remote_hello", "input": {"tag": tag}, "on_completion": "keep"}
            for tag in tags
        ]
    )
    assert len(runs) == 300
    for run in runs:  # join answers as soon as its run ends
        assert client.runs.join(run["thread_id"], run["run_id"])["farewell"] == "bye"
        assert client.runs.get(run["thread_id"], run["run_id"])["status"] == "success"
    executions = Counter((node, tag) for _, node, tag in lines(effects))
    assert executions == Counter(
        {("greet", tag): 1 for tag in tags} | {("farewell", tag): 1 for tag in tags}
    )
    per_worker = Counter(worker for worker, node, _ in lines(effects) if node == "greet")
    assert set(per_worker) == set(names), per_worker  # all three took a share
    for run in runs:
        types = [e.type for e in event_log(run["run_id"])]
        assert (types.count("RunStarted"), types.count("RunCompleted")) == (1, 1), run["run_id"]
