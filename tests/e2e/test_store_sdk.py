"""The store, driven through a live daphne server by the official ``langgraph-sdk`` clients.

Each test writes under its own root label and deletes it afterwards: the live server commits
to the test database, which the integration tests share.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from langgraph_sdk import get_client, get_sync_client
from langgraph_sdk.errors import UnprocessableEntityError
from langgraph_sdk.schema import Item, ListNamespaceResponse, SearchItem, SearchItemsResponse

from store.models import Item as ItemRow

pytestmark = pytest.mark.e2e

ITEM_KEYS = set(Item.__required_keys__)
SEARCH_ITEM_KEYS = ITEM_KEYS | set(SearchItem.__optional_keys__)


@pytest.fixture
def root(django_db_blocker):
    """A fresh namespace root label; everything under it is deleted after the test."""
    label = f"e2e-{uuid.uuid4().hex[:12]}"
    yield label
    with django_db_blocker.unblock():
        ItemRow.objects.filter(namespace__0=label).delete()


@pytest.fixture
def rows(django_db_blocker, root):
    """Direct access to this test's rows (to check and to age TTLs)."""

    class Rows:
        def get(self, key: str) -> ItemRow:
            with django_db_blocker.unblock():
                return ItemRow.objects.get(namespace__0=root, key=key)

        def expire(self, key: str) -> None:
            with django_db_blocker.unblock():
                ItemRow.objects.filter(namespace__0=root, key=key).update(
                    expires_at=datetime.now(UTC) - timedelta(seconds=1)
                )

    return Rows()


def assert_item(item: object, *, namespace: list[str], key: str, value: dict) -> None:
    assert isinstance(item, dict)
    assert set(item) == ITEM_KEYS
    assert (item["namespace"], item["key"], item["value"]) == (namespace, key, value)
    for stamp in ("created_at", "updated_at"):
        assert datetime.fromisoformat(item[stamp]).utcoffset() == timedelta(0)


def test_put_get_delete_with_the_sync_client(api_server, root):
    namespace = [root, "users", "ada"]
    with get_sync_client(url=api_server.url, api_key=None) as client:
        assert client.store.put_item(namespace, key="prefs", value={"theme": "dark"}) is None
        first = client.store.get_item(namespace, key="prefs")
        assert_item(first, namespace=namespace, key="prefs", value={"theme": "dark"})
        assert first["created_at"] == first["updated_at"]

        client.store.put_item(namespace, key="prefs", value={"theme": "light"})
        second = client.store.get_item(namespace, key="prefs")
        assert_item(second, namespace=namespace, key="prefs", value={"theme": "light"})
        assert second["created_at"] == first["created_at"]
        assert second["updated_at"] > first["updated_at"]

        assert client.store.get_item(namespace, key="missing") is None
        assert client.store.get_item([root, "nowhere"], key="prefs") is None

        assert client.store.delete_item(namespace, key="prefs") is None
        assert client.store.get_item(namespace, key="prefs") is None
        client.store.delete_item(namespace, key="prefs")  # already gone: still fine


def test_ttl_expires_and_refreshes(api_server, root, rows):
    namespace = [root, "session"]
    with get_sync_client(url=api_server.url, api_key=None) as client:
        client.store.put_item(namespace, key="short", value={"v": 1}, ttl=5)
        client.store.put_item(namespace, key="forever", value={"v": 2})
        row = rows.get("short")
        assert row.ttl == timedelta(minutes=5)
        assert row.expires_at - row.updated_at == timedelta(minutes=5)
        assert rows.get("forever").expires_at is None

        before = rows.get("short").expires_at
        assert client.store.get_item(namespace, key="short", refresh_ttl=False) is not None
        assert rows.get("short").expires_at == before
        assert client.store.get_item(namespace, key="short", refresh_ttl=True) is not None
        assert rows.get("short").expires_at > before

        rows.expire("short")
        assert client.store.get_item(namespace, key="short") is None
        found = client.store.search_items([root])
        assert [item["key"] for item in found["items"]] == ["forever"]


