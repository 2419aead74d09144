"""Runs end to end through the official client, ours next to ``langgraph dev`` in the same run.

Prints one table:

- sequential ``threads.create`` + ``runs.wait`` of a 3-node no-op graph: p50/p99 latency;
- throughput with 8 and 32 concurrent clients doing the same (runs/s);
- per-step overhead: (p50 of a 20-node chain - p50 of a 1-node graph) / 19;
- seconds from SIGKILL of an executor to the run's completion by another (ours only: the
  in-memory ``langgraph dev`` has no second executor to take over).

Ours runs as ``make dev`` runs it (``manage.py dev``: embedded PostgreSQL and NATS, 4 executor
threads); ``langgraph dev`` runs with ``--n-jobs-per-worker 10`` (its default is 1). Both
register the same graphs (bench/graphs.py). Sync langgraph-sdk clients, one thread each.

    python bench/runs.py [--sequential 50] [--seconds 10] [--only ours|theirs]
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from langgraph_sdk import get_sync_client  # noqa: E402

from bench.graphs import GRAPHS  # noqa: E402
from bench.peer import Server, start_langgraph_dev, start_ours  # noqa: E402


@dataclass
class Sample:
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    errors: int = 0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return (
            ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000
            if ordered
            else float("nan")
        )


def create_and_wait(client, graph: str) -> None:
    thread = client.threads.create()
    result = client.runs.wait(thread["thread_id"], graph, input={"steps": 0})
    if not isinstance(result, dict) or "steps" not in result:
        raise RuntimeError(f"unexpected result {result!r}")


def sequential(url: str, graph: str, count: int, warmup: int = 3) -> Sample:
    with get_sync_client(url=url, api_key=None) as client:
        for _ in range(warmup):
            create_and_wait(client, graph)
        sample = Sample()
        started = time.perf_counter()
        for _ in range(count):
            t0 = time.perf_counter()
            create_and_wait(client, graph)
            sample.latencies.append(time.perf_counter() - t0)
        sample.elapsed = time.perf_counter() - started
    return sample


def concurrent(url: str, graph: str, clients: int, seconds: float) -> Sample:
    sample = Sample()
    lock = threading.Lock()
    stop = threading.Event()

    def work() -> None:
        with get_sync_client(url=url, api_key=None) as client:
            while not stop.is_set():
                t0 = time.perf_counter()
                try:
                    create_and_wait(client, graph)
                except Exception:  # noqa: BLE001 - counted, reported
                    with lock:
                        sample.errors += 1
                    continue
                if not stop.is_set():
                    with lock:
                        sample.latencies.append(time.perf_counter() - t0)

    threads = [threading.Thread(target=work) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    sample.elapsed = time.perf_counter() - started
    for thread in threads:
        thread.join()
    return sample


def executor_processes(server: Server) -> list[psutil.Process]:
    assert server.process is not None
    children = psutil.Process(server.process.pid).children(recursive=True)
    return [p for p in children if "celery" in " ".join(p.cmdline()) and "worker" in p.cmdline()]


def sigkill_recovery(server: Server) -> float:
    """Kill the executor while a run's second node sleeps; seconds until the run succeeds."""
    with get_sync_client(url=server.url, api_key=None) as client:
        thread = client.threads.create()
        run = client.runs.create(thread["thread_id"], "sleepy", input={"sleep": 1.0})
        _until(
            lambda: (
                "fast"
                in (client.threads.get_state(thread["thread_id"])["values"].get("done") or [])
            ),
            30,
        )
        for process in executor_processes(server):
            process.send_signal(signal.SIGKILL)
        killed = time.perf_counter()
        _until(
            lambda: client.runs.get(thread["thread_id"], run["run_id"])["status"] == "success",
            120,
            interval=0.05,
        )
        return time.perf_counter() - killed


