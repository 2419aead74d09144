"""The store at 10,000 items through the official client: ours next to ``langgraph dev``.

Each server is first given ``--items`` items (10,000 by default) in one namespace, with 16
clients putting them; then each row is measured as in ``bench/api.py`` (one
``langgraph_sdk.get_sync_client`` per client thread, back to back, requests per second and
p50/p99 latency, CPU per request by process):

- ``put_item``: a new key each time (in the client's own namespace);
- ``get_item``: a random one of the items;
- ``search filter``: ``search_items`` of the items' namespace with a metadata ``filter`` that
  matches 1 item in 100, 10 a page;
- ``search prefix``: ``search_items`` of the namespace prefix, no filter, 10 a page;
- ``list_namespaces``: under the prefix;
- ``search semantic``: ``search_items`` of the namespace with a ``query`` ("memory number
  <random n>"), 10 a page, ranked among all the items by similarity.

Both servers embed with ``store.index`` = the toy function of ``examples/embeddings.py`` (256
dimensions, field ``text``), so puts embed too. Servers as ``bench/api.py`` starts them
(``bench/peer.py``), one at a time.

    python bench/store.py [--items 10000] [--seconds 5] [--clients 1,16] [--only ours|theirs]
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from langgraph_sdk import get_sync_client
from langgraph_sdk.client import SyncLangGraphClient

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api import Request, Result, Workloads, print_cpu, print_table, run_side  # noqa: E402
from peer import Server, project_graphs, start_langgraph_dev, start_ours  # noqa: E402

NAMESPACE = ["bench", "items"]
KINDS = 100  # a filter on one kind matches 1 item in KINDS
#: Both servers' ``langgraph.json`` ``store`` section: the toy embedding, on the items' text.
STORE = {
    "index": {
        "dims": 256,
        "embed": f"{Path(__file__).resolve().parents[1] / 'examples' / 'embeddings.py'}:embed",
        "fields": ["text"],
    }
}


def value(n: int) -> dict:
    return {"kind": f"k{n % KINDS}", "n": n, "text": f"memory number {n} of the benchmark"}


def preload(server: Server, items: int) -> float:
    """Put *items* items with 16 clients; the seconds it took."""
    clients = [get_sync_client(url=server.url, api_key=None) for _ in range(16)]
    started = time.perf_counter()
    try:

        def put(chunk: range, client: SyncLangGraphClient) -> None:
            for n in chunk:
                client.store.put_item(NAMESPACE, key=f"item-{n}", value=value(n))

        chunks = [range(start, items, len(clients)) for start in range(len(clients))]
        with ThreadPoolExecutor(len(clients)) as pool:
            list(pool.map(put, chunks, clients))
    finally:
        for client in clients:
            client.close()
    return time.perf_counter() - started


def make_workloads(items: int) -> Workloads:
    def put_item(client: SyncLangGraphClient, client_id: str) -> Request:
        keys = (f"new-{n}" for n in itertools.count())
        namespace = ["bench", "writes", client_id]
        return lambda: client.store.put_item(namespace, key=next(keys), value=value(0))

    def get_item(client: SyncLangGraphClient, client_id: str) -> Request:
        pick = random.Random(client_id).randrange

        def get() -> None:
            if client.store.get_item(NAMESPACE, key=f"item-{pick(items)}") is None:
                raise RuntimeError("an item put before is missing")

        return get

    def search_filter(client: SyncLangGraphClient, client_id: str) -> Request:
        def search() -> None:
            found = client.store.search_items(NAMESPACE, filter={"kind": "k7"}, limit=10)
            if len(found["items"]) != min(10, items // KINDS):
                raise RuntimeError(f"the filter found {len(found['items'])} items")

        return search

    def search_prefix(client: SyncLangGraphClient, client_id: str) -> Request:
        return lambda: client.store.search_items(["bench"], limit=10)

    def list_namespaces(client: SyncLangGraphClient, client_id: str) -> Request:
        return lambda: client.store.list_namespaces(prefix=["bench"], limit=100)

    def search_semantic(client: SyncLangGraphClient, client_id: str) -> Request:
        pick = random.Random(client_id).randrange

        def search() -> None:
            query = f"memory number {pick(items)}"
            found = client.store.search_items(NAMESPACE, query=query, limit=10)["items"]
            if len(found) != 10 or found[0]["score"] is None:
                raise RuntimeError(f"the semantic search answered {found[:1]}")

        return search

    return {
        "put_item": put_item,
        "get_item": get_item,
        "search filter": search_filter,
        "search prefix": search_prefix,
        "list_namespaces": list_namespaces,
        "search semantic": search_semantic,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=10_000, help="items put first (10,000)")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per row")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds per row")
    parser.add_argument("--clients", default="1,16", help="concurrency levels (default 1,16)")
    parser.add_argument("--only", choices=["ours", "theirs"], help="measure one server only")
    args = parser.parse_args()
    clients = [int(c) for c in args.clients.split(",")]
    workloads = make_workloads(args.items)
    starters = {
        "ours": lambda: start_ours(store=STORE),
        "theirs": lambda: start_langgraph_dev(project_graphs(), store=STORE),
    }
    if args.only:
        starters = {args.only: starters[args.only]}

    sides: dict[str, dict[tuple[str, int], Result]] = {}
    loading: dict[str, float] = {}
    for side, start in starters.items():
        print(f"starting {side}...", file=sys.stderr, flush=True)
        with start() as server:
            server.name = side
            loading[side] = preload(server, args.items)
            print(f"  {side}: {args.items:,} items in {loading[side]:.1f} s", file=sys.stderr)
            sides[side] = run_side(server, clients, args.warmup, args.seconds, workloads)

    print(
        f"\nthe store with {args.items:,} items; langgraph-sdk sync client, one thread per "
        f"client, {args.warmup:g} s warm-up + {args.seconds:g} s per row"
    )
    for side, seconds in loading.items():
        print(f"{side}: {args.items:,} items put by 16 clients in {seconds:.1f} s "
              f"({args.items / seconds:,.0f} puts/s)")  # fmt: skip
    print()
    print_table(sides, clients, workloads)
    print_cpu(sides, clients, workloads)


if __name__ == "__main__":
    main()
