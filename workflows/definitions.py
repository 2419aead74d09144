"""Workflow definitions: a DAG of jobs, read from YAML or JSON and checked whole. Pure.

The format is workflow-graph's, which is GitHub Actions' (docs/workflows.md)::

    name: CI
    on: push
    env: {GLOBAL: value}
    jobs:
      test:
        run: pytest
        retries: 2
        backoff: {exponential: {base: 1, max: 60}}
      build:
        needs: test
        runs-on: [linux]
        timeout-minutes: 10
        if: ${{ success() }}
        steps:
          - {name: Build, run: make}
      summarize:
        needs: [build]
        if: always()
        agent: {assistant: chat, input: {messages: [...]}}

Where the original accepted a definition that could never run, this module refuses it, naming
the field (reference §10): cycles, duplicate job ids (YAML and JSON both keep the last of
duplicate keys, silently), unknown keys (a typo such as ``need:`` used to be dropped), and
``timeout``/``if`` are enforced rather than parsed and ignored.

YAML is read with the YAML 1.2 core schema, as GitHub does, not PyYAML's YAML 1.1: a bare
``on`` key stays the string ``"on"`` (1.1 reads it as ``True``), ``yes``/``no``/``off`` stay
strings, ``2024-01-01`` stays a string rather than a date, ``22:22`` is not the base-60 number
1342, and ``010`` is ten.

Everything here is a frozen value; the only way in that checks a definition is :func:`parse`,
:func:`parse_document` or :func:`from_runtime_json` (constructing the dataclasses directly skips
validation).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

import yaml

from workflows import conditions

#: A job id: it appears in paths (``jobs.<id>.needs``), URLs and the original's worker
#: protocol, so no dots, slashes or spaces.
JOB_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
#: An environment variable name: it is written unquoted into ``export NAME=...``.
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: How many values a YAML document may hold once its aliases are expanded: nine levels of
#: ten aliases each make a billion ("billion laughs"); a real workflow is far below this.
MAX_VALUES = 100_000
BACKOFF_STRATEGIES = ("none", "fixed", "exponential")

_WORKFLOW_KEYS = ("name", "on", "env", "jobs")
_JOB_KEYS = (
    "name",
    "run",
    "steps",
    "agent",
    "needs",
    "labels",
    "runs-on",
    "retries",
    "backoff",
    "env",
    "timeout",
    "timeout-minutes",
    "if",
)
_STEP_KEYS = ("name", "id", "run", "env")
_AGENT_KEYS = ("assistant", "input")
_EXPONENTIAL_KEYS = ("base", "max")
#: GitHub Actions keys people will write, and why they are refused rather than ignored.
_UNSUPPORTED = {
    "strategy": "matrix builds are not supported",
    "uses": "actions and reusable workflows are not supported; use run or steps",
    "with": "actions are not supported; use env",
    "services": "service containers are not supported",
    "container": "containers are not supported; use labels to pick a worker",
    "outputs": "outputs are not declared: a job publishes them from its worker",
    "continue-on-error": "not supported; use if: always() on the jobs that follow",
    "permissions": "not supported",
    "concurrency": "not supported",
    "defaults": "not supported",
    "environment": "not supported",
}
_UNSUPPORTED_IN_STEPS = {
    **_UNSUPPORTED,
    "if": "step conditions are not supported; a failing step stops the job",
}


class DefinitionError(ValueError):
    """A definition that cannot run, and the field that makes it so.

    ``field`` is a path into the document (``jobs.build.needs[0]``); ``"definition"`` stands
    for the document itself (not YAML/JSON, not a mapping). ``str(error)`` is
    ``"<field>: <message>"``.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        # The default would call DefinitionError("<field>: <message>") and fail to unpickle.
        return (type(self), (self.field, self.message))


class _FrozenDict(dict):
    """A dict that refuses changes: the env mappings of frozen definitions.

    A ``dict`` subclass rather than a ``MappingProxyType`` so that ``json.dumps`` and orjson
    serialize it as they are, and hashable so that jobs (frozen dataclasses) are.
    """

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("a workflow definition cannot be changed")

    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(self.items()))

    def __copy__(self) -> _FrozenDict:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> _FrozenDict:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (_FrozenDict, (dict(self),))


_NO_ENV: Mapping[str, str] = _FrozenDict()


