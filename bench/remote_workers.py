"""Remote workers: the DuraGraph SDK from PyPI (``duragraph==0.3.3``, unchanged) executing runs
created through the official ``langgraph-sdk``, against our server as ``make dev`` runs it.

Prints one table:

- runs/s and end-to-end latency p50/p99 of a two-node graph (``remote_hello`` of
  tests/e2e/remote_worker.py) with 1 and 4 SDK worker processes. Runs are created in one batch
  (throughput; their latency, a run's ``created_at`` to its final ``updated_at`` on the server's
  clock, is mostly queueing), then waited for one at a time (latency with an idle fleet).
  First with the SDK's defaults: it sleeps ``poll_interval`` (1 s) after every poll and takes
  one task per poll, so each worker starts at most one run per second, whatever the server
  does; then with ``poll_interval=0.01``, to show what the server sustains when the workers ask
  as fast as they can;
- the server's poll latency p50/p99 as a worker sees it (HTTP/1.1 keep-alive, like the SDK's
  httpx client): a poll with nothing to do (204), a poll that leases a run (200), and an event
  report (``node_completed``: a node event, two stream chunks and a checkpoint).

    python bench/remote_workers.py [--runs-per-worker 15] [--tuned-runs 300] [--polls 300]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from langgraph_sdk import get_sync_client  # noqa: E402

from bench.peer import start_ours  # noqa: E402
from tests.e2e.processes import Process, start_remote_worker  # noqa: E402

PROBE_GRAPH = {  # served by the bench's own probe worker only
    "graph_id": "bench_probe",
    "nodes": [{"id": "only", "type": "function", "config": {"is_entrypoint": True}}],
    "edges": [],
    "entry_point": "only",
}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def run_fleet(
    url: str, workers: int, runs: int, poll_interval: float, logs: Path, alone: int
) -> dict:
    """*workers* SDK processes; *runs* runs created at once (throughput, and latency under that
    burst), then *alone* runs one at a time (``runs.wait``: latency with an idle fleet)."""
    names = [f"bench-{uuid.uuid4().hex[:6]}" for _ in range(workers)]
    fleet: list[Process] = [
        start_remote_worker(
            name, url=url, log_dir=logs, poll_interval=poll_interval, heartbeat_interval=5
        )
        for name in names
    ]
    try:
        with get_sync_client(url=url, api_key=None) as client:
            payloads = [
                {"assistant_id": "remote_hello", "input": {"tag": str(i)}, "on_completion": "keep"}
                for i in range(runs)
            ]
            created = client.runs.create_batch(payloads)
            finished = []
            for run in created:
                client.runs.join(run["thread_id"], run["run_id"])
                finished.append(client.runs.get(run["thread_id"], run["run_id"]))
            one_at_a_time = []
            for _ in range(alone):
                started = time.perf_counter()
                result = client.runs.wait(None, "remote_hello", input={"name": "bench"})
                one_at_a_time.append((time.perf_counter() - started) * 1000)
                if result.get("farewell") != "bye":
                    raise RuntimeError(f"unexpected result {result!r}")
    finally:
        for process in fleet:
            process.stop()
    failed = [run for run in finished if run["status"] != "success"]
    if failed:
        raise RuntimeError(f"{len(failed)} runs did not succeed, e.g. {failed[0]}")
    starts = [datetime.fromisoformat(run["created_at"]) for run in finished]
    ends = [datetime.fromisoformat(run["updated_at"]) for run in finished]
    latencies = [
        (end - start).total_seconds() * 1000 for start, end in zip(starts, ends, strict=True)
    ]
    span = (max(ends) - min(starts)).total_seconds()
    return {
        "runs/s": runs / span,
        "p50 ms": percentile(latencies, 50),
        "p99 ms": percentile(latencies, 99),
        "alone p50 ms": percentile(one_at_a_time, 50),
        "alone p99 ms": percentile(one_at_a_time, 99),
    }


def poll_latency(url: str, polls: int) -> dict[str, tuple[float, float]]:
    """p50/p99 (ms) of an empty poll, a leasing poll and an event report, from one client."""
    worker_id = f"probe-{uuid.uuid4().hex[:6]}"
    base = f"{url}/api/v1/workers"
    timings: dict[str, list[float]] = {"empty": [], "lease": [], "event": []}
    with httpx.Client(timeout=30) as http, get_sync_client(url=url, api_key=None) as client:
        http.post(
            f"{base}/register",
            json={
                "worker_id": worker_id,
                "capabilities": {"graphs": ["bench_probe"], "max_concurrent_runs": polls + 1},
                "graph_definitions": [PROBE_GRAPH],
            },
        ).raise_for_status()

        def timed(kind: str, path: str, body: dict) -> httpx.Response:
            started = time.perf_counter()
            response = http.post(f"{base}/{worker_id}/{path}", json=body)
            timings[kind].append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
            return response

        for _ in range(polls):
            assert timed("empty", "poll", {"max_tasks": 1}).status_code == 204
        client.runs.create_batch(
            [{"assistant_id": "bench_probe", "input": {"i": i}} for i in range(polls)]
        )
        for _ in range(polls):
            [task] = timed("lease", "poll", {"max_tasks": 1}).json()["tasks"]
            timed(
                "event",
                "events",
                {
                    "run_id": task["run_id"],
                    "event_type": "node_completed",
                    "data": {"node_id": "only", "output": {"done": True}},
                },
            )
            http.post(
                f"{base}/{worker_id}/events",
                json={"run_id": task["run_id"], "event_type": "run_completed", "data": {}},
            ).raise_for_status()
    return {kind: (percentile(v, 50), percentile(v, 99)) for kind, v in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs-per-worker", type=int, default=15, help="at the SDK's 1 s poll")
    parser.add_argument("--tuned-runs", type=int, default=300, help="at poll_interval=0.01")
    parser.add_argument("--polls", type=int, default=300)
    parser.add_argument("--alone", type=int, default=10, help="runs waited for one at a time")
    args = parser.parse_args()

    rows = []
    with start_ours() as ours, tempfile.TemporaryDirectory() as logs:
        for poll_interval, label in ((1.0, "SDK default poll 1 s"), (0.01, "poll 0.01 s")):
            for workers in (1, 4):
                runs = args.runs_per_worker * workers if poll_interval == 1.0 else args.tuned_runs
                print(f"measuring {workers} worker(s), {label} ...", file=sys.stderr, flush=True)
                figures = run_fleet(
                    ours.url, workers, runs, poll_interval, Path(logs), alone=args.alone
                )
                rows.append((f"{workers} worker(s), {label}, {runs} runs", figures))
        print("measuring poll latency ...", file=sys.stderr, flush=True)
        polls = poll_latency(ours.url, args.polls)

    header = (
        f"{'remote workers (2-node graph)':<46}{'runs/s':>9}{'burst p50':>11}{'burst p99':>11}"
        f"{'alone p50':>11}{'alone p99':>11}"
    )
    print(header)
    print("-" * len(header))
    for label, f in rows:
        print(
            f"{label:<46}{f['runs/s']:>9.2f}{f['p50 ms']:>11.0f}{f['p99 ms']:>11.0f}"
            f"{f['alone p50 ms']:>11.0f}{f['alone p99 ms']:>11.0f}"
        )
    print(
        "(ms; burst: all runs created at once, latency = created_at to final updated_at on the"
        "\nserver's clock, queueing included; alone: one runs.wait at a time, on the client)"
    )
    print()
    header = f"{'server latency, one client':<46}{'p50 ms':>10}{'p99 ms':>10}"
    print(header)
    print("-" * len(header))
    for kind, label in (
        ("empty", "poll, nothing to do (204)"),
        ("lease", "poll that leases a run (200)"),
        ("event", "event report (node_completed)"),
    ):
        p50, p99 = polls[kind]
        print(f"{label:<46}{p50:>10.1f}{p99:>10.1f}")
    print(
        "\nThe SDK sleeps poll_interval (default 1 s) after every poll and takes one task per"
        "\npoll: at the defaults each worker starts at most 1 run/s, whatever the server does."
    )


if __name__ == "__main__":
    main()
