"""Semantic search's embeddings: ``langgraph.json``'s ``store.index``, its embedding function
loaded as LangGraph Platform loads it, and what of an item's value gets embedded.

Embedding runs outside any transaction (a provider is a network call); the vectors are then
written with their item in one statement (``store.services``) and ranked in PostgreSQL
(``store.selectors``). See docs/store.md, "Semantic search".
"""

from __future__ import annotations

import functools
import importlib.util
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from langchain_core.embeddings import Embeddings
from langgraph.store.base import ensure_embeddings, get_text_at_path, tokenize_path

from duragraph_site import langgraph_config, user_code
from duragraph_site.errors import DuraGraphError

#: The field path that embeds the whole value (its JSON text), LangGraph's default.
WHOLE_VALUE = "$"


class EmbeddingError(DuraGraphError):
    """The configured embedding function failed or answered vectors of the wrong length: the
    server's configuration is at fault, not the request, and nothing was written."""

    status_code = 503
    code = "embedding_failed"


@dataclass(frozen=True)
class Index:
    """The configured index: how long a vector is, what to embed, and the function."""

    dims: int
    #: The default field paths of a value to embed (a put's ``index`` may name others).
    fields: tuple[str, ...]
    embeddings: Embeddings

    def embed_texts(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, each checked to be *dims* long."""
        try:
            vectors = self.embeddings.embed_documents(list(texts))
        except Exception as error:  # noqa: BLE001 - any failure of the user's function
            raise EmbeddingError(f"store.index.embed failed: {error!r}") from error
        if len(vectors) != len(texts):
            raise EmbeddingError(
                f"store.index.embed answered {len(vectors)} vectors for {len(texts)} texts"
            )
        return [self._checked(vector) for vector in vectors]

    def embed_query(self, query: str) -> list[float]:
        try:
            vector = self.embeddings.embed_query(query)
        except Exception as error:  # noqa: BLE001 - any failure of the user's function
            raise EmbeddingError(f"store.index.embed failed: {error!r}") from error
        return self._checked(vector)

    def _checked(self, vector: Sequence[float]) -> list[float]:
        if len(vector) != self.dims:
            raise EmbeddingError(
                f"store.index.embed answered a vector of {len(vector)} numbers; "
                f"store.index.dims says {self.dims}"
            )
        numbers = [float(number) for number in vector]
        if not all(math.isfinite(number) for number in numbers):
            raise EmbeddingError("store.index.embed answered a vector with NaN or infinity")
        return numbers


def configured_index() -> Index | None:
    """The index ``langgraph.json`` configures, its function loaded once per process; None
    without ``store.index``.

    Raises:
        ValueError: a malformed ``store.index``, or an ``embed`` that cannot be loaded.
    """
    config = langgraph_config.store_index()
    if not config:
        return None
    path = langgraph_config.config_file()
    base = str(path.parent) if path is not None else "."
    return _load(config["embed"], base, config["dims"], tuple(config["fields"]))


@functools.lru_cache(maxsize=4)
def _load(embed: str, base: str, dims: int, fields: tuple[str, ...]) -> Index:
    return Index(dims=dims, fields=fields, embeddings=load_embeddings(embed, Path(base)))


def load_embeddings(embed: str, base: Path) -> Embeddings:
    """The LangChain ``Embeddings`` that *embed* names: ``"./file.py:name"`` (relative to
    *base*) or ``"package.module:name"`` naming a function (sync or async, texts to vectors)
    or an ``Embeddings``; anything else is a LangChain provider string
    (``"openai:text-embedding-3-small"``, which needs the ``langchain`` package).

    Raises:
        ValueError: saying what could not be loaded.
    """
    value = _user_object(embed, base)
    if value is not None:
        if isinstance(value, Embeddings):
            return value
        if not callable(value):
            raise ValueError(f"store.index.embed {embed!r} is neither a function nor Embeddings")
        return ensure_embeddings(value)
    try:
        from langchain.embeddings import init_embeddings  # noqa: PLC0415 - optional package
    except ImportError:
        raise ValueError(
            f"store.index.embed {embed!r}: a provider string needs the langchain package "
            "(pip install langchain and the provider's package), or name a function as "
            "'./file.py:function'"
        ) from None
    try:
        return init_embeddings(embed)
    except Exception as error:  # noqa: BLE001 - the provider's own refusal, said at start
        raise ValueError(f"store.index.embed {embed!r}: {error}") from error


def _user_object(embed: str, base: Path) -> Any:
    """What *embed* names in the user's code, or None when it names no file and no attribute of
    an importable module (then it is a provider string: ``"openai"`` may be a module too)."""
    target, name = embed.rsplit(":", 1)
    is_file = user_code.is_file_target(target)
    try:
        if not is_file and importlib.util.find_spec(target) is None:
            return None
        return user_code.load_attribute(embed, base)
    except AttributeError as error:
        if is_file:
            raise ValueError(f"store.index.embed {embed!r}: {error}") from error
        return None
    except Exception as error:  # noqa: BLE001 - any failure of the user's module as it runs
        raise ValueError(f"store.index.embed {embed!r} could not be loaded: {error}") from error


def texts_to_embed(value: Mapping[str, Any], fields: Sequence[str]) -> list[tuple[str, str]]:
    """``(field, text)`` for every text of *value* at *fields* (LangGraph's JSON paths:
    ``"text"``, ``"memory.content"``, ``"messages[*].content"``; ``"$"`` is the whole value as
    JSON). A path that finds several texts names each ``path.0``, ``path.1``... as LangGraph's
    PostgreSQL store does; a path that finds nothing adds nothing."""
    found = []
    for field in fields:
        path = WHOLE_VALUE if field == WHOLE_VALUE else tokenize_path(field)
        texts = get_text_at_path(value, path)
        if len(texts) == 1:
            found.append((field, texts[0]))
        else:
            found.extend((f"{field}.{position}", text) for position, text in enumerate(texts))
    return found


def fields_of_put(index: Literal[False] | Sequence[str] | None, configured: Index) -> Sequence[str]:
    """The field paths a put embeds: its own ``index`` list, none for ``false``, else the
    configured ones."""
    if index is False:
        return ()
    return configured.fields if index is None else index
