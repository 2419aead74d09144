"""The store API on real PostgreSQL: every endpoint at both prefixes, TTLs, namespaces, and bad
input that is refused with 422 and writes nothing."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.urls import reverse
from rest_framework.test import APIClient

from store import selectors, services
from store.models import Item

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
PREFIXES = ["", "/api/v1"]


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture(params=PREFIXES, ids=["root", "v1"])
def prefix(request) -> str:
    return request.param


def put(api: APIClient, prefix: str, body: object):
    return api.put(f"{prefix}/store/items", body, format="json")


def get(api: APIClient, prefix: str, **params: str):
    return api.get(f"{prefix}/store/items", params)


def post(api: APIClient, url: str, body: object):
    return api.post(url, body, format="json")


def seed(*namespaces: tuple[str, ...], now: datetime = T0) -> None:
    """One item keyed ``k`` per namespace, each one second later than the previous."""
    for i, namespace in enumerate(namespaces):
        services.store_put_item(
            namespace=list(namespace), key="k", value={"i": i}, now=now + timedelta(seconds=i)
        )


# -- put / get / delete ------------------------------------------------------------------------


def test_put_then_get_returns_the_item(api, prefix):
    response = put(
        api, prefix, {"namespace": ["users", "ada"], "key": "prefs", "value": {"theme": "dark"}}
    )
    assert response.status_code == 204
    assert response.content == b""

    response = get(api, prefix, namespace="users.ada", key="prefs")
    assert response.status_code == 200
    item = json.loads(response.content)
    assert set(item) == {"namespace", "key", "value", "created_at", "updated_at"}
    assert item["namespace"] == ["users", "ada"]
    assert item["key"] == "prefs"
    assert item["value"] == {"theme": "dark"}
    created = datetime.fromisoformat(item["created_at"])
    assert created.utcoffset() == timedelta(0)
    assert item["created_at"].endswith("+00:00")
    assert item["updated_at"] == item["created_at"]


def test_get_of_a_missing_item_is_200_with_a_json_null_body(api, prefix):
    response = get(api, prefix, namespace="users.nobody", key="prefs")
    assert response.status_code == 200
    assert response.content == b"null"
    assert response["Content-Type"].startswith("application/json")


def test_put_replaces_the_value_keeps_created_at_and_bumps_updated_at(api, prefix):
    services.store_put_item(namespace=["a"], key="k", value={"v": 1}, now=T0)
    services.store_put_item(namespace=["a"], key="k", value={"v": 2}, now=T0 + timedelta(minutes=5))
    item = json.loads(get(api, prefix, namespace="a", key="k").content)
    assert item["value"] == {"v": 2}
    assert datetime.fromisoformat(item["created_at"]) == T0
    assert datetime.fromisoformat(item["updated_at"]) == T0 + timedelta(minutes=5)
    assert Item.objects.count() == 1


def test_same_key_in_other_namespaces_is_another_item(api, prefix):
    for namespace in (["a"], ["a", "b"], ["b"]):
        assert (
            put(api, prefix, {"namespace": namespace, "key": "k", "value": {}}).status_code == 204
        )
    assert Item.objects.count() == 3


def test_delete_removes_the_item_and_a_missing_item_is_also_204(api, prefix):
    seed(("a", "b"))
    response = api.delete(
        f"{prefix}/store/items", {"namespace": ["a", "b"], "key": "k"}, format="json"
    )
    assert response.status_code == 204
    assert response.content == b""
    assert Item.objects.count() == 0
    assert get(api, prefix, namespace="a.b", key="k").content == b"null"

    again = api.delete(
        f"{prefix}/store/items", {"namespace": ["a", "b"], "key": "k"}, format="json"
    )
    assert again.status_code == 204


def test_delete_touches_only_its_item(api, prefix):
    seed(("a",), ("a", "b"))
    api.delete(f"{prefix}/store/items", {"namespace": ["a"], "key": "k"}, format="json")
    assert [item.namespace for item in Item.objects.all()] == [["a", "b"]]


def test_unknown_body_keys_are_ignored(api, prefix):
    body = {"namespace": ["a"], "key": "k", "value": {"x": 1}, "index": ["x"], "extra": True}
    assert put(api, prefix, body).status_code == 204
    search = post(api, f"{prefix}/store/items/search", {"namespace_prefix": ["a"], "bogus": 1})
    assert search.status_code == 200
    namespaces = post(api, f"{prefix}/store/namespaces", {"bogus": 1})
    assert namespaces.json() == {"namespaces": [["a"]]}


def test_index_false_and_null_ttl_are_accepted(api, prefix):
    body = {"namespace": ["a"], "key": "k", "value": {}, "index": False, "ttl": None}
    assert put(api, prefix, body).status_code == 204
    item = Item.objects.get()
    assert item.ttl is None and item.expires_at is None


def test_keys_and_labels_are_taken_as_is(api, prefix):
    put(api, prefix, {"namespace": [" a "], "key": " k ", "value": {}})
    assert get(api, prefix, namespace=" a ", key=" k ").json()["key"] == " k "
    assert get(api, prefix, namespace="a", key="k").content == b"null"


def test_values_round_trip_exactly(api, prefix):
    value = {
        "text": "héllo ✓",
        "nested": {"list": [1, 2.5, None, True, {"deep": []}]},
        "big": 2**63 - 1,
        "empty": {},
    }
    put(api, prefix, {"namespace": ["a"], "key": "k", "value": value})
    assert get(api, prefix, namespace="a", key="k").json()["value"] == value


# -- search ------------------------------------------------------------------------------------


def test_search_matches_the_prefix_label_by_label(api, prefix):
    seed(("a",), ("a", "b"), ("ab",), ("a", "b", "c"), ("x", "a"))
    response = post(api, f"{prefix}/store/items/search", {"namespace_prefix": ["a"]})
    assert response.status_code == 200
    items = response.json()["items"]
    # Most recently updated first.
    assert [item["namespace"] for item in items] == [["a", "b", "c"], ["a", "b"], ["a"]]
    for item in items:
        assert set(item) == {"namespace", "key", "value", "created_at", "updated_at", "score"}
        assert item["score"] is None

    deeper = post(api, f"{prefix}/store/items/search", {"namespace_prefix": ["a", "b"]}).json()
    assert [item["namespace"] for item in deeper["items"]] == [["a", "b", "c"], ["a", "b"]]


def test_search_with_an_empty_or_missing_prefix_finds_everything(api, prefix):
    seed(("a",), ("b",))
    for body in ({"namespace_prefix": []}, {}):
        items = post(api, f"{prefix}/store/items/search", body).json()["items"]
        assert sorted(item["namespace"] for item in items) == [["a"], ["b"]]


def test_search_prefix_wildcard_matches_any_one_label(api, prefix):
    seed(("users", "ada", "memories"), ("users", "bob", "memories"), ("users", "bob", "prefs"))
    body = {"namespace_prefix": ["users", "*", "memories"]}
    items = post(api, f"{prefix}/store/items/search", body).json()["items"]
    assert sorted(item["namespace"][1] for item in items) == ["ada", "bob"]


def test_search_filter_is_an_exact_match_on_top_level_keys(api, prefix):
    values = [
        {"kind": "note", "tags": ["a", "b"], "n": 1},
        {"kind": "note", "tags": ["a"], "n": 2},
        {"kind": "todo", "tags": ["a", "b"], "n": 3},
    ]
    for i, value in enumerate(values):
        services.store_put_item(namespace=["m"], key=f"k{i}", value=value, now=T0)
    url = f"{prefix}/store/items/search"

    def keys(filter_: dict) -> list[str]:
        response = post(api, url, {"namespace_prefix": ["m"], "filter": filter_})
        assert response.status_code == 200, response.content
        return sorted(item["key"] for item in response.json()["items"])

    assert keys({"kind": "note"}) == ["k0", "k1"]
    assert keys({"kind": "note", "n": 2}) == ["k1"]
    # Exact, not containment: ["a"] does not match ["a", "b"].
    assert keys({"tags": ["a"]}) == ["k1"]
    assert keys({"kind": "nothing"}) == []
    assert keys({"missing": 1}) == []
    assert keys({}) == ["k0", "k1", "k2"]


def test_search_filter_operators(api, prefix):
    for n in range(5):
        services.store_put_item(namespace=["m"], key=f"k{n}", value={"n": n, "s": "x"}, now=T0)
    services.store_put_item(namespace=["m"], key="text", value={"n": "3"}, now=T0)
    url = f"{prefix}/store/items/search"

    def keys(filter_: dict) -> list[str]:
        response = post(api, url, {"namespace_prefix": ["m"], "filter": filter_})
        assert response.status_code == 200, response.content
        return sorted(item["key"] for item in response.json()["items"])

    assert keys({"n": {"$gt": 2}}) == ["k3", "k4"]
    assert keys({"n": {"$gte": 1, "$lt": 3}}) == ["k1", "k2"]
    assert keys({"n": {"$lte": 0.5}}) == ["k0"]
    assert keys({"n": {"$eq": 4}}) == ["k4"]
    assert keys({"n": {"$ne": 4}, "s": "x"}) == ["k0", "k1", "k2", "k3"]
    # Ordering operators compare numbers only: the string "3" is not greater than 2.
    assert "text" not in keys({"n": {"$gt": 2}})


@pytest.mark.parametrize("namespace_prefix", [[], ["users"], ["users", "*", "memories"]])
@pytest.mark.parametrize("filter_", [None, {"kind": "note"}, {"n": {"$gt": 1}}])
def test_every_kind_of_prefix_with_and_without_a_filter(api, prefix, namespace_prefix, filter_):
    """Each prefix kind (none, exact, wildcards) with no filter, exact matches, comparisons:
    the search is put together from different pieces for each (store.selectors)."""
    namespaces = [("users", "ada", "memories"), ("users", "bob", "prefs"), ("other", "x")]
    for n, namespace in enumerate(namespaces * 2):
        value = {"kind": "note" if n % 2 else "todo", "n": n}
        services.store_put_item(namespace=list(namespace), key=f"k{n}", value=value, now=T0)

    def passes(namespace: tuple, value: dict) -> bool:
        under = len(namespace) >= len(namespace_prefix) and all(
            label in ("*", part) for label, part in zip(namespace_prefix, namespace, strict=False)
        )
        if filter_ == {"kind": "note"}:
            return under and value["kind"] == "note"
        if filter_ == {"n": {"$gt": 1}}:
            return under and value["n"] > 1
        return under

    expected = sorted(
        f"k{n}"
        for n, namespace in enumerate(namespaces * 2)
        if passes(namespace, {"kind": "note" if n % 2 else "todo", "n": n})
    )
    body = {"namespace_prefix": namespace_prefix, "filter": filter_, "limit": 100}
    response = post(api, f"{prefix}/store/items/search", body)
    assert response.status_code == 200, response.content
    assert sorted(item["key"] for item in response.json()["items"]) == expected


def test_search_limit_and_offset_page_in_a_stable_order(api, prefix):
    # Same updated_at for all: the order falls back to namespace, then key.
    for key in ("c", "a", "d", "b"):
        services.store_put_item(namespace=["p"], key=key, value={}, now=T0)
    url = f"{prefix}/store/items/search"
    pages = [
        [
            i["key"]
            for i in post(api, url, {"namespace_prefix": ["p"], "limit": 2, "offset": o}).json()[
                "items"
            ]
        ]
        for o in (0, 2, 4)
    ]
    assert pages == [["a", "b"], ["c", "d"], []]


def test_search_default_limit_is_10(api, prefix):
    for i in range(12):
        services.store_put_item(namespace=["p"], key=f"k{i:02}", value={}, now=T0)
    items = post(api, f"{prefix}/store/items/search", {"namespace_prefix": ["p"]}).json()["items"]
    assert len(items) == 10


def test_search_accepts_and_ignores_a_semantic_query(api, prefix):
    seed(("a",))
    body = {"namespace_prefix": ["a"], "query": "what does ada like?"}
    items = post(api, f"{prefix}/store/items/search", body).json()["items"]
    assert [(i["key"], i["score"]) for i in items] == [("k", None)]


# -- namespaces --------------------------------------------------------------------------------

NAMESPACES = [
    ("users", "ada", "memories"),
    ("users", "ada", "prefs"),
    ("users", "bob", "memories"),
    ("docs", "ada"),
    ("docs",),
    ("usersx", "z"),
]


def namespaces(api: APIClient, url_prefix: str, /, **body: object) -> list[list[str]]:
    response = post(api, f"{url_prefix}/store/namespaces", body)
    assert response.status_code == 200, response.content
    return response.json()["namespaces"]


def test_namespaces_are_distinct_and_sorted(api, prefix):
    seed(*NAMESPACES)
    services.store_put_item(namespace=["docs"], key="other", value={}, now=T0)
    assert namespaces(api, prefix) == [
        ["docs"],
        ["docs", "ada"],
        ["users", "ada", "memories"],
        ["users", "ada", "prefs"],
        ["users", "bob", "memories"],
        ["usersx", "z"],
    ]


def test_namespaces_prefix_and_suffix(api, prefix):
    seed(*NAMESPACES)
    assert namespaces(api, prefix, prefix=["users"]) == [
        ["users", "ada", "memories"],
        ["users", "ada", "prefs"],
        ["users", "bob", "memories"],
    ]
    assert namespaces(api, prefix, suffix=["memories"]) == [
        ["users", "ada", "memories"],
        ["users", "bob", "memories"],
    ]
    assert namespaces(api, prefix, suffix=["ada"]) == [["docs", "ada"]]
    assert namespaces(api, prefix, prefix=["users"], suffix=["prefs"]) == [
        ["users", "ada", "prefs"]
    ]
    assert namespaces(api, prefix, prefix=["users", "*", "memories"]) == [
        ["users", "ada", "memories"],
        ["users", "bob", "memories"],
    ]
    assert namespaces(api, prefix, suffix=["ada", "*"]) == [
        ["users", "ada", "memories"],
        ["users", "ada", "prefs"],
    ]
    # Longer than every namespace: nothing, not an error.
    assert namespaces(api, prefix, prefix=["a", "b", "c", "d"]) == []


def test_namespaces_max_depth_truncates_and_deduplicates(api, prefix):
    seed(*NAMESPACES)
    assert namespaces(api, prefix, max_depth=1) == [["docs"], ["users"], ["usersx"]]
    assert namespaces(api, prefix, prefix=["users"], max_depth=2) == [
        ["users", "ada"],
        ["users", "bob"],
    ]


def _matches(namespace: tuple[str, ...], labels: tuple[str, ...], *, at_end: bool) -> bool:
    """LangGraph's label-by-label match of a prefix (or, *at_end*, a suffix); "*" is any label."""
    if len(labels) > len(namespace):
        return False
    part = namespace[len(namespace) - len(labels) :] if at_end else namespace[: len(labels)]
    return all(want in ("*", got) for want, got in zip(labels, part, strict=True))


