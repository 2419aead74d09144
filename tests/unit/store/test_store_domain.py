"""The store's rules (``store.domain``): namespaces, keys, values, TTLs, pages and filters are
checked before any SQL runs, each refusal naming the field. No database."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from duragraph_site.errors import InvalidInput
from store import domain


# -- namespaces -----------------------------------------------------------------------------------
def test_a_namespace_is_a_tuple_of_labels():
    assert domain.validate_namespace(["users", "ada"]) == ("users", "ada")
    assert domain.validate_namespace(("a",)) == ("a",)
    assert domain.validate_namespace([], allow_empty=True) == ()


@pytest.mark.parametrize(
    ("namespace", "message"),
    [
        ("users", "must be a list of strings"),
        (None, "must be a list of strings"),
        ([], "must not be empty"),
        (["a", 1], "labels must be strings, got int"),
        (["a", ""], "labels cannot be empty strings"),
        (["a.b"], "cannot contain periods"),
        (["a\x00"], "NUL"),
        (["\ud800"], "lone surrogates"),
        (["x"] * (domain.MAX_NAMESPACE_DEPTH + 1), f"at most {domain.MAX_NAMESPACE_DEPTH} labels"),
        (["x" * 600, "y" * 600], f"more than {domain.MAX_NAMESPACE_BYTES} bytes"),
    ],
)
def test_a_bad_namespace_is_refused_naming_it(namespace, message):
    with pytest.raises(InvalidInput, match="^namespace_prefix: ") as raised:
        domain.validate_namespace(namespace, name="namespace_prefix")
    assert message in raised.value.message


def test_the_reserved_root_label_is_refused_only_when_writing():
    assert domain.validate_namespace(["langgraph", "x"]) == ("langgraph", "x")
    with pytest.raises(InvalidInput, match="reserved"):
        domain.validate_namespace(["langgraph", "x"], writing=True)
    assert domain.validate_namespace(["x", "langgraph"], writing=True) == ("x", "langgraph")


def test_a_dotted_path_is_a_namespace():
    assert domain.parse_namespace_path("users.ada") == ("users", "ada")
    for bad in ("", None, "a..b", 3):
        with pytest.raises(InvalidInput, match="namespace"):
            domain.parse_namespace_path(bad)


# -- keys and values ------------------------------------------------------------------------------
def test_keys():
    assert domain.validate_key("memory-1") == "memory-1"
    for bad, message in [
        (1, "must be a string"),
        ("", "must not be empty"),
        ("a\x00", "NUL"),
        ("é" * 513, f"longer than {domain.MAX_KEY_BYTES} bytes"),  # 1026 bytes
    ]:
        with pytest.raises(InvalidInput, match="^key: ") as raised:
            domain.validate_key(bad)
        assert message in raised.value.message


def test_a_value_is_a_json_object_postgresql_and_orjson_can_hold():
    value = {"text": "hi", "n": 2**63 - 1, "x": -(2**63), "f": 1.5, "ok": True, "none": None}
    assert domain.validate_value(value) == value
    assert domain.validate_value({"nested": [{"a": (1, 2)}]}) == {"nested": [{"a": (1, 2)}]}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([1], "must be a JSON object"),
        ("text", "must be a JSON object"),
        ({"s": "a\x00b"}, "NUL"),
        ({"a\x00": 1}, "NUL"),  # keys too
        ({"n": 2**64}, "out of the 64-bit range"),
        ({"n": -(2**63) - 1}, "out of the 64-bit range"),
        ({"f": math.nan}, "finite"),
        ({"f": math.inf}, "finite"),
        ({"s": {1, 2}}, "set is not a JSON type"),
        ({"b": b"bytes"}, "bytes is not a JSON type"),
    ],
)
def test_a_bad_value_is_refused_naming_the_field(value, message):
    with pytest.raises(InvalidInput, match="^value: ") as raised:
        domain.validate_value(value)
    assert message in raised.value.message


def test_nesting_is_bounded_without_recursion():
    deep: dict = {}
    node = deep
    for _ in range(domain.MAX_VALUE_DEPTH - 1):
        node["a"] = {}
        node = node["a"]
    domain.check_json(deep, name="value")  # exactly at the limit
    node["a"] = {}
    with pytest.raises(InvalidInput, match=f"nested deeper than {domain.MAX_VALUE_DEPTH}"):
        domain.check_json(deep, name="value")
    very_deep: list = []
    for _ in range(100_000):  # far past Python's recursion limit
        very_deep = [very_deep]
    with pytest.raises(InvalidInput, match="nested deeper"):
        domain.check_json(very_deep, name="value")


# -- TTLs and pages -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("ttl", "expected"),
    [(None, None), (1, timedelta(minutes=1)), (0.5, timedelta(seconds=30))],
)
def test_a_ttl_is_minutes(ttl, expected):
    assert domain.ttl_delta(ttl) == expected
    assert domain.ttl_delta(domain.MAX_TTL_MINUTES) == timedelta(minutes=domain.MAX_TTL_MINUTES)


@pytest.mark.parametrize(
    ("ttl", "message"),
    [
        (True, "number of minutes or null"),
        ("5", "number of minutes or null"),
        (0, "positive"),
        (-1, "positive"),
        (math.inf, "positive"),
        (math.nan, "positive"),
        (domain.MAX_TTL_MINUTES + 1, "use null for no expiry"),
    ],
)
def test_a_bad_ttl_is_refused(ttl, message):
    with pytest.raises(InvalidInput, match="^ttl: ") as raised:
        domain.ttl_delta(ttl)
    assert message in raised.value.message


def test_pages():
    assert domain.validate_page(limit=1, offset=0) == (1, 0)
    assert domain.validate_page(limit=domain.MAX_LIMIT, offset=domain.MAX_OFFSET) == (
        domain.MAX_LIMIT,
        domain.MAX_OFFSET,
    )
    for limit, offset, named in [
        (0, 0, "limit"),
        (domain.MAX_LIMIT + 1, 0, "limit"),
        (True, 0, "limit"),
        (1.0, 0, "limit"),
        (1, -1, "offset"),
        (1, domain.MAX_OFFSET + 1, "offset"),
        (1, "0", "offset"),
    ]:
        with pytest.raises(InvalidInput, match=f"^{named}: "):
            domain.validate_page(limit=limit, offset=offset)


def test_max_depth():
    assert domain.validate_max_depth(None) is None
    assert domain.validate_max_depth(domain.MAX_NAMESPACE_DEPTH) == domain.MAX_NAMESPACE_DEPTH
    for bad in (0, domain.MAX_NAMESPACE_DEPTH + 1, True, "2", 1.0):
        with pytest.raises(InvalidInput, match="^max_depth: "):
            domain.validate_max_depth(bad)


# -- filters --------------------------------------------------------------------------------------
def test_no_filter_matches_everything():
    assert domain.parse_filter(None) == domain.Filter()


def test_plain_values_are_exact_matches_of_top_level_keys():
    parsed = domain.parse_filter({"kind": "note", "tags": ["a"]})
    assert parsed.equals == {"kind": "note", "tags": ["a"]}
    assert parsed.comparisons == [
        {"field": "kind", "op": "$eq", "operand": "note"},
        {"field": "tags", "op": "$eq", "operand": ["a"]},
    ]


def test_operators_become_comparisons_and_an_object_without_them_is_a_value():
    parsed = domain.parse_filter({"score": {"$gt": 3, "$lte": 9.5}, "who": {"$ne": "bot"}})
    assert parsed.equals == {}
    assert parsed.comparisons == [
        {"field": "score", "op": "$gt", "operand": 3},
        {"field": "score", "op": "$lte", "operand": 9.5},
        {"field": "who", "op": "$ne", "operand": "bot"},
    ]
    nested = domain.parse_filter({"meta": {"lang": "en"}})
    assert nested.equals == {"meta": {"lang": "en"}}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([1], "must be a JSON object"),
        ({"score": {"$gt": 1, "$regex": "a"}}, "unknown operator '$regex'"),
        ({"score": {"$gt": "3"}}, "filter.score.$gt: operand must be a number"),
        ({"score": {"$lt": True}}, "operand must be a number"),
        ({"s": "a\x00"}, "NUL"),
    ],
)
def test_a_bad_filter_is_refused_naming_the_condition(raw, message):
    with pytest.raises(InvalidInput, match="^filter") as raised:
        domain.parse_filter(raw)
    assert message in raised.value.message


def test_equality_operators_take_any_operand():
    parsed = domain.parse_filter({"tag": {"$eq": "x"}, "n": {"$ne": None}})
    assert [c["operand"] for c in parsed.comparisons] == ["x", None]


def test_required_labels_leave_out_wildcards():
    assert domain.required_labels(("a", "*", "b"), ("*", "c", "a")) == ["a", "b", "c"]
    assert domain.required_labels() == []