@dataclass(frozen=True)
class Backoff:
    """How long a job waits before a retry (workflow-graph's ``RetryPolicy.backoff``)."""

    #: One of :data:`BACKOFF_STRATEGIES`.
    strategy: str = "none"
    #: The delay of ``fixed``; the base of ``exponential``.
    seconds: float = 0.0
    #: The cap of ``exponential``.
    max_seconds: float = 300.0

    def __post_init__(self) -> None:
        if self.strategy not in BACKOFF_STRATEGIES:
            raise ValueError(
                f"strategy {self.strategy!r} is not one of {', '.join(BACKOFF_STRATEGIES)}"
            )
        for name in ("seconds", "max_seconds"):
            value = getattr(self, name)
            if not _is_number(value) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")

    def delay(self, attempt: int) -> float:
        """Seconds to wait before *attempt* starts.

        Exponential doubles from the first retry on, as the original's ``B * 2**n`` with ``n``
        the 1-based retry number: the first retry waits ``2 * seconds``.

        Args:
            attempt: The 1-based number of the attempt about to run: 2 for the first retry.

        Returns:
            0 for ``none``; ``seconds`` for ``fixed``;
            ``min(seconds * 2 ** (attempt - 1), max_seconds)`` for ``exponential``.

        Raises:
            ValueError: *attempt* is below 1.
        """
        if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
            raise ValueError(f"attempt must be an int >= 1, not {attempt!r}")
        if self.strategy == "fixed":
            return float(self.seconds)
        if self.strategy == "exponential":
            # Past 2**1024 a float overflows; the cap has long been reached by then.
            if attempt - 1 >= 1024:
                return float(self.max_seconds) if self.seconds else 0.0
            return float(min(self.seconds * 2 ** (attempt - 1), self.max_seconds))
        return 0.0

    def as_document(self) -> str | dict[str, Any]:
        """The YAML/JSON form: ``"none"``, ``{"fixed": s}`` or ``{"exponential": {...}}``."""
        if self.strategy == "fixed":
            return {"fixed": _number(self.seconds)}
        if self.strategy == "exponential":
            return {
                "exponential": {"base": _number(self.seconds), "max": _number(self.max_seconds)}
            }
        return "none"


@dataclass(frozen=True)
class Step:
    """One step of a job's script: a banner, its env exports, its command."""

    name: str | None
    id: str | None
    run: str
    env: Mapping[str, str] = _NO_ENV

    def as_document(self) -> dict[str, Any]:
        document: dict[str, Any] = {}
        if self.name is not None:
            document["name"] = self.name
        if self.id is not None:
            document["id"] = self.id
        document["run"] = self.run
        if self.env:
            document["env"] = dict(self.env)
        return document


@dataclass(frozen=True)
class AgentCall:
    """A job that starts an agent run instead of a shell command."""

    #: An assistant id or a graph name.
    assistant: str
    #: The run's input, a JSON value (a plain copy of what the definition held). Not part of
    #: the hash: JSON objects are dicts.
    input: Any = field(default=None, hash=False)

    def as_document(self) -> dict[str, Any]:
        document: dict[str, Any] = {"assistant": self.assistant}
        if self.input is not None:
            document["input"] = self.input
        return document


@dataclass(frozen=True)
class Job:
    """A node of the DAG. Exactly one of ``run``, ``steps`` and ``agent`` is set."""

    id: str
    #: Display name; the id when the definition gives none.
    name: str
    run: str | None = None
    steps: tuple[Step, ...] = ()
    agent: AgentCall | None = None
    #: Ids of the jobs that must be final before this one is considered, in the order written.
    needs: tuple[str, ...] = ()
    #: Worker labels the job requires (all of them: a subset match).
    labels: tuple[str, ...] = ()
    #: How many times a failed attempt is retried (0: never).
    retries: int = 0
    backoff: Backoff = field(default_factory=Backoff)
    env: Mapping[str, str] = _NO_ENV
    timeout_seconds: float | None = None
    #: The ``if`` expression as written (:mod:`workflows.conditions`).
    condition: str = conditions.DEFAULT

    @property
    def kind(self) -> str:
        """``"agent"`` for an agent job, ``"shell"`` for ``run`` and ``steps``."""
        return "agent" if self.agent is not None else "shell"

    def should_run(self, *, needs: Sequence[str], cancelled: bool) -> bool:
        """Whether the job runs once its needs are final (its ``if``, evaluated).

        Args:
            needs: The final status of each direct need, in any order.
            cancelled: Whether the run was cancelled.

        Raises:
            ValueError: A status is not final (see :meth:`conditions.Condition.evaluate`).
        """
        return conditions.parse(self.condition).evaluate(needs=needs, cancelled=cancelled)

    def command(self, workflow_env: Mapping[str, str]) -> str | None:
        """The shell script a worker runs with ``sh -c``, compiled as the reference does.

        ``export K='v'`` for the workflow's env then the job's (values single-quoted, so a
        value is never expanded), then the ``run`` command; or, for steps, each step as
        ``export ... && echo '=== <name|id|step N> ===' && <run>``, all joined with ``&&`` so
        that a failing step stops the job. Two departures from the reference, both only where
        its output was broken: the banner is quoted like any value (a ``'`` in a step name
        used to break the script), and a step's command that is not one plain line (a
        newline, ``;``, ``&``, ``|`` or ``#`` in it) is grouped in ``{ ...\\n}``, because
        ``a || b`` or ``a; b`` after ``&&`` would run ``b`` after a failed earlier step, and
        a trailing ``# comment`` would swallow the steps after it. Step env is exported in the
        same shell, so it stays set for the steps after it, as in the reference.

        Args:
            workflow_env: The workflow's ``env``.

        Returns:
            The script, or None for an agent job.
        """
        if self.agent is not None:
            return None
        parts = [_export(name, value) for name, value in workflow_env.items()]
        parts += [_export(name, value) for name, value in self.env.items()]
        if self.steps:
            for number, step in enumerate(self.steps, start=1):
                banner = f"=== {step.name or step.id or f'step {number}'} ==="
                parts += [_export(name, value) for name, value in step.env.items()]
                parts.append(f"echo {shell_quote(banner)}")
                parts.append(_step_script(step.run))
        else:
            assert self.run is not None, "a shell job has run or steps"
            parts.append(self.run.strip())
        return " && ".join(parts)

    def as_document(self) -> dict[str, Any]:
        """The job's entry under ``jobs``, canonical: defaults left out, ``labels`` for
        ``runs-on``, ``timeout`` in seconds for ``timeout-minutes``."""
        document: dict[str, Any] = {}
        if self.name != self.id:
            document["name"] = self.name
        if self.agent is not None:
            document["agent"] = self.agent.as_document()
        elif self.steps:
            document["steps"] = [step.as_document() for step in self.steps]
        else:
            document["run"] = self.run
        if self.needs:
            document["needs"] = list(self.needs)
        if self.labels:
            document["labels"] = list(self.labels)
        if self.retries:
            document["retries"] = self.retries
        if self.backoff.strategy != "none":
            document["backoff"] = self.backoff.as_document()
        if self.env:
            document["env"] = dict(self.env)
        if self.timeout_seconds is not None:
            document["timeout"] = _number(self.timeout_seconds)
        if self.condition != conditions.DEFAULT:
            document["if"] = self.condition
        return document


