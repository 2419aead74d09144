"""Threads, driven through a live daphne server by the official ``langgraph-sdk`` clients.

Thread state, history and ``supersteps`` need the executor and are not covered here yet. Each
test tags its threads with its own metadata: the database is shared by every e2e test.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

import pytest
from langgraph_sdk import get_client, get_sync_client
from langgraph_sdk.errors import ConflictError, NotFoundError, UnprocessableEntityError
from langgraph_sdk.schema import Thread

pytestmark = pytest.mark.e2e

#: The SDK's Thread keys (``extracted`` is NotRequired) plus those LangGraph's server adds.
THREAD_KEYS = (set(Thread.__annotations__) - {"extracted"}) | {
    "state_updated_at",
    "config",
    "error",
}


@pytest.fixture
def tag() -> dict[str, str]:
    """Metadata that marks this test's threads (the database is shared)."""
    return {"e2e": uuid.uuid4().hex}


def assert_new_thread(thread: object, *, metadata: dict) -> None:
    assert isinstance(thread, dict)
    assert set(thread) == THREAD_KEYS
    assert uuid.UUID(thread["thread_id"]).version == 7  # time-ordered, as LangGraph's
    assert thread["metadata"] == metadata
    assert (thread["status"], thread["values"], thread["interrupts"]) == ("idle", None, {})
    assert thread["error"] is None
    for stamp in ("created_at", "updated_at", "state_updated_at"):
        assert datetime.fromisoformat(thread[stamp]).utcoffset() is not None


def test_create_get_update_delete_with_the_sync_client(api_server, tag):
    with get_sync_client(url=api_server.url, api_key=None) as client:
        created = client.threads.create(metadata={**tag, "owner": "ada"})
        assert_new_thread(created, metadata={**tag, "owner": "ada"})
        thread_id = created["thread_id"]
        assert client.threads.get(thread_id) == created

        updated = client.threads.update(thread_id, metadata={"owner": "bob", "lang": "en"})
        assert updated["metadata"] == {**tag, "owner": "bob", "lang": "en"}  # merged
        assert updated["created_at"] == created["created_at"]
        assert updated["updated_at"] > created["updated_at"]
        assert client.threads.update(thread_id, metadata={"n": 1}, return_minimal=True) is None
        assert client.threads.get(thread_id)["metadata"]["n"] == 1

        assert client.threads.delete(thread_id) is None
        with pytest.raises(NotFoundError, match=thread_id):
            client.threads.get(thread_id)
        with pytest.raises(NotFoundError):
            client.threads.delete(thread_id)
        with pytest.raises(NotFoundError):
            client.threads.update(thread_id, metadata={})


def test_create_with_an_id_graph_id_and_ttl(api_server, tag):
    thread_id = str(uuid.uuid4())
    with get_sync_client(url=api_server.url, api_key=None) as client:
        created = client.threads.create(thread_id=thread_id, metadata=tag, graph_id="simple")
        assert created["thread_id"] == thread_id
        assert created["metadata"] == {**tag, "graph_id": "simple"}
        with pytest.raises(ConflictError, match=thread_id):
            client.threads.create(thread_id=thread_id)
        assert client.threads.create(thread_id=thread_id, if_exists="do_nothing") == created

        expiring = client.threads.create(metadata=tag, ttl=30)
        assert "ttl" not in expiring
        with_ttl = client.threads.get(expiring["thread_id"], include=["ttl"])
        assert with_ttl["ttl"] == {"ttl": 30, "strategy": "delete"}
        assert client.threads.get(thread_id, include=["ttl"])["ttl"] is None


def test_update_sets_the_ttl(api_server, tag):
    with get_sync_client(url=api_server.url, api_key=None) as client:
        thread_id = client.threads.create(metadata=tag)["thread_id"]
        updated = client.threads.update(thread_id, metadata={"k": 1}, ttl=5)
        assert updated["metadata"] == {**tag, "k": 1}
        assert client.threads.get(thread_id, include=["ttl"])["ttl"] == {
            "ttl": 5,
            "strategy": "delete",
        }


