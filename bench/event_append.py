"""Events appended per second through ``events.store.append``, next to raw INSERT+COMMIT.

Runs against the configured PostgreSQL (the embedded one by default, or ``DATABASE_URL``), in a
throwaway ``test_*`` database that Django creates and drops. Every row is a real transaction
committed to disk (``synchronous_commit`` as the server has it), through the same driver.

    python bench/event_append.py [--seconds 3] [--writers 1,4]

Prints one row per workload; "vs raw" compares a single-event append (event + outbox row +
NOTIFY trigger, in one transaction) with a bare single-row INSERT + COMMIT.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "duragraph_site.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402

from events import store  # noqa: E402
from events.domain import DomainEvent  # noqa: E402

PAYLOAD = {"node": "agent", "values": {"messages": ["hello", "world"]}, "step": 3}


class BenchEventHappened(DomainEvent):
    node: str
    values: dict
    step: int


def raw_insert_commit(count: list[int], stop: threading.Event) -> None:
    """The floor: one single-row INSERT per transaction into a bare table."""
    with connection.cursor() as cursor:
        while not stop.is_set():
            with transaction.atomic():
                cursor.execute(
                    "INSERT INTO bench_raw (payload) VALUES (%s::jsonb)", ['{"node": "agent"}']
                )
            count[0] += 1
    connection.close()


def appends(batch: int):
    def work(count: list[int], stop: threading.Event) -> None:
        stream = store.Stream(type="bench", id=uuid.uuid4(), subject="duragraph.bench")
        version = 0
        events = [BenchEventHappened(**PAYLOAD) for _ in range(batch)]
        while not stop.is_set():
            with transaction.atomic():
                store.append(stream, expected_version=version, events=events, now=datetime.now(UTC))
            version += batch
            count[0] += batch
        connection.close()

    return work


def measure(work, writers: int, seconds: float) -> float:
    """Rows per second with *writers* threads, each on its own connection."""
    stop = threading.Event()
    counts = [[0] for _ in range(writers)]
    threads = [threading.Thread(target=work, args=(counts[i], stop)) for i in range(writers)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return sum(c[0] for c in counts) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--writers", default="1,4", help="comma-separated concurrency levels")
    args = parser.parse_args()

    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE TABLE bench_raw (id bigserial PRIMARY KEY, payload jsonb NOT NULL)"
            )
            cursor.execute("SHOW server_version")
            version = cursor.fetchone()[0]
            cursor.execute("SHOW synchronous_commit")
            sync = cursor.fetchone()[0]
        print(f"PostgreSQL {version}, synchronous_commit={sync}, {args.seconds:.0f} s per row\n")
        print(f"{'workload':<44}{'writers':>8}{'events/s':>12}{'vs raw':>9}")
        for writers in (int(w) for w in args.writers.split(",")):
            raw = measure(raw_insert_commit, writers, args.seconds)
            one = measure(appends(1), writers, args.seconds)
            ten = measure(appends(10), writers, args.seconds)
            print(f"{'raw INSERT + COMMIT (1 row/txn)':<44}{writers:>8}{raw:>12,.0f}{'1.00':>9}")
            print(f"{'store.append, 1 event/txn':<44}{writers:>8}{one:>12,.0f}{one / raw:>9.2f}")
            print(
                f"{'store.append, batches of 10 events/txn':<44}{writers:>8}{ten:>12,.0f}{ten / raw:>9.2f}"
            )
    finally:
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
