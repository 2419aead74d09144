"""API throughput through the official client: our server next to ``langgraph dev``, as a ratio.

Requests per second and p50/p99 latency of ``threads.create``, ``threads.get``,
``assistants.search``, ``store.put_item`` and ``store.get_item``, each with 1 and 16 concurrent
clients. Each client is its own ``langgraph_sdk.get_sync_client`` (one keep-alive connection) in
its own thread, issuing requests back to back. Both servers run on this machine, as the user runs
them (``bench/peer.py``): ours as ``make dev`` starts it the first time (embedded PostgreSQL and
NATS in a fresh ``DURAGRAPH_HOME``), then ``langgraph dev`` (in-memory runtime, installed once into
``.bench/langgraph-venv``) with the same graphs. One server runs at a time: all of ours, then all
of theirs.

    python bench/api.py [--seconds 5] [--clients 1,16] [--only ours|theirs]
                        [--ours-url URL] [--theirs-url URL]

``--ours-url``/``--theirs-url`` measure an already running server instead of starting one. A
request that fails (say a 404 from an endpoint that does not exist yet) turns its row into
``n/a (<status>)``. Under the table, CPU milliseconds per request show where the time goes: in
this client process and in each process of a server this script started.
"""

from __future__ import annotations

import argparse
import itertools
import math
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
from langgraph_sdk import get_sync_client
from langgraph_sdk.client import SyncLangGraphClient

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peer import Server, project_graphs, start_langgraph_dev, start_ours  # noqa: E402

Request = Callable[[], object]
STORE_VALUE = {"text": "a small value", "n": 1, "tags": ["bench"]}


def threads_create(client: SyncLangGraphClient, client_id: str) -> Request:
    return lambda: client.threads.create()


def threads_get(client: SyncLangGraphClient, client_id: str) -> Request:
    thread_id = client.threads.create()["thread_id"]
    return lambda: client.threads.get(thread_id)


def assistants_search(client: SyncLangGraphClient, client_id: str) -> Request:
    return lambda: client.assistants.search(limit=10)


def store_put_item(client: SyncLangGraphClient, client_id: str) -> Request:
    keys = (f"item-{n}" for n in itertools.count())
    return lambda: client.store.put_item(["bench", client_id], key=next(keys), value=STORE_VALUE)


def store_get_item(client: SyncLangGraphClient, client_id: str) -> Request:
    client.store.put_item(["bench", client_id], key="read-me", value=STORE_VALUE)
    return lambda: client.store.get_item(["bench", client_id], key="read-me")


WORKLOADS: dict[str, Callable[[SyncLangGraphClient, str], Request]] = {
    "threads.create": threads_create,
    "threads.get": threads_get,
    "assistants.search": assistants_search,
    "store.put_item": store_put_item,
    "store.get_item": store_get_item,
}


@dataclass
class Result:
    """One workload at one concurrency level against one server."""

    rate: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    failure: str | None = None
    cpu_ms: dict[str, float] = field(default_factory=dict)  # CPU per request, by process


def failure_of(error: Exception) -> str:
    if isinstance(error, httpx.HTTPStatusError):
        return str(error.response.status_code)
    return type(error).__name__


def measure(
    server: Server,
    prepare: Callable[[SyncLangGraphClient, str], Request],
    clients: int,
    warmup: float,
    seconds: float,
) -> Result:
    """Run *clients* threads back to back; count requests that complete inside the window."""
    sdk = [get_sync_client(url=server.url, api_key=None) for _ in range(clients)]
    try:
        try:
            requests = [prepare(client, f"client-{i}") for i, client in enumerate(sdk)]
        except Exception as error:
            return Result(failure=failure_of(error))
        latencies: list[list[float]] = [[] for _ in range(clients)]
        errors: list[Exception] = []
        window_start = time.perf_counter() + warmup
        window_end = window_start + seconds

        def client_loop(request: Request, samples: list[float]) -> None:
            try:
                while (started := time.perf_counter()) < window_end:
                    request()
                    done = time.perf_counter()
                    if window_start <= done < window_end:
                        samples.append(done - started)
            except Exception as error:
                errors.append(error)

        workers = [
            threading.Thread(target=client_loop, args=(r, s))
            for r, s in zip(requests, latencies, strict=True)
        ]
        for worker in workers:
            worker.start()
        time.sleep(max(0.0, window_start - time.perf_counter()))
        before = cpu_seconds(server)
        time.sleep(max(0.0, window_end - time.perf_counter()))
        after = cpu_seconds(server)
        for worker in workers:
            worker.join()
        if errors:
            return Result(failure=failure_of(errors[0]))
        samples = sorted(itertools.chain.from_iterable(latencies))
        if not samples:
            return Result(failure="no response")
        per_request = {
            name: 1000 * (after[name] - before.get(name, 0.0)) / len(samples) for name in after
        }
        return Result(
            rate=len(samples) / seconds,
            p50_ms=1000 * statistics.median(samples),
            p99_ms=1000 * samples[math.ceil(0.99 * len(samples)) - 1],
            cpu_ms=per_request,
        )
    finally:
        for client in sdk:
            client.close()


