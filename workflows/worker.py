"""The jobs worker: claims DAG jobs over workflow-graph's worker protocol and runs them.

    duragraph-jobs-worker --server http://127.0.0.1:8081 --labels linux,docker
    manage.py jobs_worker ...             (the same flags)

Works against our server (``workflows.api``) and workflow-graph's Rust server alike. Unlike the
Rust SDK (reference §5) it sends worker heartbeats, publishes outputs, hands upstream outputs to
the command, reads stderr to the end, numbers logs per attempt, enforces a job's time limit,
kills a job's whole process group, reports a cancel as not retryable, and on SIGTERM/SIGINT
finishes the job in hand before exiting (a second signal ends it at once).

Threads: the main one claims and supervises the job; beside it, a worker heartbeat for the
worker's life and, per job, a lease heartbeat, a cancel poller and a log shipper. With
``--concurrency N`` it runs up to N jobs at once, each on a thread of its own, claiming as many
as it has free slots in one call (our server's ``max_jobs``; the Rust server claims one) and
completing the jobs that end together in one call (:class:`Completer`). The server
hiccuping (5xx, refused connections) is logged and retried with backoff, never fatal.
No Django here, so the console script runs on any machine with ``httpx``.
"""

from __future__ import annotations

import argparse
import enum
import logging
import os
import random
import signal
import socket
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any

from workflows.worker_client import Claim, JobsClient, LeaseGone, ServerUnavailable
from workflows.worker_job import JobProcess, LogBuffer, ProcessExit, job_environment

logger = logging.getLogger(__name__)

DEFAULT_SERVER_URL = "http://127.0.0.1:8081"
#: Chunks per log request, so a burst of output becomes several modest requests.
LOG_CHUNKS_PER_REQUEST = 500
#: The most jobs a worker runs at once (the server's largest batch of claims).
MAX_CONCURRENCY = 100


