"""Relay throughput: outbox rows published into NATS JetStream per second, by batch size.

Runs against the configured PostgreSQL (the embedded one by default, or ``DATABASE_URL``), in a
throwaway ``test_*`` database that Django creates and drops, and an embedded nats-server with
JetStream (file storage) in a temporary directory. Each row first fills the outbox with
``--events`` committed events (run output of realistic size, 10 streams), then times
``events.relay.run(once=True)`` draining it: claim with ``FOR UPDATE SKIP LOCKED``, pipelined
publishes each acknowledged by JetStream with ``Nats-Msg-Id``, mark, commit. With ``--relays``
above 1, that many relays (forked processes, as several ``relay_outbox`` commands) drain the
same outbox at once.

    python bench/relay.py [--events 20000] [--batch-sizes 100,500,1000] [--relays 1,2]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "duragraph_site.settings")

import django  # noqa: E402

django.setup()

import nats  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from duragraph_site.embedded import EmbeddedNats  # noqa: E402
from events import relay, store  # noqa: E402
from events.domain import DomainEvent  # noqa: E402

#: About what a LangGraph "values" chunk of a short chat weighs (the body is ~420 bytes).
PAYLOAD = {
    "mode": "values",
    "namespace": [],
    "data": {"messages": [{"type": "ai", "content": "The answer is " + "forty-two " * 8}]},
}


class BenchOutputStreamed(DomainEvent):
    mode: str
    namespace: list
    data: dict


def fill_outbox(events: int, subject_prefix: str, streams: int = 10) -> None:
    """*events* committed events over *streams* streams, 100 per transaction."""
    per_stream = events // streams
    for s in range(streams):
        stream_id = uuid.uuid4()
        stream = store.Stream(type="bench", id=stream_id, subject=f"{subject_prefix}.{s}")
        for version in range(0, per_stream, 100):
            chunk = [BenchOutputStreamed(**PAYLOAD) for _ in range(min(100, per_stream - version))]
            with transaction.atomic():
                store.append(stream, expected_version=version, events=chunk, now=datetime.now(UTC))


def _drain_in_child(nats_url: str, batch_size: int, results: Any) -> None:
    results.put(relay.run(nats_url=nats_url, batch_size=batch_size, once=True).published)


def drain(nats_url: str, batch_size: int, relays: int) -> tuple[int, float]:
    """Published rows and seconds for *relays* relays draining the outbox together.

    One relay runs in this process; several run as forked processes (as several
    ``relay_outbox`` commands would), so that they do not share one GIL.
    """
    if relays == 1:
        started = time.perf_counter()
        published = relay.run(nats_url=nats_url, batch_size=batch_size, once=True).published
        return published, time.perf_counter() - started
    connection.close()  # a forked child must not share this process' connection
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    children = [
        context.Process(target=_drain_in_child, args=(nats_url, batch_size, results))
        for _ in range(relays)
    ]
    started = time.perf_counter()
    for child in children:
        child.start()
    published = sum(results.get() for _ in children)
    elapsed = time.perf_counter() - started
    for child in children:
        child.join()
    return published, elapsed


def stored(nats_url: str, subject: str) -> int:
    async def read() -> int:
        nc = await nats.connect(nats_url)
        try:
            info = await nc.jetstream().stream_info(relay.STREAM_NAME, subjects_filter=subject)
            return sum((info.state.subjects or {}).values())
        finally:
            await nc.close()

    return asyncio.run(read())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=20_000, help="outbox rows per measurement")
    parser.add_argument("--batch-sizes", default="100,500,1000")
    parser.add_argument("--relays", default="1,2", help="comma-separated relay counts")
    args = parser.parse_args()

    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    with tempfile.TemporaryDirectory(prefix="bench-nats-") as nats_dir:
        server = EmbeddedNats.start(Path(nats_dir), preferred_port=None)
        try:
            with connection.cursor() as cursor:
                cursor.execute("SHOW server_version")
                pg_version = cursor.fetchone()[0]
            # Warm-up: creates the stream, and the first connections pay their setup here.
            fill_outbox(1000, "duragraph.bench.warmup")
            drain(server.url, 500, 1)
            print(
                f"PostgreSQL {pg_version}, nats-server (embedded, JetStream file storage), "
                f"{args.events:,} events per row\n"
            )
            print(f"{'relays':>6}{'batch size':>12}{'events':>10}{'seconds':>10}{'events/s':>12}")
            for relays in (int(r) for r in args.relays.split(",")):
                for batch_size in (int(b) for b in args.batch_sizes.split(",")):
                    prefix = f"duragraph.bench.{uuid.uuid4().hex}"
                    fill_outbox(args.events, prefix)
                    connection.close()  # the writer's connection is not part of the measurement
                    published, elapsed = drain(server.url, batch_size, relays)
                    in_stream = stored(server.url, f"{prefix}.>")
                    assert published == in_stream == args.events, (published, in_stream)
                    print(
                        f"{relays:>6}{batch_size:>12}{published:>10,}{elapsed:>10.2f}"
                        f"{published / elapsed:>12,.0f}"
                    )
        finally:
            server.stop()
            connection.close()
            connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