def test_every_kind_of_namespace_listing_matches_a_reference(subtests):
    """Each statement the selector can put together (prefix none, exact or with wildcards;
    suffix or not; cut to a depth or not) answers what a plain Python listing answers."""
    seed(*NAMESPACES)
    for prefix in [(), ("users",), ("users", "ada"), ("users", "*"), ("*", "ada"), ("x", "y")]:
        for suffix in [(), ("memories",), ("*",), ("ada", "*")]:
            for max_depth in [None, 1, 2]:
                with subtests.test(prefix=prefix, suffix=suffix, max_depth=max_depth):
                    expected = sorted(
                        {
                            namespace[:max_depth]
                            for namespace in NAMESPACES
                            if _matches(namespace, prefix, at_end=False)
                            and _matches(namespace, suffix, at_end=True)
                        }
                    )
                    found = selectors.store_list_namespaces(
                        prefix=prefix, suffix=suffix, max_depth=max_depth
                    )
                    assert found == [list(namespace) for namespace in expected]


def test_namespaces_limit_and_offset(api, prefix):
    seed(*NAMESPACES)
    everything = namespaces(api, prefix)
    assert namespaces(api, prefix, limit=2) == everything[:2]
    assert namespaces(api, prefix, limit=2, offset=2) == everything[2:4]
    assert namespaces(api, prefix, offset=100) == []


