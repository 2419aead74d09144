"""What of a value gets embedded (LangGraph's field paths), and ``store.index``'s rules."""

from __future__ import annotations

import json

import pytest

from duragraph_site import langgraph_config
from store.embeddings import texts_to_embed


def test_fields_name_the_texts_to_embed_as_langgraphs_stores_do():
    value = {
        "text": "hello",
        "memory": {"content": "nested", "n": 3},
        "notes": [{"body": "one"}, {"body": "two"}],
        "empty": [],
    }
    assert texts_to_embed(value, ["text", "memory.content", "notes[*].body", "empty", "nope"]) == [
        ("text", "hello"),
        ("memory.content", "nested"),
        ("notes[*].body.0", "one"),
        ("notes[*].body.1", "two"),
        ("empty", "[]"),  # a list or object at a path is embedded as its JSON
    ]
    assert texts_to_embed(value, ["memory.n"]) == [("memory.n", "3")]
    assert texts_to_embed({"a": 1}, ["$"]) == [("$", json.dumps({"a": 1}))]


@pytest.mark.parametrize(
    ("index", "message"),
    [
        ("fields", "an object"),
        ({"dims": 8, "embed": "m:f", "distance": "l2"}, "unknown keys ['distance']"),
        ({"embed": "m:f"}, "store.index.dims"),
        ({"dims": True, "embed": "m:f"}, "store.index.dims"),
        ({"dims": 8}, "store.index.embed"),
        ({"dims": 8, "embed": "no-colon"}, "store.index.embed"),
        ({"dims": 8, "embed": "m:f", "fields": []}, "store.index.fields"),
        ({"dims": 8, "embed": "m:f", "fields": ["text", ""]}, "store.index.fields"),
    ],
)
def test_a_malformed_index_names_its_key(index, message, tmp_path, monkeypatch):
    path = tmp_path / "langgraph.json"
    path.write_text(json.dumps({"store": {"index": index}}))
    monkeypatch.setenv("DURAGRAPH_CONFIG", str(path))
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        langgraph_config.store_index()


def test_fields_default_to_the_whole_value(tmp_path, monkeypatch):
    path = tmp_path / "langgraph.json"
    path.write_text(json.dumps({"store": {"index": {"dims": 8, "embed": "m:f"}}}))
    monkeypatch.setenv("DURAGRAPH_CONFIG", str(path))
    assert langgraph_config.store_index() == {"dims": 8, "embed": "m:f", "fields": ["$"]}
