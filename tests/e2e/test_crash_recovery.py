"""Crashes: executors and the API server killed, connections cut, executors frozen past their
lease. A run must neither be lost nor repeat a step that already committed.

The ``effects`` graph's first node appends a line to a file, its second sleeps and appends
another: the file is the ground truth of which node ran how often. Leases are 2 s and the
reaper runs every 0.5 s (``FAST_RECOVERY``), so recovery takes seconds.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from collections import Counter

import pytest
from django.db import connection
from langgraph_sdk import get_sync_client

from tests.e2e.processes import (
    FAST_RECOVERY,
    ROOT,
    Process,
    start_api_server,
    start_executor,
    start_scheduler,
    wait_for,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def env(api_server):
    return {**api_server.env, **FAST_RECOVERY}


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    return tmp_path_factory.mktemp("crash-logs")


@pytest.fixture(scope="module")
def scheduler(env, logs):
    process = start_scheduler(env, logs)
    yield process
    process.stop()


@pytest.fixture
def executors(env, logs):
    """Start executors on demand; every one is stopped at the end of the test."""
    started: list[Process] = []

    def start_one(name: str, concurrency: int = 2, graphs: str = "effects") -> Process:
        # Only this module's graphs: runs other modules left pending must not delay these tests.
        process = start_executor(
            {**env, "DURAGRAPH_EXECUTOR_GRAPHS": graphs},
            logs,
            name=f"{name}-{uuid.uuid4().hex[:6]}",
            concurrency=concurrency,
        )
        started.append(process)
        return process

    yield start_one
    for process in started:
        process.stop()


@pytest.fixture
def client(api_server):
    client = get_sync_client(url=api_server.url, api_key=None)
    yield client
    client.http.client.close()


def lines(path) -> Counter:
    return (
        Counter(line.split(" ", 1)[1].strip() for line in path.read_text().splitlines())
        if path.exists()
        else Counter()
    )


def wait_until_checkpointed(client, thread: dict, node: str) -> None:
    """Until *node*'s result is in a committed checkpoint (then it must never run again)."""
    wait_for(
        lambda: node in (client.threads.get_state(thread["thread_id"])["values"].get("log") or []),
        timeout=40,
        what=f"the {node} node's result to be checkpointed",
    )


def start_effects_run(client, tmp_path, sleep: float = 2.0) -> tuple[dict, dict, object]:
    path = tmp_path / "effects.log"
    thread = client.threads.create()
    run = client.runs.create(
        thread["thread_id"], "effects", input={"path": str(path), "sleep": sleep}
    )
    return thread, run, path


def test_sigkill_of_the_executor_mid_run(client, scheduler, executors, tmp_path, event_log):
    first = executors("doomed")
    thread, run, path = start_effects_run(client, tmp_path)
    wait_until_checkpointed(client, thread, "first")
    first.signal(signal.SIGKILL)  # during the second node's sleep
    first.popen.wait()

    executors("rescuer")
    done = wait_for(
        lambda: (
            (r := client.runs.get(thread["thread_id"], run["run_id"]))["status"] == "success" and r
        ),
        timeout=60,
        what="another executor to finish the run",
    )
    assert done["attempt"] == 2
    assert lines(path) == Counter({"first": 1, "slow": 1})  # the committed node never ran again
    assert client.threads.get_state(thread["thread_id"])["values"]["log"] == ["first", "slow"]
    types = [e.type for e in event_log(run["run_id"])]
    assert (
        types.count("RunStarted") == 2
        and "RunLeaseExpired" in types
        and types[-1] == "RunCompleted"
    )


def test_sigkill_of_the_api_server_mid_run(scheduler, executors, tmp_path, api_server, client):
    doomed, url = start_api_server("doomed-daphne", api_server.env, tmp_path)
    executors("survivor")
    own = get_sync_client(url=url, api_key=None)
    try:
        thread, run, path = start_effects_run(own, tmp_path)
        wait_until_checkpointed(client, thread, "first")
    finally:
        own.http.client.close()
    doomed.signal(signal.SIGKILL)
    doomed.popen.wait()
    # The API server holds no state: the run completes, and another server reports it.
    done = wait_for(
        lambda: (
            (r := client.runs.get(thread["thread_id"], run["run_id"]))["status"] == "success" and r
        ),
        timeout=60,
        what="the run to finish without its API server",
    )
    assert done["attempt"] == 1
    assert lines(path) == Counter({"first": 1, "slow": 1})


