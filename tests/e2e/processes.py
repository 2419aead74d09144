"""Real processes for end-to-end tests: executors (Celery workers), the scheduler and
remote workers built with the DuraGraph SDK from PyPI."""

from __future__ import annotations

import ctypes
import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

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


def start_api_server(
    name: str, env: dict[str, str], log_dir: Path, *, ok_status: int = 200
) -> tuple[Process, str]:
    """daphne on a free port, as in production; returns it and its base URL once ``/ok``
    answers (with *ok_status*)."""
    from duragraph_site.embedded import free_port

    port = free_port()
    argv = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
            "duragraph_site.asgi:application"]  # fmt: skip
    process = start(name, argv, env, log_dir)
    url = f"http://127.0.0.1:{port}"
    wait_for(
        lambda: _answers(f"{url}/ok", ok_status) or not process.alive(),
        timeout=30,
        what=f"{name} to answer",
    )
    assert process.alive(), process.output()[-3000:]
    return process, url


@dataclass
class LiveStack:
    """daphne, an executor and ``relay_outbox`` publishing to the NATS at *nats_url*."""

    url: str
    env: dict[str, str]
    daphne: Process
    executor: Process
    relay: Process
    nats_url: str


def start_live_stack(env: dict[str, str], nats_url: str, logs: Path) -> LiveStack:
    """Start the processes of a :class:`LiveStack` (the caller stops them:
    :func:`stop_live_stack`)."""
    env = {**env, "NATS_URL": nats_url}
    relay = start("relay", [sys.executable, "manage.py", "relay_outbox"], env, logs)
    daphne, url = start_api_server("daphne", env, logs)
    executor = start_executor(env, logs, name="exec-stream", concurrency=4)
    return LiveStack(
        url=url, env=env, daphne=daphne, executor=executor, relay=relay, nats_url=nats_url
    )


def stop_live_stack(stack: LiveStack) -> None:
    for process in (stack.executor, stack.daphne, stack.relay):
        process.stop()


def _answers(url: str, status: int = 200) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == status
    except httpx.HTTPError:
        return False


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
    """``manage.py scheduler``: the lease reaper, queue sweeper, cron firing and TTL expiry."""
    argv = [sys.executable, "-m", "django", "scheduler"]
    process = start(
        "scheduler", argv, {**env, "DJANGO_SETTINGS_MODULE": "duragraph_site.settings"}, log_dir
    )
    wait_for(
        lambda: "scheduler running" in process.output() or not process.alive(),
        timeout=60,
        what="the scheduler to start",
    )
    assert process.alive(), process.output()[-3000:]
    return process


#: The DuraGraph worker SDK the remote-worker tests and benchmark speak to, from PyPI.
DURAGRAPH_SDK = "duragraph==0.3.3"
SDK_VENV = ROOT / ".venv-duragraph-sdk"
REMOTE_WORKER = ROOT / "tests" / "e2e" / "remote_worker.py"


def sdk_python() -> Path:
    """The Python of a virtualenv holding only the DuraGraph SDK, created on first use.

    Its own virtualenv: the SDK and this project both install a ``duragraph`` command.
    """
    python = SDK_VENV / "bin" / "python"
    stamp = SDK_VENV / f".installed-{DURAGRAPH_SDK}"
    SDK_VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(ROOT / ".venv-duragraph-sdk.lock", "w") as lock:  # pytest-xdist, bench at once
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not stamp.exists():
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(SDK_VENV)], check=True)
            subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                 DURAGRAPH_SDK],
                check=True,
            )  # fmt: skip
            stamp.touch()
    return python


def start_remote_worker(
    name: str,
    *,
    url: str,
    log_dir: Path,
    effects: Path | None = None,
    poll_interval: float = 0.05,
    heartbeat_interval: float = 0.5,
    max_concurrent_runs: int = 10,
) -> Process:
    """``tests/e2e/remote_worker.py``: an unchanged SDK worker, registered once this returns."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONUNBUFFERED": "1",
        "DURAGRAPH_URL": url,
        "WORKER_NAME": name,
        "POLL_INTERVAL": str(poll_interval),
        "HEARTBEAT_INTERVAL": str(heartbeat_interval),
        "MAX_CONCURRENT_RUNS": str(max_concurrent_runs),
        **({"EFFECTS_FILE": str(effects)} if effects else {}),
    }
    process = start(name, [str(sdk_python()), str(REMOTE_WORKER)], env, log_dir)
    wait_for(
        lambda: "Registered" in process.output() or not process.alive(),
        timeout=60,
        what=f"{name} to register",
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


# -- manage.py dev ------------------------------------------------------------------------------
def clean_env(home: Path) -> dict[str, str]:
    """The environment of a user's first ``make dev``: nothing external, ``home`` for data."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "NATS_URL", "CELERY_BROKER_URL", "PROMETHEUS_MULTIPROC_DIR")
    }
    env["DURAGRAPH_HOME"] = str(home)
    return env


def start_dev(home: Path, port: int, *args: str, env: dict[str, str] | None = None) -> Process:
    """``manage.py dev`` (the supervisor; this start's output in ``<home>-dev-<n>.log``), with
    more arguments and environment when given. SIGTERMed if this process dies, so an
    interrupted test run leaves no stack behind."""
    argv = [sys.executable, "manage.py", "dev", "--port", str(port), *args]
    starts = len(list(home.parent.glob(f"{home.name}-dev-*.log")))
    log = home.parent / f"{home.name}-dev-{starts + 1}.log"
    with log.open("ab") as output:
        popen = subprocess.Popen(
            argv,
            cwd=ROOT,
            env={**clean_env(home), **(env or {})},
            stdout=output,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
    return Process(name="dev", popen=popen, log=log)


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def wait_ok(base: str, process: Process, timeout: float = 60) -> float:
    """Seconds until ``/ok`` answers; fails with the stack's output if it dies first."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        assert process.alive(), process.output()
        if _answers(f"{base}/ok"):
            return time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError(f"/ok did not answer within {timeout}s")


def stop(process: Process) -> str:
    """Ctrl-C, as a user would; the stack must exit 0. Returns everything it printed."""
    process.popen.send_signal(signal.SIGINT)
    process.popen.wait(timeout=30)
    assert process.popen.returncode == 0, process.output()
    return process.output()
