"""Long-term memory found by meaning, as a user sets it up: ``make dev``'s stack (its embedded
PostgreSQL ships pgvector, whatever database the other tests use) with a ``langgraph.json``
whose ``store.index`` embeds memories with the toy function of ``examples/embeddings.py``. A
graph writes memories in one thread; a run in another thread and the official SDK find them
by semantic search, best first, with the scores the embedding implies."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from langgraph_sdk import get_sync_client

from duragraph_site.embedded import free_port
from examples.embeddings import embed
from tests.e2e.processes import start_dev, stop, wait_ok

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e

MEMORY_GRAPH = f"{ROOT / 'tests' / 'integration' / 'store' / 'memory_graph.py'}:memory"
FACTS = [
    "Ada drinks green tea every morning",
    "Ada walks her dog Rex in the park",
    "Ada writes programs for the analytical engine",
]


def similarity(query: str, text: str) -> float:
    a, b = embed([query])[0], embed([text])[0]
    norms = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return sum(x * y for x, y in zip(a, b, strict=True)) / norms


def test_memories_written_in_one_thread_are_found_by_meaning_in_another(tmp_path):
    config = tmp_path / "langgraph.json"
    index = {"dims": 256, "embed": f"{ROOT}/examples/embeddings.py:embed", "fields": ["text"]}
    config.write_text(json.dumps({"graphs": {"memory": MEMORY_GRAPH}, "store": {"index": index}}))
    home, port = tmp_path / "home", free_port()
    base = f"http://127.0.0.1:{port}"
    dev = start_dev(home, port, env={"DURAGRAPH_CONFIG": str(config)})
    try:
        wait_ok(base, dev, timeout=120)
        with get_sync_client(url=base, api_key=None) as client:
            writer = client.threads.create()
            for fact in FACTS:
                run = client.runs.wait(
                    writer["thread_id"], "memory", input={"user": "ada", "fact": fact}
                )
                assert "__error__" not in run, run

            query = "Ada and her green tea"
            reader = client.threads.create()
            state = client.runs.wait(
                reader["thread_id"], "memory", input={"user": "ada", "query": query}
            )
            expected = sorted(FACTS, key=lambda fact: similarity(query, fact), reverse=True)
            assert [memory["text"] for memory in state["ranked"]] == expected
            assert expected[0] == FACTS[0]
            assert [memory["score"] for memory in state["ranked"]] == pytest.approx(
                [similarity(query, fact) for fact in expected]
            )

            query = "a dog in the park"
            found = client.store.search_items(("users", "ada"), query=query, limit=2)["items"]
            assert [item["value"]["text"] for item in found] == [FACTS[1], FACTS[2]]
            assert found[0]["score"] == pytest.approx(similarity(query, FACTS[1]))
            assert found[0]["score"] > found[1]["score"]
    finally:
        output = stop(dev)
    # The stack ranked with pgvector: the system check warns only when it cannot.
    assert "store.W001" not in output