# -- TTL ---------------------------------------------------------------------------------------


def test_ttl_sets_an_expiry_and_expired_items_are_invisible(api, prefix):
    response = put(api, prefix, {"namespace": ["t"], "key": "k", "value": {}, "ttl": 5})
    assert response.status_code == 204
    item = Item.objects.get()
    assert item.ttl == timedelta(minutes=5)
    assert item.expires_at - item.updated_at == timedelta(minutes=5)
    seed(("live",))

    Item.objects.filter(pk=item.pk).update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert get(api, prefix, namespace="t", key="k").content == b"null"
    search = post(api, f"{prefix}/store/items/search", {"namespace_prefix": []}).json()
    assert [i["namespace"] for i in search["items"]] == [["live"]]
    assert namespaces(api, prefix) == [["live"]]


def test_fractional_ttl_minutes(api, prefix):
    put(api, prefix, {"namespace": ["t"], "key": "k", "value": {}, "ttl": 0.5})
    assert Item.objects.get().ttl == timedelta(seconds=30)


def test_expiry_is_exact_with_an_explicit_now():
    services.store_put_item(namespace=["t"], key="k", value={}, ttl=10, now=T0)
    just_before = T0 + timedelta(minutes=10) - timedelta(microseconds=1)
    at_expiry = T0 + timedelta(minutes=10)
    assert selectors.store_get_item(namespace=["t"], key="k", refresh_ttl=False, now=just_before)
    assert selectors.store_get_item(namespace=["t"], key="k", now=at_expiry) is None
    assert selectors.store_search_items(namespace_prefix=["t"], now=at_expiry) == []
    assert selectors.store_list_namespaces(now=at_expiry) == []


