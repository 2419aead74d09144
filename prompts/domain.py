"""The prompt registry's rules, pure Python: what a prompt id, a version, a variant and a
prompt's fields may be, and the namespace a prompt id lives in.

A prompt id is a path of segments (``support/classify_intent``): its namespace is everything
before the last ``/`` (``support``; "" for a bare name). Versions and variants are labels
(``3``, ``2.1.0``, ``b``); a version a caller does not name is numbered (``1``, ``2``...).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from duragraph_site.errors import InvalidInput

MAX_PROMPT_ID = 255
MAX_LABEL = 64
MAX_TAGS = 64
#: A prompt's content is text for a model: generous, but bounded.
MAX_CONTENT = 256 * 1024
_SEGMENT = re.compile(r"[A-Za-z0-9_.\-]+")
_LABEL = re.compile(r"[A-Za-z0-9_.\-]+")
#: ``/api/v1/prompts/{id}/versions`` is a route of its own, so no id may end so.
RESERVED_LAST_SEGMENT = "versions"


def validate_prompt_id(prompt_id: Any) -> str:
    """*prompt_id* if it is a ``/``-separated path of letters, digits, ``_``, ``.``, ``-``.

    Raises:
        InvalidInput: naming what is wrong.
    """
    if not isinstance(prompt_id, str) or not prompt_id:
        raise InvalidInput("prompt_id: a non-empty string such as 'support/classify_intent'")
    if len(prompt_id) > MAX_PROMPT_ID:
        raise InvalidInput(f"prompt_id: at most {MAX_PROMPT_ID} characters")
    segments = prompt_id.split("/")
    if not all(_SEGMENT.fullmatch(segment) for segment in segments):
        raise InvalidInput(
            f"prompt_id {prompt_id!r}: '/'-separated segments of letters, digits, '_', '.', '-'"
        )
    if any(segment in (".", "..") for segment in segments):
        raise InvalidInput(f"prompt_id {prompt_id!r}: no '.' or '..' segment")
    if segments[-1] == RESERVED_LAST_SEGMENT:
        raise InvalidInput(f"prompt_id {prompt_id!r}: may not end with '/versions'")
    return prompt_id


def namespace_of(prompt_id: str) -> str:
    """``support/classify_intent`` -> ``support``; ``greeting`` -> ``""``."""
    return prompt_id.rpartition("/")[0]


def validate_label(value: Any, field: str) -> str | None:
    """A version or variant label (None when not given).

    Raises:
        InvalidInput: not a short string of letters, digits, ``_``, ``.``, ``-``.
    """
    if value is None:
        return None
    if not isinstance(value, str) or not _LABEL.fullmatch(value) or len(value) > MAX_LABEL:
        raise InvalidInput(
            f"{field}: up to {MAX_LABEL} letters, digits, '_', '.' or '-', such as '2.1.0'"
        )
    return value


def validate_content(content: Any) -> str:
    """The prompt's text (a template: the SDK fills its ``{variables}``).

    Raises:
        InvalidInput: not a non-empty string, or too long.
    """
    if not isinstance(content, str) or not content:
        raise InvalidInput("content: the prompt's text, a non-empty string")
    if len(content) > MAX_CONTENT:
        raise InvalidInput(f"content: at most {MAX_CONTENT} characters")
    return content


def validate_tags(tags: Any) -> list[str]:
    """Tags for listing by (None: none).

    Raises:
        InvalidInput: not a list of distinct non-empty strings, or too many.
    """
    if tags is None:
        return []
    if not isinstance(tags, list) or not all(isinstance(tag, str) and tag for tag in tags):
        raise InvalidInput("tags: a list of non-empty strings")
    if len(tags) > MAX_TAGS:
        raise InvalidInput(f"tags: at most {MAX_TAGS}")
    return list(dict.fromkeys(tags))


def validate_metadata(metadata: Any) -> dict[str, Any]:
    """The prompt's free-form metadata (None: {}).

    Raises:
        InvalidInput: not a JSON object.
    """
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidInput("metadata: a JSON object")
    return dict(metadata)
