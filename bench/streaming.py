"""Streaming latency through the official client, ours next to ``langgraph dev``; relay rate.

Prints one table:

- **first event**: sequential ``client.runs.stream(thread_id, "noop3", stream_mode="values")``
  (``POST /threads/{id}/runs/stream`` of a 3-node no-op graph on a fresh thread, created before
  the clock starts): time from just before the call to the first ``values`` part (the input
  state; a ``metadata`` part comes before it), p50/p99, and theirs/ours;
- **emit to client**: the ``ticker`` graph (bench/graphs.py) sleeps 3 s, then writes ``--ticks``
  (100) custom chunks 20 ms apart, each stamped with ``time.time()`` just before it is written;
  1 and 100 clients joined to that run (``runs.join_stream(..., stream_mode="custom")``, async
  client, one connection each, all in this process) take the arrival time minus the stamp for
  every chunk: p50/p99/max over every chunk of every client, and how many chunks arrived of those
  sent. The 3 s sleep lets every client connect before the first chunk (a late one would show as
  missing chunks). Our executor hands chunks to a group-commit writer that commits them a moment
  after they are written, so this is an upper bound of commit-to-client (commit, relay to
  JetStream, NATS to daphne, SSE to the client). Under the table: the share of a core this client
  process used while chunks arrived (near 100 % would mean the client, not the server, sets the
  pace);
- **first event by hop** (ours): each first-event run's time split, from the event log, into
  the API writing ``RunCreated``, the executor claiming it, the executor writing the first
  ``values`` chunk, the relay getting it acknowledged by JetStream, and daphne delivering it;
- **relay**: events/s one relay publishes into JetStream in batches of 500 (bench/relay.py's
  fill and drain, 20,000 events, throwaway ``test_*`` database on the configured PostgreSQL and
  an embedded nats-server). Ours only.

Ours runs as ``make dev`` runs it (``manage.py dev``: embedded PostgreSQL and NATS, 4 executor
threads, the relay); ``langgraph dev`` runs with ``--n-jobs-per-worker 10``. Both register the
same graphs, and run one after the other (all of ours, then all of theirs). Targets (ours): first
event p50 <= 15 ms, emit-to-client p99 <= 50 ms at 100 streams, relay >= 5,000 events/s.

    python bench/streaming.py [--first-events 100] [--ticks 100] [--only ours|theirs]

Theirs does half as many first-event runs, as each takes about a second: ``langgraph dev``'s
in-memory queue polls every 0.5 s and a poll only takes runs created before it began, so a run
created just after the previous one ended waits for the second poll.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from langgraph_sdk import get_client, get_sync_client  # noqa: E402
from langgraph_sdk.client import LangGraphClient, SyncLangGraphClient  # noqa: E402

from bench.graphs import GRAPHS  # noqa: E402
from bench.peer import Server, start_langgraph_dev, start_ours  # noqa: E402

FIRST_EVENT_WARMUP = 3
STREAM_COUNTS = (1, 100)
TICK_INTERVAL = 0.02
#: How long the ticker sleeps before its first chunk: every client must have joined by then.
JOIN_SECONDS = 3.0
RELAY_EVENTS = 20_000
RELAY_BATCH_SIZE = 500


@dataclass(frozen=True)
class Target:
    """A figure ours must reach: at most *limit* (latencies) or at least *limit* (rates)."""

    limit: float
    at_most: bool
    unit: str

    def met(self, value: float) -> bool:
        return value <= self.limit if self.at_most else value >= self.limit

    def __str__(self) -> str:
        return f"{'<=' if self.at_most else '>='} {self.limit:,g} {self.unit}"


RELAY_ROW = f"relay into JetStream (events/s, batch {RELAY_BATCH_SIZE})"
TARGETS = {
    "first values event p50 (ms)": Target(15, at_most=True, unit="ms"),
    "emit to client p99, 100 streams (ms)": Target(50, at_most=True, unit="ms"),
    RELAY_ROW: Target(5_000, at_most=False, unit="events/s"),
}


def streams_label(streams: int) -> str:
    return "1 stream" if streams == 1 else f"{streams} streams"


def percentile_ms(seconds: list[float], p: float) -> float:
    """Nearest-rank percentile *p* of *seconds*, in milliseconds."""
    if not seconds:
        return math.nan
    ordered = sorted(seconds)
    return 1000 * ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


# -- first event ----------------------------------------------------------------------------
@dataclass(frozen=True)
class FirstEvent:
    """One first-event run: its id and the client's wall clock around it."""

    run_id: str
    called_at: float  # time.time() just before runs.stream
    first_values_at: float  # time.time() when the first values part arrived

    @property
    def latency(self) -> float:
        return self.first_values_at - self.called_at


