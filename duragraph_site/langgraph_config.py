"""Where ``langgraph.json`` is and what it names: one reader for the graph registry
(``assistants.graphs``), custom auth (``accounts.custom_auth``), the TTLs of the store and
of threads (:func:`ttl_config`), the store's semantic index (:func:`store_index`) and
``manage.py dev``.

The file is ``DURAGRAPH_CONFIG`` (environment, then settings) when set, else ``langgraph.json``
in the working directory, else there is none. It is read again when it changes.
"""

from __future__ import annotations

import functools
import json
import os
import re
from pathlib import Path
from typing import Any

from django.conf import settings

#: ``http``'s route groups that can be removed (``disable_<group>``), as LangGraph documents
#: them; ``meta`` is ``/openapi.json``, ``/docs``, ``/info`` and ``/metrics``;
#: ``event_streaming`` is protocol v2 (which ``disable_runs`` removes too: it creates runs).
HTTP_GROUPS = ("assistants", "threads", "runs", "store", "meta", "mcp", "a2a", "event_streaming")
#: ``http`` keys LangGraph documents that DuraGraph does not act on (``manage.py check`` warns):
#: the generative UI is not served (``disable_ui: true`` asks for no more, so it is not
#: warned about); request headers are not logged; authentication runs inside the API, after
#: any custom middleware (``middleware_order``'s default, the only order).
HTTP_NOT_HONOURED = frozenset({"logging_headers", "middleware_order", "disable_ui"})
#: The keys of ``store.ttl`` and ``checkpointer.ttl``, as LangGraph documents them.
TTL_KEYS = {
    "store": frozenset({"default_ttl", "refresh_on_read", "sweep_interval_minutes"}),
    "checkpointer": frozenset({"strategy", "default_ttl", "sweep_interval_minutes"}),
}
#: ``http.mount_prefix``: "/" then segments, none empty or a dot path.
_MOUNT_PREFIX = re.compile(r"(/(?!\.{1,2}(?:/|$))[A-Za-z0-9_.~\-]+)+")
#: The keys of ``http.configurable_headers`` (LangGraph reads the singulars too).
HEADER_PATTERN_KEYS = frozenset({"includes", "excludes", "include", "exclude"})
#: The keys of ``http.cors``, as LangGraph documents them (Starlette's CORSMiddleware's).
CORS_KEYS = frozenset(
    {
        "allow_origins",
        "allow_origin_regex",
        "allow_methods",
        "allow_headers",
        "allow_credentials",
        "expose_headers",
        "max_age",
    }
)
#: What ``"*"`` in ``http.cors.allow_methods`` stands for.
ALL_METHODS = ["DELETE", "GET", "OPTIONS", "PATCH", "POST", "PUT"]
#: The keys of ``store.index`` (semantic search), as LangGraph documents them.
INDEX_KEYS = frozenset({"dims", "embed", "fields"})


def config_file() -> Path | None:
    """The ``langgraph.json`` in effect; ValueError when ``DURAGRAPH_CONFIG`` names no file."""
    explicit = os.environ.get("DURAGRAPH_CONFIG") or getattr(settings, "DURAGRAPH_CONFIG", "")
    if explicit:
        path = Path(explicit).expanduser().resolve()
        if not path.is_file():
            raise ValueError(f"DURAGRAPH_CONFIG={explicit!r}: no such file")
        return path
    candidate = Path.cwd() / "langgraph.json"
    return candidate.resolve() if candidate.is_file() else None


def custom_auth_path(config: Path | None) -> str | None:
    """The ``auth.path`` that ``langgraph.json`` names (LangGraph custom auth), if any."""
    if config is None:
        return None
    try:
        auth = json.loads(config.read_text()).get("auth")
    except (OSError, ValueError, AttributeError):
        return None  # the graph registry reports a broken langgraph.json
    path = auth.get("path") if isinstance(auth, dict) else None
    return path if isinstance(path, str) and path else None


def section(name: str) -> dict[str, Any]:
    """The ``langgraph.json`` object under *name*; {} when there is no file or no such key."""
    path = config_file()
    if path is None:
        return {}
    stat = path.stat()
    value = _parsed(path, stat.st_mtime_ns, stat.st_size).get(name)
    return value if isinstance(value, dict) else {}


@functools.lru_cache(maxsize=4)
def _parsed(path: Path, _mtime_ns: int, _size: int) -> dict[str, Any]:
    """The file as JSON, read again when its time or size changes."""
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # the graph registry reports a broken langgraph.json
    return document if isinstance(document, dict) else {}


