"""Semantic search (``langgraph.json`` ``store.index``): what a put embeds and keeps, how a
search with ``query`` ranks, and the same answers through the API, LangGraph's ``BaseStore``
and both rankings (pgvector's operators, and plain SQL where the database lacks pgvector),
with the deterministic toy embedding of ``examples/embeddings.py``."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
from django.core import checks
from rest_framework.test import APIClient

from examples.embeddings import embed
from store import embeddings, selectors, services
from store.langgraph_store import TenantStore
from store.models import Item, ItemVector

pytestmark = pytest.mark.django_db

TOY_EMBED = f"{Path(embeddings.__file__).parents[1] / 'examples' / 'embeddings.py'}:embed"
MEMORIES = {
    "tea": "Ada drinks green tea every morning",
    "dog": "Ada walks her dog Rex in the park",
    "job": "Ada writes programs for the analytical engine",
}


@pytest.fixture
def index(tmp_path, monkeypatch):
    """A langgraph.json whose store embeds *fields* with the toy function."""

    def configure(fields=("text",), embed=TOY_EMBED, dims=256) -> None:
        path = tmp_path / "langgraph.json"
        store = {"index": {"dims": dims, "embed": embed, "fields": list(fields)}}
        path.write_text(json.dumps({"graphs": {}, "store": store}))
        monkeypatch.setenv("DURAGRAPH_CONFIG", str(path))

    configure()
    return configure


@pytest.fixture(params=["pgvector", "plain"])
def ranking(request, monkeypatch) -> str:
    """Each ranking the selectors can choose: pgvector's where the test database has it (the
    embedded PostgreSQL does), and plain SQL, as on a PostgreSQL without it."""
    if request.param == "plain":
        monkeypatch.setattr(selectors, "has_pgvector", lambda alias="default": False)
    elif not os.environ.get("DATABASE_URL"):
        # The embedded PostgreSQL ships pgvector, and the migration created the extension.
        assert selectors.has_pgvector()
    # Else a PostgreSQL of the environment, which may lack it (CI's second pass, on the
    # machine's): the system check warns, and the plain ranking serves.
    return request.param


def cosine(a: list[float], b: list[float]) -> float:
    norms = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return sum(x * y for x, y in zip(a, b, strict=True)) / norms if norms else 0.0


def remember(store_key: str, text: str, **kwargs) -> Item:
    value = {"text": text, "kind": "memory"}
    return services.store_put_item(
        namespace=["ada", "memories"], key=store_key, value=value, **kwargs
    )


def vectors_of(key: str) -> dict[str, list[float]]:
    """The item's embeddings by field, as approximations: pgvector keeps 32-bit floats."""
    return {
        vector.field: pytest.approx(vector.embedding, rel=1e-6)
        for vector in ItemVector.objects.filter(item__key=key)
    }


def test_a_put_keeps_one_embedding_per_configured_field_and_replaces_them(index):
    remember("tea", MEMORIES["tea"])
    assert vectors_of("tea") == {"text": embed([MEMORIES["tea"]])[0]}
    remember("tea", "Ada switched to coffee")
    assert vectors_of("tea") == {"text": embed(["Ada switched to coffee"])[0]}
    assert ItemVector.objects.count() == 1


def test_a_puts_index_chooses_other_fields_or_none(index):
    value = {"text": "unused", "notes": ["first note", "second note"], "title": "A title"}
    services.store_put_item(namespace=["n"], key="k", value=value, index=["notes[*]", "title"])
    assert vectors_of("k") == {
        "notes[*].0": embed(["first note"])[0],
        "notes[*].1": embed(["second note"])[0],
        "title": embed(["A title"])[0],
    }
    services.store_put_item(namespace=["n"], key="k", value=value, index=False)
    assert vectors_of("k") == {}
    services.store_put_item(namespace=["n"], key="whole", value={"a": 1}, index=["$"])
    assert vectors_of("whole") == {"$": embed([json.dumps({"a": 1})])[0]}


def test_deleting_or_pruning_an_item_deletes_its_embeddings(index):
    remember("tea", MEMORIES["tea"])
    remember("dog", MEMORIES["dog"], ttl=1)
    services.store_delete_item(namespace=["ada", "memories"], key="tea")
    assert services.store_prune_expired(now=Item.objects.get(key="dog").expires_at) == 1
    assert ItemVector.objects.count() == 0


def test_without_an_index_puts_embed_nothing_and_query_is_ignored(tmp_path, monkeypatch):
    path = tmp_path / "langgraph.json"
    path.write_text(json.dumps({"graphs": {}}))
    monkeypatch.setenv("DURAGRAPH_CONFIG", str(path))
    remember("tea", MEMORIES["tea"])
    remember("dog", MEMORIES["dog"])
    found = selectors.store_search_items(namespace_prefix=["ada"], query="tea")
    assert [(item.key, item.score) for item in found] == [("dog", None), ("tea", None)]
    assert ItemVector.objects.count() == 0


