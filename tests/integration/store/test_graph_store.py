"""The store inside graphs: a graph the executor runs reads and writes its tenant's store
(``store.langgraph_store.TenantStore``) through a node's ``store`` argument and
``runtime.store``; what one thread's run remembers, another thread's run recalls, and the API's
store holds the same items. The adapter itself: LangGraph's operations (sync and async), TTLs,
bad namespaces as ``ValueError``, one store per tenant."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from assistants import graphs
from assistants import services as assistant_services
from runs import services as run_services
from runs.models import Run
from store import selectors
from store.langgraph_store import TenantStore
from threads import services as thread_services
from threads.models import Thread
from workers import executor

MEMORY_GRAPH = f"{Path(__file__).with_name('memory_graph.py')}:memory"


@pytest.fixture
def memory_assistant(settings):
    settings.DURAGRAPH_GRAPHS = {"memory": MEMORY_GRAPH}
    graphs.registry.cache_clear()
    yield assistant_services.assistant_create(graph_id="memory", tenant="acme")
    graphs.registry.cache_clear()


def run_in_a_new_thread(assistant, values: dict) -> dict:
    thread = thread_services.thread_create(tenant="acme")
    run = run_services.run_create(
        thread_id=thread.thread_id,
        assistant_id=assistant.assistant_id,
        kwargs={"input": values},
        tenant="acme",
    )
    assert executor.drain(worker_id="store-test") == 1
    run = Run.objects.get(run_id=run.run_id)
    assert run.status == "success", run.error
    return Thread.objects.get(thread_id=thread.thread_id).values


@pytest.mark.django_db(transaction=True)
def test_what_one_threads_run_remembers_another_threads_run_recalls(
    memory_assistant, connections_in_use
):
    first = run_in_a_new_thread(memory_assistant, {"user": "ada", "fact": "likes tea"})
    assert first["recalled"] == ["likes tea"]
    second = run_in_a_new_thread(memory_assistant, {"user": "ada", "fact": "has a cat"})
    assert second["recalled"] == ["has a cat", "likes tea"]
    third = run_in_a_new_thread(memory_assistant, {"user": "ada"})
    assert third["recalled"] == ["has a cat", "likes tea"], "read in a thread that wrote nothing"
    assert run_in_a_new_thread(memory_assistant, {"user": "bob"})["recalled"] == []
    visits = selectors.store_get_item(
        namespace=["users", "ada", "visits"], key="count", tenant="acme"
    )
    assert visits.value == {"n": 3}
    assert connections_in_use() == 0, "nodes on LangGraph's threads gave their connections back"

    # The API's store holds them, in the run's tenant's store only.
    item = selectors.store_get_item(
        namespace=["users", "ada", "memories"], key="likes tea", tenant="acme"
    )
    assert item is not None and item.value == {"text": "likes tea"}
    assert selectors.store_get_item(namespace=["users", "ada", "memories"], key="likes tea") is None


# transactional: async operations run on a worker thread's own connection, so they commit
@pytest.mark.django_db(transaction=True)
def test_the_adapter_speaks_langgraphs_store_operations():
    store = TenantStore("acme")
    store.put(("docs", "a"), "1", {"kind": "note", "n": 1})
    store.put(("docs", "b"), "2", {"kind": "todo", "n": 2}, ttl=5)
    assert store.get(("docs", "a"), "1").value == {"kind": "note", "n": 1}
    assert store.get(("docs", "a"), "missing") is None
    assert [i.key for i in store.search(("docs",), filter={"kind": "todo"})] == ["2"]
    assert sorted(store.list_namespaces(prefix=("docs",))) == [("docs", "a"), ("docs", "b")]
    assert store.list_namespaces(suffix=("b",)) == [("docs", "b")]
    row = selectors.store_get_item(namespace=["docs", "b"], key="2", tenant="acme")
    assert row.ttl is not None and row.ttl.total_seconds() == 300, "minutes, as LangGraph's"

    async def from_an_async_node():
        await store.aput(("docs", "a"), "3", {"kind": "note"})
        await store.adelete(("docs", "a"), "1")
        return await store.asearch(("docs", "a"))

    assert [item.key for item in asyncio.run(from_an_async_node())] == ["3"]
    assert TenantStore("other").get(("docs", "a"), "3") is None, "one store per tenant"
    with pytest.raises(ValueError, match=r"\$regex"):  # our services' refusal, as LangGraph's
        store.search(("docs",), filter={"n": {"$regex": "x"}})
