"""The jobs worker (``workflows.worker``, ``worker_job``, ``worker_client``) without our server.

Commands run as real ``sh -c`` subprocesses, since running them is the thing under test. The
HTTP side talks to a small recording stand-in for the server (``StandIn``): it answers the
protocol's routes as workflow-graph does, scripted per test, and lets a test wait on what it
has received. The end-to-end tests against the real server live elsewhere. No database.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil
import pytest

from workflows import worker as worker_module
from workflows.worker import Completer, JobAttempt, Worker, WorkerConfig
from workflows.worker_client import (
    Claim,
    JobsClient,
    Lease,
    LeaseGone,
    QueuedJob,
    ServerUnavailable,
)
from workflows.worker_job import (
    ERROR_TAIL_CHARS,
    JobProcess,
    LogBuffer,
    job_environment,
    parse_output_file,
    parse_set_output,
    upstream_env_name,
)

REPO = Path(__file__).resolve().parents[3]
WAIT = 20.0  # the bound on any wait for something that should happen at once


# -- outputs --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("::set-output name=version::1.2.3", ("version", "1.2.3")),  # GitHub's
        ("::set-output version=1.2.3", ("version", "1.2.3")),  # workflow-graph's docs
        ("::set-output version::1.2.3", ("version", "1.2.3")),
        ("::set-output url=http://x/?a=b::c", ("url", "http://x/?a=b::c")),
        ("::set-output note::a=b", ("note", "a=b")),
        ("::set-output empty=", ("empty", "")),
        ("::set-output name=crlf::yes\r", ("crlf", "yes")),
        ("::set-output =nameless", None),
        ("::set-output no separator", None),
        ("echo ::set-output x=1", None),
        ("plain line", None),
    ],
)
def test_set_output_lines_in_all_three_spellings(line, expected):
    assert parse_set_output(line) == expected


def test_the_output_file_holds_name_value_lines_and_the_last_one_wins():
    text = "a=1\nnot an output\nb=x=y\n=nameless\na=2\nc=\n"
    assert parse_output_file(text) == {"a": "2", "b": "x=y", "c": ""}


# -- environment ----------------------------------------------------------------------------------
def test_upstream_outputs_are_named_like_githubs_needs_context():
    assert upstream_env_name("build", "version") == "NEEDS_BUILD_OUTPUTS_VERSION"
    assert upstream_env_name("build-linux", "artifact.url") == (
        "NEEDS_BUILD_LINUX_OUTPUTS_ARTIFACT_URL"
    )
    assert upstream_env_name("tést", "k v") == "NEEDS_T_ST_OUTPUTS_K_V"


def test_the_job_environment_layers_worker_job_upstream_and_ids():
    env = job_environment(
        base={"PATH": "/bin", "HOME": "/h", "DURAGRAPH_API_KEY": "secret", "X": "worker"},
        job_env={"X": "job", "DURAGRAPH_JOB_ID": "spoofed"},
        upstream_outputs={"build": {"version": "1.2", "count": 3}},
        job_id="deploy",
        workflow_id="wf-1",
        run_id="run-1",
        attempt=2,
    )
    assert env["PATH"] == "/bin" and env["X"] == "job"
    assert "DURAGRAPH_API_KEY" not in env  # the worker's credential is not the job's
    assert env["NEEDS_BUILD_OUTPUTS_VERSION"] == "1.2"
    assert env["NEEDS_BUILD_OUTPUTS_COUNT"] == "3"
    assert json.loads(env["UPSTREAM_OUTPUTS"]) == {"build": {"version": "1.2", "count": 3}}
    assert (env["DURAGRAPH_JOB_ID"], env["DURAGRAPH_WORKFLOW_ID"]) == ("deploy", "wf-1")
    assert (env["DURAGRAPH_RUN_ID"], env["DURAGRAPH_ATTEMPT"]) == ("run-1", "2")


# -- log batching ---------------------------------------------------------------------------------
def test_log_chunks_are_numbered_per_attempt_and_name_it():
    buffer = LogBuffer(workflow_id="wf", job_id="build", attempt=3)
    buffer.append("stdout", "one")
    buffer.append("stderr", "two")
    buffer.append("stdout", "three")
    first = buffer.drain(2)
    assert [(c["sequence"], c["stream"], c["data"]) for c in first] == [
        (0, "stdout", "one"),
        (1, "stderr", "two"),
    ]
    assert all(
        c["attempt"] == 3 and (c["workflow_id"], c["job_id"]) == ("wf", "build") for c in first
    )
    assert set(first[0]) == {
        "workflow_id",
        "job_id",
        "sequence",
        "data",
        "timestamp_ms",
        "stream",
        "attempt",
    }
    buffer.put_back(first)  # the server was down: they go out first next time
    buffer.append("stdout", "four")
    assert [c["sequence"] for c in buffer.drain()] == [0, 1, 2, 3]
    assert buffer.drain() == []


def test_a_log_buffer_waiting_on_a_dead_server_keeps_the_newest_chunks():
    buffer = LogBuffer(workflow_id="wf", job_id="j", attempt=0, max_pending=3)
    for n in range(5):
        buffer.append("stdout", str(n))
    assert [c["data"] for c in buffer.drain()] == ["2", "3", "4"]
    assert buffer.dropped == 2


# -- the process ----------------------------------------------------------------------------------
def _run(command: str, **kwargs: Any) -> tuple[Any, list[tuple[str, str]]]:
    lines: list[tuple[str, str]] = []
    env = kwargs.pop("env", None) or dict(os.environ)
    process = JobProcess(command, env=env, on_line=lambda s, t: lines.append((s, t)), **kwargs)
    return process.run(), lines


def test_a_command_runs_in_a_fresh_directory_with_its_environment_and_outputs():
    env = job_environment(
        base=os.environ,
        job_env={"GREETING": "hi"},
        upstream_outputs={"build": {"version": "1.2.3"}},
        job_id="deploy",
        workflow_id="wf-1",
        run_id="run-1",
        attempt=0,
    )
    ended, lines = _run(
        'echo "cwd=$PWD"; ls -A | wc -l | tr -d " "; '
        'echo "$GREETING $NEEDS_BUILD_OUTPUTS_VERSION $DURAGRAPH_JOB_ID"; '
        'echo "::set-output name=from_stdout::a"; echo "::set-output short=b"; '
        'echo "from_file=c" >> "$DURAGRAPH_OUTPUT"; echo "short=file wins" >> "$DURAGRAPH_OUTPUT"',
        env=env,
    )
    assert ended.returncode == 0 and ended.succeeded
    texts = [text for _, text in lines]
    workdir = Path(texts[0].removeprefix("cwd="))
    assert texts[1] == "0"  # empty: the output file is not in it
    assert not workdir.exists()  # removed afterwards
    assert texts[2] == "hi 1.2.3 deploy"
    assert ended.outputs == {"from_stdout": "a", "short": "file wins", "from_file": "c"}


def test_both_streams_are_read_to_their_end_even_stderr_after_stdout_closed():
    # The Rust SDK stopped reading when stdout closed and lost what stderr said afterwards.
    ended, lines = _run(
        "echo out-1; echo err-1 >&2; exec 1>&-; sleep 0.3; "
        "echo late-err-1 >&2; printf 'no newline at the end' >&2"
    )
    assert ended.returncode == 0
    assert [line for line in lines if line[0] == "stdout"] == [("stdout", "out-1")]
    assert [line for line in lines if line[0] == "stderr"] == [
        ("stderr", "err-1"),
        ("stderr", "late-err-1"),
        ("stderr", "no newline at the end"),
    ]


def test_a_failing_command_keeps_the_last_characters_of_its_output():
    ended, _ = _run(
        "i=0; while [ $i -lt 300 ]; do echo line-$i-padding-padding; i=$((i+1)); done; "
        "echo the-reason; exit 3"
    )
    assert ended.returncode == 3 and not ended.succeeded
    assert len(ended.output_tail) == ERROR_TAIL_CHARS
    assert ended.output_tail.endswith("line-299-padding-padding\nthe-reason")
    assert ended.failure_message() == ended.output_tail


def test_a_silent_failure_says_how_it_ended():
    ended, _ = _run("exit 7")
    assert ended.failure_message() == "exited with code 7"
    ended, _ = _run("kill -9 $$")
    assert ended.returncode == -9 and ended.failure_message() == "killed by SIGKILL"


def _group_members(pid: int) -> list[psutil.Process]:
    leader = psutil.Process(pid)
    return [leader, *leader.children(recursive=True)]


def _alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    """Those still running; a zombie waiting for a reaper that does not reap is dead."""
    alive = []
    for process in processes:
        try:
            if process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
        except psutil.NoSuchProcess:
            pass
    return alive


def _living_in_group(pgid: int) -> list[psutil.Process]:
    """Every process of the group that is not dead. (``os.killpg(pgid, 0)`` would count the
    zombies, which an init that does not reap, as in some containers, leaves behind.)"""
    members = []
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == pgid:
                members.append(process)
        except (ProcessLookupError, psutil.NoSuchProcess):
            pass
    return _alive(members)


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


class _Started:
    """Runs a JobProcess on a thread and waits for a line that says the command is under way."""

    def __init__(self, command: str, marker: str, **kwargs: Any) -> None:
        self.abort = threading.Event()
        self.seen = threading.Event()
        self.lines: list[str] = []
        self.result: Any = None
        self.members: list[psutil.Process] = []

        def on_line(stream: str, text: str) -> None:
            # On the supervising thread: the shell is not reaped yet, whatever it is doing.
            self.lines.append(text)
            if text == marker:
                self.members = _group_members(self.process.pid)
                self.seen.set()

        self.process = JobProcess(command, env=dict(os.environ), on_line=on_line, **kwargs)
        self.thread = threading.Thread(target=self._run)
        self.thread.start()
        assert self.seen.wait(WAIT), self.lines

    def _run(self) -> None:
        self.result = self.process.run(self.abort)

    def join(self) -> Any:
        self.thread.join(WAIT)
        assert not self.thread.is_alive()
        return self.result


def test_abort_ends_the_whole_process_group_grandchildren_included():
    job = _Started("sleep 60 & sleep 61 & echo started; wait", "started")
    assert len(job.members) == 3  # sh and both sleeps
    job.abort.set()
    ended = job.join()
    assert ended.aborted and ended.returncode == -signal.SIGTERM
    assert _alive(job.members) == []
    assert _living_in_group(job.process.pid) == []


def test_a_group_that_ignores_sigterm_is_killed_after_the_grace_period():
    job = _Started("trap '' TERM; sleep 60 & echo started; wait; wait", "started", kill_grace=0.2)
    job.abort.set()
    ended = job.join()
    assert ended.aborted and ended.returncode == -signal.SIGKILL
    assert _alive(job.members) == []


def test_a_job_past_its_time_limit_is_ended():
    ended, lines = _run("echo begun; sleep 60 & sleep 60", timeout_secs=0.3)
    assert ended.timed_out and not ended.succeeded
    assert ended.duration_secs < 10
    assert lines == [("stdout", "begun")]


def test_background_processes_the_shell_leaves_behind_end_with_the_job():
    job = _Started('sleep 60 & echo "left $!"; echo started', "started")
    ended = job.join()
    assert ended.returncode == 0 and ended.succeeded  # the job itself succeeded
    [left] = [int(line.split()[1]) for line in job.lines if line.startswith("left ")]
    assert _gone(left)


# -- the stand-in server --------------------------------------------------------------------------
Answer = tuple[int, Any]


class StandIn:
    """A recording HTTP server answering the worker protocol like workflow-graph's server.

    ``jobs`` are handed out by claims, one each; ``script`` answers a request first when it
    returns an answer (``(status, json)``), for a test's twists.
    """

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.jobs: list[dict[str, Any]] = []
        self.script: Callable[[str, str, Any], Answer | None] = lambda *_: None
        self.changed = threading.Condition()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._answer()

            def do_POST(self) -> None:
                self._answer()

            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                status, answer = stand_in.answer(self.command, self.path, body)
                with stand_in.changed:
                    stand_in.requests.append(
                        {
                            "method": self.command,
                            "path": self.path,
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                            "body": body,
                            "status": status,
                        }
                    )
                    stand_in.changed.notify_all()
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def answer(self, method: str, path: str, body: Any) -> Answer:
        if (scripted := self.script(method, path, body)) is not None:
            return scripted
        if path == "/api/jobs/claim":
            with self.changed:
                if "max_jobs" in body:  # ours: a batch
                    batch, self.jobs[:] = (
                        self.jobs[: body["max_jobs"]],
                        self.jobs[body["max_jobs"] :],
                    )
                    return 200, {"jobs": batch}
                return 200, (self.jobs.pop(0) if self.jobs else None)
        if path == "/api/jobs/complete":  # ours: a batch
            return 200, {
                "results": [{"lease_id": c["lease_id"], "status": 200} for c in body["completions"]]
            }
        if path.endswith("/cancelled"):
            return 200, False
        return 200, {}

    def posts(self, suffix: str) -> list[dict[str, Any]]:
        with self.changed:
            return [r for r in self.requests if r["path"].endswith(suffix)]

    def log_lines(self) -> list[str]:
        return [c["data"] for r in self.posts("/logs") for c in r["body"]["chunks"]]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = WAIT) -> None:
        with self.changed:
            assert self.changed.wait_for(predicate, timeout), self.requests


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    server = StandIn()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def _job(command: str, **extra: Any) -> dict[str, Any]:
    job_id = extra.pop("job_id", "build")
    lease_id = extra.pop("lease_id", "lease-1")
    return {
        "job": {
            "job_id": job_id,
            "workflow_id": "wf-1",
            "command": command,
            "required_labels": ["linux"],
            "retry_policy": {"max_retries": 2, "backoff": "None"},
            "attempt": 1,
            "upstream_outputs": {},
            "enqueued_at_ms": 1,
            "delayed_until_ms": 0,
            "run_id": "run-1",
            **extra,
        },
        "lease": {
            "lease_id": lease_id,
            "job_id": job_id,
            "workflow_id": "wf-1",
            "worker_id": "w1",
            "ttl_secs": 30,
            "granted_at_ms": 2,
        },
    }


# -- the client -----------------------------------------------------------------------------------
def test_the_client_sends_the_protocols_requests(stand_in):
    stand_in.jobs.append(_job("true", env={"A": "1"}, timeout_secs=5))
    client = JobsClient(stand_in.url, api_key="dg_key")
    client.register(worker_id="w 1", labels=["linux"])
    assert client.heartbeat_worker("w 1") is True
    claim = client.claim(worker_id="w 1", labels=["linux"], lease_ttl_secs=30)
    assert client.claim(worker_id="w 1", labels=["linux"], lease_ttl_secs=30) is None
    client.heartbeat_lease("lease-1")
    client.push_logs("lease-1", [{"sequence": 0}])
    client.complete("lease-1", outputs={"k": "v"})
    client.fail("lease-1", error="boom", retryable=False)
    assert client.is_cancelled(workflow_id="wf-1", job_id="build/x") is False
    client.close()

    assert claim == Claim(
        QueuedJob(
            job_id="build",
            workflow_id="wf-1",
            command="true",
            attempt=1,
            run_id="run-1",
            required_labels=("linux",),
            upstream_outputs={},
            env={"A": "1"},
            timeout_secs=5.0,
            retry_policy={"max_retries": 2, "backoff": "None"},
            enqueued_at_ms=1,
            delayed_until_ms=0,
        ),
        Lease("lease-1", "build", "wf-1", "w1", 30.0, 2),
    )
    sent = [(r["method"], r["path"], r["body"]) for r in stand_in.requests]
    assert sent == [
        ("POST", "/api/workers/register", {"worker_id": "w 1", "labels": ["linux"]}),
        ("POST", "/api/workers/w%201/heartbeat", None),
        (
            "POST",
            "/api/jobs/claim",
            {"worker_id": "w 1", "labels": ["linux"], "lease_ttl_secs": 30},
        ),
        (
            "POST",
            "/api/jobs/claim",
            {"worker_id": "w 1", "labels": ["linux"], "lease_ttl_secs": 30},
        ),
        ("POST", "/api/jobs/lease-1/heartbeat", None),
        ("POST", "/api/jobs/lease-1/logs", {"chunks": [{"sequence": 0}]}),
        ("POST", "/api/jobs/lease-1/complete", {"outputs": {"k": "v"}}),
        ("POST", "/api/jobs/lease-1/fail", {"error": "boom", "retryable": False}),
        ("GET", "/api/jobs/wf-1/build%2Fx/cancelled", None),
    ]
    assert all(r["headers"]["x-api-key"] == "dg_key" for r in stand_in.requests)


def test_a_claim_from_the_rust_server_lacks_our_fields_and_is_fine(stand_in):
    rust_job = _job("true")
    del rust_job["job"]["run_id"]
    stand_in.jobs.append(rust_job)
    client = JobsClient(stand_in.url)
    claim = client.claim(worker_id="w1", labels=[], lease_ttl_secs=30)
    client.close()
    assert (claim.job.run_id, claim.job.env, claim.job.timeout_secs) == (None, {}, None)
    assert "x-api-key" not in stand_in.requests[0]["headers"]


def test_the_client_tells_a_gone_lease_from_an_unavailable_server(stand_in):
    stand_in.script = lambda method, path, body: (
        (409, {"error": "lease gone"})
        if "/lease-1/" in path
        else (404, None)
        if path.endswith("/heartbeat")
        else (500, "oops")
    )
    client = JobsClient(stand_in.url)
    for call in (
        lambda: client.heartbeat_lease("lease-1"),
        lambda: client.complete("lease-1", outputs={}),
        lambda: client.fail("lease-1", error="x", retryable=True),
        lambda: client.push_logs("lease-1", []),
    ):
        with pytest.raises(LeaseGone):
            call()
    assert client.heartbeat_worker("unknown") is False
    with pytest.raises(ServerUnavailable):
        client.claim(worker_id="w1", labels=[], lease_ttl_secs=30)
    with pytest.raises(ServerUnavailable):
        client.complete("lease-2", outputs={})  # a 500 is not a verdict on the lease
    client.close()


def test_the_clients_batched_calls_of_ours(stand_in):
    stand_in.jobs += [_job("true", job_id=f"j{n}", lease_id=f"lease-{n}") for n in range(3)]
    client = JobsClient(stand_in.url)
    claims = client.claim_many(worker_id="w1", labels=[], lease_ttl_secs=30, max_jobs=2)
    assert [claim.lease.lease_id for claim in claims] == ["lease-0", "lease-1"]
    assert stand_in.posts("/claim")[-1]["body"]["max_jobs"] == 2
    stand_in.script = lambda method, path, body: (
        (200, {"results": [{"lease_id": "a", "status": 200}, {"lease_id": "b", "status": 409}]})
        if path == "/api/jobs/complete"
        else None
    )
    done, gone = client.complete_many([("a", {"k": "v"}), ("b", {})])
    assert done is None and isinstance(gone, LeaseGone)
    assert stand_in.posts("/api/jobs/complete")[-1]["body"] == {
        "completions": [{"lease_id": "a", "outputs": {"k": "v"}}, {"lease_id": "b", "outputs": {}}]
    }
    with pytest.raises(ServerUnavailable, match="one result per lease"):
        client.complete_many([("b", {}), ("a", {})])  # answered for other leases, or out of order
    stand_in.script = lambda method, path, body: (500, "oops")
    with pytest.raises(ServerUnavailable):
        client.complete_many([("a", {})])
    with pytest.raises(ServerUnavailable):
        client.claim_many(worker_id="w1", labels=[], lease_ttl_secs=30, max_jobs=2)
    client.close()


def test_an_unreachable_server_is_unavailable_not_fatal():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nobody listens here once it is closed
    client = JobsClient(f"http://127.0.0.1:{port}")
    with pytest.raises(ServerUnavailable):
        client.register(worker_id="w1", labels=[])
    client.close()


# -- the worker -----------------------------------------------------------------------------------
def _config(stand_in: StandIn, **overrides: Any) -> WorkerConfig:
    settings = {
        "server_url": stand_in.url,
        "labels": ("linux",),
        "worker_id": "w1",
        "poll_interval": 0.05,
        "heartbeat_interval": 0.05,
        "cancel_interval": 0.05,
        "log_batch_interval": 0.05,
        "kill_grace": 2.0,
        "max_backoff": 0.2,
        "once": True,
        **overrides,
    }
    return WorkerConfig(**settings)


def test_a_job_runs_and_completes_with_its_outputs_and_logs(stand_in):
    stand_in.jobs.append(
        _job(
            'echo "attempt $DURAGRAPH_ATTEMPT of $DURAGRAPH_RUN_ID"; echo warn >&2; '
            'echo "::set-output version=1.2.3"; echo "sha=abc" >> "$DURAGRAPH_OUTPUT"'
        )
    )
    # The server hiccups on the first claim: the worker retries, it does not die.
    failures = iter([(500, "down")])
    stand_in.script = lambda m, path, b: next(failures, None) if path == "/api/jobs/claim" else None

    assert Worker(_config(stand_in)).run() == 0

    paths = [r["path"] for r in stand_in.requests]
    assert paths[0] == "/api/workers/register"
    assert paths.count("/api/jobs/claim") == 2
    assert stand_in.posts("/complete")[0]["body"] == {"outputs": {"version": "1.2.3", "sha": "abc"}}
    assert paths.index("/api/jobs/lease-1/complete") > max(
        i for i, p in enumerate(paths) if p.endswith("/logs")
    )  # every log is shipped before the report
    chunks = [c for r in stand_in.posts("/logs") for c in r["body"]["chunks"]]
    assert [c["sequence"] for c in chunks] == list(range(len(chunks)))
    assert {c["attempt"] for c in chunks} == {1}
    assert sorted((c["stream"], c["data"]) for c in chunks) == [
        ("stderr", "warn"),
        ("stdout", "::set-output version=1.2.3"),
        ("stdout", "attempt 1 of run-1"),
    ]
    assert stand_in.posts("/fail") == []


def test_a_failing_job_reports_its_output_as_a_retryable_error(stand_in):
    stand_in.jobs.append(_job("echo compiling; echo 'error: missing ;' >&2; exit 2"))
    Worker(_config(stand_in)).run()
    [fail] = stand_in.posts("/fail")
    assert fail["body"]["retryable"] is True
    # Both streams, in the order they were read (which across two pipes is not guaranteed).
    assert sorted(fail["body"]["error"].split("\n")) == ["compiling", "error: missing ;"]


def test_a_job_past_its_timeout_fails_as_retryable(stand_in):
    stand_in.jobs.append(_job("sleep 60", timeout_secs=0.3))
    Worker(_config(stand_in)).run()
    [fail] = stand_in.posts("/fail")
    assert fail["body"] == {"error": "timed out after 0.3 s", "retryable": True}


def test_a_cancelled_job_is_killed_and_fails_not_retryable(stand_in):
    stand_in.jobs.append(_job("echo pgid $$; sleep 60 & sleep 60"))
    stand_in.script = lambda method, path, body: (
        (200, True)
        if path.endswith("/cancelled") and any("pgid" in line for line in stand_in.log_lines())
        else None
    )
    Worker(_config(stand_in)).run()
    [fail] = stand_in.posts("/fail")
    assert fail["body"] == {"error": "cancelled", "retryable": False}
    assert stand_in.posts("/complete") == []
    [pgid] = [int(line.split()[1]) for line in stand_in.log_lines() if line.startswith("pgid")]
    assert _living_in_group(pgid) == []


@pytest.mark.parametrize("route", ["/heartbeat", "/logs"])
def test_a_gone_lease_ends_the_job_and_nothing_is_reported(stand_in, route):
    stand_in.jobs.append(_job("echo pgid $$; sleep 60"))
    stand_in.script = lambda method, path, body: (
        (409, {"error": "lease gone"})
        if path == f"/api/jobs/lease-1{route}" and (route == "/logs" or stand_in.posts("/logs"))
        else None
    )
    worker = Worker(_config(stand_in))
    assert worker.run() == 0
    assert stand_in.posts("/complete") == stand_in.posts("/fail") == []
    assert stand_in.posts(f"/lease-1{route}")[-1]["status"] == 409


def test_a_worker_the_server_forgot_registers_again(stand_in):
    forgotten = threading.Event()

    def script(method: str, path: str, body: Any) -> Answer | None:
        if path == "/api/workers/w1/heartbeat" and not forgotten.is_set():
            forgotten.set()
            return 404, {"error": "unknown worker"}
        return None

    stand_in.script = script
    worker = Worker(_config(stand_in, once=False))
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        stand_in.wait_for(lambda: len(stand_in.posts("/api/workers/register")) >= 2)
    finally:
        worker.stop()
        thread.join(WAIT)
    assert not thread.is_alive()


def test_stop_lets_the_job_in_hand_finish_and_claims_nothing_more(stand_in, tmp_path):
    gate = tmp_path / "gate"
    stand_in.jobs.append(
        _job(f"echo started; while [ ! -e {gate} ]; do sleep 0.02; done; echo done")
    )
    stand_in.jobs.append(_job("echo never", job_id="second"))
    worker = Worker(_config(stand_in, once=False))
    thread = threading.Thread(target=worker.run)
    thread.start()
    stand_in.wait_for(lambda: "started" in stand_in.log_lines())
    worker.stop()
    gate.touch()
    thread.join(WAIT)
    assert not thread.is_alive()
    assert [r["body"] for r in stand_in.posts("/complete")] == [{"outputs": {}}]
    assert stand_in.log_lines() == ["started", "done"]
    assert len(stand_in.jobs) == 1  # the second job was never claimed


def completed_leases(stand_in: StandIn) -> list[str]:
    return [c["lease_id"] for r in stand_in.posts("/complete") for c in r["body"]["completions"]]


def _started_worker(stand_in: StandIn, **overrides: Any) -> tuple[Worker, threading.Thread]:
    worker = Worker(_config(stand_in, once=False, **overrides))
    thread = threading.Thread(target=worker.run)
    thread.start()
    return worker, thread


def test_with_concurrency_jobs_run_side_by_side_claimed_in_one_call(stand_in, tmp_path):
    # Each job waits until all three have started: they finish only if they run at once.
    wait_for_all = f'touch {tmp_path}/"$DURAGRAPH_JOB_ID"; until [ $(ls {tmp_path} | wc -l) -ge 3 ]; do sleep 0.02; done'
    for n in range(3):
        stand_in.jobs.append(_job(wait_for_all, job_id=f"j{n}", lease_id=f"lease-{n}"))
    worker, thread = _started_worker(stand_in, concurrency=3)
    try:
        stand_in.wait_for(lambda: len(completed_leases(stand_in)) == 3)
    finally:
        worker.stop()
        thread.join(WAIT)
    assert not thread.is_alive() and worker.jobs_run == 3
    claims = stand_in.posts("/api/jobs/claim")
    assert claims[0]["body"]["max_jobs"] == 3, "every free slot in one claim"
    assert all(claim["body"]["max_jobs"] >= 1 for claim in claims)
    calls = stand_in.posts("/complete")
    assert {call["path"] for call in calls} == {"/api/jobs/complete"}, "ours, batched"
    assert sorted(completed_leases(stand_in)) == [f"lease-{n}" for n in range(3)]


def test_with_concurrency_a_worker_claims_no_more_than_its_free_slots(stand_in, tmp_path):
    gate = tmp_path / "gate"
    for n in range(3):
        command = f"echo started; while [ ! -e {gate} ]; do sleep 0.02; done"
        stand_in.jobs.append(_job(command, job_id=f"j{n}", lease_id=f"lease-{n}"))
    worker, thread = _started_worker(stand_in, concurrency=2, poll_interval=0.05)
    try:
        stand_in.wait_for(lambda: stand_in.log_lines().count("started") == 2)
        assert len(stand_in.jobs) == 1, "two slots, two jobs taken"
        gate.touch()
        stand_in.wait_for(lambda: len(completed_leases(stand_in)) == 3)
    finally:
        worker.stop()
        thread.join(WAIT)
    assert not thread.is_alive()
    assert [c["body"]["max_jobs"] for c in stand_in.posts("/api/jobs/claim")][0] == 2


def test_force_stop_ends_every_job_in_hand(stand_in):
    for n in range(2):
        stand_in.jobs.append(_job("echo started; sleep 60", job_id=f"j{n}", lease_id=f"lease-{n}"))
    worker, thread = _started_worker(stand_in, concurrency=2)
    stand_in.wait_for(lambda: stand_in.log_lines().count("started") == 2)
    worker.force_stop()
    thread.join(WAIT)
    assert not thread.is_alive()
    fails = sorted((r["path"], r["body"]["error"]) for r in stand_in.posts("/fail"))
    assert fails == [(f"/api/jobs/lease-{n}/fail", "worker stopped") for n in range(2)]


class _HeldClient:
    """complete_many holds its first call until *hold* completions queue behind it."""

    def __init__(self, completer_of: Callable[[], Completer], hold: int) -> None:
        self.completer_of, self.hold = completer_of, hold
        self.batches: list[list[str]] = []
        self.refuse: set[str] = set()
        self.unavailable = False

    def complete_many(self, completions):
        if not self.batches:
            deadline = time.monotonic() + WAIT
            while len(self.completer_of()._pending) < self.hold:
                assert time.monotonic() < deadline, "the others never queued"
                time.sleep(0.001)
        self.batches.append([lease for lease, _ in completions])
        if self.unavailable:
            raise ServerUnavailable("down")
        return [LeaseGone("gone") if lease in self.refuse else None for lease, _ in completions]


def _complete_side_by_side(completer: Completer, leases: list[str]) -> dict[str, object]:
    outcomes: dict[str, object] = {}

    def complete(lease: str) -> None:
        try:
            completer.complete(lease, outputs={"lease": lease})
            outcomes[lease] = "done"
        except Exception as error:  # noqa: BLE001 - the outcome is what the test reads
            outcomes[lease] = error

    threads = [threading.Thread(target=complete, args=(lease,)) for lease in leases]
    threads[0].start()
    deadline = time.monotonic() + WAIT
    while not completer._sending:  # the first call is in flight (held) before others come
        assert time.monotonic() < deadline
        time.sleep(0.001)
    for thread in threads[1:]:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    return outcomes


def test_completions_arriving_during_a_call_share_the_next_one():
    client = _HeldClient(lambda: completer, hold=3)
    completer = Completer(client)
    client.refuse = {"c"}
    outcomes = _complete_side_by_side(completer, ["a", "b", "c", "d"])
    assert client.batches[0] == ["a"] and sorted(client.batches[1]) == ["b", "c", "d"]
    assert len(client.batches) == 2, "nothing waits to fill a batch; four calls became two"
    assert [outcomes[lease] for lease in "abd"] == ["done"] * 3
    assert isinstance(outcomes["c"], LeaseGone), "one refusal, for its own lease only"


def test_a_failed_call_fails_every_completion_it_carried_and_none_is_lost():
    client = _HeldClient(lambda: completer, hold=2)
    completer = Completer(client, batch=2)
    client.unavailable = True
    outcomes = _complete_side_by_side(completer, ["a", "b", "c"])
    assert client.batches[0] == ["a"] and sorted(client.batches[1]) == ["b", "c"]
    assert all(isinstance(outcome, ServerUnavailable) for outcome in outcomes.values())
    assert completer._pending == [] and not completer._sending


def test_once_with_nothing_to_do_exits(stand_in):
    assert Worker(_config(stand_in)).run() == 0
    assert [r["path"] for r in stand_in.requests] == ["/api/workers/register", "/api/jobs/claim"]


def test_a_job_that_cannot_start_fails_retryable(stand_in):
    attempt = JobAttempt(
        Claim(QueuedJob.from_json(_job("true")["job"]), Lease.from_json(_job("true")["lease"])),
        client=JobsClient(stand_in.url),
        config=_config(stand_in),
        base_env={"PATH": "/nonexistent"},  # no sh to be found
    )
    assert attempt.run() is None
    attempt.client.close()
    [fail] = stand_in.posts("/fail")
    assert fail["body"] == {"error": "the worker could not start the command", "retryable": True}


# -- signals, through the console script's main() ----------------------------------------------
class _WorkerProcess:
    """``python -m workflows.worker`` against the stand-in, its log read as it comes."""

    def __init__(self, stand_in: StandIn) -> None:
        env = {k: v for k, v in os.environ.items() if k != "DURAGRAPH_API_KEY"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "workflows.worker", "--server", stand_in.url]
            + ["--worker-id", "w1", "--poll-interval", "0.05", "--heartbeat-interval", "0.2"]
            + ["--cancel-interval", "0.05", "--log-batch-interval", "0.05"],
            cwd=REPO,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.log: list[str] = []
        self.changed = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            with self.changed:
                self.log.append(line)
                self.changed.notify_all()

    def wait_for_log(self, pattern: str) -> None:
        with self.changed:
            found = self.changed.wait_for(
                lambda: any(re.search(pattern, line) for line in self.log), WAIT
            )
            assert found, "".join(self.log)

    def terminate(self) -> None:
        self.process.send_signal(signal.SIGTERM)

    def wait(self) -> int:
        try:
            return self.process.wait(WAIT)
        finally:
            self.process.kill()
            self.process.wait()
            self.reader.join(WAIT)
            assert self.process.stderr is not None
            self.process.stderr.close()


def test_sigterm_finishes_the_job_in_hand_then_exits_0(stand_in, tmp_path):
    gate = tmp_path / "gate"
    stand_in.jobs.append(
        _job(f"echo started; while [ ! -e {gate} ]; do sleep 0.02; done; echo ::set-output ok=1")
    )
    worker = _WorkerProcess(stand_in)
    stand_in.wait_for(lambda: "started" in stand_in.log_lines())
    worker.terminate()
    worker.wait_for_log("SIGTERM: finishing the job in hand")
    gate.touch()
    assert worker.wait() == 0, "".join(worker.log)
    assert [r["body"] for r in stand_in.posts("/complete")] == [{"outputs": {"ok": "1"}}]


def test_a_second_sigterm_ends_the_job_and_the_worker(stand_in):
    stand_in.jobs.append(_job("echo started; sleep 60"))
    worker = _WorkerProcess(stand_in)
    stand_in.wait_for(lambda: "started" in stand_in.log_lines())
    worker.terminate()
    worker.wait_for_log("SIGTERM: finishing the job in hand")
    worker.terminate()
    assert worker.wait() == 1, "".join(worker.log)
    [fail] = stand_in.posts("/fail")
    assert fail["body"] == {"error": "worker stopped", "retryable": True}


def test_the_flags_and_environment_make_the_config():
    parser = argparse.ArgumentParser()
    worker_module.add_arguments(
        parser,
        environ={"SERVER_URL": "http://s:1", "WORKER_LABELS": "a, b,,", "DURAGRAPH_API_KEY": "k"},
    )
    config = worker_module.config_from_options(vars(parser.parse_args(["--lease-ttl", "12"])))
    assert (config.server_url, config.labels, config.api_key) == ("http://s:1", ("a", "b"), "k")
    assert config.heartbeat_every == 4.0
    assert config.worker_id == f"{socket.gethostname()}-{os.getpid()}"
    config = worker_module.config_from_options(
        vars(parser.parse_args(["--labels", "x", "--worker-id", "me", "--heartbeat-interval", "1"]))
    )
    assert (config.labels, config.worker_id, config.heartbeat_every) == (("x",), "me", 1.0)
    with pytest.raises(ValueError, match="lease_ttl"):
        WorkerConfig(lease_ttl=0)
    assert config.concurrency == 1
    parser = argparse.ArgumentParser()
    worker_module.add_arguments(parser, environ={"WORKER_CONCURRENCY": "8"})
    assert worker_module.config_from_options(vars(parser.parse_args([]))).concurrency == 8
    options = vars(parser.parse_args(["--concurrency", "3"]))
    assert worker_module.config_from_options(options).concurrency == 3
    for bad in (0, 101):
        with pytest.raises(ValueError, match="concurrency"):
            WorkerConfig(concurrency=bad)


def test_manage_py_jobs_worker_runs_the_same_worker(stand_in):
    stand_in.jobs.append(_job("echo ::set-output via=manage.py"))
    env = {k: v for k, v in os.environ.items() if k != "DURAGRAPH_API_KEY"}
    finished = subprocess.run(
        [sys.executable, "manage.py", "jobs_worker", "--server", stand_in.url, "--once"]
        + ["--worker-id", "w1", "--poll-interval", "0.05", "--log-batch-interval", "0.05"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=WAIT * 3,
    )
    assert finished.returncode == 0, finished.stderr
    assert [r["body"] for r in stand_in.posts("/complete")] == [{"outputs": {"via": "manage.py"}}]
