"""JSON validation of request bodies (``duragraph_site.api.fields``): what PostgreSQL's
``jsonb``, orjson and the queries cannot take is a 422 naming the field, never a 500 later. No
database."""

from __future__ import annotations

import uuid

import pytest
from rest_framework import serializers

from duragraph_site.api import fields


# -- json_problem ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        0,
        fields.MAX_INT,
        fields.MIN_INT,
        1.5,
        "text with ünïcode and emoji 🎉",
        {"a": [1, {"b": None}]},
        [],
    ],
)
def test_values_the_api_can_store_and_render_have_no_problem(value):
    assert fields.json_problem(value) is None


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("a\x00b", "NUL"),
        ({"a\x00": 1}, "NUL"),  # keys as well as values
        ({"deep": ["\ud800"]}, "lone surrogates"),
        (fields.MAX_INT + 1, "out of the 64-bit range"),
        (fields.MIN_INT - 1, "out of the 64-bit range"),
        ({"n": [2**70]}, "out of the 64-bit range"),
    ],
)
def test_values_jsonb_or_orjson_would_refuse_are_named(value, problem):
    assert problem in fields.json_problem(value)


def test_nesting_is_bounded_and_checked_without_recursion():
    at_limit: list = []
    for _ in range(fields.MAX_DEPTH - 1):
        at_limit = [at_limit]
    assert fields.json_problem(at_limit) is None
    assert "nested deeper" in fields.json_problem([at_limit])
    very_deep: dict = {}
    for _ in range(100_000):  # far past Python's recursion limit
        very_deep = {"a": very_deep}
    assert "nested deeper" in fields.json_problem(very_deep)


def test_booleans_are_not_integers_out_of_range():
    assert fields.json_problem([True, False]) is None


# -- fields ---------------------------------------------------------------------------------------
class Body(serializers.Serializer):
    doc = fields.JSONField(required=False)
    obj = fields.JSONObjectField(required=False, allow_null=True)
    number = fields.IntegerField(required=False)
    limit = fields.limit_field()
    offset = fields.offset_field()
    uid = fields.UUIDField(required=False)
    nodes = fields.NodeListField(required=False)
    select = fields.SelectField(choices=["a", "b"], required=False)
    sort_order = fields.SortOrderField()


def errors(**data) -> dict[str, list[str]]:
    body = Body(data=data)
    assert not body.is_valid()
    return {name: [str(error) for error in errs] for name, errs in body.errors.items()}


def valid(**data) -> dict:
    body = Body(data=data)
    assert body.is_valid(), body.errors
    return dict(body.validated_data)


def test_defaults():
    assert valid() == {"limit": 10, "offset": 0}


def test_a_json_field_refuses_what_cannot_be_stored_naming_the_field():
    assert "NUL" in errors(doc={"a": "\x00"})["doc"][0]
    assert valid(doc=[1, "two"])["doc"] == [1, "two"]


def test_a_json_object_field_takes_objects_only():
    assert errors(obj=[1]) == {"obj": ["must be a JSON object"]}
    assert errors(obj="text") == {"obj": ["must be a JSON object"]}
    assert valid(obj={"a": 1})["obj"] == {"a": 1}
    assert valid(obj=None)["obj"] is None


def test_a_json_object_built_in_python_must_be_plain_json():
    # Bodies parsed from JSON cannot have these; a caller passing Python values can.
    assert errors(obj={1: "a"}) == {"obj": ["obj has a non-string key 1"]}
    assert errors(obj={"a": (1, 2)}) == {"obj": ["obj.a holds a tuple, which is not JSON"]}


def test_integers_are_bounded_to_bigint():
    assert valid(number=fields.MAX_BIGINT)["number"] == fields.MAX_BIGINT
    assert "less than or equal to" in errors(number=fields.MAX_BIGINT + 1)["number"][0]
    assert "greater than or equal to" in errors(number=fields.MIN_BIGINT - 1)["number"][0]
    explicit = fields.IntegerField(min_value=1, max_value=5)
    assert (explicit.min_value, explicit.max_value) == (1, 5)


def test_pages_are_bounded():
    assert valid(limit=fields.MAX_PAGE_SIZE)["limit"] == fields.MAX_PAGE_SIZE
    assert "limit" in errors(limit=0) and "limit" in errors(limit=fields.MAX_PAGE_SIZE + 1)
    assert "offset" in errors(offset=-1)
    assert valid(offset=fields.MAX_BIGINT)["offset"] == fields.MAX_BIGINT


def test_a_uuid_must_be_a_string():
    value = uuid.uuid4()
    assert valid(uid=str(value))["uid"] == value
    assert "uid" in errors(uid=12)  # DRF's own field would take an integer
    assert "uid" in errors(uid="not-a-uuid")


def test_node_lists():
    assert valid(nodes="*")["nodes"] == "*"
    assert valid(nodes=["a", "b"])["nodes"] == ["a", "b"]
    for bad in ("a", ["a", 1], {"a": 1}):
        assert errors(nodes=bad) == {"nodes": ['must be "*" or a list of node names']}


def test_select_and_sort_order_take_their_choices():
    assert valid(select=["b", "a"])["select"] == ["b", "a"] and valid(select=[])["select"] == []
    assert "select" in errors(select=["c"])
    assert valid(sort_order="asc")["sort_order"] == "asc"
    assert valid(sort_order=None)["sort_order"] is None
    assert "sort_order" in errors(sort_order="up")
