"""LangGraph custom auth: the ``langgraph_sdk.Auth`` object ``langgraph.json`` names.

``"auth": {"path": "./auth.py:auth"}`` loads an ``Auth`` whose ``@auth.authenticate`` handler
decides who is calling (it replaces API keys and JWTs on the API routes; the worker routes keep
ours) and whose ``@auth.on...`` handlers authorize every API operation with LangGraph's
semantics (``langgraph_api.auth.custom``):

- the most specific handler runs: ``(resource, action)``, ``(resource, "*")``,
  ``("*", action)``, ``("*", "*")``, then the global ``@auth.on``;
- it may mutate ``value`` (on create, the value's ``metadata`` is what is stored);
- ``None``/``True`` allow, ``False`` or an ``AssertionError`` answer 403, an
  ``Auth.exceptions.HTTPException`` its own status and detail, a dict is a filter on the
  object's metadata: ``{"k": v}``, ``{"k": {"$eq": v}}``, ``{"k": {"$contains": v}}``,
  ``{"$or": [...]}``, ``{"$and": [...]}``.

An object whose metadata does not match answers exactly like an unknown id (404); searches and
counts only see matching objects (:func:`search_metadata`).
"""

from __future__ import annotations

import functools
import inspect
import operator
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from asgiref.sync import async_to_sync
from django.db.models import JSONField, Q, Value
from django.db.models.fields.json import KeyTransform
from django.db.models.lookups import Exact
from rest_framework import exceptions

from accounts import domain
from duragraph_site import langgraph_config, user_code

if TYPE_CHECKING:
    from langgraph_sdk import Auth
    from rest_framework.request import Request

#: The parameters an ``authenticate`` handler may declare (LangGraph's ``SUPPORTED_PARAMETERS``).
SUPPORTED_PARAMETERS = frozenset(
    {
        "request",
        "body",
        "user",
        "path",
        "method",
        "scopes",
        "path_params",
        "query_params",
        "headers",
        "authorization",
        "scope",
    }
)

Filters = dict[str, Any]


class HandlerError(exceptions.APIException):
    """A handler's ``Auth.exceptions.HTTPException`` (any status): ``{"detail": ...}``."""

    def __init__(self, status_code: int, detail: str) -> None:
        self.status_code = status_code
        super().__init__(detail)


# -- loading ------------------------------------------------------------------------------------
@functools.cache
def configured() -> Auth | None:
    """The ``Auth`` of the ``langgraph.json`` in effect, or None when it names no auth.

    Every request asks, so it is read once per process, like the graph registry
    (``assistants.graphs.registry``); whoever changes ``DURAGRAPH_CONFIG`` in a running process
    (tests) calls ``configured.cache_clear()``."""
    config = langgraph_config.config_file()
    path = langgraph_config.custom_auth_path(config)
    if path is None:
        return None
    return load(path, str(config.parent))  # type: ignore[union-attr] - a path implies a file


@functools.cache
def load(path: str, base: str) -> Auth:
    """The ``Auth`` named by ``./file.py:name`` (relative to *base*) or ``package.module:name``."""
    from langgraph_sdk import Auth  # noqa: PLC0415 - only servers configured for it load the SDK

    if ":" not in path:
        raise ValueError(f"auth.path {path!r}: expected './path/to/file.py:name' or 'module:name'")
    try:
        auth = user_code.load_attribute(path, Path(base))
    except AttributeError:
        auth = None  # said below, as any other object that is not an Auth
    if not isinstance(auth, Auth):
        raise ValueError(f"auth.path {path!r}: expected a langgraph_sdk.Auth, got {type(auth)}")
    if auth._authenticate_handler is None:
        raise ValueError(f"auth.path {path!r}: the Auth object has no @auth.authenticate handler")
    return auth


def _call(handler: Callable[..., Any], **kwargs: Any) -> Any:
    """Run a handler from a synchronous view (its worker thread): coroutines through asgiref."""
    if inspect.iscoroutinefunction(handler):
        return async_to_sync(handler)(**kwargs)
    return handler(**kwargs)


# -- authentication -----------------------------------------------------------------------------
def named_parameters(handler: Callable[..., Any]) -> set[str]:
    """The supported parameters *handler* declares; ValueError for a required unknown one."""
    parameters = inspect.signature(handler).parameters
    unsupported = [
        name
        for name, parameter in parameters.items()
        if name not in SUPPORTED_PARAMETERS and parameter.default is parameter.empty
    ]
    if unsupported:
        raise ValueError(
            f"authenticate handler has unsupported required parameters: {unsupported} "
            f"(supported: {sorted(SUPPORTED_PARAMETERS)})"
        )
    return {name for name in parameters if name in SUPPORTED_PARAMETERS}


