"""The store's rules, in pure Python: what a namespace, key, value, TTL and filter may be.

LangGraph's store is a key-value memory shared across threads: items live under a namespace (a
path of labels, like a folder) and a key. This module validates everything the services and
selectors receive, so that bad input is a typed 422 before any SQL runs, and PostgreSQL never
sees a value it would refuse (which would be a 500). No Django imports.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from duragraph_site.errors import InvalidInput

#: A label that matches any one label in a prefix or suffix (LangGraph's MatchCondition).
WILDCARD = "*"
#: LangGraph reserves the root label ``langgraph`` for its own namespaces.
RESERVED_ROOT = "langgraph"
#: Size limits keep one ``(namespace, key)`` entry of the unique btree index under PostgreSQL's
#: 2704-byte maximum index row (a longer one would fail in the database, not here).
MAX_NAMESPACE_DEPTH = 32
MAX_NAMESPACE_BYTES = 1024
MAX_KEY_BYTES = 1024
#: Nesting depth of a value or filter: orjson refuses to render deeper documents.
MAX_VALUE_DEPTH = 128
#: The range orjson renders integers in; a bigger JSON integer could be stored but never read.
MIN_INT, MAX_INT = -(2**63), 2**64 - 1
#: 1000 years in minutes: any TTL longer is "forever" and would overflow a timestamp.
MAX_TTL_MINUTES = 1000 * 366 * 24 * 60
MAX_LIMIT = 1000
#: A put's ``index`` names at most this many field paths (each becomes embeddings).
MAX_INDEX_FIELDS = 100
#: PostgreSQL's OFFSET is a bigint.
MAX_OFFSET = 2**63 - 1
#: Comparison operators a filter may use on a top-level value key (LangGraph's set).
COMPARISON_OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte")


@dataclass(frozen=True)
class Filter:
    """A validated search filter, in the two forms the SQL uses.

    ``equals`` are exact matches on top-level keys (also given to ``value @> equals`` so a GIN
    index can narrow the rows); ``comparisons`` are ``{"field", "op", "operand"}`` rows, one per
    condition, every one of which must hold.
    """

    equals: dict[str, Any] = field(default_factory=dict)
    comparisons: list[dict[str, Any]] = field(default_factory=list)


def validate_namespace(
    namespace: Any, *, name: str = "namespace", allow_empty: bool = False, writing: bool = False
) -> tuple[str, ...]:
    """*namespace* as a tuple of labels, or InvalidInput naming *name*.

    A label is a non-empty string without ``.`` (the wire joins labels with dots) and without NUL
    (PostgreSQL text cannot hold it). *writing* also refuses LangGraph's reserved root label.
    """
    if isinstance(namespace, str) or not isinstance(namespace, Sequence):
        raise InvalidInput(f"{name}: must be a list of strings")
    labels = tuple(namespace)
    if not labels and not allow_empty:
        raise InvalidInput(f"{name}: must not be empty")
    if len(labels) > MAX_NAMESPACE_DEPTH:
        raise InvalidInput(f"{name}: at most {MAX_NAMESPACE_DEPTH} labels, got {len(labels)}")
    for label in labels:
        if not isinstance(label, str):
            raise InvalidInput(f"{name}: labels must be strings, got {type(label).__name__}")
        if not label:
            raise InvalidInput(f"{name}: labels cannot be empty strings")
        if "." in label:
            raise InvalidInput(f"{name}: label {label!r} cannot contain periods ('.')")
        check_text(label, name=name)
    if sum(len(label.encode()) for label in labels) > MAX_NAMESPACE_BYTES:
        raise InvalidInput(f"{name}: labels total more than {MAX_NAMESPACE_BYTES} bytes")
    if writing and labels[0] == RESERVED_ROOT:
        raise InvalidInput(f"{name}: the root label {RESERVED_ROOT!r} is reserved")
    return labels


def parse_namespace_path(path: Any, *, name: str = "namespace") -> tuple[str, ...]:
    """A dot-joined namespace (``a.b``, as ``GET /store/items`` takes it) as labels."""
    if not isinstance(path, str) or not path:
        raise InvalidInput(f"{name}: must be a non-empty dot-separated path")
    return validate_namespace(path.split("."), name=name)


def validate_key(key: Any) -> str:
    if not isinstance(key, str):
        raise InvalidInput("key: must be a string")
    if not key:
        raise InvalidInput("key: must not be empty")
    check_text(key, name="key")
    if len(key.encode()) > MAX_KEY_BYTES:
        raise InvalidInput(f"key: longer than {MAX_KEY_BYTES} bytes")
    return key


def validate_value(value: Any, *, name: str = "value") -> dict[str, Any]:
    """*value* if it is a JSON object that PostgreSQL can store and orjson can render."""
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{name}: must be a JSON object")
    check_json(value, name=name)
    return dict(value)


def check_json(document: Any, *, name: str) -> None:
    """Refuse what jsonb or orjson cannot hold: bad strings, non-finite or huge numbers, and
    nesting deeper than MAX_VALUE_DEPTH. Iterative, so a deep document cannot blow the stack."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            check_text(node, name=name)
        elif isinstance(node, bool) or node is None:
            continue
        elif isinstance(node, int):
            if not MIN_INT <= node <= MAX_INT:
                raise InvalidInput(f"{name}: integer {node} is out of the 64-bit range")
        elif isinstance(node, float):
            if not math.isfinite(node):
                raise InvalidInput(f"{name}: numbers must be finite")
        elif isinstance(node, Mapping | list | tuple):
            if depth > MAX_VALUE_DEPTH:
                raise InvalidInput(f"{name}: nested deeper than {MAX_VALUE_DEPTH} levels")
            if isinstance(node, Mapping):
                for key, child in node.items():
                    stack.append((key, depth + 1))
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in node)
        else:
            raise InvalidInput(f"{name}: {type(node).__name__} is not a JSON type")


