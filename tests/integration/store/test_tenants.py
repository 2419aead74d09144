"""Each tenant has a store of its own: the same (namespace, key) are two items in two tenants;
gets, searches, namespace listings and deletes see only the caller's (docs/tenants.md)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts import services as account_services
from store import selectors, services

pytestmark = pytest.mark.django_db

A, B = "tenant-a", "tenant-b"
NS = ("users", "ada")


def test_the_same_address_is_two_items_in_two_tenants():
    services.store_put_item(namespace=NS, key="k", value={"v": "a"}, tenant=A)
    assert selectors.store_get_item(namespace=NS, key="k", tenant=B) is None
    assert selectors.store_search_items(namespace_prefix=["users"], tenant=B) == []
    assert selectors.store_list_namespaces(tenant=B) == []
    assert services.store_delete_item(namespace=NS, key="k", tenant=B) is False

    services.store_put_item(namespace=NS, key="k", value={"v": "b"}, tenant=B)
    assert selectors.store_get_item(namespace=NS, key="k", tenant=A).value == {"v": "a"}
    assert selectors.store_get_item(namespace=NS, key="k", tenant=B).value == {"v": "b"}
    assert [
        i.value for i in selectors.store_search_items(namespace_prefix=["users"], tenant=A)
    ] == [{"v": "a"}]
    assert selectors.store_list_namespaces(tenant=A) == [list(NS)]
    assert services.store_delete_item(namespace=NS, key="k", tenant=B) is True
    assert selectors.store_get_item(namespace=NS, key="k", tenant=A).value == {"v": "a"}


def test_the_api_keeps_each_callers_store(settings):
    settings.AUTH_ENABLED = True
    _, key_a = account_services.create_api_key(name="a", tenant=A)
    _, key_b = account_services.create_api_key(name="b", tenant=B)
    a, b = APIClient(HTTP_X_API_KEY=key_a), APIClient(HTTP_X_API_KEY=key_b)
    body = {"namespace": list(NS), "key": "k", "value": {"v": "a"}}
    assert a.put("/store/items", body, format="json").status_code == 204
    assert b.get("/store/items", {"namespace": "users.ada", "key": "k"}).json() is None
    assert b.post("/store/items/search", {"namespace_prefix": ["users"]}, format="json").json() == {
        "items": []
    }
    assert b.post("/store/namespaces", {}, format="json").json() == {"namespaces": []}
    assert a.get("/store/items", {"namespace": "users.ada", "key": "k"}).json()["value"] == {
        "v": "a"
    }
