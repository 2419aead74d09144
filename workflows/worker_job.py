"""One job's command on the worker's machine: its environment, its process group, its output.

The parts of the Rust worker SDK that users meet, with its gaps closed (reference §5): outputs
come from ``::set-output`` lines and the ``$DURAGRAPH_OUTPUT`` file, upstream outputs reach the
command's environment, stderr written after stdout closes is still read, log chunks carry their
attempt, a job has a time limit, and a kill reaches the grandchildren too.
No HTTP here (``workflows.worker`` ships what this produces) and no Django.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

#: The file a command appends ``name=value`` lines to, like GitHub's ``$GITHUB_OUTPUT``.
OUTPUT_FILE_ENV = "DURAGRAPH_OUTPUT"
#: The worker's own credential, which is not the job's business.
WORKER_ONLY_ENV = ("DURAGRAPH_API_KEY",)
#: A failed job's error is the end of its output, where the reason usually is.
ERROR_TAIL_CHARS = 4096
#: A line longer than this is shipped in pieces rather than held in memory whole.
MAX_LINE_BYTES = 64 * 1024
STDOUT, STDERR = "stdout", "stderr"


# -- outputs --------------------------------------------------------------------------------------
_GITHUB_SET_OUTPUT = re.compile(r"^::set-output name=(?P<name>[^:]+)::(?P<value>.*)$")


def parse_set_output(line: str) -> tuple[str, str] | None:
    """An output set by a line of the command's output, or None for an ordinary line.

    Three spellings: GitHub's ``::set-output name=NAME::VALUE``, and the short forms
    ``::set-output NAME=VALUE`` (workflow-graph's docs) and ``::set-output NAME::VALUE``; in a
    short form the first separator ends the name, so values may contain the other one.
    """
    if not line.startswith("::set-output "):
        return None
    line = line.rstrip("\r")
    if match := _GITHUB_SET_OUTPUT.match(line):
        return match["name"].strip(), match["value"]
    rest = line[len("::set-output ") :]
    equals, colons = rest.find("="), rest.find("::")
    if equals < 0 and colons < 0:
        return None
    if colons < 0 or (0 <= equals < colons):
        name, value = rest[:equals], rest[equals + 1 :]
    else:
        name, value = rest[:colons], rest[colons + 2 :]
    name = name.strip()
    return (name, value) if name else None


def parse_output_file(text: str) -> dict[str, str]:
    """The outputs in a ``$DURAGRAPH_OUTPUT`` file: one ``name=value`` per line, the last wins."""
    outputs: dict[str, str] = {}
    for line in text.splitlines():
        name, equals, value = line.partition("=")
        if equals and name.strip():
            outputs[name.strip()] = value
    return outputs


# -- environment ----------------------------------------------------------------------------------
def env_name(text: str) -> str:
    """``text`` as a portable environment variable name: uppercase, anything else ``_``."""
    return re.sub(r"[^A-Za-z0-9]", "_", text).upper()


def upstream_env_name(job_id: str, key: str) -> str:
    """``NEEDS_<JOB>_OUTPUTS_<KEY>``: GitHub's ``needs.<job>.outputs.<key>``, as a variable."""
    return f"NEEDS_{env_name(job_id)}_OUTPUTS_{env_name(key)}"


def job_environment(
    *,
    base: Mapping[str, str],
    job_env: Mapping[str, str],
    upstream_outputs: Mapping[str, Mapping[str, Any]],
    job_id: str,
    workflow_id: str,
    run_id: str | None,
    attempt: int,
) -> dict[str, str]:
    """What the command sees: the worker's environment (less its credential), the job's own
    variables, its upstream jobs' outputs, then the DuraGraph ids, which nothing overrides."""
    env = {name: value for name, value in base.items() if name not in WORKER_ONLY_ENV}
    env.update(job_env)
    for upstream_job, outputs in upstream_outputs.items():
        for key, value in (outputs or {}).items():
            env[upstream_env_name(upstream_job, key)] = _text(value)
    env["UPSTREAM_OUTPUTS"] = json.dumps(upstream_outputs, sort_keys=True)
    env["DURAGRAPH_JOB_ID"] = job_id
    env["DURAGRAPH_WORKFLOW_ID"] = workflow_id
    env["DURAGRAPH_RUN_ID"] = run_id or ""
    env["DURAGRAPH_ATTEMPT"] = str(attempt)
    return env


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


# -- logs -----------------------------------------------------------------------------------------
class LogBuffer:
    """The log chunks of one attempt waiting to be shipped, numbered as they are written.

    ``sequence`` counts from 0 in each attempt and every chunk names its attempt, so (attempt,
    sequence) orders and de-duplicates a job's whole log. Thread-safe: lines are appended while
    a shipper drains. While the server is unreachable, at most ``max_pending`` chunks wait; older
    ones are dropped (and counted) rather than growing without bound.
    """

    def __init__(
        self, *, workflow_id: str, job_id: str, attempt: int, max_pending: int = 10_000
    ) -> None:
        self.workflow_id, self.job_id, self.attempt = workflow_id, job_id, attempt
        self.max_pending = max_pending
        self.dropped = 0
        self._next_sequence = 0
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def append(self, stream: str, data: str) -> None:
        with self._lock:
            self._pending.append(
                {
                    "workflow_id": self.workflow_id,
                    "job_id": self.job_id,
                    "sequence": self._next_sequence,
                    "data": data,
                    "timestamp_ms": int(time.time() * 1000),
                    "stream": stream,
                    "attempt": self.attempt,
                }
            )
            self._next_sequence += 1
            self._trim()

    def drain(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Take up to ``limit`` of the oldest chunks (all of them by default)."""
        with self._lock:
            taken = self._pending[:limit] if limit is not None else self._pending
            self._pending = self._pending[len(taken) :]
            return taken

    def put_back(self, chunks: list[dict[str, Any]]) -> None:
        """Return chunks that could not be shipped, ahead of the newer ones."""
        with self._lock:
            self._pending[:0] = chunks
            self._trim()

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)

    def _trim(self) -> None:
        excess = len(self._pending) - self.max_pending
        if excess > 0:
            del self._pending[:excess]
            self.dropped += excess


class _LineReader:
    """Reads stdout and stderr together, line by line, never blocking on either: a quiet or
    closed stdout holds nothing of stderr back (the SDK stopped reading at stdout's end)."""

    def __init__(self, pipes: Mapping[str, IO[bytes]], on_line: Callable[[str, str], None]):
        self._on_line = on_line
        self._selector = selectors.DefaultSelector()
        self._partial: dict[str, bytes] = {}
        for stream, pipe in pipes.items():
            os.set_blocking(pipe.fileno(), False)
            self._selector.register(pipe, selectors.EVENT_READ, stream)
            self._partial[stream] = b""

    @property
    def done(self) -> bool:
        """Both pipes are at their end: every writer has exited or closed them."""
        return not self._selector.get_map()

    def read(self, timeout: float) -> None:
        """Hand over the complete lines available within ``timeout`` seconds."""
        for key, _ in self._selector.select(timeout):
            stream = key.data
            try:
                data = os.read(key.fd, 65536)
            except BlockingIOError:
                continue
            if not data:
                self._selector.unregister(key.fileobj)
                if self._partial[stream]:
                    self._emit(stream, self._partial[stream])
                self._partial[stream] = b""
                continue
            *lines, rest = (self._partial[stream] + data).split(b"\n")
            for line in lines:
                self._emit(stream, line)
            while len(rest) >= MAX_LINE_BYTES:
                self._emit(stream, rest[:MAX_LINE_BYTES])
                rest = rest[MAX_LINE_BYTES:]
            self._partial[stream] = rest

    def close(self) -> None:
        for key in list(self._selector.get_map().values()):
            self._selector.unregister(key.fileobj)
        self._selector.close()

    def _emit(self, stream: str, line: bytes) -> None:
        self._on_line(stream, line.decode("utf-8", "replace").removesuffix("\r"))


# -- the process ----------------------------------------------------------------------------------
@dataclass
class ProcessExit:
    """How a command ended, and what it left behind."""

    #: The shell's exit status; negative: killed by that signal.
    returncode: int
    outputs: dict[str, str] = field(default_factory=dict)
    #: The last ``ERROR_TAIL_CHARS`` characters of stdout and stderr, interleaved as read.
    output_tail: str = ""
    #: The job's time limit passed and the worker ended it.
    timed_out: bool = False
    #: ``abort`` was set while it ran and the worker ended it.
    aborted: bool = False
    duration_secs: float = 0.0

    @property
    def succeeded(self) -> bool:
        return self.returncode == 0 and not (self.timed_out or self.aborted)

    def failure_message(self) -> str:
        """A failed command's error: the end of its output, else how it ended."""
        if self.output_tail.strip():
            return self.output_tail
        if self.returncode < 0:
            try:
                return f"killed by {signal.Signals(-self.returncode).name}"
            except ValueError:
                return f"killed by signal {-self.returncode}"
        return f"exited with code {self.returncode}"


class JobProcess:
    """Runs one command as ``sh -c`` in its own process group, in a fresh temporary directory.

    Every line of stdout and stderr goes to ``on_line`` (and to the outputs parser) as it comes.
    The whole group is signalled, never just the shell: SIGTERM, then SIGKILL after
    ``kill_grace`` seconds, when ``abort`` is set, when ``timeout_secs`` passes, and when the
    shell exits leaving background processes behind (they would hold the pipes open and
    outlive the job, so they end with it, as on CI runners).
    """

    #: How often the supervising loop looks at the clock and the abort flag.
    tick = 0.05

    def __init__(
        self,
        command: str,
        *,
        env: Mapping[str, str],
        timeout_secs: float | None = None,
        kill_grace: float = 5.0,
        on_line: Callable[[str, str], None] | None = None,
    ) -> None:
        self.command = command
        self.env = dict(env)
        self.timeout_secs = timeout_secs
        self.kill_grace = kill_grace
        self._on_line = on_line
        self._outputs: dict[str, str] = {}
        self._tail = ""
        #: The process group's id (the shell's pid) once started.
        self.pid: int | None = None

    def run(self, abort: threading.Event | None = None) -> ProcessExit:
        """Run the command to its end (or until it is ended). Raises OSError if it cannot start."""
        abort = abort or threading.Event()
        with tempfile.TemporaryDirectory(
            prefix="duragraph-job-", ignore_cleanup_errors=True
        ) as root:
            workdir = Path(root, "work")
            workdir.mkdir()
            output_file = Path(root, "outputs")
            output_file.touch()
            started = time.monotonic()
            process = subprocess.Popen(
                ["sh", "-c", self.command],
                cwd=workdir,
                env={**self.env, OUTPUT_FILE_ENV: str(output_file)},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
            self.pid = process.pid
            try:
                result = self._supervise(process, abort, started)
            finally:
                # Whatever happened (even an exception), nothing of the job outlives it. The shell
                # is reaped only after this, so its pid still names this group, nobody else's.
                self._signal_group(signal.SIGKILL)
                result_code = process.wait()
                for pipe in (process.stdout, process.stderr):
                    if pipe is not None:
                        pipe.close()
            result.returncode = result_code  # known now that the shell is reaped
            result.outputs = {
                **self._outputs,
                **parse_output_file(output_file.read_text(errors="replace")),
            }
        result.output_tail = self._tail.removesuffix("\n")[-ERROR_TAIL_CHARS:]
        result.duration_secs = time.monotonic() - started
        return result

    def _supervise(
        self, process: subprocess.Popen[bytes], abort: threading.Event, started: float
    ) -> ProcessExit:
        assert process.stdout is not None and process.stderr is not None
        reader = _LineReader({STDOUT: process.stdout, STDERR: process.stderr}, self._line)
        deadline = None if self.timeout_secs is None else started + self.timeout_secs
        timed_out = aborted = exited = False
        kill_at: float | None = None  # when SIGTERM turns into SIGKILL
        killed_at: float | None = None
        try:
            while True:
                if reader.done:
                    time.sleep(self.tick)  # only the shell's exit is left to wait for
                else:
                    reader.read(self.tick)
                now = time.monotonic()
                if not exited and _has_exited(process):
                    exited = True
                    if not reader.done and kill_at is None:
                        self._signal_group(signal.SIGTERM)  # the shell's leftovers
                        kill_at = now + self.kill_grace
                if not exited and kill_at is None:
                    if abort.is_set():
                        aborted = True
                    elif deadline is not None and now >= deadline:
                        timed_out = True
                    if aborted or timed_out:
                        self._signal_group(signal.SIGTERM)
                        kill_at = now + self.kill_grace
                if kill_at is not None and killed_at is None and now >= kill_at:
                    self._signal_group(signal.SIGKILL)
                    killed_at = now
                if exited and reader.done:
                    break
                if exited and killed_at is not None and now > killed_at + 1.0:
                    break  # a process that left the group (setsid) still holds a pipe
        finally:
            reader.close()
        return ProcessExit(returncode=-1, timed_out=timed_out, aborted=aborted)

    def _line(self, stream: str, line: str) -> None:
        if (output := parse_set_output(line)) is not None:
            self._outputs[output[0]] = output[1]
        self._tail = (self._tail + line + "\n")[-ERROR_TAIL_CHARS - 1 :]
        if self._on_line is not None:
            self._on_line(stream, line)

    def _signal_group(self, signum: signal.Signals) -> None:
        if self.pid is None:
            return
        try:
            os.killpg(self.pid, signum)
        except ProcessLookupError:
            pass  # the group is gone already


def _has_exited(process: subprocess.Popen[bytes]) -> bool:
    """Whether the shell has exited, WITHOUT reaping it: until it is reaped its pid cannot be
    reused, so signalling its group can never reach a stranger's."""
    if not hasattr(os, "waitid"):  # macOS: reaping is the only way to ask
        return process.poll() is not None
    try:
        return os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True