def check_text(text: str, *, name: str) -> None:
    """Refuse strings PostgreSQL cannot store: NUL characters and lone UTF-16 surrogates."""
    if "\x00" in text:
        raise InvalidInput(f"{name}: strings cannot contain NUL (\\u0000) characters")
    try:
        text.encode()
    except UnicodeEncodeError:
        raise InvalidInput(f"{name}: strings cannot contain lone surrogates") from None


def ttl_delta(ttl: Any) -> timedelta | None:
    """A TTL in minutes (positive number, or None for "never expires") as a timedelta."""
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, int | float):
        raise InvalidInput("ttl: must be a number of minutes or null")
    if not math.isfinite(ttl) or ttl <= 0:
        raise InvalidInput("ttl: must be a positive number of minutes")
    if ttl > MAX_TTL_MINUTES:
        raise InvalidInput(f"ttl: at most {MAX_TTL_MINUTES} minutes; use null for no expiry")
    return timedelta(minutes=ttl)


def validate_index(index: Any) -> Literal[False] | tuple[str, ...] | None:
    """A put's ``index``: None (the configured fields), ``False`` (not embedded) or a list of
    field paths (``"text"``, ``"notes[*].body"``, ``"$"`` for the whole value)."""
    if index is None or index is False:
        return index
    if not isinstance(index, list | tuple) or not all(isinstance(path, str) for path in index):
        raise InvalidInput("index: must be false or a list of field paths")
    if len(index) > MAX_INDEX_FIELDS:
        raise InvalidInput(f"index: at most {MAX_INDEX_FIELDS} field paths")
    for path in index:
        if not path:
            raise InvalidInput("index: a field path cannot be empty")
        check_text(path, name="index")
        if len(path.encode()) > MAX_KEY_BYTES:
            raise InvalidInput(f"index: a field path is at most {MAX_KEY_BYTES} bytes")
    return tuple(index)


def validate_page(*, limit: Any, offset: Any) -> tuple[int, int]:
    for name, number, low, high in (
        ("limit", limit, 1, MAX_LIMIT),
        ("offset", offset, 0, MAX_OFFSET),
    ):
        if isinstance(number, bool) or not isinstance(number, int):
            raise InvalidInput(f"{name}: must be an integer")
        if not low <= number <= high:
            raise InvalidInput(f"{name}: must be between {low} and {high}")
    return limit, offset


def validate_max_depth(max_depth: Any) -> int | None:
    if max_depth is None:
        return None
    if isinstance(max_depth, bool) or not isinstance(max_depth, int):
        raise InvalidInput("max_depth: must be an integer")
    if not 1 <= max_depth <= MAX_NAMESPACE_DEPTH:
        raise InvalidInput(f"max_depth: must be between 1 and {MAX_NAMESPACE_DEPTH}")
    return max_depth


def parse_filter(raw: Any) -> Filter:
    """A search filter: ``{field: value}`` is an exact match of the top-level key *field*;
    ``{field: {"$gt": 3, ...}}`` applies LangGraph's comparison operators (ordering ones compare
    numbers only, so their operand must be a number)."""
    if raw is None:
        return Filter()
    if not isinstance(raw, Mapping):
        raise InvalidInput("filter: must be a JSON object")
    check_json(raw, name="filter")
    result = Filter()
    for field_name, condition in raw.items():
        if isinstance(condition, Mapping) and any(str(k).startswith("$") for k in condition):
            for op, operand in condition.items():
                if op not in COMPARISON_OPERATORS:
                    raise InvalidInput(
                        f"filter.{field_name}: unknown operator {op!r}; "
                        f"use one of {', '.join(COMPARISON_OPERATORS)}"
                    )
                if op not in ("$eq", "$ne") and (
                    isinstance(operand, bool) or not isinstance(operand, int | float)
                ):
                    raise InvalidInput(f"filter.{field_name}.{op}: operand must be a number")
                result.comparisons.append({"field": field_name, "op": op, "operand": operand})
        else:
            result.equals[field_name] = condition
            result.comparisons.append({"field": field_name, "op": "$eq", "operand": condition})
    return result


def required_labels(*conditions: Sequence[str]) -> list[str]:
    """The labels every matching namespace must contain (wildcards excluded), for the GIN
    index's ``namespace @> labels`` pre-filter."""
    return sorted({label for labels in conditions for label in labels if label != WILDCARD})
