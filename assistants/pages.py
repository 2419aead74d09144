"""The dashboard's assistant pages: the list, and an assistant's page (its graph drawn, its
config, its versions with a diff between two, a new version, the active one chosen).

Thin, like ``api/``: parse, call a selector or the service the API calls, render. A form with
bad input renders the page again with the error next to its field, having changed nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.views.decorators.http import require_GET, require_POST

from assistants import selectors, services
from assistants.models import Assistant
from duragraph_site.errors import DuraGraphError, NotFound
from duragraph_site.pages import PAGE_SIZE, Keyset, pretty_json, staff_page, tenant_scope

KEYSET = Keyset("assistant_id")
#: The JSON fields a new version may set, as the API's PATCH takes them.
VERSION_JSON_FIELDS = ("config", "context", "metadata")


@require_GET
@staff_page
def assistant_list(request: HttpRequest) -> HttpResponse:
    """Assistants, newest first, by graph and name."""
    graph_id = request.GET.get("graph") or None
    name = request.GET.get("name", "").strip() or None
    queryset = selectors.assistants_listed(
        tenant=tenant_scope(request), graph_id=graph_id, name=name
    )
    page = KEYSET.page(queryset, request.GET.get("after"))
    query = request.GET.copy()
    if page.after:
        query["after"] = page.after
    context = {
        "page": page,
        "graphs": selectors.graph_ids(tenant=tenant_scope(request)),
        "query": request.GET,
        "filtered": bool(graph_id or name),
        "next_query": query.urlencode() if page.after else None,
    }
    return render(request, "assistants/list.html", context)


def _editable_config(assistant: Assistant) -> dict[str, Any]:
    """The config as the form shows it: ``configurable`` mirrors ``context`` (LangGraph keeps
    them equal), so it is edited there; giving both would be refused."""
    return {key: value for key, value in assistant.config.items() if key != "configurable"}


def _version_offset(request: HttpRequest) -> int:
    try:
        return max(int(request.GET.get("versions_offset", "0")), 0)
    except ValueError:
        return 0


def _chosen_version(value: str | None) -> int | None:
    try:
        number = int(value) if value else None
    except ValueError:
        return None
    return number if number is not None and number >= 1 else None


def _diff_rows(lines: list[str]) -> list[tuple[str, str]]:
    """A unified diff's lines with their kind (file, hunk, add, del, same), for styling."""
    rows = []
    for index, line in enumerate(lines):
        if index < 2:  # the ---/+++ header
            kind = "file"
        elif line.startswith("@@"):
            kind = "hunk"
        else:
            kind = {"+": "add", "-": "del"}.get(line[:1], "same")
        rows.append((kind, line))
    return rows


def _detail(
    request: HttpRequest,
    assistant: Assistant,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    latest_error: str | None = None,
    status: int = 200,
) -> HttpResponse:
    """Render an assistant's page; *form*/*errors*: a refused new version, shown again."""
    scope = tenant_scope(request)
    offset = _version_offset(request)
    versions = selectors.assistant_versions(
        assistant.assistant_id, tenant=scope, limit=PAGE_SIZE + 1, offset=offset
    )
    numbers = selectors.assistant_version_numbers(assistant.assistant_id)
    diff_from = _chosen_version(request.GET.get("from"))
    diff_to = _chosen_version(request.GET.get("to"))
    diff, diff_error = None, None
    if request.GET.get("from") or request.GET.get("to"):
        if diff_from is None or diff_to is None:
            diff_error = "Choose two versions to compare."
        else:
            try:
                diff = _diff_rows(
                    selectors.assistant_version_diff(
                        assistant.assistant_id, diff_from, diff_to, tenant=scope
                    )
                )
            except NotFound as error:
                diff_error = error.message
    if diff_from is None and diff_to is None and len(numbers) > 1:
        diff_from, diff_to = numbers[1], numbers[0]  # the form's choice: the last change
    context = {
        "assistant": assistant,
        "drawing": selectors.assistant_drawings(assistant),
        "config": pretty_json(assistant.config),
        "context_json": pretty_json(assistant.context),
        "metadata": pretty_json(assistant.metadata),
        "versions": versions[:PAGE_SIZE],
        "older_versions": offset + PAGE_SIZE if len(versions) > PAGE_SIZE else None,
        "newer_versions": max(offset - PAGE_SIZE, 0) if offset else None,
        "numbers": numbers,
        "diff": diff,
        "diff_error": diff_error,
        "diff_from": diff_from,
        "diff_to": diff_to,
        "form": form
        or {
            "config": pretty_json(_editable_config(assistant)),
            "context": pretty_json(assistant.context),
            "metadata": pretty_json(assistant.metadata),
        },
        "errors": errors or {},
        "latest_error": latest_error,
    }
    return render(request, "assistants/detail.html", context, status=status)