@pytest.mark.parametrize("refresh_ttl", [True, None], ids=["explicit", "default"])
def test_get_refreshes_the_ttl(refresh_ttl):
    services.store_put_item(namespace=["t"], key="k", value={}, ttl=10, now=T0)
    later = T0 + timedelta(minutes=8)
    item = selectors.store_get_item(namespace=["t"], key="k", refresh_ttl=refresh_ttl, now=later)
    assert item is not None
    assert item.expires_at == later + timedelta(minutes=10)
    assert Item.objects.get().expires_at == later + timedelta(minutes=10)
    # Still there after the original expiry.
    assert selectors.store_get_item(namespace=["t"], key="k", now=T0 + timedelta(minutes=12))


def test_get_without_refresh_leaves_the_expiry(api):
    services.store_put_item(namespace=["t"], key="k", value={}, ttl=10, now=T0)
    selectors.store_get_item(
        namespace=["t"], key="k", refresh_ttl=False, now=T0 + timedelta(minutes=8)
    )
    assert Item.objects.get().expires_at == T0 + timedelta(minutes=10)


def test_get_refresh_over_http(api, prefix):
    put(api, prefix, {"namespace": ["t"], "key": "k", "value": {}, "ttl": 10})
    Item.objects.update(expires_at=datetime.now(UTC) + timedelta(minutes=1))
    assert get(api, prefix, namespace="t", key="k", refresh_ttl="false").status_code == 200
    assert Item.objects.get().expires_at < datetime.now(UTC) + timedelta(minutes=2)
    assert get(api, prefix, namespace="t", key="k", refresh_ttl="true").status_code == 200
    assert Item.objects.get().expires_at > datetime.now(UTC) + timedelta(minutes=9)


