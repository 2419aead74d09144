"""DAG jobs: claim+complete throughput of no-op jobs, and the cascade's latency.

Runs against the configured PostgreSQL (the embedded one by default, or ``DATABASE_URL``), in a
throwaway ``test_*`` database that Django creates and drops, through the services the HTTP API
calls (``workflows.services``: each claim and each complete is its own transaction, with its
events, read models and outbox rows), without HTTP in between, as the anchors' figures are.

- **throughput**: ``--runs`` runs of a workflow of ``--width`` independent no-op jobs are
  started (not timed); then 1, 4 and 16 workers (forked processes, each its own connection)
  claim and complete until the queue is empty, one job per call (workflow-graph's protocol)
  and ``--batch`` jobs per call (``jobs_claim``/``jobs_complete``: ``max_jobs`` and
  ``POST /api/jobs/complete``, for a worker running many jobs at once, as pg-boss fetches and
  completes arrays). Jobs per second, and the anchors' published figures for PostgreSQL job
  queues (procrastinate ~270/s, river ~500/s, pg-boss ~2,400/s, on 4 CPUs; this machine has
  2) beside them.
- **cascade**: a chain ``j0 -> j1 -> ...``; one worker completes each job and claims the next
  at once: from the complete call to the downstream job claimed, p50/p99 (the next job is
  enqueued in the complete's own transaction, so this is complete + claim).

Goals (issue 14): >= 1,000 jobs/s, cascade p50 <= 10 ms.

    python bench/jobs.py [--runs 100] [--width 20] [--chain 200] [--workers 1,4,16]
                         [--batch 10]
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "duragraph_site.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402

from workflows import definitions, services  # noqa: E402
from workflows.models import JobRun  # noqa: E402

ANCHORS = "procrastinate ~270/s, river ~500/s, pg-boss ~2,400/s (4 CPUs)"
GOAL_RATE = 1000.0
GOAL_CASCADE_MS = 10.0


def workflow(jobs: dict[str, dict[str, Any]]) -> definitions.Workflow:
    return definitions.parse_document({"name": "bench", "on": "bench", "jobs": jobs})


def start_runs(prefix: str, runs: int, width: int) -> int:
    """*runs* runs of *width* independent no-op jobs (one workflow each: a workflow has one
    active run at a time); how many jobs are queued."""
    wide = workflow({f"j{n}": {"run": "true"} for n in range(width)})
    for n in range(runs):
        services.workflow_define(workflow_id=f"{prefix}-{n}", workflow=wide, source="api")
        assert services.workflow_run_start(workflow_id=f"{prefix}-{n}").started
    return runs * width


def forget_connections() -> None:
    """No connection crosses a fork: the pool's sockets would be shared by two processes."""
    connection.close()
    connection.close_pool()


def drain(name: str, batch: int, results: Any) -> None:
    done = 0
    if batch == 1:
        while (job := services.job_claim(worker_id=name, labels=[], ttl_seconds=60)) is not None:
            services.job_complete(lease_id=job.lease_id, outputs={})
            done += 1
    else:
        while jobs := services.jobs_claim(worker_id=name, labels=[], ttl_seconds=60, limit=batch):
            refusals = services.jobs_complete([(job.lease_id, {}) for job in jobs])
            assert refusals == [None] * len(jobs), refusals
            done += len(jobs)
    results.put(done)


def throughput(workers: int, batch: int, runs: int, width: int) -> tuple[int, float]:
    total = start_runs(f"wide-{workers}-{batch}", runs, width)
    forget_connections()
    results: Any = multiprocessing.Queue()
    processes = [
        multiprocessing.Process(target=drain, args=(f"w{n}", batch, results))
        for n in range(workers)
    ]
    started = time.perf_counter()
    for process in processes:
        process.start()
    done = sum(results.get() for _ in processes)
    elapsed = time.perf_counter() - started
    for process in processes:
        process.join()
    assert done == total, (done, total)
    return done, elapsed


def cascade(length: int) -> list[float]:
    chain = {
        f"j{n}": {"run": "true", **({"needs": f"j{n - 1}"} if n else {})} for n in range(length)
    }
    services.workflow_define(workflow_id="chain", workflow=workflow(chain), source="api")
    services.workflow_run_start(workflow_id="chain")
    latencies = []
    job = services.job_claim(worker_id="c", labels=[], ttl_seconds=60)
    while job is not None:
        started = time.perf_counter()
        services.job_complete(lease_id=job.lease_id, outputs={})
        job = services.job_claim(worker_id="c", labels=[], ttl_seconds=60)
        if job is not None:
            latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--width", type=int, default=20)
    parser.add_argument("--chain", type=int, default=200)
    parser.add_argument("--workers", default="1,4,16")
    parser.add_argument("--batch", type=int, default=10, help="jobs per call, besides 1")
    args = parser.parse_args()
    multiprocessing.set_start_method("fork")
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            version = cursor.fetchone()[0]
        print(f"PostgreSQL {version}, {os.cpu_count()} CPUs; anchors: {ANCHORS}\n")
        print("| jobs per call | workers | jobs | seconds | jobs/s | goal >= 1,000/s |")
        print("|---|---|---|---|---|---|")
        for batch in sorted({1, args.batch}):
            for workers in (int(n) for n in args.workers.split(",")):
                done, elapsed = throughput(workers, batch, args.runs, args.width)
                rate = done / elapsed
                verdict = "met" if rate >= GOAL_RATE else "MISSED"
                print(f"| {batch} | {workers} | {done} | {elapsed:.2f} | {rate:,.0f} | {verdict} |")
                JobRun.objects.all().delete()
        latencies = cascade(args.chain)
        p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
        verdict = "met" if p50 <= GOAL_CASCADE_MS else "MISSED"
        print(
            "\n| cascade (complete -> next job claimed) | n | p50 ms | p99 ms | goal p50 <= 10 ms |"
        )
        print("|---|---|---|---|---|")
        print(f"| chain of {args.chain} | {len(latencies)} | {p50:.2f} | {p99:.2f} | {verdict} |")
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