@require_GET
@staff_page
def assistant_detail(request: HttpRequest, assistant_id: uuid.UUID) -> HttpResponse:
    return _detail(request, selectors.assistant_get(assistant_id, tenant=tenant_scope(request)))


def _json_object(text: str, field: str) -> tuple[dict[str, Any] | None, str | None]:
    """``(value, problem)`` of a form's JSON field: blank leaves the field as it is (None)."""
    if not text.strip():
        return None, None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        return None, f"{field}: not valid JSON ({error})"
    if not isinstance(value, dict):
        return None, f"{field}: must be a JSON object"
    return value, None


def _field_of(message: str) -> str:
    """The form field a service's refusal names first (``config: ...``), else the whole form."""
    for field in VERSION_JSON_FIELDS:
        if message.startswith(field):
            return field
    return "form"


@require_POST
@staff_page
def assistant_new_version(request: HttpRequest, assistant_id: uuid.UUID) -> HttpResponse:
    """A new version with the config, context and metadata given (metadata merged into the
    current one, as the API's PATCH does), made the active one."""
    scope = tenant_scope(request)
    assistant = selectors.assistant_get(assistant_id, tenant=scope)
    form = {field: request.POST.get(field, "") for field in VERSION_JSON_FIELDS}
    values, errors = {}, {}
    for field in VERSION_JSON_FIELDS:
        value, problem = _json_object(form[field], field)
        if problem:
            errors[field] = problem
        elif value is not None:
            values[field] = value
    if not errors:
        try:
            updated = services.assistant_update(
                assistant_id=assistant.assistant_id, tenant=scope, **values
            )
        except NotFound:
            raise  # the assistant is gone: the 404 page
        except DuraGraphError as error:  # a value the domain refuses, shown by its field
            errors[_field_of(error.message)] = error.message
        else:
            messages.success(request, f"Version {updated.version} created; it is the latest.")
            return HttpResponseRedirect(reverse("dashboard:assistant", args=[assistant_id]))
    return _detail(request, assistant, form=form, errors=errors, status=422)


@require_POST
@staff_page
def assistant_set_latest(request: HttpRequest, assistant_id: uuid.UUID) -> HttpResponse:
    """Make a chosen version the active one (LangGraph's set-latest)."""
    scope = tenant_scope(request)
    assistant = selectors.assistant_get(assistant_id, tenant=scope)
    version = _chosen_version(request.POST.get("version"))
    if version is None:
        return _detail(request, assistant, latest_error="Choose a version.", status=422)
    try:
        services.assistant_set_latest(
            assistant_id=assistant.assistant_id, version=version, tenant=scope
        )
    except NotFound as error:  # the assistant was found above: the version is unknown
        return _detail(request, assistant, latest_error=error.message, status=422)
    except DuraGraphError as error:
        return _detail(request, assistant, latest_error=error.message, status=error.status_code)
    messages.success(request, f"Version {version} is now the latest.")
    return HttpResponseRedirect(reverse("dashboard:assistant", args=[assistant_id]))


urlpatterns = [
    path("assistants/", assistant_list, name="assistants"),
    path("assistants/<uuid:assistant_id>/", assistant_detail, name="assistant"),
    path(
        "assistants/<uuid:assistant_id>/versions",
        assistant_new_version,
        name="assistant-new-version",
    ),
    path("assistants/<uuid:assistant_id>/latest", assistant_set_latest, name="assistant-latest"),
]
