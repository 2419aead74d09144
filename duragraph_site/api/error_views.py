"""Django's error views for the whole site (``handler400/403/404/500`` in ``duragraph_site.urls``).

On API paths they answer JSON ``{"detail": ...}`` (``duragraph_site.api.errors``); on the browser
paths (``duragraph_site.handlers.is_browser_path``: the admin, the docs, the dashboard, static
files) Django's own HTML pages. The detail is the status's reason phrase: Django's exception
messages (a resolver's tried patterns, a rejected ``Host``) are for the log, not the client.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from django.views import defaults

from duragraph_site.api import errors
from duragraph_site.handlers import is_browser_path

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_browser_path(request.path_info):
        return defaults.bad_request(request, exception)
    return errors.error_response(400, "Bad Request")


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_browser_path(request.path_info):
        return defaults.permission_denied(request, exception)
    return errors.error_response(403, "Forbidden")


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_browser_path(request.path_info):
        return defaults.page_not_found(request, exception)
    return errors.error_response(404, "Not Found")


def server_error(request: HttpRequest) -> HttpResponse:
    """500 (or 503 while the database is unreachable) for an exception no view handled.

    Django calls it inside the ``except`` block of ``response_for_exception`` (asgiref carries
    that block into the thread it runs on), so ``sys.exception()`` is the one being handled.
    Django logs it right after, with its traceback and (``duragraph_site.logs``) the request id.
    """
    if is_browser_path(request.path_info):
        return defaults.server_error(request)
    return errors.unexpected_error_response(sys.exception())