def first_values_run(client: SyncLangGraphClient, thread_id: str) -> FirstEvent:
    """One ``runs.stream`` call, timed to its first ``values`` part; reads the rest."""
    called_at = time.time()
    run_id = first_at = None
    for part in client.runs.stream(thread_id, "noop3", input={"steps": 0}, stream_mode="values"):
        if run_id is None and part.event == "metadata":
            run_id = part.data["run_id"]
        if first_at is None and part.event == "values":
            first_at = time.time()
    if first_at is None or run_id is None:
        raise RuntimeError(f"run on thread {thread_id} streamed no metadata or values event")
    return FirstEvent(run_id=run_id, called_at=called_at, first_values_at=first_at)


def first_values(url: str, count: int) -> list[FirstEvent]:
    with get_sync_client(url=url, api_key=None) as client:
        runs = []
        for index in range(FIRST_EVENT_WARMUP + count):
            thread_id = client.threads.create()["thread_id"]
            run = first_values_run(client, thread_id)
            if index >= FIRST_EVENT_WARMUP:
                runs.append(run)
    return runs


#: Where our first-event time goes, from the event log: each event's ``created_at`` is stamped
#: by the process that writes it, just before its transaction commits; the outbox row's
#: ``published_at`` once JetStream acknowledged it. Same machine, same clock.
HOPS_SQL = """
SELECT e.stream_id::text, e.type, extract(epoch FROM e.created_at)::float8,
       extract(epoch FROM o.published_at)::float8
FROM events_event e LEFT JOIN events_outbox o ON o.event_id = e.id
WHERE e.stream_type = 'run' AND e.stream_id = ANY(%(run_ids)s::uuid[])
  AND (e.type IN ('RunCreated', 'RunStarted')
       OR (e.type = 'RunOutputStreamed' AND e.payload->>'mode' = 'values'))
ORDER BY e.stream_id, e.version
"""
HOPS = (
    ("API: request -> RunCreated written", "called", "RunCreated"),
    ("executor: NOTIFY -> claimed (RunStarted)", "RunCreated", "RunStarted"),
    ("executor: claim -> first values chunk written", "RunStarted", "values"),
    ("relay: written -> acknowledged by JetStream", "values", "published"),
    ("daphne: NATS -> SSE -> client", "published", "arrived"),
)


def first_event_hops(database_url: str, runs: list[FirstEvent]) -> dict[str, list[float]]:
    """Seconds spent in each hop of :data:`HOPS`, per run (runs the relay already pruned, or
    whose stamps are missing, are left out)."""
    stamps: dict[str, dict[str, float]] = {
        run.run_id: {"called": run.called_at, "arrived": run.first_values_at} for run in runs
    }
    with psycopg.connect(database_url) as connection:
        rows = connection.execute(HOPS_SQL, {"run_ids": list(stamps)}).fetchall()
    for run_id, event_type, created_at, published_at in rows:
        marks = stamps[run_id]
        name = "values" if event_type == "RunOutputStreamed" else event_type
        if name not in marks:  # the first of each: the input values
            marks[name] = created_at
            if name == "values" and published_at is not None:
                marks["published"] = published_at
    hops: dict[str, list[float]] = {label: [] for label, _, _ in HOPS}
    for marks in stamps.values():
        if all(start in marks and end in marks for _, start, end in HOPS):
            for label, start, end in HOPS:
                hops[label].append(marks[end] - marks[start])
    return hops


# -- emit to client -------------------------------------------------------------------------
@dataclass
class ArrivalWindow:
    """Wall and CPU time of this process from the first chunk's arrival to the last one's."""

    first_wall: float | None = None
    first_cpu: float = 0.0
    last_wall: float = 0.0
    last_cpu: float = 0.0

    def observe(self) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        if self.first_wall is None:
            self.first_wall, self.first_cpu = wall, cpu
            psutil.cpu_percent()  # starts the machine-wide measurement read at the end
        self.last_wall, self.last_cpu = wall, cpu

    @property
    def client_cpu_share(self) -> float:
        """CPU seconds per second this process used meanwhile (1.0 = one core)."""
        if self.first_wall is None or self.last_wall <= self.first_wall:
            return math.nan
        return (self.last_cpu - self.first_cpu) / (self.last_wall - self.first_wall)


@dataclass
class FanOut:
    """One ticker run followed by several clients: chunks sent to them all, and what arrived."""

    sent: int
    received: int = 0
    latencies: list[float] = field(default_factory=list)
    client_cpu_share: float = math.nan
    machine_cpu_percent: float = math.nan