@dataclass(frozen=True)
class Workflow:
    """A checked definition: jobs in file order, every need known, no cycle."""

    name: str
    #: Display text of the trigger: ``push``, ``push, pull_request`` (a list, or a map's keys).
    on: str
    env: Mapping[str, str]
    jobs: tuple[Job, ...]
    _by_id: dict[str, Job] = field(init=False, repr=False, compare=False, hash=False)
    _dependents: dict[str, tuple[str, ...]] = field(
        init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {job.id: job for job in self.jobs})
        dependents: dict[str, list[str]] = {job.id: [] for job in self.jobs}
        for job in self.jobs:
            for need in job.needs:
                dependents.setdefault(need, []).append(job.id)
        object.__setattr__(
            self, "_dependents", {job_id: tuple(ids) for job_id, ids in dependents.items()}
        )

    def job(self, job_id: str) -> Job:
        """The job with this id.

        Raises:
            KeyError: No such job.
        """
        return self._by_id[job_id]

    def roots(self) -> tuple[str, ...]:
        """Ids of the jobs without needs, in file order: what a run starts with."""
        return tuple(job.id for job in self.jobs if not job.needs)

    def dependents(self, job_id: str) -> tuple[str, ...]:
        """Ids of the jobs that need *job_id* directly, in file order.

        Raises:
            KeyError: No such job.
        """
        self.job(job_id)
        return self._dependents[job_id]

    def downstream(self, job_id: str) -> tuple[str, ...]:
        """Ids of every job that needs *job_id*, directly or not, in file order (the jobs a
        failure skips). Never *job_id* itself: a workflow has no cycle.

        Raises:
            KeyError: No such job.
        """
        return self._reachable(job_id, lambda current: self._dependents[current])

    def upstream(self, job_id: str) -> tuple[str, ...]:
        """Ids of every job *job_id* needs, directly or not, in file order.

        Raises:
            KeyError: No such job.
        """
        return self._reachable(job_id, lambda current: self._by_id[current].needs)

    def _reachable(self, job_id: str, edges: Any) -> tuple[str, ...]:
        self.job(job_id)
        reached: set[str] = set()
        pending = [job_id]
        while pending:
            for following in edges(pending.pop()):
                if following not in reached:
                    reached.add(following)
                    pending.append(following)
        return tuple(job.id for job in self.jobs if job.id in reached)

    def as_document(self) -> dict[str, Any]:
        """The definition as a JSON-able dict that :func:`parse_document` reads back to an
        equal workflow: what is stored as a version. Canonical: defaults are left out and
        ``on`` is its display text (a trigger map's values are not kept; triggers are
        display only)."""
        document: dict[str, Any] = {"name": self.name, "on": self.on}
        if self.env:
            document["env"] = dict(self.env)
        document["jobs"] = {job.id: job.as_document() for job in self.jobs}
        return document


def shell_quote(value: str) -> str:
    """*value* in single quotes, for ``sh``: nothing inside is expanded (the reference's
    ``shell_quote``: ``it's`` becomes ``'it'\\''s'``)."""
    return "'" + value.replace("'", "'\\''") + "'"


def _export(name: str, value: str) -> str:
    return f"export {name}={shell_quote(value)}"


_PLAIN_LINE = re.compile(r"[^\n;&|#]*")


