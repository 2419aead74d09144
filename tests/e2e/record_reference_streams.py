"""Record what the reference server (``langgraph dev``) streams, into a fixture.

Run it once (and again when the cases or graphs change)::

    .venv/bin/python -m tests.e2e.record_reference_streams

It starts ``langgraph dev`` from ``.bench/langgraph-venv`` (``bench/peer.py`` creates that venv
on first use) serving ``tests/e2e/stream_graphs.py``, calls ``runs.stream`` through
``langgraph-sdk`` for every case of :data:`CASES`, normalizes the volatile values
(:func:`normalize`) and writes ``tests/e2e/fixtures/reference_streams.json``.
``tests/e2e/test_streaming_sdk.py`` runs the same cases against our server and compares the
normalized output with the fixture: event names, payloads and order.

Normalization (applied identically to both servers):

- every UUID inside any string or dict key becomes ``<uuid>`` (run, thread, assistant,
  checkpoint and task ids; message ids such as ``lc_run--<uuid>``; namespaces ``child:<uuid>``);
- ISO-8601 timestamps become ``<ts>``;
- keys that only describe the server that ran the graph, not the graph (:data:`SERVER_KEYS`:
  ``langgraph_version``, ``langgraph_host``, the request id and auth context...) are dropped
  wherever they appear (run metadata, checkpoint configs), and ``configurable.user_id`` (the
  reference fills it from its auth context);
- subgraph namespaces in event names get the same UUID placeholder (``updates|child:<uuid>``).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
GRAPHS_FILE = ROOT / "tests" / "e2e" / "stream_graphs.py"
FIXTURE = ROOT / "tests" / "e2e" / "fixtures" / "reference_streams.json"
GRAPHS = ("writer", "chatty", "nested", "failing")

ITEMS_INPUT = {"items": ["x"]}
CHAT_INPUT = {"messages": [{"role": "user", "content": "hi", "id": "user-message-1"}]}
ALL_MODES = (
    "values",
    "updates",
    "custom",
    "tasks",
    "checkpoints",
    "debug",
    "messages",
    "messages-tuple",
    "events",
)

#: (name, graph, input, stream_mode, stream_subgraphs, stateless)
CASES: list[dict[str, Any]] = [
    *(
        {"name": f"writer-{mode}", "graph": "writer", "input": ITEMS_INPUT, "stream_mode": mode}
        for mode in ALL_MODES
    ),
    {
        "name": "writer-values-updates-custom",
        "graph": "writer",
        "input": ITEMS_INPUT,
        "stream_mode": ["values", "updates", "custom"],
    },
    {
        "name": "writer-stateless-values",
        "graph": "writer",
        "input": ITEMS_INPUT,
        "stream_mode": "values",
        "stateless": True,
    },
    *(
        {"name": f"chatty-{mode}", "graph": "chatty", "input": CHAT_INPUT, "stream_mode": mode}
        for mode in ("messages", "messages-tuple", "values", "updates", "events")
    ),
    {
        "name": "chatty-messages-values",
        "graph": "chatty",
        "input": CHAT_INPUT,
        "stream_mode": ["messages", "values"],
    },
    {
        "name": "nested-subgraphs-updates-custom",
        "graph": "nested",
        "input": ITEMS_INPUT,
        "stream_mode": ["updates", "custom"],
        "stream_subgraphs": True,
    },
    {
        "name": "nested-subgraphs-values",
        "graph": "nested",
        "input": ITEMS_INPUT,
        "stream_mode": "values",
        "stream_subgraphs": True,
    },
    {
        "name": "nested-no-subgraphs-updates",
        "graph": "nested",
        "input": ITEMS_INPUT,
        "stream_mode": "updates",
    },
    {
        "name": "failing-values-updates",
        "graph": "failing",
        "input": ITEMS_INPUT,
        "stream_mode": ["values", "updates"],
    },
]

#: Keys that describe the server that ran the graph (its versions, plan, URL, request, auth
#: context), not the graph: dropped wherever they appear (run metadata, configs).
SERVER_KEYS = frozenset(
    {
        "langgraph_version",
        "langgraph_api_version",
        "langgraph_plan",
        "langgraph_host",
        "langgraph_api_url",
        "langgraph_request_id",
        "langgraph_auth_user",
        "langgraph_auth_user_id",
        "langgraph_auth_permissions",
        "__request_start_time_ms__",
        "__after_seconds__",
    }
)

#: ``configurable`` entries the reference fills from its auth context (empty without auth).
SERVER_CONFIGURABLE_KEYS = frozenset({"user_id"})

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:\d{2}|Z)?$")


def _string(value: str) -> str:
    if _TIMESTAMP.match(value):
        return "<ts>"
    return _UUID.sub("<uuid>", value)


def normalize(value: Any, *, parent: str | None = None) -> Any:
    """*value* with volatile parts replaced and server-identity keys dropped (idempotent)."""
    if isinstance(value, dict):
        drop = SERVER_KEYS | (SERVER_CONFIGURABLE_KEYS if parent == "configurable" else set())
        return {
            _string(key): normalize(item, parent=key)
            for key, item in value.items()
            if key not in drop
        }
    if isinstance(value, list):
        return [normalize(item) for item in value]
    if isinstance(value, str):
        return _string(value)
    return value


def normalize_parts(parts: list[tuple[str, Any]]) -> list[list[Any]]:
    """``[event, data]`` pairs of a stream, normalized (event names too: ``updates|child:<uuid>``)."""
    return [[_string(event), normalize(data)] for event, data in parts]


def run_case(client: Any, case: dict[str, Any]) -> list[tuple[str, Any]]:
    """Stream one case through the sync SDK client; returns its ``(event, data)`` parts."""
    thread_id = None if case.get("stateless") else client.threads.create()["thread_id"]
    return [
        (part.event, part.data)
        for part in client.runs.stream(
            thread_id,
            case["graph"],
            input=case["input"],
            stream_mode=case["stream_mode"],
            stream_subgraphs=case.get("stream_subgraphs", False),
        )
    ]


async def arun_case(client: Any, case: dict[str, Any]) -> list[tuple[str, Any]]:
    """:func:`run_case` through the async SDK client."""
    thread_id = None if case.get("stateless") else (await client.threads.create())["thread_id"]
    return [
        (part.event, part.data)
        async for part in client.runs.stream(
            thread_id,
            case["graph"],
            input=case["input"],
            stream_mode=case["stream_mode"],
            stream_subgraphs=case.get("stream_subgraphs", False),
        )
    ]


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from langgraph_sdk import get_sync_client

    from bench.peer import start_langgraph_dev

    graphs = {name: f"{GRAPHS_FILE}:{name}" for name in GRAPHS}
    recorded: dict[str, Any] = {}
    with start_langgraph_dev(graphs) as server:
        client = get_sync_client(url=server.url, api_key=None)
        for case in CASES:
            parts = run_case(client, case)
            recorded[case["name"]] = normalize_parts(parts)
            print(f"{case['name']}: {[event for event, _ in parts]}", file=sys.stderr)
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
    print(f"wrote {FIXTURE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
