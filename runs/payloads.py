"""LangGraph's run-creation body -> the run's stored ``kwargs``. Pure Python.

The rules are LangGraph Platform's (``langgraph_api/models/run.py``): ``stream_mode`` defaults to
``["values"]``, ``context`` and ``config.configurable`` mirror each other (giving both is a 400),
``checkpoint_id``/``checkpoint`` go into ``configurable``, ``checkpoint_during`` maps to
``durability``, resuming needs a thread; the request's headers that ``langgraph.json``'s
``http.configurable_headers`` names go into ``configurable`` too (:func:`request_headers`).
"""

from __future__ import annotations

import functools
import json
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from assistants.domain import BOTH_CONTEXTS_MESSAGE
from duragraph_site.errors import BadRequest, InvalidInput

STREAM_MODES = (
    "values",
    "messages",
    "messages-tuple",
    "updates",
    "events",
    "debug",
    "custom",
    "tasks",
    "checkpoints",
)
#: Stream modes only LangGraph's v2 event-streaming endpoints serve.
V2_ONLY_STREAM_MODES = ("tools", "lifecycle")
MULTITASK_STRATEGIES = ("reject", "interrupt", "rollback", "enqueue")
#: Headers that carry credentials: never copied into a run's config, whatever the patterns say.
SECRET_HEADERS = frozenset({"authorization", "x-api-key", "x-service-key", "x-tenant-id"})
#: LangSmith's distributed-tracing header, always copied (with what its ``baggage`` carries).
TRACE_HEADER = "langsmith-trace"
_BAGGAGE_KEYS = ("langsmith-metadata", "langsmith-tags", "langsmith-project")
DURABILITIES = ("sync", "async", "exit")


@dataclass(frozen=True)
class RunRequest:
    """What a validated run-creation body asks for, ready for ``runs.services.run_create``."""

    kwargs: dict[str, Any]
    metadata: dict[str, Any]
    multitask_strategy: str
    after_seconds: float
    if_not_exists: str
    on_completion: str
    on_disconnect: str


def request_headers(
    headers: Mapping[str, str], includes: tuple[str, ...], excludes: tuple[str, ...]
) -> dict[str, str | list[str] | dict[str, Any]]:
    """The request *headers* (names lower-cased) a run's ``configurable`` takes, as LangGraph
    Platform takes them: those matching an *includes* pattern and no *excludes* one (``*`` the
    only wildcard; none by default), never the credentials (:data:`SECRET_HEADERS`); and
    ``langsmith-trace`` always, with the LangSmith metadata, tags and project its ``baggage``
    carries (malformed metadata is left out rather than failing the run)."""
    lowered = {name.lower(): value for name, value in headers.items()}
    found: dict[str, Any] = {}
    if TRACE_HEADER in lowered:
        found[TRACE_HEADER] = lowered[TRACE_HEADER]
        found.update(_baggage(lowered.get("baggage", "")))
    if not includes:
        return found
    include, exclude = _compiled(includes), _compiled(excludes)
    for name, value in lowered.items():
        if (
            name not in found
            and name not in SECRET_HEADERS
            and include.fullmatch(name)
            and not (excludes and exclude.fullmatch(name))
        ):
            found[name] = value
    return found


@functools.lru_cache(maxsize=16)
def _compiled(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """One expression matching any of *patterns*: literal but for ``*`` (no regular
    expressions from configuration, so no catastrophic backtracking)."""
    return re.compile(
        "|".join(".*".join(re.escape(part) for part in pattern.split("*")) for pattern in patterns)
    )


def _baggage(baggage: str) -> dict[str, Any]:
    """LangSmith's entries of a W3C ``baggage`` header (``key=url-encoded value``, commas)."""
    found: dict[str, Any] = {}
    for item in baggage.split(","):
        key, _, value = item.strip().partition("=")
        if key not in _BAGGAGE_KEYS or key in found:
            continue
        value = urllib.parse.unquote(value)
        if key == "langsmith-metadata":
            try:
                metadata = json.loads(value)
            except ValueError:
                continue
            if isinstance(metadata, dict):
                found[key] = metadata
        elif key == "langsmith-tags":
            found[key] = value.split(",")
        else:
            found[key] = value
    return found


def build(
    payload: dict[str, Any],
    *,
    stateless: bool,
    headers: Mapping[str, Any] | None = None,
    protocol_v2: bool = False,
) -> RunRequest:
    """Turn a (type-checked) run-create body into kwargs, applying LangGraph's rules; *headers*
    (:func:`request_headers`) join ``config.configurable``, not ``context``. A *protocol_v2* run
    (``run.start``, :mod:`runs.api.protocol`) may stream the v2-only modes and is marked
    ``stream_protocol: "v2"`` for the executor.

    Raises:
        BadRequest: both context and config.configurable, or resuming without a thread.
        InvalidInput: a v2-only stream mode.
    """
    command = payload.get("command")
    if stateless and command and command.get("resume") is not None:
        raise BadRequest("You must provide a thread_id when resuming.")

    stream_mode = payload.get("stream_mode") or ["values"]
    stream_mode = [stream_mode] if isinstance(stream_mode, str) else list(stream_mode)
    if not protocol_v2 and (v2_only := sorted(set(V2_ONLY_STREAM_MODES) & set(stream_mode))):
        raise InvalidInput(
            f"stream_mode entries {v2_only!r} are only supported on the v2 event streaming endpoints."
        )

    config = dict(payload.get("config") or {})
    context = dict(payload.get("context") or {})
    configurable = dict(config.get("configurable") or {})
    if configurable and context:
        raise BadRequest(BOTH_CONTEXTS_MESSAGE)
    if context:
        configurable = dict(context)
    else:
        context = dict(configurable)
    if checkpoint_id := payload.get("checkpoint_id"):
        configurable["checkpoint_id"] = str(checkpoint_id)
    if checkpoint := payload.get("checkpoint"):
        configurable.update(checkpoint)
    configurable.update(headers or {})
    config["configurable"] = configurable

    durability = payload.get("durability")
    if durability is None:
        durability = "exit" if payload.get("checkpoint_during") is False else "async"
    on_completion = payload.get("on_completion") or "delete"

    kwargs = {
        "input": payload.get("input"),
        "command": command,
        "config": config,
        "context": context,
        "stream_mode": stream_mode,
        "interrupt_before": payload.get("interrupt_before"),
        "interrupt_after": payload.get("interrupt_after"),
        "webhook": payload.get("webhook"),
        "feedback_keys": payload.get("feedback_keys"),
        "temporary": stateless and on_completion == "delete",
        "subgraphs": bool(payload.get("stream_subgraphs")),
        "resumable": bool(payload.get("stream_resumable")),
        "checkpoint_during": payload.get("checkpoint_during", True),
        "durability": durability,
    }
    if protocol_v2:
        kwargs["stream_protocol"] = "v2"
    return RunRequest(
        kwargs=kwargs,
        metadata=dict(payload.get("metadata") or {}),
        multitask_strategy=payload.get("multitask_strategy") or "enqueue",
        after_seconds=float(payload.get("after_seconds") or 0),
        if_not_exists=payload.get("if_not_exists") or "reject",
        on_completion=on_completion,
        on_disconnect=payload.get("on_disconnect") or "continue",
    )