def test_a_query_ranks_embedded_items_by_cosine_similarity(index, ranking):
    for key, text in MEMORIES.items():
        remember(key, text)
    services.store_put_item(namespace=["ada", "memories"], key="unindexed", value={}, index=False)
    query = "Ada and her green tea"
    found = selectors.store_search_items(namespace_prefix=["ada"], query=query)
    expected = sorted(
        ((cosine(embed([query])[0], embed([text])[0]), key) for key, text in MEMORIES.items()),
        reverse=True,
    )
    assert [item.key for item in found] == [key for _, key in expected]
    assert [item.score for item in found] == pytest.approx([score for score, _ in expected])
    assert [item.key for item in found] == ["tea", "dog", "job"]
    assert found[0].score > found[1].score > found[2].score > 0
    # Filters and pages apply as without a query.
    assert selectors.store_search_items(
        namespace_prefix=["ada"], query=query, limit=1, offset=1
    ) == [found[1]]
    assert [
        item.key
        for item in selectors.store_search_items(
            namespace_prefix=["ada"], query=query, filter={"kind": "other"}
        )
    ] == []


def test_an_item_scores_by_its_most_similar_text(index, ranking):
    services.store_put_item(
        namespace=["docs"],
        key="mixed",
        value={"notes": ["the dog barks at night", "green tea"]},
        index=["notes[*]"],
    )
    services.store_put_item(namespace=["docs"], key="tea", value={"text": "tea and biscuits"})
    found = selectors.store_search_items(namespace_prefix=["docs"], query="green tea")
    assert [item.key for item in found] == ["mixed", "tea"]
    assert found[0].score == pytest.approx(1.0)


def test_a_zero_vector_scores_zero_rather_than_first(index, ranking):
    remember("tea", MEMORIES["tea"])
    remember("empty", "!!!")  # no word at all: the toy embedding is all zeros
    found = selectors.store_search_items(namespace_prefix=["ada"], query="tea")
    assert [(item.key, item.score) for item in found][1] == ("empty", 0.0)


def test_the_api_and_langgraphs_store_answer_scores(index, ranking):
    api = APIClient()
    for key, text in MEMORIES.items():
        body = {"namespace": ["ada", "memories"], "key": key, "value": {"text": text}}
        assert api.put("/store/items", body, format="json").status_code == 204
    answer = api.post(
        "/store/items/search",
        {"namespace_prefix": ["ada"], "query": "a dog in the park"},
        format="json",
    )
    assert answer.status_code == 200, answer.content
    items = answer.json()["items"]
    assert items[0]["key"] == "dog" and items[0]["score"] > items[1]["score"]

    store = TenantStore("default")
    store.put(("ada", "memories"), "code", {"text": "programs for the engine"}, index=["text"])
    found = store.search(("ada",), query="the engine for programs")
    # The same words in another order: the toy embedding is the same vector.
    assert found[0].key == "code" and found[0].score == pytest.approx(1.0)
    assert [item.score for item in found] == sorted((item.score for item in found), reverse=True)


def test_bad_index_values_are_refused_and_write_nothing(index):
    api = APIClient()
    for bad in (True, "text", [1], [""], ["a\x00b"], ["x"] * 101):
        body = {"namespace": ["a"], "key": "k", "value": {"text": "t"}, "index": bad}
        answer = api.put("/store/items", body, format="json")
        assert answer.status_code == 422, (bad, answer.content)
        assert "index" in answer.json()["detail"]
    assert Item.objects.count() == 0 and ItemVector.objects.count() == 0


def test_an_embedding_function_that_fails_or_answers_wrong_lengths_writes_nothing(index, tmp_path):
    module = tmp_path / "broken.py"
    module.write_text(
        "def short(texts):\n    return [[1.0, 0.0] for _ in texts]\n"
        "def failing(texts):\n    raise RuntimeError('provider down')\n"
    )
    api = APIClient()
    for name, message in (("short", "dims says 256"), ("failing", "provider down")):
        index(embed=f"{module}:{name}")
        body = {"namespace": ["a"], "key": "k", "value": {"text": "t"}}
        answer = api.put("/store/items", body, format="json")
        assert answer.status_code == 503, answer.content
        assert message in answer.json()["detail"]
        search = api.post("/store/items/search", {"query": "t"}, format="json")
        assert search.status_code == 503 and message in search.json()["detail"]
    assert Item.objects.count() == 0


def test_the_system_check_names_what_is_wrong_with_the_index(index, tmp_path):
    from store.checks import store_index

    assert [m for m in store_index(None) if m.level >= checks.ERROR] == []
    index(dims=0)
    assert "store.index.dims" in store_index(None)[0].msg
    index(embed=f"{tmp_path}/missing.py:embed")
    assert "could not be loaded" in store_index(None)[0].msg
    index(embed="package_that_is_not_there.module:embed")
    assert "could not be loaded" in store_index(None)[0].msg
    index(embed="someprovider:some-model")
    assert "langchain" in store_index(None)[0].msg


def test_the_system_check_warns_when_the_database_cannot_rank_with_pgvector(index, monkeypatch):
    from store.checks import store_index

    for status, where in (
        ("missing", "server has no pgvector"),
        ("available", "not created in this database"),
    ):
        monkeypatch.setattr(selectors, "pgvector_status", lambda alias="default", s=status: s)
        (warning,) = store_index(None)
        assert warning.level == checks.WARNING and where in warning.msg
    monkeypatch.setattr(selectors, "pgvector_status", lambda alias="default": "installed")
    assert store_index(None) == []
