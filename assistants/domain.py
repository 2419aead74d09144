"""The assistant aggregate: a configured graph, with a version history. Pure Python.

Every update snapshots a new version (``max + 1``) and makes it the active one; ``set_latest``
re-activates an older version. LangGraph mirrors ``config["configurable"]`` and ``context`` into
each other; :func:`mirror_context` is that rule.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from duragraph_site.errors import IllegalTransition, InvalidInput, NotFound
from events.domain import DomainEvent, EventTypes, Recorded, check_sequence, require_json

STREAM_TYPE = "assistant"
DEFAULT_NAME = "Untitled"
#: LangGraph's namespace for the uuid5 ids of graphs' default assistants.
SYSTEM_ASSISTANT_NAMESPACE = uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8")


def system_assistant_id(graph_id: str) -> uuid.UUID:
    """The id LangGraph gives the default assistant of a registered graph."""
    return uuid.uuid5(SYSTEM_ASSISTANT_NAMESPACE, graph_id)


# -- events ----------------------------------------------------------------------------------
class AssistantCreated(DomainEvent):
    assistant_id: uuid.UUID
    graph_id: str
    config: dict[str, Any]
    context: dict[str, Any]
    metadata: dict[str, Any]
    name: str
    description: str | None


class AssistantUpdated(DomainEvent):
    """A new version, complete (not a patch), which becomes the active one."""

    version: int
    graph_id: str
    config: dict[str, Any]
    context: dict[str, Any]
    metadata: dict[str, Any]
    name: str
    description: str | None


class AssistantVersionActivated(DomainEvent):
    version: int


class AssistantDeleted(DomainEvent):
    pass


EVENT_TYPES = EventTypes(
    AssistantCreated, AssistantUpdated, AssistantVersionActivated, AssistantDeleted
)


# -- state -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class AssistantVersion:
    version: int
    graph_id: str
    config: Mapping[str, Any]
    context: Mapping[str, Any]
    metadata: Mapping[str, Any]
    name: str
    description: str | None
    created_at: datetime


@dataclass(frozen=True)
class AssistantState:
    assistant_id: uuid.UUID
    #: Event-stream version (optimistic concurrency); not LangGraph's ``version``.
    stream_version: int
    #: The active version's number and fields.
    version: int
    graph_id: str
    config: Mapping[str, Any]
    context: Mapping[str, Any]
    metadata: Mapping[str, Any]
    name: str
    description: str | None
    versions: tuple[AssistantVersion, ...]
    created_at: datetime
    updated_at: datetime
    deleted: bool = False

    def get_version(self, number: int) -> AssistantVersion:
        for candidate in self.versions:
            if candidate.version == number:
                return candidate
        raise NotFound(f"assistant {self.assistant_id} has no version {number}")


# -- commands --------------------------------------------------------------------------------
def mirror_context(
    config: Mapping[str, Any], context: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """LangGraph keeps ``config.configurable`` and ``context`` equal when only one is given."""
    config = dict(config)
    configurable = config.get("configurable")
    if configurable is not None and not isinstance(configurable, dict):
        raise InvalidInput("config.configurable must be a JSON object")
    if context and not configurable:
        config["configurable"] = dict(context)
    elif configurable and not context:
        context = dict(configurable)
    return config, dict(context)


def _validated(
    *,
    graph_id: str,
    config: Mapping[str, Any],
    context: Mapping[str, Any],
    metadata: Mapping[str, Any],
    name: str,
    description: str | None,
) -> dict[str, Any]:
    if not isinstance(graph_id, str) or not graph_id:
        raise InvalidInput("graph_id must be a non-empty string")
    for field_name, value in (("config", config), ("context", context), ("metadata", metadata)):
        require_json(field_name, value)
    if not isinstance(name, str) or not name:
        raise InvalidInput("name must be a non-empty string")
    if description is not None and not isinstance(description, str):
        raise InvalidInput("description must be a string")
    config, context = mirror_context(config, context)
    return {
        "graph_id": graph_id,
        "config": config,
        "context": context,
        "metadata": dict(metadata),
        "name": name,
        "description": description,
    }


def create(
    *,
    assistant_id: uuid.UUID,
    graph_id: str,
    config: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    name: str | None = None,
    description: str | None = None,
) -> list[DomainEvent]:
    fields = _validated(
        graph_id=graph_id,
        config=config or {},
        context=context or {},
        metadata=metadata or {},
        name=name or DEFAULT_NAME,
        description=description,
    )
    return [AssistantCreated(assistant_id=assistant_id, **fields)]


def update(
    state: AssistantState,
    *,
    graph_id: str | None = None,
    config: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    name: str | None = None,
    description: str | None = None,
) -> list[DomainEvent]:
    """A new version from the active one, with the given fields replaced (``metadata`` merged)."""
    _require_not_deleted(state)
    if metadata is not None:
        require_json("metadata", metadata)
    fields = _validated(
        graph_id=graph_id if graph_id is not None else state.graph_id,
        config=config if config is not None else state.config,
        # A new config without a new context re-derives the context from it.
        context=context if context is not None else ({} if config is not None else state.context),
        metadata={**state.metadata, **metadata} if metadata is not None else state.metadata,
        name=name if name is not None else state.name,
        description=description if description is not None else state.description,
    )
    next_version = max(v.version for v in state.versions) + 1
    return [AssistantUpdated(version=next_version, **fields)]


def set_latest(state: AssistantState, *, version: int) -> list[DomainEvent]:
    _require_not_deleted(state)
    state.get_version(version)
    return [AssistantVersionActivated(version=version)]


def delete(state: AssistantState) -> list[DomainEvent]:
    _require_not_deleted(state)
    return [AssistantDeleted()]


def _require_not_deleted(state: AssistantState) -> None:
    if state.deleted:
        raise IllegalTransition(f"assistant {state.assistant_id} was deleted")


# -- fold ------------------------------------------------------------------------------------
def _activate(state: AssistantState, version: AssistantVersion) -> AssistantState:
    return replace(
        state,
        version=version.version,
        graph_id=version.graph_id,
        config=version.config,
        context=version.context,
        metadata=version.metadata,
        name=version.name,
        description=version.description,
    )


def apply(state: AssistantState | None, recorded: Recorded[Any]) -> AssistantState:
    check_sequence(state.stream_version if state else 0, recorded)
    event = recorded.event
    if isinstance(event, AssistantCreated):
        # A deleted aggregate's id may be used again: the stream goes on with a new incarnation.
        if state is not None and not state.deleted:
            raise IllegalTransition("AssistantCreated must be the first event of an assistant")
        first = AssistantVersion(
            version=1,
            graph_id=event.graph_id,
            config=event.config,
            context=event.context,
            metadata=event.metadata,
            name=event.name,
            description=event.description,
            created_at=recorded.at,
        )
        return AssistantState(
            assistant_id=event.assistant_id,
            stream_version=recorded.version,
            version=1,
            graph_id=event.graph_id,
            config=event.config,
            context=event.context,
            metadata=event.metadata,
            name=event.name,
            description=event.description,
            versions=(first,),
            created_at=recorded.at,
            updated_at=recorded.at,
        )
    if state is None:
        raise IllegalTransition(f"{event.type_name} cannot start an assistant stream")
    state = replace(state, stream_version=recorded.version, updated_at=recorded.at)
    match event:
        case AssistantUpdated():
            new = AssistantVersion(
                version=event.version,
                graph_id=event.graph_id,
                config=event.config,
                context=event.context,
                metadata=event.metadata,
                name=event.name,
                description=event.description,
                created_at=recorded.at,
            )
            return _activate(replace(state, versions=(*state.versions, new)), new)
        case AssistantVersionActivated():
            return _activate(state, state.get_version(event.version))
        case AssistantDeleted():
            return replace(state, deleted=True)
    raise IllegalTransition(f"assistant events do not include {event.type_name}")