def test_search_items_with_the_sync_client(api_server, root):
    with get_sync_client(url=api_server.url, api_key=None) as client:
        for i, (sub, kind) in enumerate([("a", "note"), ("a", "todo"), ("b", "note"), ("ab", "x")]):
            client.store.put_item([root, sub], key=f"k{i}", value={"kind": kind, "n": i})

        result: SearchItemsResponse = client.store.search_items([root, "a"])
        assert set(result) == {"items"}
        # Label by label: ["a"] does not match ["ab"]; most recently updated first.
        assert [item["key"] for item in result["items"]] == ["k1", "k0"]
        for item in result["items"]:
            assert set(item) == SEARCH_ITEM_KEYS
            assert item["score"] is None

        notes = client.store.search_items([root], filter={"kind": "note"})
        assert sorted(item["key"] for item in notes["items"]) == ["k0", "k2"]
        big = client.store.search_items([root], filter={"n": {"$gte": 2}})
        assert sorted(item["key"] for item in big["items"]) == ["k2", "k3"]

        pages = [
            [item["key"] for item in client.store.search_items([root], limit=3, offset=o)["items"]]
            for o in (0, 3)
        ]
        assert pages == [["k3", "k2", "k1"], ["k0"]]

        ignored = client.store.search_items([root, "b"], query="notes about b", refresh_ttl=True)
        assert [item["key"] for item in ignored["items"]] == ["k2"]


def test_list_namespaces_with_the_sync_client(api_server, root):
    with get_sync_client(url=api_server.url, api_key=None) as client:
        for namespace in (
            [root, "users", "ada", "memories"],
            [root, "users", "ada", "prefs"],
            [root, "users", "bob", "memories"],
            [root, "docs"],
        ):
            client.store.put_item(namespace, key="k", value={})

        listed: ListNamespaceResponse = client.store.list_namespaces(prefix=[root])
        assert listed == {
            "namespaces": [
                [root, "docs"],
                [root, "users", "ada", "memories"],
                [root, "users", "ada", "prefs"],
                [root, "users", "bob", "memories"],
            ]
        }
        by_suffix = client.store.list_namespaces(prefix=[root], suffix=["memories"])
        assert by_suffix["namespaces"] == [
            [root, "users", "ada", "memories"],
            [root, "users", "bob", "memories"],
        ]
        shallow = client.store.list_namespaces(prefix=[root], max_depth=2)
        assert shallow["namespaces"] == [[root, "docs"], [root, "users"]]
        page = client.store.list_namespaces(prefix=[root, "users"], limit=1, offset=1)
        assert page["namespaces"] == [[root, "users", "ada", "prefs"]]


def test_bad_input_raises_the_sdks_typed_error(api_server, root):
    with get_sync_client(url=api_server.url, api_key=None) as client:
        with pytest.raises(UnprocessableEntityError, match="value"):
            client.store.put_item([root], key="k", value=["not", "an", "object"])
        with pytest.raises(UnprocessableEntityError, match="limit"):
            client.store.search_items([root], limit=0)
        with pytest.raises(UnprocessableEntityError, match="max_depth"):
            client.store.list_namespaces(max_depth=0)
        with pytest.raises(ValueError, match="periods"):  # the SDK refuses this one itself
            client.store.put_item([root, "a.b"], key="k", value={})
        assert client.store.search_items([root])["items"] == []


def test_the_async_client(api_server, root):
    namespace = [root, "async"]

    async def scenario() -> None:
        async with get_client(url=api_server.url, api_key=None) as client:
            await client.store.put_item(namespace, key="k1", value={"n": 1}, ttl=60)
            await client.store.put_item(namespace, key="k2", value={"n": 2})
            item = await client.store.get_item(namespace, key="k1", refresh_ttl=True)
            assert_item(item, namespace=namespace, key="k1", value={"n": 1})
            assert await client.store.get_item(namespace, key="missing") is None

            found = await client.store.search_items([root], filter={"n": 2})
            assert [(i["key"], i["score"]) for i in found["items"]] == [("k2", None)]
            listed = await client.store.list_namespaces(prefix=[root], suffix=["async"])
            assert listed == {"namespaces": [namespace]}

            await client.store.delete_item(namespace, key="k1")
            assert await client.store.get_item(namespace, key="k1") is None
            with pytest.raises(UnprocessableEntityError):
                await client.store.search_items([root], offset=-1)

    asyncio.run(scenario())


def test_the_api_v1_prefix(api_server, root):
    namespace = [root, "v1"]
    with get_sync_client(url=f"{api_server.url}/api/v1", api_key=None) as client:
        client.store.put_item(namespace, key="k", value={"via": "v1"}, ttl=1)
        assert_item(
            client.store.get_item(namespace, key="k"),
            namespace=namespace,
            key="k",
            value={"via": "v1"},
        )
        assert [i["key"] for i in client.store.search_items([root])["items"]] == ["k"]
        assert client.store.list_namespaces(prefix=[root]) == {"namespaces": [namespace]}
        client.store.delete_item(namespace, key="k")
        assert client.store.get_item(namespace, key="k") is None