def test_search_refreshes_the_ttl_of_the_returned_items_only():
    services.store_put_item(namespace=["t"], key="a", value={"x": 1}, ttl=10, now=T0)
    services.store_put_item(namespace=["t"], key="b", value={"x": 2}, ttl=10, now=T0)
    services.store_put_item(namespace=["t"], key="forever", value={"x": 1}, now=T0)
    later = T0 + timedelta(minutes=5)
    found = selectors.store_search_items(
        namespace_prefix=["t"], filter={"x": 1}, refresh_ttl=True, now=later
    )
    assert sorted(item.key for item in found) == ["a", "forever"]
    expiries = dict(Item.objects.values_list("key", "expires_at"))
    assert expiries == {
        "a": later + timedelta(minutes=10),
        "b": T0 + timedelta(minutes=10),
        "forever": None,
    }
    selectors.store_search_items(
        namespace_prefix=["t"], refresh_ttl=False, now=later + timedelta(minutes=1)
    )
    assert Item.objects.get(key="b").expires_at == T0 + timedelta(minutes=10)


def test_put_without_ttl_clears_the_expiry():
    services.store_put_item(namespace=["t"], key="k", value={}, ttl=10, now=T0)
    services.store_put_item(namespace=["t"], key="k", value={}, now=T0 + timedelta(minutes=1))
    item = Item.objects.get()
    assert item.ttl is None and item.expires_at is None


def test_a_put_over_an_expired_item_creates_it_anew():
    services.store_put_item(namespace=["t"], key="k", value={"v": 1}, ttl=1, now=T0)
    later = T0 + timedelta(hours=1)
    item = services.store_put_item(namespace=["t"], key="k", value={"v": 2}, now=later)
    assert item.created_at == later and item.updated_at == later
    assert Item.objects.count() == 1