def headers_of(meta: Mapping[str, Any]) -> dict[bytes, bytes]:
    """A request's headers as LangGraph passes them: lower-case byte names -> byte values."""
    headers: dict[bytes, bytes] = {}
    for key, value in meta.items():
        if key.startswith("HTTP_"):
            name = key[5:]
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            name = key
        else:
            continue
        headers[name.lower().replace("_", "-").encode("latin-1")] = str(value).encode("latin-1")
    return headers


def arguments(
    names: set[str],
    *,
    request: Any,
    headers: dict[bytes, bytes],
    path: str,
    method: str,
    query_params: dict[str, str],
    path_params: dict[str, str],
    scope: dict[str, Any],
) -> dict[str, Any]:
    """The keyword arguments of an ``authenticate`` handler (``_extract_arguments_from_scope``)."""
    authorization = headers.get(b"authorization")
    available: dict[str, Any] = {
        "request": request,
        "headers": headers,
        "authorization": authorization.decode() if authorization is not None else None,
        "path": path,
        "method": method,
        "query_params": query_params,
        "path_params": path_params,
        "scopes": [],
        "user": None,
        "scope": scope,
        "body": None,
    }
    return {name: available[name] for name in names}


class User(Mapping[str, Any]):
    """``ctx.user``: what the handler returned, with ``identity``, ``is_authenticated`` and
    ``display_name`` (defaults: True, the identity), its other fields as attributes and keys
    (LangGraph's ``ProxyUser``)."""

    def __init__(self, source: Any) -> None:
        self._source = source

    def _get(self, name: str) -> Any:
        if isinstance(self._source, Mapping):
            return self._source[name]
        return getattr(self._source, name)

    @property
    def identity(self) -> str:
        return str(self._get("identity"))

    @property
    def is_authenticated(self) -> bool:
        try:
            return bool(self._get("is_authenticated"))
        except (KeyError, AttributeError):
            return True

    @property
    def display_name(self) -> str:
        try:
            return str(self._get("display_name"))
        except (KeyError, AttributeError):
            return self.identity

    def dict(self) -> dict[str, Any]:
        if isinstance(self._source, Mapping):
            extra = dict(self._source)
        elif callable(getattr(self._source, "dict", None)):
            extra = self._source.dict()
        else:
            extra = {}
        return {
            "identity": self.identity,
            "is_authenticated": self.is_authenticated,
            "display_name": self.display_name,
            **extra,
        }

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._get(name)
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, key: str) -> Any:
        return self.dict()[key]

    def __iter__(self):  # noqa: ANN204 - Mapping's
        return iter(self.dict())

    def __len__(self) -> int:
        return len(self.dict())

    def __repr__(self) -> str:
        return f"User({self.dict()!r})"


def normalize(response: Any) -> tuple[tuple[str, ...], User]:
    """``(permissions, user)`` of what an ``authenticate`` handler returned: a string (the
    identity), a dict or object with ``identity`` (and maybe ``permissions``), or a
    ``(permissions, user)`` pair (``_normalize_auth_response``)."""
    if isinstance(response, tuple):
        if len(response) != 2:
            raise ValueError(f"expected (permissions, user), got {len(response)} elements")
        permissions, user = response
    elif isinstance(response, Mapping) and "permissions" in response:
        permissions, user = response["permissions"], response
    elif not isinstance(response, Mapping | str) and hasattr(response, "permissions"):
        permissions, user = response.permissions, response
    else:
        permissions, user = [], response
    if isinstance(user, str):
        user = {"identity": user}
    if isinstance(user, Mapping):
        if "identity" not in user:
            raise ValueError("the authenticate handler's user has no identity")
    elif not hasattr(user, "identity"):
        raise ValueError(
            f"the authenticate handler returned {type(user).__name__}: expected a str, a dict "
            "with 'identity', or an object with an identity attribute"
        )
    return tuple(str(p) for p in permissions or ()), User(user)


def principal_for_request(auth: Auth, request: Request) -> domain.Principal:
    """Run *auth*'s ``authenticate`` handler on *request*; the principal it proves.

    Raises DRF's AuthenticationFailed (401), PermissionDenied (403) or :class:`HandlerError`
    for the handler's ``Auth.exceptions.HTTPException``; an ``AssertionError`` (the documented
    example's ``assert authorization``) is a 401 too, where LangGraph answers 500.
    """
    django_request = request._request
    scope = getattr(django_request, "scope", None) or {}
    headers = (
        {bytes(k).lower(): bytes(v) for k, v in scope["headers"]}
        if "headers" in scope
        else headers_of(django_request.META)
    )
    match = django_request.resolver_match
    return _authenticated(
        auth,
        request=django_request,
        headers=headers,
        path=django_request.path,
        method=django_request.method,
        query_params=django_request.GET.dict(),
        path_params={k: str(v) for k, v in (match.kwargs if match else {}).items()},
        scope=scope,
    )


