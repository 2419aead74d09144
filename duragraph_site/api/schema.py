"""The OpenAPI document (drf-spectacular): its view and its generation hooks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from drf_spectacular.views import SpectacularJSONAPIView

from duragraph_site import langgraph_config
from duragraph_site.api.renderers import JSONRenderer
from duragraph_site.api.urls import V1_PREFIX

if TYPE_CHECKING:
    from rest_framework.response import Response


class OpenApiJsonView(SpectacularJSONAPIView):
    """``/openapi.json``: the document as ``application/vnd.oai.openapi+json``, and its refusals
    (405 for another method...) as ``application/json``, like every other API error."""

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response


def root_paths_only(endpoints: list) -> list:
    """Document each LangGraph path once: the ``/api/v1`` copies of root paths are the same
    views. Paths that exist only under ``/api/v1`` (the worker protocol) stay."""
    at_root = {endpoint[0] for endpoint in endpoints if not endpoint[0].startswith(f"/{V1_PREFIX}")}
    return [
        endpoint
        for endpoint in endpoints
        if not endpoint[0].startswith(f"/{V1_PREFIX}")
        or "/" + endpoint[0][len(V1_PREFIX) + 1 :] not in at_root
    ]


#: The body of every refusal (LangGraph's ``ErrorResponse``).
ERROR_RESPONSE = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}


def document_errors(result: dict, generator: object, request: object, public: bool) -> dict:
    """Every operation that takes input may refuse it: ``4XX`` with ``{"detail": "..."}``.

    400 (a rule of the request), 404 (an unknown id), 409 (a conflict with the current state),
    413 (a body over the size limit), 422 (an invalid field, named in the message). Operations
    that document a specific 4xx keep it; the range covers the others.
    """
    result.setdefault("components", {}).setdefault("schemas", {})["ErrorResponse"] = ERROR_RESPONSE
    refusal = {
        "description": "The request was refused; `detail` says why.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
    }
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            if operation.get("parameters") or operation.get("requestBody"):
                operation["responses"].setdefault("4XX", refusal)
    return result


#: Ids that are names, not UUIDs: a workflow's (its file stem), a job's (its key), a prompt's
#: (a path such as ``support/classify_intent``).
NAMED_IDS = frozenset({"workflow_id", "job_id", "prompt_id"})


def document_uuid_path_parameters(
    result: dict, generator: object, request: object, public: bool
) -> dict:
    """Path parameters named ``<resource>_id`` are UUIDs (a malformed one is a 422), but for
    the names people choose (:data:`NAMED_IDS`)."""
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                name = parameter.get("name", "")
                if parameter.get("in") == "path" and name.endswith("_id") and name not in NAMED_IDS:
                    parameter["schema"] = {"type": "string", "format": "uuid"}
    return result


def nullable_any_is_any(result: dict, generator: object, request: object, public: bool) -> dict:
    """drf-spectacular writes a nullable ``JSONField`` as ``oneOf: [{}, {"type": "null"}]``,
    which no value satisfies when it is null (null matches both branches); ``{}`` already
    allows null."""

    def simplify(node: object) -> object:
        if isinstance(node, dict):
            if node.get("oneOf") == [{}, {"type": "null"}]:
                rest = {k: v for k, v in node.items() if k != "oneOf"}
                return {k: simplify(v) for k, v in rest.items()}
            return {k: simplify(v) for k, v in node.items()}
        if isinstance(node, list):
            return [simplify(item) for item in node]
        return node

    return simplify(result)


def served_under_mount_prefix(
    result: dict, generator: object, request: object, public: bool
) -> dict:
    """Under ``langgraph.json``'s ``http.mount_prefix``, the document's one server is the
    prefix (as LangGraph's), so the Swagger UI calls ``/my-api/threads``, not ``/threads``."""
    if prefix := langgraph_config.mount_prefix():
        result["servers"] = [{"url": prefix}]
    return result