def test_prune_deletes_only_expired_items():
    services.store_put_item(namespace=["t"], key="short", value={}, ttl=1, now=T0)
    services.store_put_item(namespace=["t"], key="long", value={}, ttl=60, now=T0)
    services.store_put_item(namespace=["t"], key="forever", value={}, now=T0)
    assert services.store_prune_expired(now=T0) == 0
    assert services.store_prune_expired(now=T0 + timedelta(minutes=2)) == 1
    assert sorted(Item.objects.values_list("key", flat=True)) == ["forever", "long"]
    assert services.store_prune_expired(now=T0 + timedelta(days=1)) == 1
    assert list(Item.objects.values_list("key", flat=True)) == ["forever"]


# -- bad input ---------------------------------------------------------------------------------

GOOD_PUT = {"namespace": ["a"], "key": "k", "value": {}}

BAD_PUTS = {
    "namespace missing": ({"key": "k", "value": {}}, "namespace"),
    "namespace empty": ({**GOOD_PUT, "namespace": []}, "namespace"),
    "namespace a string": ({**GOOD_PUT, "namespace": "a"}, "namespace"),
    "namespace null": ({**GOOD_PUT, "namespace": None}, "namespace"),
    "empty label": ({**GOOD_PUT, "namespace": ["a", ""]}, "namespace"),
    "dotted label": ({**GOOD_PUT, "namespace": ["a.b"]}, "namespace"),
    "number label": ({**GOOD_PUT, "namespace": [1]}, "namespace"),
    "NUL label": ({**GOOD_PUT, "namespace": ["a\x00"]}, "namespace"),
    "reserved root": ({**GOOD_PUT, "namespace": ["langgraph", "x"]}, "namespace"),
    "too deep": ({**GOOD_PUT, "namespace": ["a"] * 33}, "namespace"),
    "too long": ({**GOOD_PUT, "namespace": ["a" * 1025]}, "namespace"),
    "key missing": ({"namespace": ["a"], "value": {}}, "key"),
    "key empty": ({**GOOD_PUT, "key": ""}, "key"),
    "key a number": ({**GOOD_PUT, "key": 5}, "key"),
    "key NUL": ({**GOOD_PUT, "key": "a\x00b"}, "key"),
    "key too long": ({**GOOD_PUT, "key": "é" * 600}, "key"),
    "value missing": ({"namespace": ["a"], "key": "k"}, "value"),
    "value null": ({**GOOD_PUT, "value": None}, "value"),
    "value a list": ({**GOOD_PUT, "value": [1, 2]}, "value"),
    "value a string": ({**GOOD_PUT, "value": "x"}, "value"),
    "value with NUL": ({**GOOD_PUT, "value": {"a": "x\x00"}}, "value"),
    "value key with NUL": ({**GOOD_PUT, "value": {"a\x00": 1}}, "value"),
    "value too big an int": ({**GOOD_PUT, "value": {"a": 2**70}}, "value"),
    "value too deep": ({**GOOD_PUT, "value": {"a": json.loads("[" * 200 + "]" * 200)}}, "value"),
    "ttl zero": ({**GOOD_PUT, "ttl": 0}, "ttl"),
    "ttl negative": ({**GOOD_PUT, "ttl": -1}, "ttl"),
    "ttl a string": ({**GOOD_PUT, "ttl": "5"}, "ttl"),
    "ttl a boolean": ({**GOOD_PUT, "ttl": True}, "ttl"),
    "ttl huge": ({**GOOD_PUT, "ttl": 1e300}, "ttl"),
    "index true": ({**GOOD_PUT, "index": True}, "index"),
    "index a string": ({**GOOD_PUT, "index": "x"}, "index"),
}


@pytest.mark.parametrize("body, field", BAD_PUTS.values(), ids=BAD_PUTS.keys())
def test_bad_puts_are_422_naming_the_field_and_write_nothing(api, prefix, body, field):
    response = put(api, prefix, body)
    assert response.status_code == 422, response.content
    assert response.json()["detail"].startswith(f"{field}"), response.json()
    assert Item.objects.count() == 0


