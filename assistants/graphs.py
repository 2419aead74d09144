"""The graph registry: which graphs this deployment runs, found the way ``langgraph dev`` finds them.

Sources, later ones winning on the same graph id:

1. ``langgraph.json`` in the working directory, or the file named by ``DURAGRAPH_CONFIG``:
   ``{"graphs": {"agent": "./path/file.py:graph"}, "env": ".env" | {...}, "dependencies": ["."]}``;
   file paths are relative to that file.
2. ``DURAGRAPH_GRAPHS`` (environment variable holding a JSON object, or the Django setting of the
   same name holding a dict): the same mapping; relative file paths are relative to the working
   directory.

A spec is ``"package.module:attr"`` or ``"path/to/file.py:attr"``. The attribute may be a compiled
graph, a ``StateGraph`` (compiled on load), or a factory taking zero arguments or a config.
Entries are validated when the registry is built; graphs are imported on first use.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import importlib.util
import inspect
import json
import logging
import os
import re
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
from django.conf import settings

from assistants import hooks
from duragraph_site import langgraph_config, user_code
from duragraph_site.errors import DuraGraphError, InvalidInput, NotFound

logger = logging.getLogger(__name__)

_SPEC = re.compile(r"^(?P<target>[^:]+):(?P<attr>[A-Za-z_][A-Za-z0-9_]*)$")
#: Configurable keys that are the server's business, not the graph's (as LangGraph hides them).
_HIDDEN_CONFIG_KEYS = {
    "thread_id",
    "checkpoint_id",
    "checkpoint_ns",
    "checkpoint_map",
    "run_id",
    "assistant_id",
    "graph_id",
}


class GraphLoadError(DuraGraphError):
    """The graph could not be imported."""

    status_code = 500
    code = "graph_load_error"


class RemoteSubgraphUnavailable(DuraGraphError):
    """A ``RemoteGraph`` subgraph's deployment did not answer (drawing it with ``xray`` asks
    that deployment for its graph): the fault is upstream, as a gateway's."""

    status_code = 502
    code = "remote_subgraph_unavailable"


@dataclass
class RegisteredGraph:
    """One graph of the registry: where it comes from, and the loaded object once imported."""

    graph_id: str
    #: ``module:attr`` or an absolute ``/path/file.py:attr``.
    spec: str
    local = True
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _value: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.graph_id or not isinstance(self.graph_id, str):
            raise ValueError(f"graph id must be a non-empty string, got {self.graph_id!r}")
        if not isinstance(self.spec, str) or not _SPEC.match(self.spec):
            raise ValueError(
                f"graph {self.graph_id!r}: spec {self.spec!r} must look like 'package.module:attr' or 'path/to/file.py:attr'"
            )

    @property
    def is_file(self) -> bool:
        return _SPEC.match(self.spec).group("target").endswith(".py")

    def load(self, config: dict[str, Any] | None = None) -> Any:
        """The compiled graph (a LangGraph ``Pregel``); factories are called with *config*."""
        value = self._import()
        if _is_graph(value):
            return value
        return _compile(_call_factory(value, config or {}), self.graph_id)

    def _import(self) -> Any:
        with self._lock:
            if self._value is None:
                self._value = self._import_attr()
            return self._value

    def _import_attr(self) -> Any:
        match = _SPEC.match(self.spec)
        target, attr = match.group("target"), match.group("attr")
        try:
            if target.endswith(".py"):
                module = user_code.file_module(target)
            else:
                module = importlib.import_module(target)
            value = getattr(module, attr)
        except Exception as error:  # noqa: BLE001 - any import-time failure of user code
            raise GraphLoadError(
                f"Graph {self.graph_id!r} could not be loaded from {self.spec}: {error!r}"
            ) from error
        value = _compile(value, self.graph_id) if _is_uncompiled(value) else value
        if not _is_graph(value) and not callable(value):
            raise GraphLoadError(
                f"Graph {self.graph_id!r}: {self.spec} is neither a graph nor a factory"
            )
        return value

    # -- introspection (LangGraph Platform's /assistants/{id}/graph, /schemas, /subgraphs) --------
    def drawable(
        self, config: dict[str, Any] | None = None, *, xray: bool | int = False
    ) -> dict[str, Any]:
        """Nodes and edges as LangGraph serializes them (``xray`` expands subgraphs)."""
        try:
            graph_json = self.load(config).get_graph(config=config, xray=xray).to_json()
        except NotImplementedError:
            raise InvalidInput("The graph does not support visualization") from None
        except httpx.HTTPError as error:
            raise RemoteSubgraphUnavailable(
                f"Graph {self.graph_id!r}: a remote subgraph's deployment did not answer "
                f"({error!r}); draw it without xray"
            ) from error
        for node in graph_json.get("nodes", []):
            if isinstance(node.get("data"), dict):
                node["data"].pop("id", None)
        return graph_json

    def schemas(self, config: dict[str, Any] | None = None) -> dict[str, Any]:
        return graph_schemas(self.load(config))

    def subgraphs(
        self,
        config: dict[str, Any] | None = None,
        *,
        namespace: str | None = None,
        recurse: bool = False,
    ) -> dict[str, Any]:
        graph = self.load(config)
        return {
            ns: graph_schemas(subgraph)
            for ns, subgraph in graph.get_subgraphs(namespace=namespace, recurse=recurse)
        }