def cpu_seconds(server: Server) -> dict[str, float]:
    """CPU seconds so far: this client process, and each kind of process the server runs."""
    totals = {"client": time.process_time()}
    for process in server.processes():
        try:
            times = process.cpu_times()
            label = process_label(process)
        except psutil.NoSuchProcess:
            continue
        totals[label] = totals.get(label, 0.0) + times.user + times.system
    return totals


def process_label(process: psutil.Process) -> str:
    """``daphne``, ``manage.py``, ``langgraph``, ``postgres``... rather than ``python3.11``."""
    name = process.name()
    if not name.startswith("python"):
        return name
    args = process.cmdline()[1:]
    if args[:1] == ["-m"] and len(args) > 1:
        return args[1]
    return Path(args[0]).name if args else name


def run_side(
    server: Server, clients: list[int], warmup: float, seconds: float
) -> dict[tuple[str, int], Result]:
    results = {}
    for name, prepare in WORKLOADS.items():
        for count in clients:
            results[name, count] = measure(server, prepare, count, warmup, seconds)
            print(f"  {server.name}: {name} x{count} done", file=sys.stderr, flush=True)
    return results


def cells(result: Result | None) -> list[str]:
    if result is None:
        return ["-", "-", "-"]
    if result.failure is not None:
        return [f"n/a ({result.failure})", "-", "-"]
    return [f"{result.rate:,.0f}", f"{result.p50_ms:.2f}", f"{result.p99_ms:.2f}"]


def print_table(sides: dict[str, dict[tuple[str, int], Result]], clients: list[int]) -> None:
    header = ["workload", "clients"]
    for side in sides:
        header += [f"{side} req/s", f"{side} p50 ms", f"{side} p99 ms"]
    both = len(sides) == 2
    if both:
        header.append("ours/theirs")
    rows = []
    for name in WORKLOADS:
        for count in clients:
            results = [side[name, count] for side in sides.values()]
            row = [name, str(count)]
            for result in results:
                row += cells(result)
            if both:
                ours, theirs = results
                ok = ours.failure is None and theirs.failure is None
                row.append(f"{ours.rate / theirs.rate:.2f}" if ok else "-")
            rows.append(row)
    print_rows(header, rows, "<" + ">" * (len(header) - 1))


def print_cpu(sides: dict[str, dict[tuple[str, int], Result]], clients: list[int]) -> None:
    print(
        "\nCPU ms per request, by process (client = this script; 2 cores shared by client and server)"
    )
    header = ["workload", "clients", "server", "CPU ms per request"]
    rows = []
    for name in WORKLOADS:
        for count in clients:
            for side, results in sides.items():
                result = results[name, count]
                if result.failure is None:
                    usage = ", ".join(
                        f"{label} {ms:.2f}"
                        for label, ms in sorted(result.cpu_ms.items(), key=lambda kv: -kv[1])
                        if ms >= 0.005
                    )
                    rows.append([name, str(count), side, usage])
    print_rows(header, rows, "<><<")


def print_rows(header: list[str], rows: list[list[str]], align: str) -> None:
    """*align* holds one ``<`` or ``>`` per column."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print(
            "  ".join(
                f"{cell:{a}{w}}" for cell, a, w in zip(row, align, widths, strict=True)
            ).rstrip()
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--seconds", type=float, default=5.0, help="measured seconds per row (default 5)"
    )
    parser.add_argument(
        "--warmup", type=float, default=1.0, help="unmeasured seconds before each row (default 1)"
    )
    parser.add_argument(
        "--clients", default="1,16", help="comma-separated concurrency levels (default 1,16)"
    )
    parser.add_argument("--only", choices=["ours", "theirs"], help="measure one server only")
    parser.add_argument(
        "--ours-url", help="measure this running server instead of starting `manage.py dev`"
    )
    parser.add_argument(
        "--theirs-url", help="measure this running server instead of starting `langgraph dev`"
    )
    args = parser.parse_args()
    clients = [int(c) for c in args.clients.split(",")]

    starters: dict[str, Callable[[], Server]] = {}
    if args.only != "theirs":
        starters["ours"] = (lambda: Server("ours", args.ours_url)) if args.ours_url else start_ours
    if args.only != "ours":
        starters["theirs"] = (
            (lambda: Server("theirs", args.theirs_url))
            if args.theirs_url
            else lambda: start_langgraph_dev(project_graphs())
        )

    sides: dict[str, dict[tuple[str, int], Result]] = {}
    urls: dict[str, str] = {}
    for side, start in starters.items():
        print(f"starting {side}...", file=sys.stderr, flush=True)
        with start() as server:
            urls[side] = server.url + (
                " (already running)" if server.process is None else f" ({server.name})"
            )
            sides[side] = run_side(server, clients, args.warmup, args.seconds)

    print(
        f"\nlanggraph-sdk sync client, one thread per client, {args.warmup:g} s warm-up + {args.seconds:g} s per row"
    )
    print(
        f"measured one server after the other on {psutil.cpu_count()} CPUs: "
        + ", then ".join(f"{side} = {url}" for side, url in urls.items())
    )
    print()
    print_table(sides, clients)
    print_cpu(sides, clients)


if __name__ == "__main__":
    main()
