"""The scheduler (``manage.py scheduler``): the periodic jobs, run in this process itself.

The lease reaper, the queue sweeper, the cron ticks and the TTL expiry each run on a thread of
their own, at their own period. They are never Celery tasks: a task would wait in the broker
behind run execution, and executors whose every slot is draining the queue would not get to it
for as long as the backlog lasts, which is exactly when a frozen executor's runs must be taken
back (docs/scheduler.md). Here a saturated executor pool cannot delay them, and a slow cron tick
cannot delay the reaper.

Run one or several: every job is safe to run concurrently (the reaper locks each run it hands
back, ``workers_mark_lost`` skips locked rows, cron firing takes a leader lock per tick).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import close_old_connections
from prometheus_client import Counter, Histogram

from duragraph_site import langgraph_config
from runs import crons
from runs import selectors as run_selectors
from store import services as store_services
from threads import services as thread_services
from workers import reaper
from workers import services as worker_services
from workers import tasks as worker_tasks
from workflows import services as workflow_services

if TYPE_CHECKING:
    from collections.abc import Callable

logger = logging.getLogger("duragraph.scheduler")

JOB_RUNS = Counter(
    "duragraph_scheduler_job_runs",
    "Periodic jobs run by the scheduler, by job and outcome (ok, error)",
    ["job", "outcome"],
)
JOB_SECONDS = Histogram(
    "duragraph_scheduler_job_seconds",
    "Seconds one run of a periodic job took",
    ["job"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30),
)


@dataclass(frozen=True)
class Job:
    """A periodic job: *action* every *period* seconds (measured from start to start)."""

    name: str
    period: float
    action: Callable[[], Any]

    def __post_init__(self) -> None:
        if not self.period > 0:
            raise ValueError(f"job {self.name!r}: period must be positive, not {self.period!r}")


# -- the jobs ---------------------------------------------------------------------------------
def reap() -> int:
    """Hand back the runs of lost workers and expired leases; wake executors for the retries."""
    reaped = reaper.workers_reap()
    if any(run.status == "pending" for run in reaped):
        worker_tasks.execute_runs.delay()
    return len(reaped)


def sweep() -> bool:
    """Re-send a wake-up when claimable runs wait (a lost wake-up, or a delay that just ended)."""
    if run_selectors.runs_claimable_exist():
        worker_tasks.execute_runs.delay()
        return True
    return False


def fire_crons() -> int:
    """Create the runs of due crons (exactly once per tick, whatever the number of schedulers)."""
    created = crons.crons_fire_due()
    if created:
        worker_tasks.execute_runs.delay()
    return len(created)


def expire() -> dict[str, int]:
    """Delete threads, store items and node cache entries whose TTL has passed."""
    return {
        "threads": thread_services.threads_delete_expired(),
        "store_items": store_services.store_prune_expired(),
        "node_cache": worker_services.node_cache_prune_expired(),
    }


def expire_seconds() -> float:
    """How often :func:`expire` runs: ``DURAGRAPH_EXPIRE_SECONDS``, or more often when
    ``langgraph.json`` asks a shorter ``sweep_interval_minutes`` of the store or threads."""
    asked = [
        minutes * 60
        for name in ("store", "checkpointer")
        if (minutes := langgraph_config.ttl_config(name).get("sweep_interval_minutes"))
    ]
    return min([settings.DURAGRAPH_EXPIRE_SECONDS, *asked])


def load_workflows() -> list[workflow_services.Loaded]:
    """The workflow definitions of ``WORKFLOWS_DIR`` (none when it does not exist)."""
    return workflow_services.workflows_load_dir(settings.WORKFLOWS_DIR)


def reap_jobs() -> int:
    """DAG jobs whose lease expired or whose time ran out: retried, or failed (workflows)."""
    return workflow_services.jobs_reap()


def default_jobs() -> list[Job]:
    """The jobs at the periods of the settings (``DURAGRAPH_*_SECONDS``)."""
    return [
        Job("reap", settings.DURAGRAPH_REAPER_SECONDS, reap),
        Job("reap_jobs", settings.DURAGRAPH_JOBS_REAPER_SECONDS, reap_jobs),
        Job("sweep", settings.DURAGRAPH_SWEEPER_SECONDS, sweep),
        Job("crons", settings.DURAGRAPH_CRON_TICK_SECONDS, fire_crons),
        Job("expire", expire_seconds(), expire),
    ]


# -- running them -----------------------------------------------------------------------------
def run_once(job: Job) -> bool:
    """Run *job* once; False (logged, counted) if it raised. Gives its connection back after."""
    started = time.perf_counter()
    try:
        job.action()
    except Exception:  # noqa: BLE001 - one failed tick (the database away, say) must not stop the job
        logger.exception("periodic job %s failed; next try in %.1fs", job.name, job.period)
        JOB_RUNS.labels(job.name, "error").inc()
        return False
    finally:
        JOB_SECONDS.labels(job.name).observe(time.perf_counter() - started)
        close_old_connections()
    JOB_RUNS.labels(job.name, "ok").inc()
    return True


def run(jobs: list[Job], *, stop: threading.Event) -> None:
    """Run every job at its period, each on its own thread, until *stop* is set."""
    for job in jobs:
        for outcome in ("ok", "error"):
            JOB_RUNS.labels(job.name, outcome)  # every series exists from the start

    def loop(job: Job) -> None:
        next_at = time.monotonic()
        while not stop.is_set():
            run_once(job)
            # Fixed rate, but never a burst of catch-up runs after a long one.
            next_at = max(next_at + job.period, time.monotonic())
            stop.wait(next_at - time.monotonic())

    threads = [
        threading.Thread(target=loop, args=(job,), name=f"scheduler-{job.name}", daemon=True)
        for job in jobs
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