RAW_BAD_BODIES = {
    "malformed JSON": b'{"namespace": ["a"], "key": ',
    "a JSON array": b'[{"namespace": ["a"], "key": "k", "value": {}}]',
    "a JSON string": b'"hello"',
    "empty": b"",
    "NaN": b'{"namespace": ["a"], "key": "k", "value": {"x": NaN}}',
    "lone surrogate key": b'{"namespace": ["a"], "key": "\\udfff", "value": {}}',
}
#: Bad only where the value matters: a DELETE ignores the value.
RAW_BAD_PUT_BODIES = {
    "huge number": b'{"namespace": ["a"], "key": "k", "value": {"x": 1e400}}',
    "lone surrogate": b'{"namespace": ["a"], "key": "k", "value": {"x": "\\ud800"}}',
}


@pytest.mark.parametrize(
    "method, raw",
    [("PUT", raw) for raw in {**RAW_BAD_BODIES, **RAW_BAD_PUT_BODIES}.values()]
    + [("DELETE", raw) for raw in RAW_BAD_BODIES.values()],
    ids=[f"PUT-{name}" for name in {**RAW_BAD_BODIES, **RAW_BAD_PUT_BODIES}]
    + [f"DELETE-{name}" for name in RAW_BAD_BODIES],
)
def test_malformed_bodies_are_422_and_change_nothing(api, prefix, method, raw):
    services.store_put_item(namespace=["a"], key="k", value={"v": 1}, now=T0)
    response = api.generic(method, f"{prefix}/store/items", raw, content_type="application/json")
    assert response.status_code == 422, response.content
    assert response.json()["detail"]
    item = Item.objects.get()
    assert (item.value, item.updated_at) == ({"v": 1}, T0)


@pytest.mark.parametrize("url", ["/store/items/search", "/store/namespaces"])
@pytest.mark.parametrize("raw", [b"{", b"[]", b"1", b'{"limit": NaN}'])
def test_malformed_query_bodies_are_422(api, prefix, url, raw):
    response = api.generic("POST", f"{prefix}{url}", raw, content_type="application/json")
    assert response.status_code == 422, response.content
    assert response.json()["detail"]


BAD_GETS = {
    "key missing": ({"namespace": "a"}, "key"),
    "namespace missing": ({"key": "k"}, "namespace"),
    "namespace empty": ({"namespace": "", "key": "k"}, "namespace"),
    "empty label": ({"namespace": "a..b", "key": "k"}, "namespace"),
    "trailing dot": ({"namespace": "a.", "key": "k"}, "namespace"),
    "key empty": ({"namespace": "a", "key": ""}, "key"),
    "refresh_ttl not a boolean": (
        {"namespace": "a", "key": "k", "refresh_ttl": "maybe"},
        "refresh_ttl",
    ),
}


@pytest.mark.parametrize("params, field", BAD_GETS.values(), ids=BAD_GETS.keys())
def test_bad_gets_are_422(api, prefix, params, field):
    response = get(api, prefix, **params)
    assert response.status_code == 422, response.content
    assert response.json()["detail"].startswith(field)


BAD_DELETES = {
    "no namespace": ({"key": "k"}, "namespace"),
    "dotted label": ({"namespace": ["a.b"], "key": "k"}, "namespace"),
    "key a list": ({"namespace": ["a"], "key": ["k"]}, "key"),
}


@pytest.mark.parametrize("body, field", BAD_DELETES.values(), ids=BAD_DELETES.keys())
def test_bad_deletes_are_422_and_delete_nothing(api, prefix, body, field):
    seed(("a",))
    response = api.delete(f"{prefix}/store/items", body, format="json")
    assert response.status_code == 422, response.content
    assert response.json()["detail"].startswith(field)
    assert Item.objects.count() == 1


BAD_SEARCHES = {
    "limit zero": ({"limit": 0}, "limit"),
    "limit too big": ({"limit": 1001}, "limit"),
    "limit a string": ({"limit": "5"}, "limit"),
    "limit a boolean": ({"limit": True}, "limit"),
    "limit a fraction": ({"limit": 2.5}, "limit"),
    "limit null": ({"limit": None}, "limit"),
    "offset negative": ({"offset": -1}, "offset"),
    "offset beyond bigint": ({"offset": 2**63}, "offset"),
    "prefix a string": ({"namespace_prefix": "a"}, "namespace_prefix"),
    "prefix with a number": ({"namespace_prefix": [1]}, "namespace_prefix"),
    "prefix with an empty label": ({"namespace_prefix": [""]}, "namespace_prefix"),
    "prefix with a dotted label": ({"namespace_prefix": ["a.b"]}, "namespace_prefix"),
    "filter a list": ({"filter": [1]}, "filter"),
    "filter unknown operator": ({"filter": {"a": {"$regex": "x"}}}, "filter.a"),
    "filter ordering a string": ({"filter": {"a": {"$gt": "x"}}}, "filter.a"),
    "filter with NUL": ({"filter": {"a": "\x00"}}, "filter"),
    "query a number": ({"query": 5}, "query"),
    "refresh_ttl a string": ({"refresh_ttl": "yes"}, "refresh_ttl"),
}