def _is_graph(value: Any) -> bool:
    from langgraph.pregel import Pregel

    return isinstance(value, Pregel)


def _is_uncompiled(value: Any) -> bool:
    from langgraph.graph import StateGraph

    return isinstance(value, StateGraph)


def _compile(value: Any, graph_id: str) -> Any:
    if _is_uncompiled(value):
        value = value.compile()
    if not _is_graph(value):
        raise GraphLoadError(
            f"Graph {graph_id!r}: the factory returned {type(value).__name__}, not a graph"
        )
    return value


def _call_factory(factory: Any, config: dict[str, Any]) -> Any:
    takes_config = len(inspect.signature(factory).parameters) > 0
    result = factory(config) if takes_config else factory()
    if inspect.isawaitable(result):
        result = asyncio.run(result) if not _running_loop() else _await_in_thread(result)
    return result


def _running_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _await_in_thread(awaitable: Any) -> Any:
    box: dict[str, Any] = {}

    def run() -> None:
        box["value"] = asyncio.run(awaitable)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    return box["value"]


def graph_schemas(graph: Any) -> dict[str, Any]:
    """input/output/state/config/context JSON schemas of a compiled graph (None where it has none)."""

    def attempt(build: Any) -> dict | None:
        try:
            return build()
        except Exception:  # noqa: BLE001 - LangGraph raises assorted errors for unsupported types
            logger.warning(
                "could not build a schema for graph %s",
                getattr(graph, "name", graph),
                exc_info=True,
            )
            return None

    # Looked up inside attempt(): a subgraph may be a RemoteGraph (another deployment's graph),
    # which has no context schema method.
    return {
        "input_schema": attempt(lambda: graph.get_input_jsonschema()),
        "output_schema": attempt(lambda: graph.get_output_jsonschema()),
        "state_schema": attempt(lambda: _state_jsonschema(graph)),
        "config_schema": attempt(lambda: _configurable_jsonschema(graph)),
        "context_schema": attempt(lambda: graph.get_context_jsonschema()),
    }


def _state_jsonschema(graph: Any) -> dict:
    from pydantic import create_model

    fields: dict[str, Any] = {}
    for name in graph.stream_channels_list:
        update_type = graph.channels[name].UpdateType
        try:
            create_model(name, value=(update_type, None)).model_json_schema()
            fields[name] = (update_type, None)
        except Exception:  # noqa: BLE001 - types pydantic cannot describe
            fields[name] = (Any, None)
    return create_model(graph.get_name("State"), **fields).model_json_schema()


def _configurable_jsonschema(graph: Any) -> dict | None:
    from pydantic import TypeAdapter

    config_schema = graph.config_schema()
    model_fields = getattr(config_schema, "model_fields", None) or {}
    if "configurable" not in model_fields:
        return None
    schema = TypeAdapter(model_fields["configurable"].annotation).json_schema()
    for key in _HIDDEN_CONFIG_KEYS:
        schema.get("properties", {}).pop(key, None)
    return schema