# -- configuration --------------------------------------------------------------------------------
@dataclass(frozen=True)
class WorkerConfig:
    server_url: str = DEFAULT_SERVER_URL
    labels: tuple[str, ...] = ()
    worker_id: str = ""
    api_key: str | None = None
    lease_ttl: int = 30
    poll_interval: float = 2.0
    #: Lease and worker heartbeats; None: a third of the lease, so two may be missed.
    heartbeat_interval: float | None = None
    cancel_interval: float = 2.0
    log_batch_interval: float = 0.5
    #: Seconds between SIGTERM and SIGKILL when a job is ended.
    kill_grace: float = 5.0
    #: Claim (and run) at most one job, then exit.
    once: bool = False
    #: The longest wait between retries while the server is unreachable.
    max_backoff: float = 30.0
    #: Jobs run at once (more than one needs our server's batched claims).
    concurrency: int = 1

    def __post_init__(self) -> None:
        if not self.worker_id:
            object.__setattr__(self, "worker_id", f"{socket.gethostname()}-{os.getpid()}")
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise ValueError(
                f"concurrency must be in [1, {MAX_CONCURRENCY}], not {self.concurrency}"
            )
        if self.lease_ttl <= 0:
            raise ValueError(f"lease_ttl must be positive, not {self.lease_ttl}")
        for name in ("poll_interval", "cancel_interval", "log_batch_interval"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, not {getattr(self, name)}")
        if self.heartbeat_interval is not None and not 0 < self.heartbeat_interval:
            raise ValueError(f"heartbeat_interval must be positive, not {self.heartbeat_interval}")

    @property
    def heartbeat_every(self) -> float:
        return self.heartbeat_interval or self.lease_ttl / 3


def parse_labels(text: str | None) -> tuple[str, ...]:
    """``"a, b,,c"`` -> ``("a", "b", "c")``."""
    return tuple(label.strip() for label in (text or "").split(",") if label.strip())


def add_arguments(parser: argparse.ArgumentParser, environ: Mapping[str, str] = os.environ) -> None:
    """The worker's flags, shared by the console script and ``manage.py jobs_worker``."""
    parser.add_argument(
        "--server",
        default=environ.get("SERVER_URL", DEFAULT_SERVER_URL),
        help=f"the server's base URL (default: SERVER_URL or {DEFAULT_SERVER_URL})",
    )
    parser.add_argument(
        "--labels",
        default=environ.get("WORKER_LABELS", ""),
        help="comma-separated labels this worker offers (default: WORKER_LABELS)",
    )
    parser.add_argument("--worker-id", default="", help="default: <hostname>-<pid>")
    parser.add_argument(
        "--api-key",
        default=environ.get("DURAGRAPH_API_KEY") or None,
        help="sent as x-api-key (default: DURAGRAPH_API_KEY)",
    )
    parser.add_argument("--lease-ttl", type=int, default=30, help="seconds (default: 30)")
    parser.add_argument(
        "--poll-interval", type=float, default=2.0, help="seconds between empty claims"
    )
    parser.add_argument(
        "--heartbeat-interval", type=float, default=None, help="seconds (default: lease TTL / 3)"
    )
    parser.add_argument(
        "--cancel-interval", type=float, default=2.0, help="seconds between cancel checks"
    )
    parser.add_argument(
        "--log-batch-interval", type=float, default=0.5, help="seconds between log batches"
    )
    parser.add_argument(
        "--kill-grace", type=float, default=5.0, help="seconds from SIGTERM to SIGKILL"
    )
    parser.add_argument(
        "--once", action="store_true", help="claim and run at most one job, then exit"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=int(environ.get("WORKER_CONCURRENCY", "1")),
        help="jobs run at once (default: WORKER_CONCURRENCY or 1)",
    )


def config_from_options(options: Mapping[str, Any]) -> WorkerConfig:
    """A :class:`WorkerConfig` from parsed :func:`add_arguments` options (a dict or vars())."""
    return WorkerConfig(
        server_url=options["server"],
        labels=parse_labels(options["labels"]),
        worker_id=options["worker_id"],
        api_key=options["api_key"],
        lease_ttl=options["lease_ttl"],
        poll_interval=options["poll_interval"],
        heartbeat_interval=options["heartbeat_interval"],
        cancel_interval=options["cancel_interval"],
        log_batch_interval=options["log_batch_interval"],
        kill_grace=options["kill_grace"],
        once=options["once"],
        concurrency=options["concurrency"],
    )


# -- small machinery ------------------------------------------------------------------------------
class Backoff:
    """Waits that double from ``initial`` up to ``maximum``, with jitter so that workers
    knocked off together by an outage do not come back in lockstep."""

    def __init__(self, initial: float, maximum: float) -> None:
        self.initial, self.maximum = initial, max(initial, maximum)
        self._next = initial

    def next_delay(self) -> float:
        delay = self._next
        self._next = min(self._next * 2, self.maximum)
        return delay * random.uniform(0.8, 1.2)

    def reset(self) -> None:
        self._next = self.initial


class Periodic:
    """Calls ``action`` every ``interval`` seconds on its own thread, for a ``with`` block.
    An exception in ``action`` is logged, never fatal; leaving the block waits for the thread."""

    def __init__(self, name: str, interval: float, action: Callable[[], None]) -> None:
        self.name, self.interval, self.action = name, interval, action
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def __enter__(self) -> Periodic:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.action()
            except Exception:
                logger.exception("%s failed", self.name)


class AbortCause(enum.Enum):
    """Why a running job is ended before its command finishes."""

    #: The server cancelled it (``/cancelled`` said true).
    CANCELLED = "cancelled"
    #: The lease is gone (409): somebody else owns the job now; report nothing.
    LEASE_GONE = "lease gone"
    #: A second SIGTERM/SIGINT: the worker is going away now.
    WORKER_STOPPED = "worker stopped"


# -- completions, coalesced ----------------------------------------------------------------------
_DONE = object()


@dataclass
class _Completion:
    lease_id: str
    outputs: dict[str, str]
    #: None while unsent; then _DONE, or the exception its sender met (LeaseGone, unavailable).
    outcome: object = None


class Completer:
    """Sends the completions of jobs that end at about the same time in one call
    (``POST /api/jobs/complete``) instead of one each. Nothing waits to fill a batch: the first
    completion with no call in flight sends at once, with whatever is pending; those arriving
    meanwhile ride along with the next call. :meth:`complete` blocks until its own answer and
    raises as :meth:`JobsClient.complete` would, so the caller's retries are unchanged."""

    def __init__(self, client: JobsClient, *, batch: int = MAX_CONCURRENCY) -> None:
        self.client = client
        self.batch = batch
        self._changed = threading.Condition()
        self._pending: list[_Completion] = []
        self._sending = False

    def complete(self, lease_id: str, *, outputs: dict[str, str]) -> None:
        mine = _Completion(lease_id, outputs)
        with self._changed:
            self._pending.append(mine)
            while mine.outcome is None:
                if self._sending:
                    self._changed.wait()
                    continue
                batch, self._pending = self._pending[: self.batch], self._pending[self.batch :]
                self._sending = True
                self._changed.release()  # others queue up while this call is in flight
                try:
                    outcomes = self._send(batch)
                finally:
                    self._changed.acquire()
                    self._sending = False
                    self._changed.notify_all()
                for completion, outcome in zip(batch, outcomes, strict=True):
                    completion.outcome = outcome
        if isinstance(mine.outcome, Exception):
            raise mine.outcome

    def _send(self, batch: list[_Completion]) -> list[object]:
        try:
            refusals = self.client.complete_many([(c.lease_id, c.outputs) for c in batch])
        except ServerUnavailable as error:
            return [error] * len(batch)
        except Exception as error:  # noqa: BLE001 - every waiter must get an answer
            return [ServerUnavailable(repr(error))] * len(batch)
        return [_DONE if refusal is None else refusal for refusal in refusals]


# -- one job --------------------------------------------------------------------------------------
class JobAttempt:
    """One claimed job under its lease: runs it (a :class:`JobProcess`), keeps the lease alive,
    polls for a cancel, ships its logs, and reports how it ended, exactly once or not at all."""

    def __init__(
        self,
        claim: Claim,
        *,
        client: JobsClient,
        config: WorkerConfig,
        base_env: Mapping[str, str] = os.environ,
        completer: Completer | None = None,
    ) -> None:
        self.job, self.lease = claim.job, claim.lease
        self.client, self.config, self.base_env = client, config, base_env
        self.completer = completer
        self.logs = LogBuffer(
            workflow_id=self.job.workflow_id, job_id=self.job.job_id, attempt=self.job.attempt
        )
        #: Set to end the command; ``cause`` says why (the first cause wins).
        self.abort_requested = threading.Event()
        self.cause: AbortCause | None = None
        #: The lease is gone: send nothing more about this job.
        self._lease_gone = threading.Event()
        #: Stop retrying sends: the lease is gone, or the worker is stopping now.
        self._give_up = threading.Event()
        self._cause_lock = threading.Lock()
        self._ship_lock = threading.Lock()

    def abort(self, cause: AbortCause) -> None:
        with self._cause_lock:
            if self.cause is None:
                self.cause = cause
                logger.info("%s: ending the job (%s)", self._name, cause.value)
        if cause is AbortCause.LEASE_GONE:
            self._lease_gone.set()
        if cause in (AbortCause.LEASE_GONE, AbortCause.WORKER_STOPPED):
            self._give_up.set()
        self.abort_requested.set()

    def run(self) -> ProcessExit | None:
        """Run the job and report it. Returns how the command ended (None: it did not start)."""
        logger.info(
            "%s: attempt %d on lease %s: %s",
            self._name,
            self.job.attempt,
            self.lease.lease_id,
            self.job.command,
        )
        process = JobProcess(
            self.job.command,
            env=job_environment(
                base=self.base_env,
                job_env=self.job.env,
                upstream_outputs=self.job.upstream_outputs,
                job_id=self.job.job_id,
                workflow_id=self.job.workflow_id,
                run_id=self.job.run_id,
                attempt=self.job.attempt,
            ),
            timeout_secs=self.job.timeout_secs,
            kill_grace=self.config.kill_grace,
            on_line=self.logs.append,
        )
        with Periodic("lease-heartbeat", self.config.heartbeat_every, self.heartbeat_lease):
            with Periodic("cancel-poller", self.config.cancel_interval, self.poll_cancel):
                with Periodic("log-shipper", self.config.log_batch_interval, self.ship_logs):
                    try:
                        ended: ProcessExit | None = process.run(self.abort_requested)
                    except OSError as error:
                        logger.error("%s: could not start: %r", self._name, error)
                        ended = None
                self.ship_remaining_logs()
                self.report(ended)
        return ended

    # -- beside the command -------------------------------------------------------------------
    def heartbeat_lease(self) -> None:
        if self._lease_gone.is_set():
            return
        try:
            self.client.heartbeat_lease(self.lease.lease_id)
        except LeaseGone:
            self.abort(AbortCause.LEASE_GONE)
        except ServerUnavailable as error:
            logger.warning("%s: lease heartbeat failed: %s", self._name, error)

    def poll_cancel(self) -> None:
        if self.abort_requested.is_set():
            return
        try:
            cancelled = self.client.is_cancelled(
                workflow_id=self.job.workflow_id, job_id=self.job.job_id
            )
        except ServerUnavailable as error:
            logger.warning("%s: cancel check failed: %s", self._name, error)
            return
        if cancelled:
            self.abort(AbortCause.CANCELLED)

    def ship_logs(self) -> bool:
        """Send what is buffered, in order. False: some is left (the server is unreachable)."""
        with self._ship_lock:  # one shipper at a time keeps the chunks in order
            while not self._lease_gone.is_set():
                chunks = self.logs.drain(LOG_CHUNKS_PER_REQUEST)
                if not chunks:
                    return True
                try:
                    self.client.push_logs(self.lease.lease_id, chunks)
                except LeaseGone:
                    self.abort(AbortCause.LEASE_GONE)
                except ServerUnavailable as error:
                    self.logs.put_back(chunks)
                    logger.warning("%s: logs not shipped yet: %s", self._name, error)
                    return False
            return False

    def ship_remaining_logs(self, attempts: int = 3) -> None:
        """The final flush: before the report, since the server may refuse logs after it."""
        backoff = Backoff(self.config.log_batch_interval, self.config.max_backoff)
        for _ in range(attempts):
            if self.ship_logs() or self._give_up.wait(backoff.next_delay()):
                break
        if len(self.logs) and not self._lease_gone.is_set():
            logger.error("%s: %d log chunk(s) never shipped", self._name, len(self.logs))
        if self.logs.dropped:
            logger.error("%s: %d log chunk(s) dropped while waiting", self._name, self.logs.dropped)

    # -- the report -----------------------------------------------------------------------------
    def report(self, ended: ProcessExit | None) -> None:
        """Complete or fail the job, retrying while the server hiccups; nothing after a 409."""
        if self._lease_gone.is_set():
            logger.warning("%s: lease gone, the job is not reported", self._name)
            return
        send, what = self._outcome(ended)
        backoff = Backoff(min(self.config.poll_interval, 1.0), self.config.max_backoff)
        while True:
            try:
                send()
            except LeaseGone:
                logger.warning("%s: %s refused, the lease is gone", self._name, what)
                return
            except ServerUnavailable as error:
                logger.warning("%s: %s not reported yet: %s", self._name, what, error)
                if self._give_up.wait(backoff.next_delay()):
                    if not self._lease_gone.is_set():  # the worker is stopping: one last try
                        self._report_once(send, what)
                    return
            else:
                logger.info("%s: %s", self._name, what)
                return

    def _outcome(self, ended: ProcessExit | None) -> tuple[Callable[[], None], str]:
        lease_id = self.lease.lease_id
        if ended is None:
            return self._fail(lease_id, "the worker could not start the command", True)
        if ended.aborted and self.cause is AbortCause.CANCELLED:
            return self._fail(lease_id, "cancelled", False)
        if ended.aborted:  # the worker is stopping: another worker may run it
            return self._fail(lease_id, "worker stopped", True)
        if ended.timed_out:
            return self._fail(lease_id, f"timed out after {self.job.timeout_secs:g} s", True)
        if ended.returncode == 0:
            complete = self.completer.complete if self.completer else self.client.complete
            return (
                lambda: complete(lease_id, outputs=ended.outputs),
                f"completed with {len(ended.outputs)} output(s)",
            )
        return self._fail(lease_id, ended.failure_message(), True, code=ended.returncode)

    def _fail(
        self, lease_id: str, error: str, retryable: bool, *, code: int | None = None
    ) -> tuple[Callable[[], None], str]:
        what = f"failed ({f'exit code {code}' if code is not None else error})"
        return lambda: self.client.fail(lease_id, error=error, retryable=retryable), what

    def _report_once(self, send: Callable[[], None], what: str) -> None:
        try:
            send()
        except (LeaseGone, ServerUnavailable) as error:
            logger.warning("%s: %s not reported: %s", self._name, what, error)

    @property
    def _name(self) -> str:
        return f"job {self.job.job_id!r} of {self.job.workflow_id}"


# -- the worker -----------------------------------------------------------------------------------
class Worker:
    """Registers, keeps itself known with heartbeats, and claims and runs jobs (up to
    ``concurrency`` at once) until stopped. :meth:`stop` lets the jobs in hand finish;
    :meth:`force_stop` ends them."""

    def __init__(
        self,
        config: WorkerConfig,
        *,
        client: JobsClient | None = None,
        base_env: Mapping[str, str] = os.environ,
    ) -> None:
        self.config = config
        self.client = client or JobsClient(config.server_url, api_key=config.api_key)
        #: Jobs side by side end side by side: their completions share calls.
        self.completer = Completer(self.client) if config.concurrency > 1 else None
        self.base_env = base_env
        self.stopping = threading.Event()
        self.forced = threading.Event()
        #: The jobs in hand, by lease; changes notify :attr:`_slots`.
        self.running: dict[str, JobAttempt] = {}
        self._slots = threading.Condition()
        #: Jobs claimed so far.
        self.jobs_run = 0
        self._backoff = Backoff(min(config.poll_interval, 1.0), config.max_backoff)

    @property
    def labels(self) -> list[str]:
        return list(self.config.labels)

    def stop(self) -> None:
        """Claim nothing more; finish the jobs in hand, report them, then :meth:`run` returns."""
        self.stopping.set()
        with self._slots:
            self._slots.notify_all()

    def force_stop(self) -> None:
        """End the jobs in hand now (reported as retryable), then :meth:`run` returns."""
        self.forced.set()
        self.stop()
        with self._slots:
            attempts = list(self.running.values())
        for attempt in attempts:
            attempt.abort(AbortCause.WORKER_STOPPED)

    def run(self) -> int:
        """Work until stopped (or after one claim with ``once``). Returns the exit status:
        0, or 1 after a forced stop."""
        logger.info(
            "worker %s on %s, labels %s, %d at once",
            self.config.worker_id,
            self.config.server_url,
            ",".join(self.config.labels) or "(none)",
            self.config.concurrency,
        )
        try:
            if not self.register():
                return 0
            with Periodic("worker-heartbeat", self.config.heartbeat_every, self.heartbeat):
                if self.config.concurrency == 1 or self.config.once:
                    self._one_at_a_time()
                else:
                    self._many_at_once()
        finally:
            self.client.close()
        logger.info("worker %s stopped", self.config.worker_id)
        return 1 if self.forced.is_set() else 0

    def _one_at_a_time(self) -> None:
        while not self.stopping.is_set():
            claim = self.claim()
            if claim is not None:
                self.run_job(claim)
            if self.config.once:
                break
            if claim is None:
                self.stopping.wait(self.config.poll_interval)

    def _many_at_once(self) -> None:
        threads: list[threading.Thread] = []
        while not self.stopping.is_set():
            with self._slots:
                self._slots.wait_for(
                    lambda: self.stopping.is_set() or len(self.running) < self.config.concurrency
                )
                free = self.config.concurrency - len(self.running)
            if self.stopping.is_set():
                break
            claims = self.claim_many(free)
            for claim in claims:
                thread = threading.Thread(
                    target=self.run_job, args=(claim,), name=f"job-{claim.job.job_id}"
                )
                thread.start()
                threads.append(thread)
            threads = [thread for thread in threads if thread.is_alive()]
            if not claims:
                self.stopping.wait(self.config.poll_interval)
        for thread in threads:  # stopped: the jobs in hand finish (or were aborted)
            thread.join()

    def register(self) -> bool:
        """Register, retrying until the server answers. False: stopped before it did."""
        while not self.stopping.is_set():
            try:
                self.client.register(worker_id=self.config.worker_id, labels=self.labels)
            except ServerUnavailable as error:
                self._wait_after(f"registration failed: {error}")
            else:
                self._backoff.reset()
                return True
        return False

    def heartbeat(self) -> None:
        try:
            known = self.client.heartbeat_worker(self.config.worker_id)
        except ServerUnavailable as error:
            logger.warning("worker heartbeat failed: %s", error)
            return
        if not known:
            logger.warning("the server does not know worker %s: registering", self.config.worker_id)
            try:
                self.client.register(worker_id=self.config.worker_id, labels=self.labels)
            except ServerUnavailable as error:
                logger.warning("registration failed: %s", error)

    def claim(self) -> Claim | None:
        """The server's answer to one claim: a job, or None when there is nothing to do (or
        the worker was stopped while the server was unreachable)."""
        return self._asking(
            lambda: self.client.claim(
                worker_id=self.config.worker_id,
                labels=self.labels,
                lease_ttl_secs=self.config.lease_ttl,
            ),
            None,
        )

    def claim_many(self, max_jobs: int) -> list[Claim]:
        """Up to *max_jobs* jobs in one call; none when there is nothing to do (or the worker
        was stopped while the server was unreachable)."""
        return self._asking(
            lambda: self.client.claim_many(
                worker_id=self.config.worker_id,
                labels=self.labels,
                lease_ttl_secs=self.config.lease_ttl,
                max_jobs=max_jobs,
            ),
            [],
        )

    def _asking(self, ask: Callable[[], Any], stopped: Any) -> Any:
        """*ask*'s answer, retried with backoff while the server is unavailable."""
        while not self.stopping.is_set():
            try:
                answer = ask()
            except ServerUnavailable as error:
                self._wait_after(f"claim failed: {error}")
            else:
                self._backoff.reset()
                return answer
        return stopped

    def run_job(self, claim: Claim) -> ProcessExit | None:
        attempt = JobAttempt(
            claim,
            client=self.client,
            config=self.config,
            base_env=self.base_env,
            completer=self.completer,
        )
        lease_id = claim.lease.lease_id
        with self._slots:
            self.running[lease_id] = attempt
            self.jobs_run += 1
        if self.forced.is_set():  # a second signal came while the claim was in flight
            attempt.abort(AbortCause.WORKER_STOPPED)
        try:
            return attempt.run()
        finally:
            with self._slots:
                del self.running[lease_id]
                self._slots.notify_all()

    def _wait_after(self, problem: str) -> None:
        delay = self._backoff.next_delay()
        logger.warning("%s; retrying in %.1f s", problem, delay)
        self.stopping.wait(delay)


def install_signal_handlers(worker: Worker) -> None:
    """SIGTERM/SIGINT: the first finishes the job in hand, the second ends it. The job's
    process group has its own session, so a terminal's Ctrl-C reaches only the worker.

    The signals are acted on by a thread of their own, not in a handler: a handler runs on the
    main thread between any two bytecodes, possibly inside ``Event.wait`` while it holds the
    event's lock, and setting that event there would deadlock. The handler does nothing; the
    interpreter writes each signal's number to a pipe (``set_wakeup_fd``), which the thread reads.
    Call it from the main thread.
    """
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _ignore_here)
    threading.Thread(
        target=_act_on_signals, args=(worker, read_fd), name="signals", daemon=True
    ).start()