def test_the_executors_database_connections_cut_mid_run(
    client, scheduler, executors, tmp_path, django_db_blocker
):
    executor = executors("cut-off")
    thread, run, path = start_effects_run(client, tmp_path, sleep=2.5)
    wait_until_checkpointed(client, thread, "first")
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s",
            [executor.name],
        )
        (terminated,) = cursor.fetchone()
    assert terminated >= 1
    done = wait_for(
        lambda: (
            (r := client.runs.get(thread["thread_id"], run["run_id"]))["status"]
            in ("success", "error")
            and r
        ),
        timeout=60,
        what="the run to finish after its connections were cut",
    )
    assert done["status"] == "success"
    assert lines(path)["first"] == 1
    assert client.threads.get_state(thread["thread_id"])["values"]["log"] == ["first", "slow"]


def test_a_frozen_executor_taken_over_writes_nothing_more(
    client, scheduler, executors, tmp_path, event_log
):
    frozen = executors("frozen")
    thread, run, path = start_effects_run(client, tmp_path, sleep=1.0)
    wait_until_checkpointed(client, thread, "first")
    frozen.signal(signal.SIGSTOP)  # past its lease: the reaper hands the run to someone else
    executors("successor")
    wait_for(
        lambda: client.runs.get(thread["thread_id"], run["run_id"])["status"] == "success",
        timeout=60,
        what="the successor to finish the run",
    )
    events_before = event_log(run["run_id"])
    said = len(frozen.output())
    frozen.signal(signal.SIGCONT)  # it wakes up, finishes its node, and tries to write
    # Refused by the fence; or, when it froze inside a transaction, by the server, which ended
    # that session after DATABASE_IDLE_IN_TRANSACTION_SECONDS so the successor could take over.
    refusals = ("no longer valid; stopping", "database error; leaving it to be retried")
    wait_for(
        lambda: any(refusal in frozen.output()[said:] for refusal in refusals),
        timeout=40,
        what="the frozen executor to be refused",
    )
    time.sleep(0.5)
    events_after = event_log(run["run_id"])
    assert [e.id for e in events_after] == [e.id for e in events_before]  # it wrote nothing at all
    takeover = [e for e in events_before if e.type == "RunStarted"][-1]
    assert takeover.payload["lease_epoch"] == 2
    assert all(
        e.metadata.get("lease_epoch") in (None, 2)
        for e in events_before
        if e.version > takeover.version
    )
    assert lines(path)["first"] == 1
    assert client.runs.get(thread["thread_id"], run["run_id"])["status"] == "success"


def test_runs_whose_wake_up_was_lost_still_run(client, scheduler, executors, env, tmp_path):
    thread = client.threads.create()
    runs = [
        client.runs.create(thread["thread_id"], "simple", input={"items": [str(i)]})
        for i in range(5)
    ]
    purge = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "duragraph_site", "purge", "-f"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert purge.returncode == 0, purge.stderr
    executors("late", graphs="simple")
    for run in runs:
        assert client.runs.join(thread["thread_id"], run["run_id"])["items"][-2:] == ["a", "b"]
    assert {r["status"] for r in client.runs.list(thread["thread_id"], limit=10)} == {"success"}


def test_four_executors_two_hundred_runs_each_exactly_once(client, scheduler, executors, tmp_path):
    for n in range(4):
        executors(f"swarm{n}", concurrency=2)
    path = tmp_path / "swarm.log"
    created = [
        client.runs.create(
            client.threads.create()["thread_id"], "effects", input={"path": str(path), "sleep": 0}
        )
        for _ in range(200)
    ]
    wait_for(
        lambda: sum(lines(path).values()) >= 400 or None, timeout=120, what="200 runs of 2 nodes"
    )
    time.sleep(1)  # anything run twice would show up now
    executions = Counter(line.split(" ", 1)[0] for line in path.read_text().splitlines())
    assert set(executions) == {run["run_id"] for run in created}
    assert set(executions.values()) == {2}  # each run's two nodes, once each
    for run in created[::20]:
        assert client.runs.get(run["thread_id"], run["run_id"])["status"] == "success"