@pytest.mark.parametrize("body, field", BAD_SEARCHES.values(), ids=BAD_SEARCHES.keys())
def test_bad_searches_are_422_and_refresh_nothing(api, prefix, body, field):
    services.store_put_item(namespace=["a"], key="k", value={}, ttl=10, now=T0)
    response = post(api, f"{prefix}/store/items/search", {"namespace_prefix": ["a"], **body})
    assert response.status_code == 422, response.content
    assert response.json()["detail"].startswith(field)
    assert Item.objects.get().expires_at == T0 + timedelta(minutes=10)


BAD_NAMESPACE_LISTS = {
    "max_depth zero": ({"max_depth": 0}, "max_depth"),
    "max_depth too big": ({"max_depth": 33}, "max_depth"),
    "max_depth a string": ({"max_depth": "2"}, "max_depth"),
    "prefix a string": ({"prefix": "a"}, "prefix"),
    "prefix with an empty label": ({"prefix": [""]}, "prefix"),
    "suffix with a dotted label": ({"suffix": ["a.b"]}, "suffix"),
    "suffix with a number": ({"suffix": [2]}, "suffix"),
    "limit zero": ({"limit": 0}, "limit"),
    "offset negative": ({"offset": -1}, "offset"),
}


@pytest.mark.parametrize(
    "body, field", BAD_NAMESPACE_LISTS.values(), ids=BAD_NAMESPACE_LISTS.keys()
)
def test_bad_namespace_lists_are_422(api, prefix, body, field):
    response = post(api, f"{prefix}/store/namespaces", body)
    assert response.status_code == 422, response.content
    assert response.json()["detail"].startswith(field)


def test_null_optional_fields_mean_absent(api, prefix):
    seed(("a", "b"))
    body = {"prefix": None, "suffix": None, "max_depth": None}
    assert namespaces(api, prefix, **body) == [["a", "b"]]
    search = {"namespace_prefix": ["a"], "filter": None, "query": None, "refresh_ttl": None}
    assert len(post(api, f"{prefix}/store/items/search", search).json()["items"]) == 1


def test_a_selector_called_directly_validates_too():
    from duragraph_site.errors import InvalidInput

    with pytest.raises(InvalidInput, match="limit"):
        selectors.store_search_items(namespace_prefix=["a"], limit=-1)
    with pytest.raises(InvalidInput, match="namespace"):
        services.store_put_item(namespace=("a", "b.c"), key="k", value={})
    assert Item.objects.count() == 0


# -- concurrency -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_puts_of_one_key_never_fail_and_leave_one_row():
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def writer(n: int) -> None:
        try:
            start.wait(5)
            for i in range(5):
                services.store_put_item(namespace=["race"], key="k", value={"n": n, "i": i})
        except BaseException as error:  # collected and asserted below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    item = Item.objects.get()
    assert item.value["i"] == 4


# -- admin -------------------------------------------------------------------------------------


def test_admin_lists_and_searches_items_read_only(admin_client):
    seed(("users", "ada", "memories"), ("users", "adam"), ("docs",))
    services.store_put_item(namespace=["docs"], key="readme", value={"x": 1}, now=T0)
    url = reverse("admin:store_item_changelist")
    page = admin_client.get(url)
    assert page.status_code == 200
    assert "users.ada.memories" in page.content.decode()

    by_namespace = admin_client.get(url, {"q": "users.ada"}).content.decode()
    assert "users.ada.memories" in by_namespace and "users.adam" not in by_namespace
    by_key = admin_client.get(url, {"q": "readm"}).content.decode()
    assert "readme" in by_key and "users.ada.memories" not in by_key
    assert admin_client.get(url, {"q": "a\x00"}).status_code == 200

    item = Item.objects.get(key="readme")
    detail = admin_client.get(reverse("admin:store_item_change", args=[item.pk]))
    assert detail.status_code == 200
    assert admin_client.get(reverse("admin:store_item_add")).status_code == 403
