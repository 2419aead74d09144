"""Real processes for end-to-end tests: executors (Celery workers) and the scheduler (beat)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: Short leases and fast periodic jobs, so crash recovery happens within seconds.
FAST_RECOVERY = {
    "DURAGRAPH_LEASE_SECONDS": "2",
    "DURAGRAPH_REAPER_SECONDS": "0.5",
    "DURAGRAPH_SWEEPER_SECONDS": "1",
    "DURAGRAPH_CRON_TICK_SECONDS": "0.5",
    "DURAGRAPH_RETRY_BASE_SECONDS": "0.2",
    "DURAGRAPH_RETRY_MAX_SECONDS": "1",
}


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def signal(self, signum: int) -> None:
        os.killpg(self.popen.pid, signum)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 15) -> None:
        if not self.alive():
            return
        self.signal(signal.SIGCONT)  # a stopped process cannot handle SIGTERM
        self.signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.popen.wait()


def start(name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> Process:
    log = log_dir / f"{name}.log"
    with log.open("ab") as output:  # the child keeps its own descriptor
        popen = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Process(name=name, popen=popen, log=log)


def start_executor(
    env: dict[str, str], log_dir: Path, *, name: str, concurrency: int = 2
) -> Process:
    """A Celery worker: the built-in executor (thread pool), as ``manage.py dev`` runs it."""
    argv = [
        sys.executable, "-m", "celery", "-A", "duragraph_site", "worker", "--pool", "threads",
        "--concurrency", str(concurrency), "--hostname", f"{name}@%h", "--loglevel", "INFO",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    process = start(name, argv, {**env, "PGAPPNAME": name}, log_dir)
    wait_for(
        lambda: "ready." in process.output() or not process.alive(),
        timeout=60,
        what=f"{name} to start",
    )
    assert process.alive(), process.output()[-3000:]
    return process


def start_scheduler(env: dict[str, str], log_dir: Path) -> Process:
    """Celery beat: the lease reaper, queue sweeper, cron firing and TTL expiry."""
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "duragraph_site",
        "beat",
        "--loglevel",
        "INFO",
        "--schedule",
        str(log_dir / "beat-schedule"),
    ]
    process = start("scheduler", argv, env, log_dir)
    wait_for(
        lambda: "beat: Starting" in process.output() or not process.alive(),
        timeout=60,
        what="the scheduler to start",
    )
    assert process.alive(), process.output()[-3000:]
    return process


def wait_for(
    predicate: Callable[[], object], *, timeout: float, what: str, interval: float = 0.05
) -> object:
    """Poll *predicate* until it is truthy; return its value, or fail saying what never happened."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