def ttl_config(name: str) -> dict[str, Any]:
    """``store.ttl`` or ``checkpointer.ttl`` (*name*), checked: ``default_ttl`` in minutes
    (null: never), ``refresh_on_read`` (the store's), ``sweep_interval_minutes``, and the
    checkpointer's ``strategy`` (``delete`` only). {} when not configured.

    Raises:
        ValueError: naming the key that is wrong (``manage.py check`` reports it at start).
    """
    ttl = section(name).get("ttl")
    if ttl is None:
        return {}
    where = f"langgraph.json {name}.ttl"
    _check_object(ttl, where, TTL_KEYS[name])
    for key in ("default_ttl", "sweep_interval_minutes"):
        value = ttl.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or value <= 0
        ):
            raise ValueError(f"{where}.{key}: a positive number of minutes, or null")
    if not isinstance(ttl.get("refresh_on_read", True), bool):
        raise ValueError(f"{where}.refresh_on_read: true or false")
    if ttl.get("strategy", "delete") != "delete":
        raise ValueError(f"{where}.strategy: 'delete' (the only strategy)")
    return dict(ttl)


def store_index() -> dict[str, Any]:
    """``store.index``, checked: ``dims`` (a positive integer), ``embed`` (``"./file.py:name"``,
    ``"package.module:name"`` or a LangChain provider string such as
    ``"openai:text-embedding-3-small"``) and ``fields`` (the JSON paths to embed, ``["$"]``,
    the whole value, when not given). {} when not configured.

    Raises:
        ValueError: naming the key that is wrong (``manage.py check`` reports it at start).
    """
    index = section("store").get("index")
    if index is None:
        return {}
    where = "langgraph.json store.index"
    _check_object(index, where, INDEX_KEYS)
    dims = index.get("dims")
    if isinstance(dims, bool) or not isinstance(dims, int) or dims <= 0:
        raise ValueError(f"{where}.dims: the embeddings' length, a positive integer")
    embed = index.get("embed")
    if not isinstance(embed, str) or ":" not in embed:
        raise ValueError(
            f"{where}.embed: './file.py:function', 'package.module:function' or a provider "
            "string like 'openai:text-embedding-3-small'"
        )
    fields = index.get("fields", ["$"])
    if (
        not isinstance(fields, list)
        or not fields
        or not all(isinstance(path, str) and path for path in fields)
    ):
        raise ValueError(f'{where}.fields: a non-empty list of JSON paths, e.g. ["text"]')
    return {"dims": dims, "embed": embed, "fields": fields}


def cors_settings(base_headers: list[str], base_exposed: list[str]) -> dict[str, Any]:
    """``http.cors`` as the django-cors-headers settings it replaces ({} when not set): each
    key given overrides its setting, the others keep theirs (``CORS_*`` variables). Headers a
    page may send or read are added to *base_headers* and *base_exposed* (what the SDKs need).

    Raises:
        ValueError: naming the key that is wrong (``manage.py check`` reports it at start).
    """
    cors = section("http").get("cors")
    if cors is None:
        return {}
    where = "langgraph.json http.cors"
    _check_object(cors, where, CORS_KEYS)
    for key in ("allow_origins", "allow_methods", "allow_headers", "expose_headers"):
        value = cors.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ValueError(f"{where}.{key}: a list of strings")
    if not isinstance(cors.get("allow_origin_regex", ""), str):
        raise ValueError(f"{where}.allow_origin_regex: a regular expression (a string)")
    if not isinstance(cors.get("allow_credentials", False), bool):
        raise ValueError(f"{where}.allow_credentials: true or false")
    max_age = cors.get("max_age", 0)
    if isinstance(max_age, bool) or not isinstance(max_age, int) or max_age < 0:
        raise ValueError(f"{where}.max_age: seconds, a non-negative integer")
    found: dict[str, Any] = {}
    if "allow_origins" in cors:
        origins = cors["allow_origins"]
        found["CORS_ALLOW_ALL_ORIGINS"] = "*" in origins
        found["CORS_ALLOWED_ORIGINS"] = [origin for origin in origins if origin != "*"]
    if regex := cors.get("allow_origin_regex"):
        found["CORS_ALLOWED_ORIGIN_REGEXES"] = [regex]
    if "allow_methods" in cors:
        methods = [method.upper() for method in cors["allow_methods"]]
        found["CORS_ALLOW_METHODS"] = ALL_METHODS if "*" in methods else methods
    if "allow_headers" in cors:
        extra = [header.lower() for header in cors["allow_headers"]]
        found["CORS_ALLOW_HEADERS"] = [*base_headers, *(h for h in extra if h not in base_headers)]
    if "expose_headers" in cors:
        found["CORS_EXPOSE_HEADERS"] = [*base_exposed, *cors["expose_headers"]]
    if "allow_credentials" in cors:
        found["CORS_ALLOW_CREDENTIALS"] = cors["allow_credentials"]
    if "max_age" in cors:
        found["CORS_PREFLIGHT_MAX_AGE"] = max_age
    return found


