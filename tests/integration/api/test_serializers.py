"""The serializers' fast paths give exactly what DRF gives.

``Serializer.represent``/``represent_many`` must render the same JSON as ``cls(obj).data`` /
``cls(objs, many=True).data``, and ``Serializer.parse`` must return the same validated
data, or raise a ValidationError with the same detail, as ``cls(data=...).is_valid()``: over
representative objects (null fields, datetimes in other time zones, UUIDs, nested JSON, rows
read back from PostgreSQL) and over every input serializer of the API views.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from django.http import QueryDict
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from assistants import services as assistant_services
from assistants.api import views as assistant_views
from assistants.models import Assistant, AssistantVersion
from duragraph_site.api import serializers as api_serializers
from duragraph_site.api.params import validated
from duragraph_site.api.renderers import JSONRenderer
from duragraph_site.api.serializers import Serializer
from runs import services as run_services
from runs.api import crons as run_cron_views
from runs.api import runs as run_views
from runs.api import serializers as run_serializers
from runs.models import Run
from store import selectors as store_selectors
from store import services as store_services
from store.api import views as store_views
from threads import services as thread_services
from threads.api import views as thread_views
from threads.models import Thread

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)
ELSEWHERE = timezone(timedelta(hours=5, minutes=30))
NESTED = {"z": [1, 2.5, None, True, {"deep": ["x", {"y": None}]}], "a": "é", "n": -(2**63)}


def render(data: Any) -> bytes:
    return JSONRenderer().render(data)


def assert_same_output(serializer_class: type[Serializer], objects: list[Any]) -> None:
    for obj in objects:
        expected = serializer_class(obj).data
        got = serializer_class.represent(obj)
        assert got == expected
        assert render(got) == render(expected)
        assert list(got) == list(expected)  # same keys, same order
    many = serializer_class.represent_many(objects)
    assert render(many) == render(serializer_class(objects, many=True).data)


def test_threads():
    created = thread_services.thread_create(metadata=NESTED, ttl={"strategy": "delete", "ttl": 1.5})
    plain = thread_services.thread_create()
    unsaved = Thread(
        thread_id=uuid.uuid4(),
        status="error",
        metadata={},
        config={"configurable": {"k": 1}},
        values={"messages": [{"content": "hi", "type": "human"}]},
        interrupts={"task": [{"value": "ask", "id": "i"}]},
        error={"message": "boom", "error": "ValueError"},
        ttl=None,
        version=7,
        created_at=T0.astimezone(ELSEWHERE),
        updated_at=T0.replace(microsecond=0),
        state_updated_at=T0 + timedelta(days=400),
    )
    rows = [created, plain, unsaved, *Thread.objects.order_by("created_at")]
    assert_same_output(thread_views.ThreadSerializer, rows)
    assert_same_output(thread_views.ThreadWithTtlSerializer, rows)


def test_assistants():
    described = assistant_services.assistant_create(
        graph_id="agent", name="helper", description="does things", metadata=NESTED
    )
    assistant_services.assistant_update(assistant_id=described.assistant_id, config={"tags": ["t"]})
    undescribed = assistant_services.assistant_create(graph_id="agent")
    rows = [described, undescribed, *Assistant.objects.order_by("created_at")]
    assert_same_output(assistant_views.AssistantSerializer, rows)
    assert_same_output(
        assistant_views.AssistantVersionSerializer, list(AssistantVersion.objects.all())
    )


def test_store_items():
    store_services.store_put_item(namespace=["a", "b"], key="k1", value=NESTED, ttl=5)
    store_services.store_put_item(namespace=["a"], key="k2", value={}, now=T0)
    items = store_selectors.store_search_items(namespace_prefix=["a"], refresh_ttl=False)
    assert len(items) == 2
    assert_same_output(store_views.ItemSerializer, items)
    assert_same_output(store_views.SearchItemSerializer, items)  # score: absent, so null
    assert_same_output(store_views.StoreItemSearchApi.OutputSerializer, [{"items": items}])
    assert_same_output(
        store_views.StoreNamespaceListApi.OutputSerializer,
        [{"namespaces": [["a"], ["a", "b"]]}, {"namespaces": []}],
    )


def test_runs():
    assistant = assistant_services.assistant_create(graph_id="agent")
    thread = thread_services.thread_create()
    run_services.run_create(thread_id=thread.thread_id, assistant_id=assistant.assistant_id)
    assert_same_output(run_serializers.RunSerializer, list(Run.objects.all()))


# -- input -----------------------------------------------------------------------------------
def input_serializers() -> list[type[Serializer]]:
    """Every request serializer of the API views (nested in a view, or module-level)."""
    found: dict[str, type[Serializer]] = {}
    for module in (
        api_serializers,  # the shared ones (V1ListQuery)
        thread_views,
        assistant_views,
        store_views,
        run_serializers,
        run_views,
        run_cron_views,
    ):
        candidates = [value for _, value in inspect.getmembers(module, inspect.isclass)]
        for view in list(candidates):
            candidates += [value for _, value in inspect.getmembers(view, inspect.isclass)]
        for candidate in candidates:
            if (
                issubclass(candidate, Serializer)
                and candidate is not Serializer  # the base, in api_serializers
                and candidate.__module__ == module.__name__
            ):
                found[candidate.__qualname__ + candidate.__module__] = candidate
    return sorted(found.values(), key=lambda cls: cls.__qualname__)


PAYLOADS: list[Any] = [
    {},
    None,
    [],
    "text",
    {"unknown": 1},
    {"limit": 5, "offset": 2, "sort_order": "asc", "metadata": {"k": [1]}},
    {"limit": "many", "offset": -1, "sort_by": "nope", "metadata": "not an object"},
    {"thread_id": str(uuid.uuid4()), "if_exists": "do_nothing", "ttl": {"ttl": 3}},
    {"thread_id": 12, "if_exists": "maybe", "ttl": -1, "supersteps": "x"},
    {"graph_id": "agent", "assistant_id": str(uuid.uuid4()), "name": "", "description": None},
    {"graph_id": None, "config": {"configurable": {"a": 1}, "tags": ["x"], "recursion_limit": 3}},
    {"config": {"configurable": 3, "tags": [1]}, "context": [], "select": ["nope"]},
    {"namespace": ["a", "b"], "key": "k", "value": {"x": 1}, "ttl": 2.5, "index": False},
    {"namespace": "a.b", "key": 5, "value": [], "ttl": True, "index": [3]},
    {"namespace_prefix": ["a", "*"], "filter": {"x": {"$gt": 1}}, "limit": 3.0, "query": ""},
    {"prefix": ["a"], "suffix": None, "max_depth": 2, "limit": 1.5},
    {"values": {"a": 1}, "as_node": "n", "checkpoint": {"checkpoint_id": "c"}},
    {"checkpoint": "c", "subgraphs": "yes", "before": {"checkpoint_ns": 3}},
    {"input": {"a": 1}, "stream_mode": ["values", "bogus"], "command": {"resume": 1}},
    {"assistant_id": "agent", "input": None, "metadata": {"\x00": 1}, "extract": {"a": "b"}},
    {"version": 0, "status": "busy", "thread_ids": [], "strategy": "keep_latest"},
    {"schedule": "* * * * *", "assistant_id": "agent", "run_ids": [str(uuid.uuid4())]},
    QueryDict("namespace=a.b&key=k&refresh_ttl=false"),
    QueryDict("namespace=&refresh_ttl=maybe"),
]


def outcome(run: Callable[..., Any], *args: Any) -> tuple[str, Any]:
    try:
        return "valid", run(*args)
    except ValidationError as error:
        return "invalid", error.detail


def drf_way(cls: type[Serializer], data: Any) -> Any:
    serializer = cls(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


@pytest.mark.parametrize("cls", input_serializers(), ids=lambda cls: cls.__qualname__)
def test_input_validation(cls):
    for payload in PAYLOADS:
        expected = outcome(drf_way, cls, payload)
        assert outcome(cls.parse, payload) == expected, payload
        assert outcome(cls.parse, payload) == expected, payload  # reusable
        if payload is not None:
            assert outcome(validated, cls, payload) == expected, payload


def test_mutable_field_defaults_are_not_shared():
    class WithDefault(Serializer):
        tags = serializers.ListField(child=serializers.CharField(), default=[])

    first = WithDefault.parse({})
    first["tags"].append("mine")
    assert WithDefault.parse({}) == {"tags": []}