def principal_for_scope(auth: Auth, scope: dict[str, Any]) -> domain.Principal:
    """:func:`principal_for_request` for an ASGI scope without a Django request (a WebSocket
    handshake, a custom route's request): ``request`` is None, the other parameters come from
    the scope.
    Synchronous: call it off the event loop (the handler may block)."""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    route = scope.get("url_route") or {}
    return _authenticated(
        auth,
        request=None,
        headers={bytes(k).lower(): bytes(v) for k, v in scope.get("headers", [])},
        path=scope.get("path", ""),
        method=scope.get("method", "GET"),  # a WebSocket handshake is a GET
        query_params={name: values[-1] for name, values in query.items()},
        path_params={k: str(v) for k, v in (route.get("kwargs") or {}).items()},
        scope=scope,
    )


def _authenticated(auth: Auth, **available: Any) -> domain.Principal:
    """The handler run on what it declares of *available* (see :func:`arguments`), its errors
    as DRF's, its result as our principal."""
    from langgraph_sdk import Auth  # noqa: PLC0415

    handler = auth._authenticate_handler
    kwargs = arguments(named_parameters(handler), **available)
    try:
        permissions, user = normalize(_call(handler, **kwargs))
    except Auth.exceptions.HTTPException as error:
        detail = str(error.detail)
        if error.status_code == 401:
            raise exceptions.AuthenticationFailed(detail) from None
        if error.status_code == 403:
            raise exceptions.PermissionDenied(detail) from None
        raise HandlerError(error.status_code, detail) from None
    except AssertionError as error:
        raise exceptions.AuthenticationFailed(str(error) or "Unauthorized") from None
    return domain.Principal(
        identity=f"custom:{user.identity}",
        kind="custom",
        scopes=frozenset({domain.SCOPE_API}),
        display_name=user.display_name,
        user=user,
        permissions=permissions,
    )


# -- authorization ------------------------------------------------------------------------------
def handler_for(auth: Auth, resource: str, action: str) -> Callable[..., Any] | None:
    """The handler LangGraph runs for *resource*/*action* (``_get_handler``): the last one
    registered for the most specific key, else the last global ``@auth.on``."""
    for key in ((resource, action), (resource, "*"), ("*", action), ("*", "*")):
        if handlers := auth._handlers.get(key):
            return handlers[-1]
    return auth._global_handlers[-1] if auth._global_handlers else None


def decide(result: Any) -> Filters | None:
    """A handler's result: None (allowed, unfiltered), filters, or the 403/500 it means."""
    if result is None or result is True:
        return None
    if result is False:
        raise exceptions.PermissionDenied("Forbidden")
    if not isinstance(result, dict):
        raise HandlerError(
            500,
            "Auth handler returned invalid result. Expected filter dict, None, or boolean. "
            f"Got {type(result)} instead.",
        )
    return result or None


def authorize(
    principal: domain.Principal, resource: str, action: str, value: dict[str, Any]
) -> Filters | None:
    """Run the authorization handler for *resource*/*action* on *value* (which it may change);
    the filters it returns, or None. Nothing runs for a principal that custom auth did not
    authenticate (API keys, worker keys, sessions, authentication off)."""
    if principal.kind != "custom" or (auth := configured()) is None:
        return None
    handler = handler_for(auth, resource, action)
    if handler is None:
        return None
    from langgraph_sdk import Auth  # noqa: PLC0415

    ctx = Auth.types.AuthContext(
        user=principal.user,
        permissions=list(principal.permissions),
        resource=resource,  # type: ignore[arg-type]
        action=action,  # type: ignore[arg-type]
    )
    try:
        result = _call(handler, ctx=ctx, value=value)
    except Auth.exceptions.HTTPException as error:
        raise HandlerError(error.status_code, str(error.detail)) from None
    except AssertionError as error:
        raise exceptions.PermissionDenied(str(error) or "Forbidden") from None
    return decide(result)


