"""``langgraph.json``'s ``store.ttl`` and ``checkpointer.ttl``, as LangGraph documents them: the
store's default TTL for puts that give none (API and graphs alike), refresh on read, threads'
default TTL, the expiry job's period, and a clear error for a malformed section."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core import checks
from rest_framework.test import APIClient

from duragraph_site import langgraph_config, scheduler
from store import selectors, services
from store.langgraph_store import TenantStore
from store.models import Item
from threads import services as thread_services

pytestmark = pytest.mark.django_db


@pytest.fixture
def configure(tmp_path, monkeypatch):
    """Point DURAGRAPH_CONFIG at a langgraph.json holding the given sections."""

    def write(**sections) -> None:
        path = tmp_path / "langgraph.json"
        path.write_text(json.dumps({"graphs": {}, **sections}))
        monkeypatch.setenv("DURAGRAPH_CONFIG", str(path))

    return write


def expires_in(key: str) -> timedelta | None:
    return Item.objects.get(key=key).ttl


def test_the_stores_default_ttl_applies_where_no_ttl_is_given(configure):
    configure(store={"ttl": {"default_ttl": 5}})
    api = APIClient()
    for key, body in (("default", {}), ("never", {"ttl": None}), ("own", {"ttl": 1})):
        put = {"namespace": ["a"], "key": key, "value": {}, **body}
        assert api.put("/store/items", put, format="json").status_code == 204
    assert [expires_in(k) for k in ("default", "never", "own")] == [
        timedelta(minutes=5),
        None,
        timedelta(minutes=1),
    ]
    TenantStore("default").put(("a",), "from a graph", {})
    TenantStore("default").put(("a",), "forever", {}, ttl=None)
    assert expires_in("from a graph") == timedelta(minutes=5)
    assert expires_in("forever") is None


def test_without_the_section_items_never_expire_and_reads_refresh(configure):
    configure()
    services.store_put_item(namespace=["a"], key="k", value={})
    assert expires_in("k") is None
    assert langgraph_config.ttl_config("store") == {}


def test_refresh_on_read_false_leaves_the_expiry_as_it_was(configure):
    configure(store={"ttl": {"refresh_on_read": False}})
    item = services.store_put_item(namespace=["a"], key="k", value={}, ttl=1)
    selectors.store_get_item(namespace=["a"], key="k")
    assert Item.objects.get(key="k").expires_at == item.expires_at
    selectors.store_get_item(namespace=["a"], key="k", refresh_ttl=True)
    assert Item.objects.get(key="k").expires_at > item.expires_at, "asked for: refreshed"
    assert TenantStore("default").ttl_config == {"refresh_on_read": False}


def test_threads_get_the_checkpointers_default_ttl(configure):
    configure(checkpointer={"ttl": {"strategy": "delete", "default_ttl": 43200}})
    assert thread_services.thread_create().ttl == {"strategy": "delete", "ttl": 43200}
    own = thread_services.thread_create(ttl={"strategy": "delete", "ttl": 5})
    assert own.ttl == {"strategy": "delete", "ttl": 5}


def test_the_expiry_job_runs_as_often_as_the_shortest_sweep_asks(configure, settings):
    settings.DURAGRAPH_EXPIRE_SECONDS = 600
    configure(
        store={"ttl": {"sweep_interval_minutes": 5}},
        checkpointer={"ttl": {"sweep_interval_minutes": 2}},
    )
    assert scheduler.expire_seconds() == 120
    configure()
    assert scheduler.expire_seconds() == 600


@pytest.mark.parametrize(
    "sections, message",
    [
        ({"store": {"ttl": 5}}, "store.ttl: an object"),
        ({"store": {"ttl": {"default": 5}}}, "unknown keys ['default']"),
        ({"store": {"ttl": {"default_ttl": -1}}}, "store.ttl.default_ttl: a positive number"),
        ({"store": {"ttl": {"default_ttl": "1h"}}}, "default_ttl: a positive number"),
        ({"store": {"ttl": {"refresh_on_read": "no"}}}, "refresh_on_read: true or false"),
        ({"checkpointer": {"ttl": {"strategy": "archive"}}}, "strategy: 'delete'"),
        ({"checkpointer": {"ttl": {"sweep_interval_minutes": 0}}}, "sweep_interval_minutes"),
    ],
)
def test_a_malformed_ttl_section_fails_the_system_check_naming_the_key(
    configure, sections, message
):
    configure(**sections)
    [error] = [e for e in checks.run_checks() if e.id == "duragraph.E001"]
    assert message in error.msg
    with pytest.raises(ValueError, match="langgraph.json"):
        langgraph_config.ttl_config(next(iter(sections)))