def _step_script(run: str) -> str:
    script = run.strip()
    if _PLAIN_LINE.fullmatch(script):
        return script
    return "{ " + script + "\n}"


# Reading text ------------------------------------------------------------------------------


def parse(text: str, *, filename: str | None = None) -> Workflow:
    """Read and check a definition written as YAML or JSON.

    The format comes from *filename*'s extension (``.json``; ``.yml``/``.yaml``), else from
    the text: JSON when it starts with ``{``, YAML otherwise (the reference's rule). Duplicate
    keys are refused in both, as anywhere else they would silently keep the last.

    Args:
        text: The definition.
        filename: Where it was read from, if anywhere; only its extension is used.

    Returns:
        The checked workflow.

    Raises:
        DefinitionError: The text is not valid YAML/JSON (field ``"definition"``, with the
            parser's message), has a duplicate key, or does not define a runnable workflow.
    """
    if not isinstance(text, str):
        raise DefinitionError("definition", f"must be text, not {type(text).__name__}")
    extension = PurePath(filename).suffix.lower() if filename else ""
    if extension == ".json" or (
        extension not in (".yml", ".yaml") and text.lstrip().startswith("{")
    ):
        document = _decode_json(text)
    else:
        document = _decode_yaml(text)
    return parse_document(document)


def _decode_json(text: str) -> Any:
    def refuse_constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        pairs = json.loads(text, object_pairs_hook=_JsonObject, parse_constant=refuse_constant)
    except ValueError as error:
        raise DefinitionError("definition", f"invalid JSON: {error}") from None
    except RecursionError:
        raise DefinitionError("definition", "invalid JSON: nested too deeply") from None
    return _without_duplicates(pairs, "")


class _JsonObject(list):
    """A JSON object as the decoder read it: its (key, value) pairs, duplicates included."""


def _without_duplicates(value: Any, at: str) -> Any:
    if isinstance(value, _JsonObject):
        # This object's keys first, then its values: the order the YAML check takes too.
        seen: set[str] = set()
        for key, _item in value:
            if key in seen:
                raise DefinitionError(_join(at, key), _duplicate(at, key))
            seen.add(key)
        return {key: _without_duplicates(item, _join(at, key)) for key, item in value}
    if isinstance(value, list):
        return [_without_duplicates(item, f"{at}[{index}]") for index, item in enumerate(value)]
    return value


def _duplicate(at: str, key: Any) -> str:
    return f"duplicate job id {key!r}" if at == "jobs" else f"duplicate key {key!r}"


_BOOL_TAG = "tag:yaml.org,2002:bool"
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_MERGE_TAG = "tag:yaml.org,2002:merge"
# The YAML 1.1 resolvers replaced by YAML 1.2 core ones (bool, int, float), or dropped:
# timestamps (dates are not JSON) and ``=`` (a 1.1 "value" key nobody can construct).
_YAML_11_ONLY = {
    _BOOL_TAG,
    _INT_TAG,
    _FLOAT_TAG,
    "tag:yaml.org,2002:timestamp",
    "tag:yaml.org,2002:value",
}


