"""LangGraph's run-creation body -> the run's stored ``kwargs``. Pure Python.

The rules are LangGraph Platform's (``langgraph_api/models/run.py``): ``stream_mode`` defaults to
``["values"]``, ``context`` and ``config.configurable`` mirror each other (giving both is a 400),
``checkpoint_id``/``checkpoint`` go into ``configurable``, ``checkpoint_during`` maps to
``durability``, resuming needs a thread.
"""

from __future__ import annotations

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


def build(payload: dict[str, Any], *, stateless: bool) -> RunRequest:
    """Turn a (type-checked) run-create body into kwargs, applying LangGraph's rules.

    Raises:
        BadRequest: both context and config.configurable, or resuming without a thread.
        InvalidInput: a v2-only stream mode.
    """
    command = payload.get("command")
    if stateless and command and command.get("resume") is not None:
        raise BadRequest("You must provide a thread_id when resuming.")

    stream_mode = payload.get("stream_mode") or ["values"]
    stream_mode = [stream_mode] if isinstance(stream_mode, str) else list(stream_mode)
    if v2_only := sorted(set(V2_ONLY_STREAM_MODES) & set(stream_mode)):
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
    return RunRequest(
        kwargs=kwargs,
        metadata=dict(payload.get("metadata") or {}),
        multitask_strategy=payload.get("multitask_strategy") or "enqueue",
        after_seconds=float(payload.get("after_seconds") or 0),
        if_not_exists=payload.get("if_not_exists") or "reject",
        on_completion=on_completion,
        on_disconnect=payload.get("on_disconnect") or "continue",
    )