# -- the registry --------------------------------------------------------------------------------
class Graph(Protocol):
    """What the API asks of a graph of the registry (:class:`RegisteredGraph`, or one the apps
    above find through ``hooks.graph_lookup``, such as a remote workers' graph)."""

    graph_id: str
    #: Whether this process can load and execute it.
    local: bool

    def drawable(
        self, config: dict[str, Any] | None = None, *, xray: bool | int = False
    ) -> Any: ...

    def schemas(self, config: dict[str, Any] | None = None) -> dict[str, Any]: ...

    def subgraphs(
        self,
        config: dict[str, Any] | None = None,
        *,
        namespace: str | None = None,
        recurse: bool = False,
    ) -> dict[str, Any]: ...

    def load(self, config: dict[str, Any] | None = None) -> Any: ...


class GraphRegistry:
    """Graph id -> graph: the local ones (langgraph.json, DURAGRAPH_GRAPHS) by this object,
    and the others through ``hooks.graph_lookup`` (remote workers' graphs, from ``workers``)."""

    def __init__(self, graphs: dict[str, RegisteredGraph]) -> None:
        self._graphs = graphs

    def ids(self) -> list[str]:
        """The local graphs (those this process can execute)."""
        return sorted(self._graphs)

    def __contains__(self, graph_id: object) -> bool:
        return graph_id in self._graphs or (
            isinstance(graph_id, str) and hooks.graph_lookup.first(graph_id=graph_id) is not None
        )

    def get(self, graph_id: str) -> Graph:
        """The graph, or NotFound with the message LangGraph gives."""
        if graph_id in self._graphs:
            return self._graphs[graph_id]
        if (elsewhere := hooks.graph_lookup.first(graph_id=graph_id)) is not None:
            return elsewhere
        raise NotFound(f"Graph '{graph_id}' not found. Expected one of: {self.ids()}")


def _absolute(spec: str, base: Path) -> str:
    target, attr = spec.rsplit(":", 1)
    if target.endswith(".py") and not Path(target).is_absolute():
        target = str((base / target).resolve())
    return f"{target}:{attr}"


def _apply_env(env: Any, base: Path) -> None:
    """langgraph.json's ``env``: a dotenv file or a mapping; never overrides the real environment."""
    values: dict[str, str] = {}
    if isinstance(env, dict):
        values = {str(k): str(v) for k, v in env.items()}
    elif isinstance(env, str):
        path = base / env
        if path.is_file():
            for line in path.read_text().splitlines():
                line = line.strip()
                if line and not line.startswith("#") and "=" in line:
                    key, _, value = line.partition("=")
                    values[key.strip().removeprefix("export ").strip()] = value.strip().strip("'\"")
    for key, value in values.items():
        os.environ.setdefault(key, value)


def _configured_graphs() -> dict[str, Any]:
    from_setting = getattr(settings, "DURAGRAPH_GRAPHS", None) or {}
    raw = os.environ.get("DURAGRAPH_GRAPHS", "")
    if raw:
        try:
            from_env = json.loads(raw)
        except json.JSONDecodeError as error:
            raise ValueError(
                f"DURAGRAPH_GRAPHS must be a JSON object mapping graph ids to specs: {error}"
            ) from None
        if not isinstance(from_env, dict):
            raise ValueError("DURAGRAPH_GRAPHS must be a JSON object mapping graph ids to specs")
        from_setting = {**from_setting, **from_env}
    return from_setting


def build_registry() -> GraphRegistry:
    """Read langgraph.json and DURAGRAPH_GRAPHS; raises ValueError naming any bad entry."""
    graphs: dict[str, RegisteredGraph] = {}
    config_file = langgraph_config.config_file()
    if config_file is not None:
        base = config_file.parent
        config = json.loads(config_file.read_text())
        _apply_env(config.get("env"), base)
        for dependency in config.get("dependencies", []):
            path = (base / dependency).resolve()
            if path.is_dir() and str(path) not in sys.path:
                sys.path.insert(0, str(path))
        for graph_id, spec in (config.get("graphs") or {}).items():
            spec = spec.get("path") if isinstance(spec, dict) else spec
            graphs[graph_id] = RegisteredGraph(
                graph_id, _absolute(spec, base) if isinstance(spec, str) else spec
            )
    for graph_id, spec in _configured_graphs().items():
        graphs[graph_id] = RegisteredGraph(
            graph_id, _absolute(spec, Path.cwd()) if isinstance(spec, str) else spec
        )
    return GraphRegistry(graphs)


@functools.cache
def registry() -> GraphRegistry:
    """The process-wide registry (built once)."""
    return build_registry()
