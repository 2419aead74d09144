"""The prompt registry's rules (``prompts.domain``): ids, labels, content, tags, metadata.
No database."""

from __future__ import annotations

import pytest

from duragraph_site.errors import InvalidInput
from prompts import domain


@pytest.mark.parametrize(
    ("prompt_id", "namespace"),
    [
        ("greeting", ""),
        ("support/classify_intent", "support"),
        ("a/b.c/d-e_f", "a/b.c"),
        ("v1.2/x", "v1.2"),
    ],
)
def test_a_prompt_id_is_a_path_whose_namespace_is_all_but_its_last_segment(prompt_id, namespace):
    assert domain.validate_prompt_id(prompt_id) == prompt_id
    assert domain.namespace_of(prompt_id) == namespace


@pytest.mark.parametrize(
    "prompt_id",
    [None, "", 5, "/a", "a/", "a//b", "a b", "a/./b", "../a", "a/versions", "é", "x" * 256],
)
def test_a_malformed_prompt_id_is_refused(prompt_id):
    with pytest.raises(InvalidInput, match="prompt_id"):
        domain.validate_prompt_id(prompt_id)


def test_labels_are_short_plain_words_or_absent():
    assert domain.validate_label(None, "version") is None
    assert domain.validate_label("2.1.0", "version") == "2.1.0"
    for bad in ("", "a b", "x" * 65, 3, "a/b"):
        with pytest.raises(InvalidInput, match="variant"):
            domain.validate_label(bad, "variant")


def test_content_tags_and_metadata():
    assert domain.validate_content("Hi {name}") == "Hi {name}"
    for bad in ("", None, ["x"], "x" * (domain.MAX_CONTENT + 1)):
        with pytest.raises(InvalidInput, match="content"):
            domain.validate_content(bad)
    assert domain.validate_tags(None) == []
    assert domain.validate_tags(["a", "b", "a"]) == ["a", "b"], "duplicates dropped, order kept"
    for bad in ("a", [""], [1], ["t"] * (domain.MAX_TAGS + 1)):
        with pytest.raises(InvalidInput, match="tags"):
            domain.validate_tags(bad)
    assert domain.validate_metadata(None) == {}
    with pytest.raises(InvalidInput, match="metadata"):
        domain.validate_metadata(["x"])
