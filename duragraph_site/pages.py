"""Plumbing for the dashboard's pages (docs/dashboard.md), shared by every app's ``pages.py``.

A page is a Django view on a browser path (``/dashboard/...``: sessions, CSRF, HTML errors).
:func:`staff_page` lets in signed-in staff only and gives the view the caller as a
:class:`~accounts.domain.Principal` (``request.principal``), whose ``tenant_scope`` every
selector takes, as the API's views do. :class:`Keyset` pages long lists by position, not by
offset, so a page stays right and fast with 100,000 rows while new rows arrive.
"""

from __future__ import annotations

import base64
import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import orjson
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse

from accounts.authentication import principal_for_user
from duragraph_site.errors import DuraGraphError, NotFound

#: Rows on one page of a list.
PAGE_SIZE = 50


#: The dashboard's sections: (label, URL name). A section whose pages are not installed is
#: left out of the navigation.
SECTIONS = (
    ("Overview", "dashboard:overview"),
    ("Playground", "dashboard:playground"),
    ("Runs", "dashboard:runs"),
    ("Threads", "dashboard:threads"),
    ("Assistants", "dashboard:assistants"),
    ("Memory", "dashboard:memory"),
    ("Workers", "dashboard:workers"),
    ("Workflows", "dashboard:workflows"),
)


def navigation(request: HttpRequest) -> dict[str, Any]:
    """Template context: ``sections``, ``[(label, url, current)]`` for the dashboard's menu."""
    if not request.path_info.startswith("/dashboard/"):
        return {}
    sections = []
    for label, name in SECTIONS:
        try:
            url = reverse(name)
        except NoReverseMatch:
            continue
        current = (
            request.path == url if url.endswith("/dashboard/") else request.path.startswith(url)
        )
        sections.append((label, url, current))
    return {"sections": sections}


def staff_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed-in staff only: a visitor is sent to sign in (``/?next=...``), anyone else gets
    403. Sets ``request.principal`` for the view."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if not user.is_authenticated:
            return HttpResponseRedirect(
                f"{reverse('dashboard:sign-in')}?{urlencode({'next': request.get_full_path()})}"
            )
        if not user.is_staff:
            raise PermissionDenied("The dashboard is for staff users.")
        request.principal = principal_for_user(user)  # type: ignore[attr-defined]
        try:
            return view(request, *args, **kwargs)
        except NotFound as error:  # another tenant's object too: as a missing one
            raise Http404(error.message) from None
        except DuraGraphError as error:  # what the API answers with a 4xx, as a page
            return render(
                request, "dashboard/error.html", {"error": error}, status=error.status_code
            )

    return wrapper


def tenant_scope(request: HttpRequest) -> str | None:
    """The tenant the signed-in caller sees (None: every tenant)."""
    return request.principal.tenant_scope  # type: ignore[attr-defined]


def is_fragment(request: HttpRequest) -> bool:
    """Whether the page's script asked for its live part only (``static/dashboard/live.js``
    re-reads it when runs change)."""
    return request.headers.get("X-Dashboard-Fragment") == "1"


def query_with(request: HttpRequest, **changes: Any) -> str:
    """The page's query string with *changes* (a link to the next page keeps the filters)."""
    query = request.GET.copy()
    for key, value in changes.items():
        query[key] = value
    return query.urlencode()


def parse_id(value: str | None) -> uuid.UUID | None:
    """A UUID typed into a form (spaces around it allowed); None for none or a malformed one."""
    try:
        return uuid.UUID(value.strip()) if value and value.strip() else None
    except (ValueError, AttributeError):
        return None


def pretty_json(value: Any) -> str:
    """*value* as indented JSON for a ``<pre>`` (keys sorted, so diffs line up)."""
    return orjson.dumps(
        value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
    ).decode()


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    #: Cursor of the next (older) page, None on the last page.
    after: str | None
    #: Whether this is the first page (live refreshes apply to it only).
    first: bool


class Keyset:
    """Newest-first pages of a queryset by ``(created_at, <pk>)`` positions: each cursor is
    the last row's position, so rows arriving meanwhile never shift a page (an offset would),
    and every page is one index range scan."""

    def __init__(self, key: str, parse_key: Callable[[str], Any] = uuid.UUID) -> None:
        self.key = key  # the primary key's field name
        self.parse_key = parse_key

    def page(self, queryset: QuerySet, after: str | None, size: int = PAGE_SIZE) -> Page:
        ordered = queryset.order_by("-created_at", f"-{self.key}")
        position = self._decode(after)
        if position is not None:
            created_at, key = position
            ordered = ordered.filter(
                Q(created_at__lt=created_at) | Q(created_at=created_at, **{f"{self.key}__lt": key})
            )
        rows = list(ordered[: size + 1])
        more = len(rows) > size
        rows = rows[:size]
        cursor = self._encode(rows[-1]) if more else None
        return Page(rows=rows, after=cursor, first=position is None)

    def _encode(self, row: Any) -> str:
        raw = orjson.dumps([row.created_at.isoformat(), str(getattr(row, self.key))])
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def _decode(self, cursor: str | None) -> tuple[datetime, Any] | None:
        """The position in *cursor*; None for none or a malformed one (the first page)."""
        if not cursor:
            return None
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            created_at, key = orjson.loads(raw)
            return datetime.fromisoformat(created_at), self.parse_key(key)
        except (ValueError, TypeError, AttributeError):
            return None