def test_search_filters_sorts_pages_selects_and_extracts(api_server, tag):
    with get_sync_client(url=api_server.url, api_key=None) as client:
        made = [client.threads.create(metadata={**tag, "n": n}) for n in range(3)]
        ids = [t["thread_id"] for t in made]
        run = client.runs.create(ids[1], "simple", input={"items": []})  # makes it busy

        newest_first = client.threads.search(metadata=tag)
        assert [t["thread_id"] for t in newest_first] == ids[::-1]
        for thread in newest_first:
            assert set(thread) == THREAD_KEYS
        oldest_first = client.threads.search(metadata=tag, sort_by="created_at", sort_order="asc")
        assert [t["thread_id"] for t in oldest_first] == ids
        by_id = client.threads.search(metadata=tag, sort_by="thread_id", sort_order="desc")
        assert [t["thread_id"] for t in by_id] == sorted(ids, reverse=True)
        # The run touched thread 1 last.
        assert (
            client.threads.search(metadata=tag, sort_by="updated_at", limit=1)[0]["thread_id"]
            == (ids[1])
        )

        assert [t["thread_id"] for t in client.threads.search(metadata={**tag, "n": 2})] == [ids[2]]
        assert [t["thread_id"] for t in client.threads.search(metadata=tag, status="busy")] == [
            ids[1]
        ]
        assert [t["thread_id"] for t in client.threads.search(ids=[ids[0], ids[2]])] == [
            ids[2],
            ids[0],
        ]
        assert client.threads.search(metadata=tag, values={"items": ["x"]}) == []

        pages = [
            [t["thread_id"] for t in client.threads.search(metadata=tag, limit=2, offset=o)]
            for o in (0, 2, 4)
        ]
        assert pages == [[ids[2], ids[1]], [ids[0]], []]

        selected = client.threads.search(metadata=tag, select=["thread_id", "status"])
        assert [set(t) for t in selected] == [{"thread_id", "status"}] * 3

        extracted = client.threads.search(
            metadata=tag, extract={"n": "metadata.n", "last": "values.items[-1]"}
        )
        assert [t["extracted"] for t in extracted] == [
            {"n": 2, "last": None},
            {"n": 1, "last": None},
            {"n": 0, "last": None},
        ]

        assert client.threads.count(metadata=tag) == 3
        assert client.threads.count(metadata=tag, status="idle") == 2
        assert client.threads.count(metadata=tag, status="busy") == 1
        assert client.threads.count(metadata=tag, values={"items": ["x"]}) == 0
        client.runs.cancel(ids[1], run["run_id"])
        assert client.threads.count(metadata=tag, status="busy") == 0


def test_copy_makes_a_new_thread_with_the_same_metadata(api_server, tag):
    with get_sync_client(url=api_server.url, api_key=None) as client:
        source = client.threads.create(metadata={**tag, "kind": "source"})
        copied = client.threads.copy(source["thread_id"])
        assert set(copied) == THREAD_KEYS
        assert copied["thread_id"] != source["thread_id"]
        assert copied["metadata"] == source["metadata"]
        assert (copied["status"], copied["values"]) == ("idle", None)
        assert copied["created_at"] > source["created_at"]
        assert client.threads.get(copied["thread_id"]) == copied
        assert client.threads.count(metadata=tag) == 2
        with pytest.raises(NotFoundError):
            client.threads.copy(str(uuid.uuid4()))


