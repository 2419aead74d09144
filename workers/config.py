"""The configuration a run executes with: its assistant's, overlaid with the run's own. Pure.

One definition for both kinds of worker: the built-in executor hands it to the graph
(``workers.executor.Execution._config``) and the remote protocol sends it with every task
(``workers.remote.worker_poll``), so a graph sees the same ``configurable`` and ``metadata``
wherever it runs. No Django imports: it reads attributes of the ``Assistant`` and ``Run`` read
models (or of anything shaped like them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import uuid


class AssistantConfig(Protocol):
    """What the merge reads of an assistant (``assistants.models.Assistant``)."""

    graph_id: str
    config: dict[str, Any]
    context: dict[str, Any]
    metadata: dict[str, Any]


class RunConfig(Protocol):
    """What the merge reads of a run (``runs.models.Run``)."""

    run_id: uuid.UUID
    thread_id: uuid.UUID
    assistant_id: uuid.UUID
    kwargs: dict[str, Any]
    metadata: dict[str, Any]
    attempt: int


def effective_config(assistant: AssistantConfig, run: RunConfig) -> dict[str, Any]:
    """LangGraph's ``RunnableConfig`` for *run* of *assistant*, as LangGraph Platform builds it.

    The run's config keys win over the assistant's; ``configurable`` is the assistant's
    context, then its ``configurable``, then the run's, then the run's identity (``thread_id``,
    ``run_id``, ``assistant_id``, ``graph_id``, which nobody can override); ``metadata`` is
    the assistant's, the config's, the run's, then the run's identity and attempt.

    Returns:
        A new dict of JSON values (the inputs are not modified).
    """
    run_config = dict(run.kwargs.get("config") or {})
    config = {
        **assistant.config,
        **{k: v for k, v in run_config.items() if k != "configurable"},
    }
    configurable = {
        **assistant.context,
        **(assistant.config.get("configurable") or {}),
        **(run_config.get("configurable") or {}),
        "thread_id": str(run.thread_id),
        "run_id": str(run.run_id),
        "assistant_id": str(run.assistant_id),
        "graph_id": assistant.graph_id,
    }
    config["configurable"] = configurable
    # As LangGraph Platform: the root run is named after the graph (``events`` mode shows
    # it), and the assistant's metadata (``created_by``...) is in every chunk's metadata.
    config.setdefault("run_name", assistant.graph_id)
    config["metadata"] = {
        **assistant.metadata,
        **(config.get("metadata") or {}),
        **run.metadata,
        "run_id": str(run.run_id),
        "thread_id": str(run.thread_id),
        "assistant_id": str(run.assistant_id),
        "graph_id": assistant.graph_id,
        "run_attempt": run.attempt,
    }
    return config