def matches(metadata: Mapping[str, Any] | None, filters: Filters | None) -> bool:
    """Whether *metadata* satisfies *filters* (the in-memory runtime's ``_check_filter_match``)."""
    if not filters:
        return True
    metadata = metadata or {}
    for key, expected in filters.items():
        if key == "$or":
            if not isinstance(expected, list) or len(expected) < 2:
                raise HandlerError(500, "$or must be a list of at least 2 filter objects")
            if not any(matches(metadata, group) for group in expected):
                return False
        elif key == "$and":
            if not isinstance(expected, list) or len(expected) < 2:
                raise HandlerError(500, "$and must be a list of at least 2 filter objects")
            if not all(matches(metadata, group) for group in expected):
                return False
        elif isinstance(expected, dict) and len(expected) == 1 and next(iter(expected)) in OPS:
            op, operand = next(iter(expected.items()))
            if key not in metadata:
                return False
            if op == "$eq" and metadata[key] != operand:
                return False
            if op == "$contains":
                actual = metadata[key]
                wanted = operand if isinstance(operand, list) else [operand]
                if not isinstance(actual, list) or any(item not in actual for item in wanted):
                    return False
        elif key not in metadata or metadata[key] != expected:
            return False
    return True


OPS = ("$eq", "$contains")


def containment(filters: Filters | None) -> dict[str, Any] | None:
    """*filters* as one JSON containment document (``metadata @> ...``) for searches and
    counts, or None when they cannot be written so (``$or``; ``$eq`` of an object or list)."""
    document: dict[str, Any] = {}
    for key, expected in (filters or {}).items():
        if key == "$and" and isinstance(expected, list):
            for group in expected:
                part = containment(group)
                if part is None or not _merge(document, part):
                    return None
            continue
        if key.startswith("$"):
            return None
        if isinstance(expected, dict) and len(expected) == 1 and next(iter(expected)) in OPS:
            op, operand = next(iter(expected.items()))
            if op == "$contains":
                part = {key: operand if isinstance(operand, list) else [operand]}
            elif isinstance(operand, dict | list):
                return None
            else:
                part = {key: operand}
        elif isinstance(expected, dict | list):
            return None
        else:
            part = {key: expected}
        if not _merge(document, part):
            return None
    return document


def _merge(document: dict[str, Any], part: dict[str, Any]) -> bool:
    for key, value in part.items():
        if key in document and document[key] != value:
            if isinstance(document[key], list) and isinstance(value, list):
                document[key] = document[key] + [v for v in value if v not in document[key]]
                continue
            return False
        document[key] = value
    return True


def search_metadata(
    searched: dict[str, Any] | None, filters: Filters | None
) -> dict[str, Any] | Q | None:
    """The metadata a search or count selects on: the caller's (as the handler left it) and
    the handler's filters together, as one containment document when they can be written so
    (raises :class:`NothingMatches` when they contradict each other), else as a ``Q`` on the
    ``metadata`` column (:func:`metadata_condition`), which the selectors take as well."""
    if not filters:
        return searched
    document = containment(filters)
    if document is None:  # $or, $eq of an object or list: a condition on the column
        condition = metadata_condition(filters)
        return condition & Q(metadata__contains=searched) if searched else condition
    merged = dict(searched or {})
    if not _merge(merged, document):
        raise NothingMatches
    return merged


def metadata_condition(filters: Filters, field: str = "metadata") -> Q:
    """*filters* as a condition on the JSON column *field* (what :func:`matches` checks, in
    the database): ``{k: v}`` and ``$eq`` exact (containment of ``{k: v}`` for a scalar, JSON
    equality of the key for an object or list), ``$contains`` containment of ``{k: [v...]}``,
    ``$or``/``$and`` the alternatives/conjunction of their groups."""
    condition = Q()
    for key, expected in filters.items():
        if key in ("$or", "$and"):
            if not isinstance(expected, list) or len(expected) < 2:
                raise HandlerError(500, f"{key} must be a list of at least 2 filter objects")
            groups = [metadata_condition(group, field) for group in expected]
            join = operator.or_ if key == "$or" else operator.and_
            condition &= functools.reduce(join, groups)
        elif isinstance(expected, dict) and len(expected) == 1 and next(iter(expected)) in OPS:
            op, operand = next(iter(expected.items()))
            if op == "$contains":
                wanted = operand if isinstance(operand, list) else [operand]
                condition &= Q(**{f"{field}__contains": {key: wanted}})
            else:
                condition &= _equals(field, key, operand)
        else:
            condition &= _equals(field, key, expected)
    return condition


def _equals(field: str, key: str, value: Any) -> Q:
    if isinstance(value, dict | list):  # containment would also take a superset: equality
        return Q(Exact(KeyTransform(key, field), Value(value, output_field=JSONField())))
    return Q(**{f"{field}__contains": {key: value}})


class NothingMatches(Exception):
    """The search's own metadata and the handler's filters exclude each other."""


def require_match(metadata: Mapping[str, Any] | None, filters: Filters | None, missing: Exception):
    """Raise *missing* (the object's "not found") when its metadata does not match *filters*."""
    if filters and not matches(metadata, filters):
        raise missing