class _YamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader with the YAML 1.2 core schema's scalars (see the module docstring)."""

    yaml_implicit_resolvers = {
        first: [(tag, pattern) for tag, pattern in resolvers if tag not in _YAML_11_ONLY]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_yaml_int_12(self, node: yaml.ScalarNode) -> int:
        text = str(self.construct_scalar(node))
        try:
            if text.startswith("0o"):
                return int(text[2:], 8)
            if text.startswith("0x"):
                return int(text[2:], 16)
            return int(text, 10)
        except ValueError:
            raise yaml.constructor.ConstructorError(
                None, None, f"{text!r} is not an integer", node.start_mark
            ) from None

    def construct_yaml_float_12(self, node: yaml.ScalarNode) -> float:
        text = str(self.construct_scalar(node))
        special = {".inf": math.inf, "+.inf": math.inf, "-.inf": -math.inf, ".nan": math.nan}
        if text.lower() in special:
            return special[text.lower()]
        try:
            return float(text)
        except ValueError:
            raise yaml.constructor.ConstructorError(
                None, None, f"{text!r} is not a number", node.start_mark
            ) from None


# Resolvers are tried in the order added: int before float, so that ``10`` is an int.
_YamlLoader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_YamlLoader.add_implicit_resolver(
    _INT_TAG, re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789")
)
_YamlLoader.add_implicit_resolver(
    _FLOAT_TAG,
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)
_YamlLoader.add_constructor(_INT_TAG, _YamlLoader.construct_yaml_int_12)
_YamlLoader.add_constructor(_FLOAT_TAG, _YamlLoader.construct_yaml_float_12)


def _decode_yaml(text: str) -> Any:
    loader = _YamlLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_yaml_nodes(node)
        return loader.construct_document(node)
    except yaml.YAMLError as error:
        raise DefinitionError("definition", f"invalid YAML: {error}") from None
    except RecursionError:
        raise DefinitionError("definition", "invalid YAML: nested too deeply") from None
    finally:
        loader.dispose()


def _check_yaml_nodes(root: yaml.Node) -> None:
    """Refuse duplicate keys, and documents whose aliases expand past :data:`MAX_VALUES`.

    On the composed nodes, before anything is built: that is where the keys are still all
    there (building a dict keeps the last), and where an alias is still one node however
    often it is used.
    """
    budget = MAX_VALUES
    pending: list[tuple[yaml.Node, str]] = [(root, "")]
    while pending:
        node, at = pending.pop()
        budget -= 1
        if budget < 0:
            raise DefinitionError(
                "definition", f"more than {MAX_VALUES} values once its YAML aliases are expanded"
            )
        children: list[tuple[yaml.Node, str]] = []
        if isinstance(node, yaml.MappingNode):
            seen: set[tuple[str, str]] = set()
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE_TAG:  # ``<<: *base``: the merged keys may repeat
                    children.append((value_node, at))
                    continue
                if not isinstance(key_node, yaml.ScalarNode):
                    children.append((value_node, _join(at, "?")))
                    continue
                key = key_node.value
                if (key_node.tag, key) in seen:
                    raise DefinitionError(_join(at, key), _duplicate(at, key))
                seen.add((key_node.tag, key))
                children.append((value_node, _join(at, key)))
        elif isinstance(node, yaml.SequenceNode):
            children = [(item, f"{at}[{index}]") for index, item in enumerate(node.value)]
        pending.extend(reversed(children))


# Checking a document -------------------------------------------------------------------------


def parse_document(document: Any) -> Workflow:
    """Check a decoded definition (the API's JSON body, a YAML file's data).

    Problems are looked for in a fixed order and the first one found is raised: the document
    and its top-level keys, ``name``, ``on``, ``env``, ``jobs`` (its shape, then every job id,
    then each job in file order: unknown keys, name, run/steps/agent, needs, labels, retries,
    backoff, env, timeout, if), and last cycles. A decoded dict cannot show duplicate keys
    any more: give :func:`parse` the raw text to have them refused.

    Args:
        document: A mapping, as JSON or YAML decode it.

    Returns:
        The checked workflow. It holds copies: changing *document* later changes nothing.

    Raises:
        DefinitionError: The first problem found, naming its field.
    """
    try:
        return _workflow(document)
    except RecursionError:
        raise DefinitionError("definition", "nested too deeply") from None


def _workflow(document: Any) -> Workflow:
    if isinstance(document, Mapping) and True in document and "on" not in document:
        raise DefinitionError(
            "on",
            "the key was read as true, as YAML 1.1 reads a bare `on`: "
            "read the text with workflows.definitions.parse, or quote the key",
        )
    document = _mapping(document, "definition", "name, on, env and jobs")
    _refuse_unknown_keys(document, _WORKFLOW_KEYS, "", "a workflow")
    name = _text(_required(document, "name", ""), "name")
    on = _trigger(_required(document, "on", ""), "on")
    env = _env(document["env"], "env") if "env" in document else _NO_ENV
    jobs_document = _mapping(_required(document, "jobs", ""), "jobs", "job ids to jobs")
    if not jobs_document:
        raise DefinitionError("jobs", "a workflow needs at least one job")
    for job_id in jobs_document:
        if not JOB_ID.fullmatch(job_id):
            raise DefinitionError(
                _join("jobs", job_id),
                f"job id {job_id!r} must start with a letter or _ and hold only letters, "
                f"digits, _ and -",
            )
    jobs = tuple(_job(job_id, body, jobs_document.keys()) for job_id, body in jobs_document.items())
    cycle = _find_cycle(jobs)
    if cycle:
        raise DefinitionError(f"jobs.{cycle[0]}.needs", "cycle " + " -> ".join(cycle))
    return Workflow(name=name, on=on, env=env, jobs=jobs)


def _job(job_id: str, body: Any, job_ids: Any) -> Job:
    at = f"jobs.{job_id}"
    body = _mapping(body, at, "a job's keys to their values")
    _refuse_unknown_keys(body, _JOB_KEYS, at, "a job")
    name = _text(body["name"], f"{at}.name") if "name" in body else job_id

    kinds = [kind for kind in ("run", "steps", "agent") if kind in body]
    if not kinds:
        raise DefinitionError(at, "a job must have either 'run' or 'steps' (or 'agent')")
    if len(kinds) > 1:
        raise DefinitionError(
            at, f"a job has one of run, steps and agent, not {' and '.join(kinds)}"
        )
    run = _text(body["run"], f"{at}.run") if "run" in body else None
    steps = _steps(body["steps"], f"{at}.steps") if "steps" in body else ()
    agent = _agent(body["agent"], f"{at}.agent") if "agent" in body else None

    needs = _needs(body["needs"], f"{at}.needs", job_id, job_ids) if "needs" in body else ()
    if "labels" in body and "runs-on" in body:
        raise DefinitionError(f"{at}.runs-on", "give labels or runs-on, not both")
    labels: tuple[str, ...] = ()
    for key in ("labels", "runs-on"):
        if key in body:
            labels = _names(body[key], f"{at}.{key}", "label")
    retries = _retries(body["retries"], f"{at}.retries") if "retries" in body else 0
    backoff = _backoff(body["backoff"], f"{at}.backoff") if "backoff" in body else Backoff()
    env = _NO_ENV
    if "env" in body:
        if agent is not None:
            raise DefinitionError(
                f"{at}.env", "env is for shell jobs (run, steps); an agent job takes agent.input"
            )
        env = _env(body["env"], f"{at}.env")
    timeout_seconds = _timeout(body, at)
    condition = conditions.DEFAULT
    if "if" in body:
        condition = _condition(body["if"], f"{at}.if")
    return Job(
        id=job_id,
        name=name,
        run=run,
        steps=steps,
        agent=agent,
        needs=needs,
        labels=labels,
        retries=retries,
        backoff=backoff,
        env=env,
        timeout_seconds=timeout_seconds,
        condition=condition,
    )


def _steps(value: Any, at: str) -> tuple[Step, ...]:
    if not isinstance(value, list | tuple) or not value:
        raise DefinitionError(at, "must be a non-empty list of steps")
    steps = []
    for index, item in enumerate(value):
        step_at = f"{at}[{index}]"
        item = _mapping(item, step_at, "a step's keys (name, id, run, env)")
        _refuse_unknown_keys(item, _STEP_KEYS, step_at, "a step", _UNSUPPORTED_IN_STEPS)
        name = _text(item["name"], f"{step_at}.name") if "name" in item else None
        step_id = _text(item["id"], f"{step_at}.id") if "id" in item else None
        run = _text(_required(item, "run", step_at), f"{step_at}.run")
        env = _env(item["env"], f"{step_at}.env") if "env" in item else _NO_ENV
        steps.append(Step(name=name, id=step_id, run=run, env=env))
    return tuple(steps)


def _agent(value: Any, at: str) -> AgentCall:
    value = _mapping(value, at, "assistant and input")
    _refuse_unknown_keys(value, _AGENT_KEYS, at, "an agent call")
    assistant = _text(_required(value, "assistant", at), f"{at}.assistant")
    payload = _json_value(value["input"], f"{at}.input") if "input" in value else None
    return AgentCall(assistant=assistant, input=payload)


def _needs(value: Any, at: str, job_id: str, job_ids: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        entries: list[tuple[str, Any]] = [(at, value)]
    elif isinstance(value, list | tuple):
        entries = [(f"{at}[{index}]", item) for index, item in enumerate(value)]
    else:
        raise DefinitionError(at, f"must be a job id or a list of job ids, not {_kind(value)}")
    needs: list[str] = []
    for entry_at, need in entries:
        if not isinstance(need, str):
            raise DefinitionError(entry_at, f"must be a job id, not {_kind(need)}")
        if need == job_id:
            raise DefinitionError(entry_at, f"cycle {job_id} -> {job_id}: a job cannot need itself")
        if need not in job_ids:
            raise DefinitionError(entry_at, f"job '{job_id}' needs '{need}', which doesn't exist")
        if need in needs:
            raise DefinitionError(entry_at, f"'{need}' is already needed")
        needs.append(need)
    return tuple(needs)


def _find_cycle(jobs: Sequence[Job]) -> list[str] | None:
    """The first cycle of ``needs`` edges, as a path ``[a, b, ..., a]`` where each job needs
    the next; None when there is none.

    A depth-first search from each job in file order, following needs in the order written,
    so the cycle reported is always the same one. Iterative: a chain of thousands of jobs
    must not reach Python's recursion limit.
    """
    needs = {job.id: job.needs for job in jobs}
    done: set[str] = set()
    for job in jobs:
        if job.id in done:
            continue
        path = [job.id]
        on_path = {job.id}
        iterators: list[Iterator[str]] = [iter(needs[job.id])]
        while iterators:
            need = next(iterators[-1], None)
            if need is None:
                finished = path.pop()
                on_path.discard(finished)
                done.add(finished)
                iterators.pop()
            elif need in on_path:
                return path[path.index(need) :] + [need]
            elif need not in done:
                path.append(need)
                on_path.add(need)
                iterators.append(iter(needs[need]))
    return None


def _names(value: Any, at: str, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        entries: list[tuple[str, Any]] = [(at, value)]
    elif isinstance(value, list | tuple):
        entries = [(f"{at}[{index}]", item) for index, item in enumerate(value)]
    else:
        raise DefinitionError(at, f"must be a {what} or a list of {what}s, not {_kind(value)}")
    names: list[str] = []
    for entry_at, name in entries:
        name = _text(name, entry_at)
        if name in names:
            raise DefinitionError(entry_at, f"{what} {name!r} is listed twice")
        names.append(name)
    return tuple(names)


def _retries(value: Any, at: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DefinitionError(at, f"must be an integer >= 0, not {value!r}")
    return value


def _backoff(value: Any, at: str) -> Backoff:
    shapes = "none, {fixed: <seconds>} or {exponential: {base: <seconds>, max: <seconds>}}"
    if value == "none":
        return Backoff()
    if not isinstance(value, Mapping) or len(value) != 1:
        raise DefinitionError(at, f"must be {shapes}, not {value!r}")
    ((strategy, parameters),) = value.items()
    if strategy == "fixed":
        return Backoff("fixed", _seconds(parameters, f"{at}.fixed", zero_allowed=True))
    if strategy == "exponential":
        exponential_at = f"{at}.exponential"
        parameters = _mapping(parameters, exponential_at, "base and max")
        _refuse_unknown_keys(parameters, _EXPONENTIAL_KEYS, exponential_at, "exponential")
        base = _seconds(_required(parameters, "base", exponential_at), f"{exponential_at}.base")
        cap = Backoff.max_seconds
        if "max" in parameters:
            cap = _seconds(parameters["max"], f"{exponential_at}.max")
            if cap < base:
                raise DefinitionError(f"{exponential_at}.max", f"must be >= base ({base:g})")
        return Backoff("exponential", base, cap)
    raise DefinitionError(f"{at}.{strategy}", f"unknown backoff; must be {shapes}")


def _timeout(body: Mapping[str, Any], at: str) -> float | None:
    if "timeout" in body and "timeout-minutes" in body:
        raise DefinitionError(f"{at}.timeout-minutes", "give timeout or timeout-minutes, not both")
    if "timeout" in body:
        return _seconds(body["timeout"], f"{at}.timeout")
    if "timeout-minutes" in body:
        return _seconds(body["timeout-minutes"], f"{at}.timeout-minutes") * 60
    return None


def _seconds(value: Any, at: str, *, zero_allowed: bool = False) -> float:
    if (
        not _is_number(value)
        or not math.isfinite(value)
        or value < 0
        or (value == 0 and not zero_allowed)
    ):
        bound = ">= 0" if zero_allowed else "> 0"
        raise DefinitionError(at, f"must be a number {bound}, not {value!r}")
    return float(value)


def _condition(value: Any, at: str) -> str:
    # ``if: true`` is a YAML boolean; GitHub accepts it as the expression ``true``.
    text = ("true" if value else "false") if isinstance(value, bool) else value
    try:
        return conditions.parse(text).source
    except ValueError as error:
        raise DefinitionError(at, str(error)) from None


def _trigger(value: Any, at: str) -> str:
    if isinstance(value, str):
        return _text(value, at)
    if isinstance(value, list | tuple) and value:
        return ", ".join(_text(item, f"{at}[{index}]") for index, item in enumerate(value))
    if isinstance(value, Mapping) and value:
        return ", ".join(_text(key, at) for key in _mapping(value, at, "events").keys())
    raise DefinitionError(
        at, f"must be an event, a list of events or a map of events, not {value!r}"
    )


def _env(value: Any, at: str) -> Mapping[str, str]:
    value = _mapping(value, at, "variable names to values")
    env = {}
    for name, item in value.items():
        if not ENV_NAME.fullmatch(name):
            raise DefinitionError(
                _join(at, name),
                f"{name!r} is not a variable name (letters, digits and _, not first a digit)",
            )
        if isinstance(item, bool):
            env[name] = "true" if item else "false"
        elif isinstance(item, str | int | float):
            env[name] = str(item)
        else:
            raise DefinitionError(
                _join(at, name), f"must be a string, number or boolean, not {_kind(item)}"
            )
    return _FrozenDict(env)


def _json_value(value: Any, at: str) -> Any:
    """A plain copy of *value* (dicts, lists, str, int, float, bool, None), or the error that
    says which part is not JSON."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise DefinitionError(at, f"{value!r} is not JSON")
        return value
    if isinstance(value, list | tuple):
        return [_json_value(item, f"{at}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, Mapping):
        value = _mapping(value, at, "a JSON object")
        return {key: _json_value(item, _join(at, key)) for key, item in value.items()}
    raise DefinitionError(at, f"must be JSON, not {_kind(value)}")


# Small checks ---------------------------------------------------------------------------------


def _mapping(value: Any, at: str, expected: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise DefinitionError(at, f"must be a mapping of {expected}, not {_kind(value)}")
    for key in value:
        if not isinstance(key, str):
            raise DefinitionError(at, f"keys must be strings, not {_kind(key)} ({key!r})")
    return value


def _refuse_unknown_keys(
    value: Mapping[str, Any],
    known: Sequence[str],
    at: str,
    what: str,
    unsupported: Mapping[str, str] = _UNSUPPORTED,
) -> None:
    for key in value:
        if key not in known:
            reason = unsupported.get(key, f"{what} takes {', '.join(known)}")
            raise DefinitionError(_join(at, key), f"unknown key {key!r}: {reason}")


def _required(value: Mapping[str, Any], key: str, at: str) -> Any:
    if key not in value:
        raise DefinitionError(_join(at, key), "is required")
    return value[key]


def _text(value: Any, at: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DefinitionError(at, f"must be a non-empty string, not {value!r}")
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(value: float) -> int | float:
    """600.0 as 600 in documents: what people write, and equal once read back as a float."""
    return int(value) if float(value).is_integer() else value


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _join(at: str, key: str) -> str:
    return f"{at}.{key}" if at else str(key)


# The original's API body ------------------------------------------------------------------------

_RUNTIME_WORKFLOW_KEYS = ("id", "name", "trigger", "jobs")
#: The runtime Job JSON's fields that a definition carries, and what they are called here.
_RUNTIME_JOB_FIELDS = {
    "name": "name",
    "command": "run",
    "depends_on": "needs",
    "required_labels": "labels",
    "max_retries": "retries",
}
#: Fields of the runtime Job JSON that describe a run's state or the visual editor: a client
#: that posts back what ``GET /status`` returned sends them, and they define nothing.
_RUNTIME_STATE_FIELDS = (
    "status",
    "duration_secs",
    "started_at",
    "output",
    "attempt",
    "metadata",
    "ports",
    "children",
    "collapsed",
)


def from_runtime_json(body: Any) -> Workflow:
    """Read the body of workflow-graph's ``POST /api/workflows`` (reference §2, "Runtime Job
    JSON"): ``{name, trigger, jobs: [{id, name, command, depends_on, required_labels,
    max_retries, ...}]}``.

    ``command`` becomes ``run`` (a compiled script is run as it is), ``depends_on`` ``needs``,
    ``required_labels`` ``labels``, ``max_retries`` ``retries``, and ``trigger`` ``on`` without
    the original's ``on: `` prefix and brackets (``"on: [push, pull_request]"`` becomes
    ``"push, pull_request"``). A job's state fields (status, attempt, output...) are accepted
    and ignored; the workflow's ``id`` too (the server names workflows). The same checks as
    :func:`parse_document` apply, and errors name the body's own fields
    (``jobs[1].depends_on[0]``).

    Args:
        body: The decoded JSON body.

    Returns:
        The checked workflow.

    Raises:
        DefinitionError: The first problem found, naming its field in the body.
    """
    body = _mapping(body, "definition", "name, trigger and jobs")
    _refuse_unknown_keys(body, _RUNTIME_WORKFLOW_KEYS, "", "a workflow")
    name = _text(_required(body, "name", ""), "name")
    trigger = _text(_required(body, "trigger", ""), "trigger")
    jobs = _required(body, "jobs", "")
    if not isinstance(jobs, list | tuple):
        raise DefinitionError("jobs", f"must be a list of jobs, not {_kind(jobs)}")
    index_of: dict[str, int] = {}
    jobs_document: dict[str, Any] = {}
    for index, job in enumerate(jobs):
        at = f"jobs[{index}]"
        job = _mapping(job, at, "a job's fields")
        _refuse_unknown_keys(job, ("id", *_RUNTIME_JOB_FIELDS, *_RUNTIME_STATE_FIELDS), at, "a job")
        job_id = _text(_required(job, "id", at), f"{at}.id")
        if not JOB_ID.fullmatch(job_id):
            raise DefinitionError(
                f"{at}.id",
                f"job id {job_id!r} must start with a letter or _ and hold only "
                f"letters, digits, _ and -",
            )
        if job_id in index_of:
            raise DefinitionError(f"{at}.id", f"duplicate job id {job_id!r}")
        if job.get("children"):
            raise DefinitionError(f"{at}.children", "compound jobs (groups) are not supported")
        index_of[job_id] = index
        jobs_document[job_id] = {
            ours: job[theirs] for theirs, ours in _RUNTIME_JOB_FIELDS.items() if theirs in job
        }
    document = {"name": name, "on": _runtime_trigger(trigger), "jobs": jobs_document}
    try:
        return parse_document(document)
    except DefinitionError as error:
        raise DefinitionError(_runtime_field(error.field, index_of), error.message) from None


def _runtime_trigger(trigger: str) -> str:
    text = trigger.strip()
    if text.startswith("on:"):
        text = text[len("on:") :].strip()
        if text.startswith("[") and text.endswith("]"):
            text = text[1:-1].strip()
    return text or trigger


_OUR_JOB_FIELDS = {ours: theirs for theirs, ours in _RUNTIME_JOB_FIELDS.items()}


def _runtime_field(field: str, index_of: Mapping[str, int]) -> str:
    """A :func:`parse_document` field (``jobs.b.needs[0]``) as the body's
    (``jobs[1].depends_on[0]``). Job ids were checked first, so they hold no ``.`` or ``[``."""
    if field == "on":
        return "trigger"
    match = re.fullmatch(r"jobs\.([A-Za-z0-9_-]+)(?:\.([A-Za-z_-]+))?(.*)", field)
    if match is None or match.group(1) not in index_of:
        return field
    job_id, key, rest = match.groups()
    translated = f"jobs[{index_of[job_id]}]"
    if key is not None:
        translated += f".{_OUR_JOB_FIELDS.get(key, key)}"
    return translated + rest