def configurable_headers() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``http.configurable_headers``: the header name patterns (``*`` a wildcard) a run's
    ``config.configurable`` takes from its request, ``(includes, excludes)``; ``((), ())`` when
    not set (LangGraph's defaults apply: ``runs.payloads.request_headers``).

    Raises:
        ValueError: naming the key that is wrong (``manage.py check`` reports it at start).
    """
    headers = section("http").get("configurable_headers")
    if headers is None:
        return (), ()
    where = "langgraph.json http.configurable_headers"
    _check_object(headers, where, HEADER_PATTERN_KEYS)
    patterns = []
    for plural, singular in (("includes", "include"), ("excludes", "exclude")):
        value = headers.get(plural) or headers.get(singular) or []
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ValueError(f"{where}.{plural}: a list of header names, '*' a wildcard")
        patterns.append(tuple(pattern.lower() for pattern in value))
    return patterns[0], patterns[1]


def _check_object(value: Any, where: str, known: frozenset[str]) -> None:
    """*value* is an object with none but the *known* keys (ValueError naming *where*)."""
    if not isinstance(value, dict):
        raise ValueError(f"{where}: an object")
    if unknown := sorted(set(value) - known):
        raise ValueError(f"{where}: unknown keys {unknown}; known: {sorted(known)}")


def disabled_route_groups() -> frozenset[str]:
    """The route groups ``langgraph.json``'s ``http.disable_<group>`` removes.

    Raises:
        ValueError: a flag that is not true or false.
    """
    return frozenset(group for group in HTTP_GROUPS if _http_flag(f"disable_{group}"))


def mount_prefix() -> str:
    """``http.mount_prefix``: the path the whole site is served under (``/langgraph``); ""
    when not set. A trailing ``/`` is dropped, as LangGraph drops it.

    Raises:
        ValueError: not a path of plain segments, or LangGraph's reserved ``/noauth``.
    """
    prefix = section("http").get("mount_prefix")
    if prefix is None or prefix == "":
        return ""
    where = "langgraph.json http.mount_prefix"
    if not isinstance(prefix, str) or not _MOUNT_PREFIX.fullmatch(prefix.rstrip("/") or "/"):
        raise ValueError(
            f"{where}: a path such as '/my-api' ('/'-separated letters, digits, '_', '.', '-', '~')"
        )
    prefix = prefix.rstrip("/")
    if prefix == "/noauth" or prefix.startswith("/noauth/"):
        raise ValueError(f"{where}: '/noauth' is reserved (LangGraph's SDK loopback)")
    return prefix


def custom_route_auth() -> bool:
    """``http.enable_custom_route_auth``: ``http.app``'s routes behind our authentication
    (False, LangGraph's default, when not set).

    Raises:
        ValueError: a value that is not true or false.
    """
    return _http_flag("enable_custom_route_auth")


def webhooks_disabled() -> bool:
    """``http.disable_webhooks``: runs' webhooks are never called (False when not set).

    Raises:
        ValueError: a value that is not true or false.
    """
    return _http_flag("disable_webhooks")


def _http_flag(name: str) -> bool:
    """``http.<name>``, a boolean (False when not set); ValueError naming it otherwise."""
    flag = section("http").get(name, False)
    if not isinstance(flag, bool):
        raise ValueError(f"langgraph.json http.{name}: true or false")
    return flag


def http_keys_not_honoured() -> list[str]:
    """The ``http`` keys that ``langgraph.json`` sets and DuraGraph does not act on."""
    http = section("http")
    return sorted(
        key
        for key in http
        if key in HTTP_NOT_HONOURED and not (key == "disable_ui" and http[key] is True)
    )
