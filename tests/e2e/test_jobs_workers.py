"""DAG jobs end to end with real processes, deployed split: two API servers (daphne) and one
scheduler sharing nothing but PostgreSQL, and jobs workers (``python -m workflows.worker``)
talking to either server. A 200-job DAG over 3 workers with different labels runs each job
exactly once; a worker SIGKILLed mid-job has its job retried by another, the DAG completes and
the killed lease's late complete is refused (409); a worker running four jobs at once
(``--concurrency``) is SIGKILLed and all four are retried, four at once, by another; a mixed DAG's middle job is an agent run
(a Celery executor runs it) whose values become outputs; a job's log streams over SSE."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from collections import Counter
from pathlib import Path

import httpx
import psutil
import pytest

from tests.e2e.processes import (
    Process,
    start,
    start_api_server,
    start_executor,
    start_scheduler,
    wait_for,
)

pytestmark = pytest.mark.e2e

#: Leases of 2 s, reaped every 0.3 s: a dead worker's job is retried within seconds.
FAST = {"DURAGRAPH_JOBS_REAPER_SECONDS": "0.3"}


class Split:
    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = {**env, **FAST}
        self.logs = logs
        self.scheduler = start_scheduler(self.env, logs)
        self.api1, self.url1 = start_api_server("api1", self.env, logs)
        self.api2, self.url2 = start_api_server("api2", self.env, logs)
        self.workers: list[Process] = []

    def worker(self, name: str, labels: str, url: str, *options: str) -> Process:
        argv = [sys.executable, "-m", "workflows.worker", "--server", url, "--labels", labels]
        argv += options
        argv += ["--worker-id", name, "--lease-ttl", "2", "--heartbeat-interval", "0.5"]
        argv += [
            "--poll-interval",
            "0.1",
            "--cancel-interval",
            "0.5",
            "--log-batch-interval",
            "0.1",
        ]
        process = start(name, argv, self.env, self.logs)
        self.workers.append(process)
        return process

    def stop(self) -> None:
        for process in [*self.workers, self.api1, self.api2, self.scheduler]:
            process.stop()


@pytest.fixture
def split(server_env, system_assistants, tmp_path):
    (logs := tmp_path / "logs").mkdir()
    stack = Split(server_env, logs)
    yield stack
    stack.stop()


def define(url: str, workflow_id: str, jobs: dict) -> None:
    body = {"id": workflow_id, "name": workflow_id, "on": "test", "jobs": jobs}
    response = httpx.post(f"{url}/api/workflows", json=body, timeout=30)
    assert response.status_code == 201, response.text


def run(url: str, workflow_id: str) -> str:
    response = httpx.post(f"{url}/api/workflows/{workflow_id}/run", timeout=30)
    assert response.status_code == 202 and response.json()["started"], response.text
    return response.json()["run_id"]


def finished(url: str, workflow_id: str, run_id: str, timeout: float) -> dict:
    def over() -> dict | None:
        detail = httpx.get(f"{url}/api/workflows/{workflow_id}/runs/{run_id}", timeout=30).json()
        return detail if detail["status"] != "running" else None

    return wait_for(over, timeout=timeout, interval=0.2, what=f"run {run_id} to finish")


def test_a_200_job_dag_runs_each_job_exactly_once_on_workers_with_the_right_labels(split, tmp_path):
    ledger = tmp_path / "ran.txt"
    labels = [[], ["linux"], ["docker"], ["linux", "gpu"]]
    jobs = {}
    for layer in range(10):
        for index in range(20):
            job_id = f"l{layer}_{index}"
            needs = [f"l{layer - 1}_{index}", f"l{layer - 1}_{(index + 1) % 20}"] if layer else []
            jobs[job_id] = {
                "run": f'echo "$DURAGRAPH_JOB_ID $(hostname) $WORKER_NAME" >> {ledger}',
                "needs": needs,
                "labels": labels[(layer + index) % 4],
                "env": {"WORKER_NAME": "x"},
            }
    define(split.url1, "big", jobs)
    split.worker("w-linux", "linux", split.url1)
    split.worker("w-docker", "docker", split.url2)
    split.worker("w-gpu", "linux,gpu", split.url2)
    run_id = run(split.url2, "big")
    detail = finished(split.url1, "big", run_id, timeout=180)
    assert detail["status"] == "success"
    assert {job["status"] for job in detail["jobs"]} == {"success"}
    assert all(job["attempt"] == 1 for job in detail["jobs"]), "nothing was retried"
    ran = Counter(line.split()[0] for line in ledger.read_text().splitlines())
    assert set(ran) == set(jobs) and set(ran.values()) == {1}, "each job ran exactly once"
    by_worker = {job["job_id"]: job["worker_id"] for job in detail["jobs"]}
    for job_id, spec in jobs.items():
        served = {"w-linux": {"linux"}, "w-docker": {"docker"}, "w-gpu": {"linux", "gpu"}}
        assert set(spec["labels"]) <= served[by_worker[job_id]], job_id
    assert len(set(by_worker.values())) == 3, "every worker took part"


def test_a_worker_killed_mid_job_has_its_job_retried_by_another_and_its_late_complete_refused(
    split, tmp_path, django_db_blocker
):
    started_marker = tmp_path / "started"
    slow = (
        f'if [ "$DURAGRAPH_ATTEMPT" = "0" ]; then touch {started_marker}; sleep 60; fi; '
        'echo "::set-output name=attempt::$DURAGRAPH_ATTEMPT"'
    )
    define(
        split.url1,
        "crashy",
        {
            "slow": {"run": slow, "labels": ["victim"], "retries": 1},
            "after": {"needs": "slow", "run": "echo after"},
        },
    )
    victim = split.worker("w-victim", "victim", split.url1)
    run_id = run(split.url1, "crashy")
    wait_for(started_marker.exists, timeout=60, what="the job to start on the first worker")
    tree = [
        victim.popen.pid,
        *(p.pid for p in psutil.Process(victim.popen.pid).children(recursive=True)),
    ]
    for pid in tree:  # the worker and the job it runs, as a machine that dies
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    victim.popen.wait()
    split.worker("w-rescuer", "victim", split.url2)
    detail = finished(split.url2, "crashy", run_id, timeout=60)
    assert detail["status"] == "success"
    slow_job = next(job for job in detail["jobs"] if job["job_id"] == "slow")
    assert (slow_job["attempt"], slow_job["worker_id"], slow_job["outputs"]) == (
        2,
        "w-rescuer",
        {"attempt": "1"},
    )
    with django_db_blocker.unblock():
        from events.models import Event

        claims = [
            event.payload
            for event in Event.objects.filter(type="JobClaimed").order_by("id")
            if event.payload["worker_id"] == "w-victim"
        ]
    late = httpx.post(
        f"{split.url1}/api/jobs/{claims[-1]['lease_id']}/complete", json={"outputs": {}}, timeout=30
    )
    assert late.status_code == 409
    assert "lease" in late.json()["detail"]


def test_a_worker_running_jobs_side_by_side_dies_and_another_takes_all_of_them_over(
    split, tmp_path
):
    ledger, gate = tmp_path / "started.txt", tmp_path / "gate"
    # Each attempt notes that it started, then waits for the gate: four lines of one attempt
    # before the gate opens means four jobs ran at once on one worker.
    wait = f'echo "$DURAGRAPH_JOB_ID $DURAGRAPH_ATTEMPT" >> {ledger}; until [ -e {gate} ]; do sleep 0.05; done'
    jobs = {f"j{n}": {"run": wait, "labels": ["wide"], "retries": 1} for n in range(4)}
    define(split.url1, "side-by-side", {**jobs, "after": {"needs": list(jobs), "run": "true"}})
    concurrently = ("--concurrency", "4")
    victim = split.worker("w-wide-victim", "wide", split.url1, *concurrently)
    run_id = run(split.url1, "side-by-side")

    def started(attempt: str) -> set[str]:
        lines = ledger.read_text().splitlines() if ledger.exists() else []
        return {line.split()[0] for line in lines if line.split()[1] == attempt}

    wait_for(lambda: len(started("0")) == 4, timeout=60, what="four jobs at once on the victim")
    tree = [
        victim.popen.pid,
        *(p.pid for p in psutil.Process(victim.popen.pid).children(recursive=True)),
    ]
    for pid in tree:  # the worker and its four jobs, as a machine that dies
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    victim.popen.wait()
    split.worker("w-wide-rescuer", "wide", split.url2, *concurrently)
    wait_for(lambda: len(started("1")) == 4, timeout=60, what="four retries at once")
    gate.touch()
    detail = finished(split.url2, "side-by-side", run_id, timeout=60)
    assert detail["status"] == "success"
    by_job = {job["job_id"]: job for job in detail["jobs"]}
    for job_id in jobs:
        assert (by_job[job_id]["attempt"], by_job[job_id]["worker_id"]) == (2, "w-wide-rescuer")
    assert by_job["after"]["attempt"] == 1
    assert sorted(ledger.read_text().splitlines()) == sorted(
        f"{job_id} {attempt}" for job_id in jobs for attempt in "01"
    ), "each job started once per attempt"


def test_a_mixed_dag_whose_middle_job_is_an_agent_run_completes_with_its_values(split, tmp_path):
    executor = start_executor(split.env, split.logs, name="exec-jobs")
    try:
        define(
            split.url1,
            "mixed",
            {
                "prepare": {"run": "echo '::set-output name=topic::durability'"},
                "think": {
                    "needs": "prepare",
                    "agent": {"assistant": "agent", "input": {"steps": ["from the DAG"]}},
                },
                "report": {"needs": "think", "run": 'echo "steps: $NEEDS_THINK_OUTPUTS_STEPS"'},
            },
        )
        split.worker("w-any", "", split.url1)
        run_id = run(split.url1, "mixed")
        detail = finished(split.url1, "mixed", run_id, timeout=90)
        assert detail["status"] == "success", detail
        think = next(job for job in detail["jobs"] if job["job_id"] == "think")
        assert think["kind"] == "agent"
        assert json.loads(think["outputs"]["steps"]) == [
            "from the DAG",
            "thought about it",
            "answered after 2 step(s)",
        ]
        log = httpx.get(f"{split.url2}/api/workflows/mixed/jobs/report/logs", timeout=30).json()
        assert "thought about it" in "".join(chunk["data"] for chunk in log)
    finally:
        executor.stop()


def test_a_jobs_log_streams_over_sse_to_its_end(split):
    define(
        split.url1,
        "chatty",
        {"talk": {"run": "for n in 1 2 3; do echo line $n; sleep 0.2; done; echo oops >&2"}},
    )
    split.worker("w-talk", "", split.url1)
    run(split.url1, "chatty")
    wait_for(
        lambda: (
            httpx.get(f"{split.url2}/api/workflows/chatty/status", timeout=30).json()["jobs"][0][
                "status"
            ]
            in ("running", "success")
        ),
        timeout=30,
        what="the job to start",
    )
    events = []
    with httpx.stream(
        "GET", f"{split.url2}/api/workflows/chatty/jobs/talk/logs/stream", timeout=60
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        name = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((name, json.loads(line.removeprefix("data: "))))
                if name == "end":
                    break
    logs = [(data["stream"], data["data"].strip()) for name, data in events if name == "log"]
    assert logs == [
        ("stdout", "line 1"),
        ("stdout", "line 2"),
        ("stdout", "line 3"),
        ("stderr", "oops"),
    ]
    assert events[-1] == ("end", {"job_id": "talk", "status": "success"})