def _until(predicate: Callable[[], bool], timeout: float, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(interval)


def measure(server: Server, args: argparse.Namespace, crash: bool) -> dict[str, object]:
    print(f"measuring {server.name} ...", file=sys.stderr, flush=True)
    count = args.sequential if server.name == "ours" else max(5, args.sequential // 5)
    results: dict[str, object] = {"sequential": sequential(server.url, "noop3", count)}
    for clients in (8, 32):
        results[f"c{clients}"] = concurrent(server.url, "noop3", clients, args.seconds)
    steps = max(5, count // 2)
    one, twenty = sequential(server.url, "chain1", steps), sequential(server.url, "chain20", steps)
    results["per_step_ms"] = (
        (statistics.median(twenty.latencies) - statistics.median(one.latencies)) / 19 * 1000
    )
    if crash:
        results["sigkill_s"] = sigkill_recovery(server)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sequential", type=int, default=50, help="sequential runs for ours (theirs: a fifth)"
    )
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="duration of each concurrent row"
    )
    parser.add_argument("--only", choices=["ours", "theirs"])
    args = parser.parse_args()

    sides: dict[str, dict[str, object]] = {}
    if args.only != "theirs":
        with start_ours(graphs=GRAPHS) as ours:
            sides["ours"] = measure(ours, args, crash=True)
    if args.only != "ours":
        with start_langgraph_dev(GRAPHS, extra_args=["--n-jobs-per-worker", "10"]) as theirs:
            sides["theirs"] = measure(theirs, args, crash=False)
    print_table(sides)


def print_table(sides: dict[str, dict[str, object]]) -> None:
    ours, theirs = sides.get("ours", {}), sides.get("theirs", {})

    def cell(side: dict, key: str, fmt: Callable[[object], str]) -> str:
        return fmt(side[key]) if key in side else "n/a"

    rows = [
        (
            "sequential create+wait p50 (ms)",
            "sequential",
            lambda s: f"{s.percentile(50):.1f}",
            lambda o, t: t.percentile(50) / o.percentile(50),
        ),
        (
            "sequential create+wait p99 (ms)",
            "sequential",
            lambda s: f"{s.percentile(99):.1f}",
            lambda o, t: t.percentile(99) / o.percentile(99),
        ),
        (
            "sequential runs/s",
            "sequential",
            lambda s: f"{s.rate:.1f}",
            lambda o, t: o.rate / t.rate,
        ),
        ("8 clients runs/s", "c8", lambda s: f"{s.rate:.1f}", lambda o, t: o.rate / t.rate),
        (
            "8 clients p50 (ms)",
            "c8",
            lambda s: f"{s.percentile(50):.1f}",
            lambda o, t: t.percentile(50) / o.percentile(50),
        ),
        ("32 clients runs/s", "c32", lambda s: f"{s.rate:.1f}", lambda o, t: o.rate / t.rate),
        (
            "32 clients p50 (ms)",
            "c32",
            lambda s: f"{s.percentile(50):.1f}",
            lambda o, t: t.percentile(50) / o.percentile(50),
        ),
        (
            "per-step overhead (ms)",
            "per_step_ms",
            lambda v: f"{v:.2f}",
            lambda o, t: t / o if o > 0 else float("nan"),
        ),
        ("SIGKILL to completion (s)", "sigkill_s", lambda v: f"{v:.2f}", None),
    ]
    header = f"{'metric':<34}{'ours':>12}{'theirs':>12}{'advantage':>11}"
    print(header)
    print("-" * len(header))
    for label, key, fmt, ratio in rows:
        advantage = (
            f"{ratio(ours[key], theirs[key]):.1f}x"
            if ratio and key in ours and key in theirs
            else ""
        )
        print(f"{label:<34}{cell(ours, key, fmt):>12}{cell(theirs, key, fmt):>12}{advantage:>11}")
    errors = {
        name: sum(s.errors for s in side.values() if isinstance(s, Sample))
        for name, side in sides.items()
    }
    print(
        f"\nerrors: {errors}   advantage > 1 means ours is better (latency: theirs/ours; rate: ours/theirs)"
    )


if __name__ == "__main__":
    main()