def test_prune_deletes_threads_and_skips_unknown_ids(api_server, tag):
    with get_sync_client(url=api_server.url, api_key=None) as client:
        doomed = [client.threads.create(metadata=tag)["thread_id"] for _ in range(2)]
        kept = client.threads.create(metadata=tag)["thread_id"]
        pruned = client.threads.prune([*doomed, str(uuid.uuid4())])
        assert pruned == {"pruned_count": 2}
        assert [t["thread_id"] for t in client.threads.search(metadata=tag)] == [kept]
        assert client.threads.prune([kept], strategy="keep_latest") == {"pruned_count": 1}
        assert client.threads.get(kept)["thread_id"] == kept  # its latest checkpoint stays
        assert client.threads.prune([*doomed]) == {"pruned_count": 0}


def test_bad_input_raises_the_sdks_typed_errors(api_server, tag):
    with get_sync_client(url=api_server.url, api_key=None) as client:
        with pytest.raises(UnprocessableEntityError, match="thread_id"):
            client.threads.create(thread_id="not-a-uuid", metadata=tag)
        with pytest.raises(UnprocessableEntityError, match="ttl"):
            client.threads.create(metadata=tag, ttl=-5)
        with pytest.raises(UnprocessableEntityError, match="if_exists"):
            client.threads.create(metadata=tag, if_exists="replace")
        with pytest.raises(UnprocessableEntityError, match="thread ID"):
            client.threads.get("not-a-uuid")
        with pytest.raises(UnprocessableEntityError, match="include"):
            client.threads.get(str(uuid.uuid4()), include=["secrets"])
        with pytest.raises(UnprocessableEntityError, match="status"):
            client.threads.search(status="sleeping")
        with pytest.raises(UnprocessableEntityError, match="sort_by"):
            client.threads.search(sort_by="name")
        with pytest.raises(UnprocessableEntityError, match="select"):
            client.threads.search(select=["password"])
        with pytest.raises(UnprocessableEntityError, match="extract"):
            client.threads.search(extract={f"k{i}": "values" for i in range(11)})
        with pytest.raises(UnprocessableEntityError, match="ids"):
            client.threads.search(ids=["nope"])
        with pytest.raises(UnprocessableEntityError, match="thread_ids"):
            client.threads.prune([])
        with pytest.raises(UnprocessableEntityError, match="strategy"):
            client.threads.prune([str(uuid.uuid4())], strategy="shred")
        assert client.threads.count(metadata=tag) == 0


def test_the_async_client(api_server, tag):
    async def scenario() -> None:
        async with get_client(url=api_server.url, api_key=None) as client:
            created = await client.threads.create(metadata=tag)
            assert_new_thread(created, metadata=tag)
            thread_id = created["thread_id"]
            assert await client.threads.get(thread_id) == created
            updated = await client.threads.update(thread_id, metadata={"k": "v"})
            assert updated["metadata"] == {**tag, "k": "v"}
            found = await client.threads.search(metadata=tag, select=["thread_id"])
            assert found == [{"thread_id": thread_id}]
            assert await client.threads.count(metadata=tag) == 1
            copied = await client.threads.copy(thread_id)
            assert copied["metadata"] == updated["metadata"]
            assert await client.threads.prune([copied["thread_id"]]) == {"pruned_count": 1}
            await client.threads.delete(thread_id)
            with pytest.raises(NotFoundError):
                await client.threads.get(thread_id)
            assert await client.threads.count(metadata=tag) == 0

    asyncio.run(scenario())


def test_the_api_v1_prefix(api_server, tag):
    with get_sync_client(url=f"{api_server.url}/api/v1", api_key=None) as client:
        created = client.threads.create(metadata=tag)
        assert client.threads.get(created["thread_id"]) == created
        assert client.threads.update(created["thread_id"], metadata={"v": 1})["metadata"] == {
            **tag,
            "v": 1,
        }
        assert [t["thread_id"] for t in client.threads.search(metadata=tag)] == [
            created["thread_id"]
        ]
        assert client.threads.count(metadata=tag) == 1
        copied = client.threads.copy(created["thread_id"])
        assert client.threads.prune([copied["thread_id"]]) == {"pruned_count": 1}
        client.threads.delete(created["thread_id"])
        assert client.threads.count(metadata=tag) == 0