async def follow(
    client: LangGraphClient, thread_id: str, run_id: str, window: ArrivalWindow
) -> list[float]:
    """One client's latency per distinct chunk (arrival minus the stamp the graph put on it)."""
    latencies: dict[int, float] = {}
    async for part in client.runs.join_stream(thread_id, run_id, stream_mode="custom"):
        if part.event == "custom":
            arrived = time.time()
            window.observe()
            latencies.setdefault(part.data["tick"], arrived - part.data["emitted"])
    return list(latencies.values())


async def fan_out(url: str, streams: int, ticks: int, join_seconds: float = JOIN_SECONDS) -> FanOut:
    """Start a ticker run and follow it with *streams* clients joined while it sleeps."""
    async with contextlib.AsyncExitStack() as stack:
        # Made before the run: each client builds an SSL context (about 20 ms of CPU). Made as
        # the joins start, 100 of them held this event loop for 2 s: some joined too late.
        clients = [
            await stack.enter_async_context(get_client(url=url, api_key=None))
            for _ in range(streams)
        ]
        thread_id = (await clients[0].threads.create())["thread_id"]
        run = await clients[0].runs.create(
            thread_id,
            "ticker",
            input={"wait": join_seconds, "ticks": ticks, "interval": TICK_INTERVAL},
            stream_mode="custom",
        )
        window = ArrivalWindow()
        async with asyncio.timeout(join_seconds + ticks * TICK_INTERVAL + 120):
            per_client = await asyncio.gather(
                *(follow(client, thread_id, run["run_id"], window) for client in clients)
            )
    result = FanOut(sent=streams * ticks)
    for latencies in per_client:
        result.received += len(latencies)
        result.latencies.extend(latencies)
    result.client_cpu_share = window.client_cpu_share
    result.machine_cpu_percent = psutil.cpu_percent()
    return result


# -- relay ----------------------------------------------------------------------------------
def relay_throughput() -> float:
    """Events/s one relay publishes into JetStream, measured as bench/relay.py measures a row."""
    # Imported here: bench.relay sets Django up (and attaches the configured PostgreSQL) on import,
    # which only this measurement needs.
    from django.db import connection

    from bench import relay as relay_bench
    from duragraph_site.embedded import EmbeddedNats

    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    with tempfile.TemporaryDirectory(prefix="bench-nats-") as nats_dir:
        nats_server = EmbeddedNats.start(Path(nats_dir), preferred_port=None)
        try:
            # Warm-up: creates the JetStream stream; the first connections pay their setup here.
            relay_bench.fill_outbox(1000, "duragraph.bench.warmup")
            relay_bench.drain(nats_server.url, RELAY_BATCH_SIZE, 1)
            prefix = f"duragraph.bench.{uuid.uuid4().hex}"
            relay_bench.fill_outbox(RELAY_EVENTS, prefix)
            connection.close()  # the writer's connection is not part of the measurement
            published, elapsed = relay_bench.drain(nats_server.url, RELAY_BATCH_SIZE, 1)
            in_stream = relay_bench.stored(nats_server.url, f"{prefix}.>")
            if not published == in_stream == RELAY_EVENTS:
                raise RuntimeError(
                    f"relay published {published} and JetStream holds {in_stream}"
                    f" of {RELAY_EVENTS} events"
                )
            return published / elapsed
        finally:
            nats_server.stop()
            connection.close()
            connection.creation.destroy_test_db(old_name, verbosity=0)


# -- running and printing -------------------------------------------------------------------
@dataclass
class Side:
    """What one server measured: first-event runs, and a fan-out per stream count; for ours,
    the first-event time by hop (seconds per run, from the event log)."""

    first_values: list[FirstEvent]
    fan_outs: dict[int, FanOut]
    hops: dict[str, list[float]] = field(default_factory=dict)