def _ignore_here(signum: int, frame: FrameType | None) -> None:
    """Replaces the default action (death, or KeyboardInterrupt): see _act_on_signals."""


def _act_on_signals(worker: Worker, read_fd: int) -> None:
    received = 0
    while True:
        for signum in os.read(read_fd, 64):
            if signum not in (signal.SIGTERM, signal.SIGINT):
                continue
            received += 1
            name = signal.Signals(signum).name
            if received == 1:
                worker.stop()
                logger.info("%s: finishing the job in hand, then stopping (again: now)", name)
            else:
                worker.force_stop()
                logger.warning("another %s: ending the job in hand and stopping", name)


def quiet_http_logs() -> None:
    """httpx logs every request at INFO: with polling that is a line every two seconds."""
    logging.getLogger("httpx").setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="duragraph-jobs-worker",
        description="Claim and run DAG jobs from a DuraGraph (or workflow-graph) server.",
    )
    add_arguments(parser)
    parser.add_argument(
        "--log-level", default=os.environ.get("LOG_LEVEL", "INFO"), help="default: INFO"
    )
    options = vars(parser.parse_args(argv))
    logging.basicConfig(
        level=options["log_level"].upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    quiet_http_logs()
    try:
        config = config_from_options(options)
    except ValueError as error:
        parser.error(str(error))
    worker = Worker(config)
    install_signal_handlers(worker)
    return worker.run()


if __name__ == "__main__":
    sys.exit(main())
