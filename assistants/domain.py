"""The assistant aggregate: a configured graph, with a version history. Pure Python.

Every update snapshots a new version (``max + 1``) and makes it the active one; ``set_latest``
re-activates an older version. LangGraph mirrors ``config["configurable"]`` and ``context`` into
each other; :func:`merge_context` is that rule.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from accounts.domain import DEFAULT_TENANT
from duragraph_site.errors import (
    BadRequest,
    DuraGraphError,
    IllegalTransition,
    InvalidInput,
    NotFound,
)
from events.domain import DomainEvent, EventTypes, Recorded, check_sequence, require_json

STREAM_TYPE = "assistant"
DEFAULT_NAME = "Untitled"
#: LangGraph's namespace for the uuid5 ids of graphs' default assistants.
SYSTEM_ASSISTANT_NAMESPACE = uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8")
#: The tenant of the system assistants (a graph's default assistant, created by the server):
#: none. Every tenant sees them and runs them; only an all-tenant caller changes them.
SYSTEM_TENANT = ""


def system_assistant_id(graph_id: str) -> uuid.UUID:
    """The id LangGraph gives the default assistant of a registered graph."""
    return uuid.uuid5(SYSTEM_ASSISTANT_NAMESPACE, graph_id)


def legacy_tenant(assistant_id: uuid.UUID, graph_id: str) -> str:
    """The tenant of an assistant created before tenants were recorded: a graph's default
    assistant is a system one, anything else was the default tenant's."""
    return SYSTEM_TENANT if assistant_id == system_assistant_id(graph_id) else DEFAULT_TENANT


def visible_to(owner: str, tenant: str | None) -> bool:
    """Whether an assistant of tenant *owner* is visible to a caller scoped to *tenant*
    (None: every tenant)."""
    return tenant is None or owner in (tenant, SYSTEM_TENANT)


class SystemAssistantReadOnly(DuraGraphError):
    """System assistants belong to no tenant: a tenant may read and run them, not change them."""

    status_code = 403
    code = "forbidden"


def require_changeable(state: AssistantState, tenant: str | None) -> None:
    """NotFound for another tenant's assistant (as for an unknown id); 403 for a system
    assistant changed by a tenant-scoped caller."""
    if tenant is None or state.tenant == tenant:
        return
    if state.tenant == SYSTEM_TENANT:
        raise SystemAssistantReadOnly(
            f"Assistant {state.assistant_id} is a system assistant (the default assistant of "
            f"graph {state.graph_id!r}): it can be read and run, not changed or deleted"
        )
    raise NotFound(f"Assistant {state.assistant_id} not found")


# -- events ----------------------------------------------------------------------------------
class AssistantCreated(DomainEvent):
    assistant_id: uuid.UUID
    graph_id: str
    config: dict[str, Any]
    context: dict[str, Any]
    metadata: dict[str, Any]
    name: str
    description: str | None
    #: Its tenant (:data:`SYSTEM_TENANT` for a system assistant); None in events recorded
    #: before tenants were (see :func:`legacy_tenant`).
    tenant: str | None = None


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
    tenant: str = DEFAULT_TENANT
    deleted: bool = False

    def get_version(self, number: int) -> AssistantVersion:
        for candidate in self.versions:
            if candidate.version == number:
                return candidate
        raise NotFound(f"assistant {self.assistant_id} has no version {number}")


# -- commands --------------------------------------------------------------------------------
BOTH_CONTEXTS_MESSAGE = (
    "Cannot specify both configurable and context. Prefer setting context alone. "
    "Context was introduced in LangGraph 0.6.0 and is the long term planned replacement for configurable."
)


def merge_context(
    old_config: Mapping[str, Any],
    old_context: Mapping[str, Any],
    *,
    config: Mapping[str, Any] | None,
    context: Mapping[str, Any] | None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """New ``(config, context)``, keeping ``config["configurable"]`` and ``context`` equal.

    LangGraph mirrors the two: the one given wins; giving both non-empty is a 400.
    """
    if config is not None and not isinstance(config, dict):
        raise InvalidInput("config must be a JSON object")
    configurable = (config or {}).get("configurable")
    if configurable is not None and not isinstance(configurable, dict):
        raise InvalidInput("config.configurable must be a JSON object")
    if configurable and context:
        raise BadRequest(BOTH_CONTEXTS_MESSAGE)
    if context:
        new_context = dict(context)
    elif configurable:
        new_context = dict(configurable)
    elif context is not None or configurable is not None:
        new_context = {}  # explicitly emptied
    else:
        new_context = dict(old_context)
    new_config = dict(config) if config is not None else dict(old_config)
    if new_context or "configurable" in new_config:
        new_config["configurable"] = dict(new_context)
    return new_config, new_context


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
    return {
        "graph_id": graph_id,
        "config": dict(config),
        "context": dict(context),
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
    tenant: str = DEFAULT_TENANT,
) -> list[DomainEvent]:
    if not isinstance(tenant, str):
        raise InvalidInput("tenant must be a string")
    for field_name, value in (("config", config), ("context", context)):
        if value is not None:
            require_json(field_name, value)
    config, context = merge_context({}, {}, config=config, context=context)
    fields = _validated(
        graph_id=graph_id,
        config=config,
        context=context,
        metadata=metadata or {},
        name=name or DEFAULT_NAME,
        description=description,
    )
    return [AssistantCreated(assistant_id=assistant_id, tenant=tenant, **fields)]


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
    for field_name, value in (("config", config), ("context", context), ("metadata", metadata)):
        if value is not None:
            require_json(field_name, value)
    config, context = merge_context(state.config, state.context, config=config, context=context)
    fields = _validated(
        graph_id=graph_id if graph_id is not None else state.graph_id,
        config=config,
        context=context,
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
            tenant=(
                event.tenant
                if event.tenant is not None
                else legacy_tenant(event.assistant_id, event.graph_id)
            ),
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
