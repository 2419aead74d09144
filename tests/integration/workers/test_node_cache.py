"""Node caching (``workers.node_cache``): a node with a ``CachePolicy`` runs once per input
across runs and threads, its cached result served from PostgreSQL (not from this process: the
entries are rows); another input, another tenant, or an expired entry runs it again; the
scheduler's ``expire`` job prunes what expired."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from assistants import graphs
from assistants import services as assistant_services
from duragraph_site import scheduler
from runs import services as run_services
from runs.models import Run
from threads import services as thread_services
from threads.models import Thread
from workers import executor
from workers.models import NodeCacheEntry
from workers.node_cache import TenantNodeCache

pytestmark = pytest.mark.django_db(transaction=True)

#: The e2e tests' graph of that name (tests/e2e/graphs.py).
CACHED_GRAPH = f"{Path(__file__).parents[2] / 'e2e' / 'graphs.py'}:cached"


@pytest.fixture
def cached(settings):
    settings.DURAGRAPH_GRAPHS = {"cached": CACHED_GRAPH}
    graphs.registry.cache_clear()
    yield {
        tenant: assistant_services.assistant_create(graph_id="cached", tenant=tenant)
        for tenant in ("acme", "globex")
    }
    graphs.registry.cache_clear()


def run(assistant, ledger: Path, n: int) -> int:
    thread = thread_services.thread_create(tenant=assistant.tenant)
    created = run_services.run_create(
        thread_id=thread.thread_id,
        assistant_id=assistant.assistant_id,
        kwargs={"input": {"ledger": str(ledger), "n": n}},
        tenant=assistant.tenant,
    )
    assert executor.drain(worker_id="cache-test") == 1
    assert Run.objects.get(run_id=created.run_id).status == "success"
    return Thread.objects.get(thread_id=thread.thread_id).values["result"]


def executions(ledger: Path) -> list[str]:
    return ledger.read_text().split() if ledger.exists() else []


def test_a_cached_node_runs_once_per_input_across_runs_and_threads(
    cached, tmp_path, connections_in_use
):
    ledger = tmp_path / "ledger"
    assert run(cached["acme"], ledger, 3) == 9
    assert run(cached["acme"], ledger, 3) == 9
    assert executions(ledger) == ["3"], "the second run's node came from the cache"
    assert NodeCacheEntry.objects.filter(tenant="acme").count() == 1
    assert run(cached["acme"], ledger, 4) == 16
    assert run(cached["globex"], ledger, 3) == 9
    assert executions(ledger) == ["3", "4", "3"], "another input, another tenant: run again"
    assert connections_in_use() == 0, "LangGraph stores results from its own threads"

    # Expired: invisible at once (the node runs again), then pruned by the scheduler.
    NodeCacheEntry.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert run(cached["acme"], ledger, 3) == 9
    assert executions(ledger) == ["3", "4", "3", "3"]
    assert scheduler.expire()["node_cache"] == 2  # acme's 4 and globex's 3; acme's 3 is new
    assert NodeCacheEntry.objects.count() == 1


def test_the_cache_speaks_langgraphs_interface_sync_and_async():
    cache = TenantNodeCache("acme")
    key = (("graph", "node"), "input-hash")
    cache.set({key: ({"result": [1, 2]}, None), (("graph", "other"), "k"): ("x", 60)})
    assert cache.get([key, (("graph", "node"), "missing")]) == {key: {"result": [1, 2]}}
    assert TenantNodeCache("globex").get([key]) == {}

    async def from_async_code():
        await cache.aset({key: ("replaced", None)})
        found = await cache.aget([key])
        await cache.aclear([("graph", "node")])
        return found, await cache.aget([key])

    assert asyncio.run(from_async_code()) == ({key: "replaced"}, {})
    assert cache.get([(("graph", "other"), "k")]) == {(("graph", "other"), "k"): "x"}
    cache.clear()
    assert NodeCacheEntry.objects.count() == 0


def test_operators_see_and_delete_entries_in_the_admin(admin_client):
    TenantNodeCache("acme").set({(("cached", "expensive"), "h1"): (1, None)})
    url = reverse("admin:workers_nodecacheentry_changelist")
    page = admin_client.get(url)
    assert page.status_code == 200 and "cached/expensive" in page.content.decode()
    entry = NodeCacheEntry.objects.get()
    admin_client.post(
        url, {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"}
    )
    assert NodeCacheEntry.objects.count() == 0