def measure(server: Server, first_events: int, ticks: int) -> Side:
    """First events, then a ticker run per stream count, on a running *server*."""
    print(f"measuring {server.name}: {first_events} first events ...", file=sys.stderr, flush=True)
    runs = first_values(server.url, first_events)
    hops = first_event_hops(server.database_url(), runs) if server.name == "ours" else {}
    asyncio.run(fan_out(server.url, 1, 5, join_seconds=0.5))  # warm-up: loads the ticker graph
    fan_outs = {}
    for streams in STREAM_COUNTS:
        print(f"measuring {server.name}: {streams_label(streams)} ...", file=sys.stderr, flush=True)
        fan_outs[streams] = asyncio.run(fan_out(server.url, streams, ticks))
    return Side(first_values=runs, fan_outs=fan_outs, hops=hops)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--first-events", type=int, default=100, help="first-event runs for ours (theirs: half)"
    )
    parser.add_argument("--ticks", type=int, default=100, help="chunks per ticker run")
    parser.add_argument("--only", choices=["ours", "theirs"])
    args = parser.parse_args()

    load_before = os.getloadavg()
    sides: dict[str, Side] = {}
    relay_rate = None
    if args.only != "theirs":
        with start_ours(graphs=GRAPHS) as ours:
            sides["ours"] = measure(ours, args.first_events, args.ticks)
        print("measuring the relay ...", file=sys.stderr, flush=True)
        relay_rate = relay_throughput()
    if args.only != "ours":
        with start_langgraph_dev(GRAPHS, extra_args=["--n-jobs-per-worker", "10"]) as theirs:
            sides["theirs"] = measure(theirs, max(10, args.first_events // 2), args.ticks)
    ours = figures(sides["ours"]) if "ours" in sides else {}
    if relay_rate is not None:
        ours[RELAY_ROW] = relay_rate
    theirs = figures(sides["theirs"]) if "theirs" in sides else {}
    print_table(ours, theirs)
    print_notes(sides, ours, load_before)


def figures(side: Side) -> dict[str, float]:
    """The side's latency rows, in milliseconds, by row label."""
    latencies = [run.latency for run in side.first_values]
    rows = {f"first values event p{p} (ms)": percentile_ms(latencies, p) for p in (50, 99)}
    for streams, result in side.fan_outs.items():
        for name, p in (("p50", 50), ("p99", 99), ("max", 100)):
            rows[f"emit to client {name}, {streams_label(streams)} (ms)"] = percentile_ms(
                result.latencies, p
            )
    return rows


def print_table(ours: dict[str, float], theirs: dict[str, float]) -> None:
    lines = [["metric", "ours", "theirs", "theirs/ours", "target (ours)"]]
    for label in dict.fromkeys([*ours, *theirs]):
        mine, peer = ours.get(label), theirs.get(label)
        target = TARGETS.get(label)
        lines.append(
            [
                label,
                _number(mine),
                _number(peer),
                # Every row both sides have is a latency: theirs/ours > 1 means ours is faster.
                f"{peer / mine:.1f}x" if mine and peer is not None else "",
                "" if target is None else f"{target} {_verdict(target, mine)}".rstrip(),
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    print()
    for index, line in enumerate(lines):
        print(
            "  ".join(
                f"{text:<{w}}" if column in (0, 4) else f"{text:>{w}}"
                for column, (text, w) in enumerate(zip(line, widths, strict=True))
            ).rstrip()
        )
        if index == 0:
            print("-" * (sum(widths) + 2 * (len(widths) - 1)))


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if value >= 1000 else f"{value:.1f}"


def _verdict(target: Target, value: float | None) -> str:
    if value is None:
        return ""
    return "met" if target.met(value) else "MISSED"


def print_hops(side: Side | None) -> None:
    """Ours: where the first-event time goes, hop by hop (p50/p99 of each hop on its own)."""
    if side is None or not side.hops:
        return
    counted = min(len(values) for values in side.hops.values())
    width = max(len(label) for label in side.hops)
    print(f"\nours: first values event by hop, from the event log ({counted} runs)")
    print(f"{'hop':<{width}}  {'p50 ms':>7}  {'p99 ms':>7}")
    for label, seconds in side.hops.items():
        if seconds:
            p50, p99 = percentile_ms(seconds, 50), percentile_ms(seconds, 99)
            print(f"{label:<{width}}  {p50:>7.1f}  {p99:>7.1f}")


def print_notes(
    sides: dict[str, Side], ours: dict[str, float], load_before: tuple[float, float, float]
) -> None:
    print(
        "\ntheirs/ours > 1: ours is faster. Emit to client = client arrival time - time.time()"
        " stamped just before the graph writes the chunk: an upper bound of commit-to-client"
        " (our executor commits chunks a moment after they are written)."
    )
    for name, side in sides.items():
        print(
            f"{name}: {len(side.first_values)} first-event runs after {FIRST_EVENT_WARMUP} warm-up"
        )
        for streams, result in side.fan_outs.items():
            missing = result.sent - result.received
            print(
                f"  {streams_label(streams)}: {result.received:,}/{result.sent:,} chunks arrived"
                + (f" ({missing:,} MISSING)" if missing else "")
                + f"; this client used {result.client_cpu_share:.0%} of a core while they"
                f" arrived, all {psutil.cpu_count()} CPUs were"
                f" {result.machine_cpu_percent:.0f}% busy"
            )
    print_hops(sides.get("ours"))
    if ours:
        print(
            "targets (ours): "
            + "; ".join(
                f"{label.split(' (')[0]} {target}: {_verdict(target, ours[label])}"
                for label, target in TARGETS.items()
                if label in ours
            )
        )
    print(
        "load average (1, 5, 15 min): before "
        + " ".join(f"{v:.2f}" for v in load_before)
        + ", after "
        + " ".join(f"{v:.2f}" for v in os.getloadavg())
    )


if __name__ == "__main__":
    main()
